"""Which of an indexer's releases fit the library item, and in what order: pure logic over release titles.

guessit reads each title (title, year, season, episode, resolution, source).
A release for another title, another year (a movie) or another season or
episode (a show; a season pack counts for each of its episodes) is dropped.
The rest are scored, and each result says why:

- resolution: the preferred one +30, one step away +15, unknown +5, else 0;
- source: BluRay +25, WEB-DL +22, WEBRip +18, HDTV +12, DVD +8, unknown +5; a camera
  or telesync copy -100, so it only shows when nothing else does;
- seeders: +10 per power of ten (1 → +3, 10 → +10, 100 → +20), at most +30;
- size: -15 when it is implausible for the resolution (a 300 MB "1080p" film);
- for a show's episode: a single-episode release +5 over a season pack (less to fetch,
  nothing to match), a pack with no season named -10.

Zero-seeder releases go last whatever their score: nothing would play.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

from guessit import guessit

RESOLUTIONS = ("480p", "720p", "1080p", "2160p")
_SOURCE_POINTS = {"BluRay": 25, "WEB-DL": 22, "WEBRip": 18, "HDTV": 12, "DVD": 8}
_CAMERA_SOURCES = {"Camera", "HD Camera", "Telesync", "HD Telesync", "Telecine", "HD Telecine", "Workprint"}
CAMERA_PENALTY = -100
# Plausible sizes in bytes for one film / one episode at each resolution: (smallest, largest).
GB = 1000**3
_MOVIE_SIZES = {"480p": (0.3 * GB, 5 * GB), "720p": (0.5 * GB, 15 * GB), "1080p": (1 * GB, 40 * GB),
                "2160p": (4 * GB, 100 * GB)}
_EPISODE_SIZES = {"480p": (0.05 * GB, 1.5 * GB), "720p": (0.15 * GB, 4 * GB), "1080p": (0.3 * GB, 10 * GB),
                  "2160p": (1 * GB, 25 * GB)}


@dataclass(frozen=True)
class Wanted:
    """The library item a search is for. kind: "movie", "episode" (season and episode) or "season"."""

    kind: str
    title: str
    year: int | None = None
    season: int | None = None
    episode: int | None = None


@dataclass(frozen=True)
class Release:
    """One indexer result, as the indexer described it (untrusted)."""

    title: str
    indexer: str
    source_url: str
    size: int | None = None
    seeders: int | None = None
    peers: int | None = None
    info_hash: str | None = None


@dataclass
class Ranked:
    release: Release
    score: int
    resolution: str | None
    source: str | None
    why: list[str] = field(default_factory=list)


def rank(releases: list[Release], wanted: Wanted, preferred_resolution: str = "1080p") -> list[Ranked]:
    """The releases that fit `wanted`, best first; the same release from two indexers is kept once."""
    kept: dict[str, Ranked] = {}
    for release in releases:
        ranked = _score(release, wanted, preferred_resolution)
        if ranked is None:
            continue
        key = release.info_hash or release.title.casefold()
        if key not in kept or (release.seeders or 0) > (kept[key].release.seeders or 0):
            kept[key] = ranked
    return sorted(kept.values(), key=lambda r: (not r.release.seeders, -r.score, -(r.release.seeders or 0)))


def normalise_title(title: str) -> str:
    """'The Matrix', 'Matrix' and 'the.matrix' compare equal; accents, '&' and punctuation do not count."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold().replace("&", " and ")
    words = re.sub(r"[^\w]+", " ", text).split()
    if words and words[0] in ("the", "a", "an") and len(words) > 1:
        words = words[1:]
    return " ".join(words)


