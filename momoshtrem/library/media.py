"""What kind of file a name is, by its extension; and its HTTP content type."""

from __future__ import annotations

import posixpath

VIDEO_EXTENSIONS = frozenset(
    ".mkv .mp4 .avi .wmv .mov .m4v .webm .ts .m2ts .vob .flv .divx".split()
)
SUBTITLE_EXTENSIONS = frozenset(".srt .sub .ass .ssa .vtt .idx .smi".split())

_CONTENT_TYPES = {
    ".mkv": "video/x-matroska",
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".avi": "video/x-msvideo",
    ".wmv": "video/x-ms-wmv",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".ts": "video/mp2t",
    ".m2ts": "video/mp2t",
    ".vob": "video/dvd",
    ".flv": "video/x-flv",
    ".divx": "video/divx",
    ".srt": "text/plain; charset=utf-8",
    ".ass": "text/plain; charset=utf-8",
    ".ssa": "text/plain; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".sub": "text/plain",
    ".smi": "application/smil",
    ".idx": "text/plain",
}


def extension(path: str) -> str:
    """Lower-case extension with its dot, '' when there is none."""
    return posixpath.splitext(path)[1].lower()


def is_video(path: str) -> bool:
    return extension(path) in VIDEO_EXTENSIONS


def is_subtitle(path: str) -> bool:
    return extension(path) in SUBTITLE_EXTENSIONS


def content_type(path: str) -> str:
    return _CONTENT_TYPES.get(extension(path), "application/octet-stream")
