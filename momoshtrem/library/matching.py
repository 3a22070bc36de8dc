"""Which torrent file is which episode, or which one is the movie.

Pure logic over file paths: guessit reads the release-name conventions of the
wild (S01E02, 1x02, anime numbering, season folders, years), and this module
adds the rules guessit does not know: what counts as an extra, how sure a match
is, and the season a folder implies. No I/O, no database.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

from guessit import guessit

from momoshtrem.library import media
from momoshtrem.torrent.metainfo import TorrentFile

# Verdicts a user reads in the per-file report.
NOT_VIDEO = "not_video"
SAMPLE = "sample"
EXTRA = "extra"
COULD_NOT_IDENTIFY = "could_not_identify"
NO_LIBRARY_EPISODE = "no_library_episode"
DUPLICATE = "duplicate_episode"
SMALLER_THAN_MAIN = "not_the_main_video"

# Confidence of an episode match.
HIGH = "high"  # the file name itself says season and episode (S01E02, 1x02, ...)
MEDIUM = "medium"  # the episode from the file name, the season from a folder or the torrent name
LOW = "low"  # an episode number only (anime style); season 1 assumed

_EXTRA_FOLDERS = re.compile(
    r"^(samples?|trailers?|previews?|extras?|featurettes?|deleted[ ._-]?scenes?|"
    r"behind[ ._-]?the[ ._-]?scenes?|bonus(es)?|bonus[ ._-]?features?|special[ ._-]?features?|"
    r"interviews?|making[ ._-]?of|shorts?)$",
    re.IGNORECASE,
)
_SAMPLE_WORD = re.compile(r"(^|[ ._\-\[(])sample([ ._\-\])]|$)", re.IGNORECASE)
_EXTRA_WORDS = re.compile(
    r"(^|[ ._\-\[(])(trailer|teaser|preview|featurette|deleted[ ._-]scenes?|behind[ ._-]the[ ._-]scenes)"
    r"([ ._\-\])]|$)",
    re.IGNORECASE,
)
_EXPLICIT_EPISODE = re.compile(
    r"(s\d{1,2}[ ._-]?e\d{1,4}|\b\d{1,2}x\d{1,4}\b|season[ ._-]*\d+[ ._-]*episode[ ._-]*\d+)", re.IGNORECASE
)
_BARE_EPISODE = re.compile(r"^(?:e|ep|episode)?[ ._-]*(\d{1,4})$", re.IGNORECASE)


@dataclass(frozen=True)
class EpisodeMatch:
    season: int
    episodes: tuple[int, ...]
    confidence: str


@dataclass(frozen=True)
class Quality:
    resolution: str | None
    source: str | None


@dataclass(frozen=True)
class FileVerdict:
    """One torrent file's fate: matched to episodes (and of what quality), or a reason it was not."""

    file: TorrentFile
    match: EpisodeMatch | None = None
    reason: str | None = None
    quality: Quality | None = None


def skip_reason(file: TorrentFile, torrent_name: str) -> str | None:
    """Why a file is not a candidate video at all, or None when it is one."""
    if not media.is_video(file.path):
        return NOT_VIDEO
    folders = _folders(file.path, torrent_name)
    stem = posixpath.splitext(posixpath.basename(file.path))[0]
    if any(f.lower() in ("sample", "samples") for f in folders) or _SAMPLE_WORD.search(stem):
        return SAMPLE
    if any(_EXTRA_FOLDERS.match(f) for f in folders) or _EXTRA_WORDS.search(stem):
        return EXTRA
    return None


def guess_episode(path: str, torrent_name: str = "") -> EpisodeMatch | None:
    """Season and episode(s) of a file from its path inside the torrent, or None."""
    return _episode_of(guessit(path, {"type": "episode"}), path, torrent_name)


def _episode_of(guess: dict, path: str, torrent_name: str) -> EpisodeMatch | None:
    season = guess.get("season")
    episodes = guess.get("episode")
    basename = posixpath.basename(path)
    stem = posixpath.splitext(basename)[0]
    if episodes is None:
        bare = _BARE_EPISODE.match(stem.strip())
        if bare is None:
            return None
        episodes = int(bare.group(1))
    if isinstance(season, list):
        if len(set(season)) != 1:
            return None  # a file spanning seasons is no single episode
        season = season[0]
    episode_list = tuple(sorted(set(episodes if isinstance(episodes, list) else [episodes])))
    if guess.get("year") in episode_list or any(e > 1900 for e in episode_list):
        return None  # 2024 is a year, never S20E24 or episode 2024
    if season is None and torrent_name:
        season = _season_of_torrent(torrent_name)
        confidence = MEDIUM if season is not None else LOW
    elif _EXPLICIT_EPISODE.search(basename):
        confidence = HIGH
    else:
        confidence = MEDIUM if season is not None else LOW
    return EpisodeMatch(season=1 if season is None else int(season), episodes=episode_list, confidence=confidence)


