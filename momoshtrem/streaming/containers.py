"""Where a video file keeps its index, from a few bytes of it. Pure: no I/O, no libtorrent.

A player cannot start until it has the container's index: an MP4's `moov`
atom (often at the very end, after `mdat`) or an MKV's `Cues` (usually near
the end, found through the `SeekHead`). Both analyzers take a `read(offset,
length)` callable that returns what it can (possibly fewer bytes, or none),
read only a bounded number of small headers, and never raise on hostile or
truncated input: the worst answer is "no result".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable

Read = Callable[[int, int], bytes]

MAX_TOP_LEVEL_ATOMS = 64
MAX_SEEK_ENTRIES = 64
MKV_SIGNATURE = b"\x1a\x45\xdf\xa3"


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class ContainerIndex:
    """The byte ranges a player reads before it can play or seek, and the duration when known."""

    format: str  # "mp4" or "mkv"
    ranges: tuple[ByteRange, ...] = field(default_factory=tuple)
    duration_seconds: float | None = None


def analyzer_for(extension: str) -> Callable[[Read, int], ContainerIndex | None] | None:
    """The analyzer of a file extension ('.mkv'), or None where no index can be found from a few bytes."""
    return _ANALYZERS.get(extension.lower())


def index_read_before_play(extension: str) -> bool:
    """Whether players read the container's index (or the file's end) before the first frame.

    Not for Matroska: ffmpeg and mpv read its Cues only at the first seek
    (strace of both, quoted in probestore/plan.py). Everything else is assumed
    to need it: an MP4's moov may sit at the end, and AVI and TS probes read it.
    """
    return extension.lower() not in _MATROSKA


# -- MP4 ----------------------------------------------------------------------------

_MP4_FIRST_ATOMS = {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin", b"uuid"}


def analyze_mp4(read: Read, size: int) -> ContainerIndex | None:
    """Walk the top-level atoms from offset 0 to find `moov`; None if this is not an MP4."""
    try:
        return _analyze_mp4(read, size)
    except (struct.error, ValueError, IndexError, OverflowError):
        return None


def _analyze_mp4(read: Read, size: int) -> ContainerIndex | None:
    offset = 0
    for count in range(MAX_TOP_LEVEL_ATOMS):
        if offset + 8 > size:
            return None
        header = read(offset, 16)
        if len(header) < 8:
            return None
        atom_size, kind = struct.unpack(">I4s", header[:8])
        if count == 0 and kind not in _MP4_FIRST_ATOMS:
            return None
        header_length = 8
        if atom_size == 1:
            if len(header) < 16:
                return None
            atom_size = struct.unpack(">Q", header[8:16])[0]
            header_length = 16
        elif atom_size == 0:
            atom_size = size - offset  # to the end of the file
        if atom_size < header_length or offset + atom_size > size:
            return None
        if kind == b"moov":
            moov = ByteRange(offset, offset + atom_size)
            return ContainerIndex("mp4", (moov,), _mp4_duration(read, moov, header_length))
        offset += atom_size
    return None


def _mp4_duration(read: Read, moov: ByteRange, header_length: int) -> float | None:
    """From `mvhd`, which in practice is moov's first child."""
    data = read(moov.start + header_length, 40)
    if len(data) < 8 or data[4:8] != b"mvhd" or len(data) < 12:
        return None
    version = data[8]
    if version == 1 and len(data) >= 40:
        timescale, duration = struct.unpack(">IQ", data[28:40])
    elif version == 0 and len(data) >= 28:
        timescale, duration = struct.unpack(">II", data[20:28])
    else:
        return None
    return duration / timescale if timescale else None


# -- Matroska / WebM ----------------------------------------------------------------------

_SEGMENT = 0x18538067
_SEEK_HEAD = 0x114D9B74
_SEEK = 0x4DBB
_SEEK_ID = 0x53AB
_SEEK_POSITION = 0x53AC
_INFO = 0x1549A966
_TRACKS = 0x1654AE6B
_CUES = 0x1C53BB6B
_TIMECODE_SCALE = 0x2AD7B1
_DURATION = 0x4489
_VOID = 0xEC
_CRC32 = 0xBF
_INDEXED = {_INFO: "info", _TRACKS: "tracks", _CUES: "cues"}
_HEAD_BYTES = 64 * 1024  # EBML header, Segment header and SeekHead fit here in practice


def analyze_mkv(read: Read, size: int) -> ContainerIndex | None:
    """Parse the EBML header and the Segment's SeekHead; None if this is not Matroska.

    Without a SeekHead the answer has no ranges: the caller falls back to
    header and footer bytes.
    """
    try:
        return _analyze_mkv(read, size)
    except (ValueError, IndexError, OverflowError, struct.error):
        return None


