"""The file-object half every GET's reader shares: a position in a file of known size, moved by `seek`."""

from __future__ import annotations

import io


class SeekableReader(io.RawIOBase):
    """Subclasses implement `_read_here(size)`: up to `size` (> 0, within the file) bytes at `self._position`."""

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

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed reader")
        remaining = self._size - self._position
        size = remaining if size is None or size < 0 else min(size, remaining)
        if size <= 0:
            return b""
        data = self._read_here(size)
        self._position += len(data)
        return data

    def _read_here(self, size: int) -> bytes:
        raise NotImplementedError
