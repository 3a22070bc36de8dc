"""Which video a torrent's subtitle file belongs to, what language it is, and its name in the share. Pure.

Release groups name subtitles in many ways: `Movie.2010.en.srt`,
`Movie.2010.eng.srt`, `Movie.2010.English.srt`, `Subs/English.srt`,
`Subs/Show.S01E02/2_English.srt`. The language comes from guessit (which
knows ISO 639-1, 639-2 and language names in file names), the rest from the
path: a subtitle belongs to the video whose name it starts with, else to the
video of the same episode, else to the video named by its `Subs/<video>/`
folder, else to the torrent's only video.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import guessit
from babelfish import Error as LanguageError

from momoshtrem.library import media
from momoshtrem.library.models import Subtitle
from momoshtrem.torrent.metainfo import TorrentFile

UNKNOWN_LANGUAGE = "und"
SUBS_FOLDERS = frozenset({"subs", "sub", "subtitles", "subtitle"})
_TOKENS = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class VideoRef:
    """An assigned video of the torrent: its file, and the episode it holds (None for a movie)."""

    file_index: int
    path: str
    season: int | None = None
    episode: int | None = None


def describe(path: str) -> tuple[str, str | None]:
    """(ISO 639-1 language or `und`, variant) of a subtitle file, as its name and folders say.

    The variant is `forced` (only the foreign parts) or `sdh` (for the deaf
    and hard of hearing: `SDH`, `CC`, or `HI` beside a language, which guessit
    would otherwise read as Hindi).
    """
    guess = guessit.guessit(path, {"type": "episode" if _episode_of(path) else "movie"})
    languages = [code for key in ("subtitle_language", "language") for code in _codes(guess.get(key))]
    tokens = set(_TOKENS.split(posixpath.basename(path).lower()))
    hearing_impaired = bool(tokens & {"sdh", "cc"})
    if "hi" in tokens and "hi" in languages and len(set(languages)) > 1:
        languages = [code for code in languages if code != "hi"]
        hearing_impaired = True
    variant = "forced" if "forced" in tokens else "sdh" if hearing_impaired else None
    return (languages[0] if languages else UNKNOWN_LANGUAGE), variant


def _codes(found) -> list[str]:
    codes = []
    for language in found if isinstance(found, list) else [found] if found is not None else []:
        try:
            codes.append(language.alpha2)
        except (LanguageError, AttributeError):
            pass  # a language with no two-letter code: treated as unknown
    return codes


def match_subtitles(files: Iterable[TorrentFile], videos: Sequence[VideoRef]) -> dict[int, list[Subtitle]]:
    """Subtitle files of the torrent by the video file index they belong to; files that fit no video are left out."""
    matched: dict[int, list[Subtitle]] = {}
    if not videos:
        return matched
    for file in files:
        if not media.is_subtitle(file.path):
            continue
        video = _video_for(file.path, videos)
        if video is not None:
            language, variant = describe(file.path)
            matched.setdefault(video.file_index, []).append(
                Subtitle(language, variant, file.index, file.path, file.size))
    for subtitles in matched.values():
        subtitles.sort(key=lambda s: s.file_path)
    return matched


def _video_for(path: str, videos: Sequence[VideoRef]) -> VideoRef | None:
    name = _stem(path).lower()
    by_name = [v for v in videos if name.startswith(_stem(v.path).lower())]
    if by_name:
        return max(by_name, key=lambda v: len(_stem(v.path)))
    episode = _episode_of(path)
    if episode is not None:
        same_episode = [v for v in videos if (v.season, v.episode) == episode]
        if same_episode:
            return same_episode[0]
    parts = path.split("/")
    for depth, folder in enumerate(parts[:-1]):
        if folder.lower() in SUBS_FOLDERS and depth + 2 < len(parts):
            named = parts[depth + 1].lower()
            by_folder = [v for v in videos if _stem(v.path).lower() == named]
            if by_folder:
                return by_folder[0]
    return videos[0] if len(videos) == 1 else None


def _episode_of(path: str) -> tuple[int, int] | None:
    guess = guessit.guessit(posixpath.basename(path), {"type": "episode"})
    season, episode = guess.get("season"), guess.get("episode")
    if isinstance(season, int) and isinstance(episode, int):
        return season, episode
    return None


def _stem(path: str) -> str:
    return posixpath.splitext(posixpath.basename(path))[0]


def sidecar_names(video_stem: str, subtitles: Sequence[tuple[str, str | None, str]]) -> list[str]:
    """Share names for (language, variant, extension) beside `video_stem`: `Movie (2010).en.srt`.

    Players match a subtitle to a video by the shared base name and read the
    language from the next dot-separated part. Several of one language get
    their variant (`.en.forced.srt`, `.en.sdh.srt`) or a number from 2
    (`.en.2.srt`), so no two collide.
    """
    names: list[str] = []
    taken: set[str] = set()
    for language, variant, extension in subtitles:
        base = f"{video_stem}.{language}" + (f".{variant}" if variant else "")
        name, number = f"{base}{extension}", 2
        while name.casefold() in taken:
            name, number = f"{base}.{number}{extension}", number + 1
        taken.add(name.casefold())
        names.append(name)
    return names