@lru_cache(maxsize=256)
def _season_of_torrent(torrent_name: str) -> int | None:
    """Asked once per file of a season pack: guessit takes ~13 ms a name, so the answer is kept."""
    season = guessit(torrent_name, {"type": "episode"}).get("season")
    return None if isinstance(season, list) else season


def classify_show_files(files: Iterable[TorrentFile], torrent_name: str) -> list[FileVerdict]:
    """A verdict for every real file; a duplicate match keeps the largest file."""
    verdicts: list[FileVerdict] = []
    for file in files:
        reason = skip_reason(file, torrent_name)
        if reason is not None:
            verdicts.append(FileVerdict(file, reason=reason))
            continue
        guess = guessit(file.path, {"type": "episode"})  # one guess a file: the episode and the quality
        match = _episode_of(guess, file.path, torrent_name)
        if match is None:
            verdicts.append(FileVerdict(file, reason=COULD_NOT_IDENTIFY))
        else:
            verdicts.append(FileVerdict(file, match=match, quality=_or_torrent_quality(_quality_from(guess),
                                                                                       torrent_name)))
    return _drop_duplicates(verdicts)


def pick_movie_file(files: Iterable[TorrentFile], torrent_name: str) -> tuple[TorrentFile | None, list[FileVerdict]]:
    """The largest video that is not a sample or an extra, and the verdicts for the rest."""
    candidates: list[TorrentFile] = []
    verdicts: list[FileVerdict] = []
    for file in files:
        reason = skip_reason(file, torrent_name)
        if reason is None:
            candidates.append(file)
        else:
            verdicts.append(FileVerdict(file, reason=reason))
    if not candidates:
        return None, verdicts
    chosen = max(candidates, key=lambda f: (f.size, -f.index))
    verdicts.extend(FileVerdict(f, reason=SMALLER_THAN_MAIN) for f in candidates if f is not chosen)
    return chosen, verdicts


def quality(path: str, torrent_name: str) -> Quality:
    """Resolution and source from the file name, else from the torrent name."""
    return _or_torrent_quality(_quality_of(posixpath.basename(path)), torrent_name)


def _or_torrent_quality(from_file: Quality, torrent_name: str) -> Quality:
    if from_file.resolution and from_file.source:
        return from_file
    from_torrent = _quality_of(torrent_name)
    return Quality(from_file.resolution or from_torrent.resolution, from_file.source or from_torrent.source)


@lru_cache(maxsize=256)
def _quality_of(name: str) -> Quality:
    return _quality_from(guessit(name)) if name else Quality(None, None)


def _quality_from(guess: dict) -> Quality:
    others = guess.get("other") or []
    others = others if isinstance(others, list) else [others]
    screen = guess.get("screen_size")
    if screen in ("2160p", "4320p") or "Ultra HD" in others or "4K" in others:
        resolution = "2160p"
    elif screen in ("1080p", "1080i", "720p", "576p", "480p"):
        resolution = screen.replace("i", "p").replace("576p", "480p")
    else:
        resolution = None
    source = guess.get("source")
    source = source[0] if isinstance(source, list) else source
    is_rip = "Rip" in others
    if source in ("Blu-ray", "Ultra HD Blu-ray"):
        normalised = "BluRay"
    elif source == "Web":
        normalised = "WEBRip" if is_rip else "WEB-DL"
    elif source in ("HDTV", "Ultra HDTV", "TV"):
        normalised = "HDTV"
    elif source == "DVD":
        normalised = "DVDRip" if is_rip else "DVD"
    else:
        normalised = None
    return Quality(resolution, normalised)


def _folders(path: str, torrent_name: str) -> list[str]:
    """Folder names above the file, without the torrent's own root folder (a show may be called 'Extras')."""
    parts = path.split("/")[:-1]
    if parts and parts[0] == torrent_name:
        parts = parts[1:]
    return parts


def _drop_duplicates(verdicts: list[FileVerdict]) -> list[FileVerdict]:
    best: dict[tuple[int, int], FileVerdict] = {}
    for v in verdicts:
        if v.match is None:
            continue
        for episode in v.match.episodes:
            key = (v.match.season, episode)
            if key not in best or v.file.size > best[key].file.size:
                best[key] = v
    winners = {id(v) for v in best.values()}
    return [
        v if v.match is None or id(v) in winners else FileVerdict(v.file, reason=DUPLICATE)
        for v in verdicts
    ]