def _score(release: Release, wanted: Wanted, preferred: str) -> Ranked | None:
    guess = guessit(release.title, {"type": "movie" if wanted.kind == "movie" else "episode"})
    if normalise_title(str(guess.get("title", ""))) != normalise_title(wanted.title):
        return None
    why: list[str] = []
    score = 0
    if wanted.kind == "movie":
        year = guess.get("year")
        if wanted.year and year and year != wanted.year:
            return None
        if guess.get("season") is not None or guess.get("episode") is not None:
            return None  # an episode of a show of the same name
    else:
        fit = _show_fit(guess, wanted)
        if fit is None:
            return None
        score += fit[0]
        why.extend(fit[1])
    resolution = _resolution(guess)
    points, reason = _resolution_points(resolution, preferred)
    score += points
    why.append(reason)
    source = guess.get("source")
    source = source[0] if isinstance(source, list) else source
    if source in _CAMERA_SOURCES:
        score += CAMERA_PENALTY
        why.append(f"{source} copy {CAMERA_PENALTY}")
        source_name = "CAM"
    else:
        source_name = _source_name(guess)
        points = _SOURCE_POINTS.get(source_name, 5)
        score += points
        why.append(f"{source_name or 'source unknown'} +{points}")
    seeders = release.seeders or 0
    points = min(30, round(10 * math.log10(1 + seeders))) if seeders else 0
    score += points
    why.append(f"{seeders} seeders +{points}" if seeders else "no seeders: last")
    size_reason = _size_check(release.size, resolution, wanted, guess)
    if size_reason:
        score -= 15
        why.append(size_reason)
    return Ranked(release, score, resolution, source_name, why)


def _show_fit(guess: dict, wanted: Wanted) -> tuple[int, list[str]] | None:
    """Points and reasons when the release holds the wanted season (and episode), else None."""
    seasons = guess.get("season")
    seasons = seasons if isinstance(seasons, list) else [seasons] if seasons is not None else []
    episodes = guess.get("episode")
    episodes = episodes if isinstance(episodes, list) else [episodes] if episodes is not None else []
    if not seasons:
        if episodes:
            return None  # an episode number without a season: too uncertain to offer
        return -10, ["a pack naming no season -10"]
    if wanted.season not in seasons:
        return None
    if not episodes:
        label = f"season pack S{seasons[0]:02d}" if len(seasons) == 1 else f"pack of {len(seasons)} seasons"
        return 0, [label]
    if wanted.kind == "season":
        return -5, ["single episodes, not the season -5"]
    if wanted.episode not in episodes:
        return None
    return 5, ["the episode alone +5"]


def _resolution(guess: dict) -> str | None:
    screen = guess.get("screen_size")
    others = guess.get("other") or []
    others = others if isinstance(others, list) else [others]
    if screen in ("2160p", "4320p") or "Ultra HD" in others or "4K" in others:
        return "2160p"
    if screen in ("1080p", "1080i"):
        return "1080p"
    if screen == "720p":
        return "720p"
    if screen in ("576p", "480p", "576i", "480i"):
        return "480p"
    return None


def _resolution_points(resolution: str | None, preferred: str) -> tuple[int, str]:
    if resolution is None:
        return 5, "resolution unknown +5"
    if resolution == preferred:
        return 30, f"{resolution} (preferred) +30"
    if preferred in RESOLUTIONS and abs(RESOLUTIONS.index(resolution) - RESOLUTIONS.index(preferred)) == 1:
        return 15, f"{resolution} (near {preferred}) +15"
    return 0, f"{resolution} +0"


def _source_name(guess: dict) -> str | None:
    source = guess.get("source")
    source = source[0] if isinstance(source, list) else source
    others = guess.get("other") or []
    is_rip = "Rip" in (others if isinstance(others, list) else [others])
    if source in ("Blu-ray", "Ultra HD Blu-ray"):
        return "BluRay"
    if source == "Web":
        return "WEBRip" if is_rip else "WEB-DL"
    if source in ("HDTV", "Ultra HDTV", "TV", "Digital TV"):
        return "HDTV"
    if source == "DVD":
        return "DVD"
    return None


def _size_check(size: int | None, resolution: str | None, wanted: Wanted, guess: dict) -> str | None:
    """A reason when the size is implausible for one film or one episode at this resolution; None when fine."""
    if not size or resolution is None:
        return None
    episodes = guess.get("episode")
    if wanted.kind == "movie":
        low, high = _MOVIE_SIZES[resolution]
    elif episodes is not None and not isinstance(episodes, list):
        low, high = _EPISODE_SIZES[resolution]
    else:
        return None  # a pack: how many episodes it holds is unknown
    if low <= size <= high:
        return None
    return f"{size / GB:.1f} GB is {'small' if size < low else 'large'} for {resolution} -15"
