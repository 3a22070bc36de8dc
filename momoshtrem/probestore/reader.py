"""A GET's file object that serves stored probe bytes from disk and everything else from the swarm.

While the read position is inside a stored range the bytes come from the
entry's file, at disk speed, and the torrent is not touched. The swarm reader
is opened only when the position leaves the stored bytes, and only if the
client still reads (`may_continue`, see clientwatch.py): a probe that hung
up adds no torrent to the session. A request whose explicit range runs past
the stored bytes starts the swarm at once (`start_swarm_at`), so the pieces
come while the local bytes are sent.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

from momoshtrem.library.errors import LibraryError
from momoshtrem.probestore.store import StoredProbe
from momoshtrem.seekable import SeekableReader
from momoshtrem.torrent.reader import ClientGone, ReadError, TorrentReader

log = logging.getLogger(__name__)


class StoredFirstReader(SeekableReader):
    def __init__(self, probe: StoredProbe, open_swarm: Callable[[], TorrentReader],
                 may_continue: Callable[[], bool]) -> None:
        super().__init__(probe.file_size)
        self._probe = probe
        self._open_swarm = open_swarm
        self._may_continue = may_continue
        self._fd = os.open(probe.path, os.O_RDONLY)  # an eviction meanwhile unlinks the name, not these bytes
        self._swarm: TorrentReader | None = None

    def start_swarm_at(self, position: int, length: int) -> None:
        """Ask the swarm now for the bytes at `position`, which the request will reach after the stored ones."""
        swarm = self._swarm_reader()
        swarm.prefetch(position, length)

    def _read_here(self, size: int) -> bytes:
        stored_end = self._probe.covered_until(self._position)
        if stored_end > self._position:
            count = min(size, stored_end - self._position)
            data = os.pread(self._fd, count, self._probe.offset_in_entry(self._position))
            if len(data) != count:
                raise ReadError(f"the probe store entry {self._probe.path} is cut short")
        else:
            if self._swarm is None and not self._may_continue():
                raise ClientGone("the client stopped reading before the bytes beyond the probe store")
            swarm = self._swarm_reader()
            swarm.seek(self._position)
            data = swarm.read(size)
        return data

    def _swarm_reader(self) -> TorrentReader:
        if self._swarm is None:
            try:
                self._swarm = self._open_swarm()
            except LibraryError as exc:  # the torrent cannot join the session: a read error like any other
                raise ReadError(str(exc)) from None
        return self._swarm

    def close(self) -> None:
        if self.closed:
            return
        os.close(self._fd)
        if self._swarm is not None:
            self._swarm.close()
        super().close()
