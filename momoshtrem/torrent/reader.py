"""A seekable file object over one file of a torrent: what every GET reads from.

`read()` asks the session for the piece under the read position, sleeps on
the torrent's condition until piece-finished alerts say it is there (no
polling), then reads the bytes straight from the file in the save path. It
never waits longer than the read timeout, and closing the reader, stopping
the server or the client hanging up ends the wait at once (the client is
looked at every few hundredths of a second while the read waits). A read
waits for one piece at most and returns short at the first piece still
missing after it: the client gets each piece as soon as it is there, and the
swarm is asked for one piece at a time.

Which pieces to ask for is `prepare_read`'s job, left to subclasses: the
streaming layer's PriorityReader (a format-aware plan shared by all readers of
a file) and SequentialReader (the benchmarks' baseline).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable

from momoshtrem.seekable import SeekableReader
from momoshtrem.torrent.active import ActiveTorrent
from momoshtrem.torrent.metainfo import TorrentFile
from momoshtrem.torrent.session import SessionManager

log = logging.getLogger(__name__)

STARVING_CHECK_SECONDS = 2.0  # a wait with no piece for this long checks that the torrent has peers
CLIENT_CHECK_SECONDS = 0.02  # how often a waiting read looks whether its client hung up

ClientGoneCheck = Callable[[], bool]  # True once the client of the read hung up


class ReadError(IOError):
    """A read that cannot be served: the message says why, for the log and the user."""


class ReadTimeout(ReadError):
    pass


class ClientGone(ReadError):
    """The client hung up (or stopped reading) before the bytes the swarm would have to send."""


class TorrentReader(SeekableReader):
    def __init__(self, manager: SessionManager, torrent: ActiveTorrent, file: TorrentFile, read_timeout: float,
                 client_gone: ClientGoneCheck | None = None) -> None:
        super().__init__(file.size)
        self._manager = manager
        self._torrent = torrent
        self.file = file
        self.span = torrent.span(file.index)
        self._path = torrent.save_path / file.path
        self._timeout = read_timeout
        self._client_gone = client_gone
        self._fd: int | None = None
        self._closing = False
        with torrent.cond:
            torrent.open_readers += 1
            torrent.readers_opened += 1

    def _read_here(self, size: int) -> bytes:
        for attempt in (1, 2):
            ready = self._wait_for_first_piece(self._position, size)
            data = self._read_from_disk(ready)
            if len(data) == ready:
                return data
            if attempt == 1:  # deleted or truncated behind our back: check the files, wait for the pieces anew
                self._manager.recheck(self._torrent, f"'{self.file.path}' has {len(data)} of {ready} bytes at "
                                                     f"{self._position} on disk")
                self._close_file()  # libtorrent may write the pieces into a new file at the same path
        raise ReadError(f"{self.file.path}: expected {ready} bytes at {self._position}, the disk had {len(data)}")

    def _read_from_disk(self, size: int) -> bytes:
        try:
            return os.pread(self._file_descriptor(), size, self._position)
        except FileNotFoundError:
            return b""

    def close(self) -> None:
        if self.closed:
            return
        torrent = self._torrent
        with torrent.cond:
            self._closing = True
            torrent.open_readers -= 1
            torrent.cond.notify_all()  # a read blocked in another thread gives up now
        self._close_file()
        super().close()

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- waiting for pieces --------------------------------------------------------

    def prefetch(self, start: int, length: int) -> None:
        """Ask the swarm for these bytes now, without waiting: the read reaches them later."""
        self.prepare_read(start, length)
        self._manager.mark_reading(self._torrent)

    def prepare_read(self, start: int, length: int) -> list[int]:
        """Ask the swarm for what this read needs; returns the pieces it must wait for."""
        raise NotImplementedError

    def _wait_for_first_piece(self, start: int, length: int) -> int:
        """Waits for the piece at `start`; returns how much of `length` can be read now."""
        span, have = self.span, self._torrent.have
        piece = span.piece_at(start)
        end = min(start + length, span.piece_end(piece))
        self._wait_for(start, end - start)
        while end < start + length and have[piece + 1]:
            piece += 1
            end = min(start + length, span.piece_end(piece))
        return end - start

    def _wait_for(self, start: int, length: int) -> None:
        torrent = self._torrent
        manager = self._manager
        if torrent.user_paused:
            raise ReadError(f"{self.file.path}: torrent {torrent.info_hash} is paused; resume it to read")
        if torrent.error:
            manager.read_stats.add(read_errors=1)
            raise ReadError(f"{self.file.path}: {torrent.error}")
        # Pieces first, then resume: a torrent resumed while it wants nothing stays "finished" and
        # does not reconnect to seeds (measured: 0 connect candidates until paused and resumed again).
        urgent = self.prepare_read(start, length)
        manager.mark_reading(torrent)
        if all(torrent.have[p] for p in urgent):
            manager.read_stats.add(reads=1)
            return
        started = time.monotonic()
        deadline = started + self._timeout
        starving_check = started + STARVING_CHECK_SECONDS
        failure: str | None = None  # the counter a failed wait adds to
        with torrent.cond:
            torrent.active_reads += 1
            try:
                while True:
                    missing = [p for p in urgent if not torrent.have[p]]
                    if not missing:
                        return
                    if self._closing or manager.stopping:
                        failure = "read_errors"
                        raise ReadError(f"{self.file.path}: the read was cancelled (reader closed or server stopping)")
                    if torrent.error:
                        failure = "read_errors"
                        raise ReadError(f"{self.file.path}: {torrent.error}")
                    if self._client_gone is not None and self._client_gone():
                        failure = "abandoned_reads"
                        raise ClientGone(f"{self.file.path}: the client hung up while its read waited for pieces")
                    now = time.monotonic()
                    left = deadline - now
                    if left <= 0:
                        failure = "read_timeouts"
                        raise self._timed_out(start, length, missing)
                    if now >= starving_check:  # no piece of the torrent came for that long
                        manager.refresh_peers_if_starving(torrent)
                        starving_check = now + STARVING_CHECK_SECONDS
                    wait = min(left, starving_check - now)
                    if self._client_gone is not None:
                        wait = min(wait, CLIENT_CHECK_SECONDS)
                    if torrent.cond.wait(wait):  # a piece came (or the reader closes)
                        starving_check = time.monotonic() + STARVING_CHECK_SECONDS
            finally:
                torrent.active_reads -= 1
                torrent.last_read = time.monotonic()
                manager.read_stats.add(blocked_reads=1, blocked_read_seconds=torrent.last_read - started,
                                       **({failure: 1} if failure else {"reads": 1}))

    def _timed_out(self, start: int, length: int, missing: list[int]) -> ReadTimeout:
        peers = self._torrent.handle.status().num_peers
        error = ReadTimeout(
            f"read of '{self.file.path}' bytes {start}-{start + length - 1} timed out after {self._timeout:.0f} s: "
            f"{len(missing)} pieces missing (first {missing[0]}), {peers} peers connected"
            f"{self._torrent.corruption_note()}"
        )
        log.error("%s (torrent %s)", error, self._torrent.info_hash)
        return error

    def _file_descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDONLY)
        return self._fd

