"""Piece arithmetic: which pieces hold which bytes of a file. Pure, no libtorrent.

A torrent's files are laid end to end and cut into pieces of `piece_length`
bytes, so a file may start or end in the middle of a piece it shares with its
neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileSpan:
    """Where one file lies in its torrent's data."""

    offset: int  # of the file's first byte in the torrent
    size: int
    piece_length: int

    def piece_at(self, file_position: int) -> int:
        """The piece holding the file's byte at `file_position`."""
        return (self.offset + file_position) // self.piece_length

    def piece_start(self, piece: int) -> int:
        """The file position of the piece's first byte of this file."""
        return max(piece * self.piece_length - self.offset, 0)

    def piece_end(self, piece: int) -> int:
        """The file position just past the piece's last byte of this file."""
        return min((piece + 1) * self.piece_length - self.offset, self.size)

    def pieces_for(self, start: int, length: int) -> range:
        """Pieces covering the file's bytes [start, start + length), clipped to the file."""
        end = min(start + length, self.size)
        if length <= 0 or start >= end:
            return range(0)
        return range(self.piece_at(start), self.piece_at(end - 1) + 1)

    @property
    def pieces(self) -> range:
        """Every piece the file touches."""
        return self.pieces_for(0, self.size)
