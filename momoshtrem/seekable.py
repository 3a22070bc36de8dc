"""The file-object half every GET's reader shares: a position in a file of known size, moved by `seek`."""

from __future__ import annotations

import io


class SeekableReader(io.RawIOBase):
    """Subclasses implement `read(size)` from `self._position`, and advance it by what they return."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _clipped(self, size: int | None) -> int:
        """How many bytes a `read(size)` may return from the current position (-1 or None: to the end)."""
        remaining = self._size - self._position
        return remaining if size is None or size < 0 else min(size, remaining)
