"""The share's names: clean, deterministic, safe on every client's file system.

Pure functions of the library's data, so a name never depends on torrent
contents beyond the file's extension, and the same library always shows the
same tree.
"""

from __future__ import annotations

import re
import unicodedata

MOVIES_FOLDER = "Movies"
SHOWS_FOLDER = "TV Shows"

_REPLACED = str.maketrans({"/": "-", "\\": "-", ":": "-", "|": "-", '"': "'"})
_DROPPED = re.compile(r"[*?<>\x00-\x1f\x7f]")


def safe_name(text: str) -> str:
    """Make a title usable as one path segment on Windows, macOS and Linux clients.

    `/ \\ : |` become `-`, `* ? < >` and control characters go, `"` becomes `'`;
    Unicode is NFC (what macOS clients compare against), whitespace collapses,
    and leading/trailing dots and spaces go (Windows and Finder hide or reject
    them). Never returns '', '.' or '..'.
    """
    return _clean(text).strip(" .") or "_"


def _clean(text: str) -> str:
    """safe_name for text inside a name, where leading and trailing dots are harmless ("...And the Bag")."""
    text = unicodedata.normalize("NFC", text).translate(_REPLACED)
    return _DROPPED.sub("", re.sub(r"\s+", " ", text)).strip(" ")


def titled(title: str, year: int | None) -> str:
    """`Title (Year)`, or just `Title` when the year is unknown."""
    name = safe_name(title)
    return f"{name} ({year})" if year else name


def movie_folder(title: str, year: int | None) -> str:
    return titled(title, year)


def movie_file(title: str, year: int | None, ext: str) -> str:
    return f"{titled(title, year)}{ext}"


def show_folder(title: str, year: int | None) -> str:
    return titled(title, year)


def season_folder(number: int) -> str:
    return f"Season {number:02d}"


def episode_code(season: int, episodes: list[int]) -> str:
    """`S01E02`, or `S01E01-E02` for a file holding several episodes (Infuse and Plex read both)."""
    first, last = min(episodes), max(episodes)
    code = f"S{season:02d}E{first:02d}"
    return code if first == last else f"{code}-E{last:02d}"


def episode_file(show_title: str, season: int, episodes: list[int], episode_name: str | None, ext: str) -> str:
    """`Show - S01E02 - Name.ext`; a missing name becomes `Episode <n>`."""
    name = _clean(episode_name or "") or f"Episode {min(episodes)}"
    return f"{safe_name(show_title)} - {episode_code(season, episodes)} - {name}{ext}"
