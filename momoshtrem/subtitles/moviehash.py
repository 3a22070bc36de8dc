"""The OpenSubtitles "moviehash": the file size plus the 64-bit little-endian words of its first and last 64 KiB.

Pure: it takes the two blocks, so the caller decides how to get them (from
disk, or from a torrent's first and last pieces once they are downloaded).
"""

from __future__ import annotations

import struct

BLOCK = 64 * 1024
_MASK = (1 << 64) - 1


def moviehash(size: int, head: bytes, tail: bytes) -> str:
    """16 hex digits. `head` is the first 64 KiB, `tail` the last 64 KiB (they overlap in files under 128 KiB)."""
    if size < BLOCK:
        raise ValueError(f"the moviehash needs a file of at least {BLOCK} bytes, not {size}")
    if len(head) != BLOCK or len(tail) != BLOCK:
        raise ValueError(f"the moviehash needs exactly {BLOCK} bytes from each end")
    total = size
    for block in (head, tail):
        total += sum(struct.unpack(f"<{BLOCK // 8}Q", block))
    return f"{total & _MASK:016x}"


def moviehash_of_file(path: str) -> str:
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(0)
        head = handle.read(BLOCK)
        handle.seek(max(0, size - BLOCK))
        tail = handle.read(BLOCK)
    return moviehash(size, head, tail)