def _analyze_mkv(read: Read, size: int) -> ContainerIndex | None:
    head = read(0, min(size, _HEAD_BYTES))
    if not head.startswith(MKV_SIGNATURE):
        return None
    _, ebml_size, pos = _element_header(head, 0)
    pos += ebml_size
    element_id, _, segment_data = _element_header(head, pos)
    if element_id != _SEGMENT:
        return ContainerIndex("mkv")
    positions = _seek_head_positions(head, segment_data)
    ranges = []
    duration = None
    for element, relative in sorted(positions.items(), key=lambda kv: kv[1]):
        absolute = segment_data + relative
        if absolute >= size:
            continue
        element_range = _element_range(read, absolute, size, element)
        if element_range is None:
            continue
        ranges.append(element_range)
        if element == _INFO:
            duration = _mkv_duration(read(element_range.start, min(element_range.length, 4096)))
    return ContainerIndex("mkv", tuple(ranges), duration)


def _seek_head_positions(head: bytes, segment_data: int) -> dict[int, int]:
    """Info/Tracks/Cues -> position relative to the Segment's data, from the first SeekHead."""
    pos = segment_data
    for _ in range(8):  # the SeekHead is among the first few children (after Void or CRC-32)
        if pos + 2 > len(head):
            return {}
        element_id, length, data = _element_header(head, pos)
        if element_id == _SEEK_HEAD:
            return _seek_entries(head[data: min(data + length, len(head))])
        if element_id not in (_VOID, _CRC32):
            return {}
        pos = data + length
    return {}


def _seek_entries(seek_head: bytes) -> dict[int, int]:
    found: dict[int, int] = {}
    pos = 0
    for _ in range(MAX_SEEK_ENTRIES):
        if pos + 2 > len(seek_head):
            break
        element_id, length, data = _element_header(seek_head, pos)
        pos = data + length
        if element_id != _SEEK:
            continue
        target = position = None
        inner = data
        while inner < min(data + length, len(seek_head)):
            child, child_length, child_data = _element_header(seek_head, inner)
            value = seek_head[child_data: child_data + child_length]
            if child == _SEEK_ID:
                target = int.from_bytes(value, "big")
            elif child == _SEEK_POSITION:
                position = int.from_bytes(value, "big")
            inner = child_data + child_length
        if target in _INDEXED and position is not None and target not in found:
            found[target] = position
    return found


def _element_range(read: Read, offset: int, size: int, expected_id: int) -> ByteRange | None:
    header = read(offset, 12)
    if len(header) < 2:
        return None
    element_id, length, data = _element_header(header, 0)
    if element_id != expected_id:
        return None
    return ByteRange(offset, min(offset + data + length, size))


def _mkv_duration(info: bytes) -> float | None:
    scale = 1_000_000  # nanoseconds per tick, Matroska's default
    duration = None
    pos = _element_header(info, 0)[2]
    while pos + 2 <= len(info):
        element_id, length, data = _element_header(info, pos)
        value = info[data: data + length]
        if element_id == _TIMECODE_SCALE and value:
            scale = int.from_bytes(value, "big")
        elif element_id == _DURATION and length in (4, 8) and len(value) == length:
            duration = struct.unpack(">f" if length == 4 else ">d", value)[0]
        pos = data + length
    if duration is None or not duration > 0 or duration != duration:
        return None
    return duration * scale / 1e9


def _element_header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(element id, data length, offset of the data); an unknown length reads as 'to the end'."""
    element_id, pos = _vint(data, pos, keep_marker=True)
    length, pos = _vint(data, pos, keep_marker=False)
    return element_id, length, pos


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    first = data[pos]
    width = 1
    mask = 0x80
    while width <= 8 and not first & mask:
        width += 1
        mask >>= 1
    if width > 8:
        raise ValueError("invalid EBML variable-length integer")
    raw = data[pos: pos + width]
    if len(raw) < width:
        raise ValueError("truncated EBML integer")
    value = int.from_bytes(raw, "big")
    if not keep_marker:
        value &= (1 << (7 * width)) - 1
        if value == (1 << (7 * width)) - 1:
            value = 1 << 62  # "unknown size": treat as running to the end
    return value, pos + width


_MATROSKA = {".mkv", ".webm"}
_ANALYZERS = {".mp4": analyze_mp4, ".m4v": analyze_mp4, ".mov": analyze_mp4, ".mkv": analyze_mkv, ".webm": analyze_mkv}
