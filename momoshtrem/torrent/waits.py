"""The GETs whose first read may wait for pieces, counted against their share of the workers (worker_shares.py)."""

from __future__ import annotations

import threading
from typing import Callable

from momoshtrem.library.errors import Busy
from momoshtrem.torrent.active import ActiveTorrent
from momoshtrem.torrent.readstats import ReadStats
from momoshtrem.worker_shares import WorkerShares


class FirstWaits:
    """The GETs whose first read may wait for pieces, counted by torrent."""

    def __init__(self, bounds: WorkerShares, read_stats: ReadStats) -> None:
        self.bounds = bounds
        self._read_stats = read_stats
        self._lock = threading.Lock()
        self._waiting: dict[str, int] = {}

    def reserve(self, torrent: ActiveTorrent, file_index: int, start: int) -> Callable[[], None] | None:
        """Before a GET whose first piece is missing: a place among the reads that may wait, or Busy (a 503).

        Returns the release to call once the first read is over; None when the
        piece is here and nothing waits.
        """
        span = torrent.span(file_index)
        piece = span.piece_at(min(start, max(span.size - 1, 0)))
        with torrent.cond:
            if torrent.have[piece]:
                return None
        bounds, info_hash = self.bounds, torrent.info_hash
        with self._lock:
            here = self._waiting.get(info_hash, 0)
            everywhere = sum(self._waiting.values())
            if here >= bounds.reads_per_torrent or everywhere >= bounds.reads:
                self._read_stats.add(refused_reads=1)
                raise Busy(f"{everywhere} reads already wait for pieces ({here} of this torrent's, at most "
                           f"{bounds.reads_per_torrent}); try again in a few seconds")
            self._waiting[info_hash] = here + 1

        def release() -> None:
            with self._lock:
                left = self._waiting.get(info_hash, 1) - 1
                if left:
                    self._waiting[info_hash] = left
                else:
                    self._waiting.pop(info_hash, None)

        return release
