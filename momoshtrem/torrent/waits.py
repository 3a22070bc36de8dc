"""How many requests may hold a server worker while they wait on swarms.

Each read that waits for pieces holds one of cheroot's workers for up to
`read_timeout`; a dead swarm's readers (a player retrying, a scanner) would
otherwise take them all, and listings would queue behind them. The bounds
keep the rest of the workers for listings, HEADs and the API.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from momoshtrem.library.errors import Busy
from momoshtrem.torrent.active import ActiveTorrent
from momoshtrem.torrent.readstats import ReadStats


@dataclass(frozen=True)
class SwarmWaitBounds:
    """How many requests may hold a worker while they wait on swarms: reads (in all, on one torrent), assignments."""

    reads: int
    reads_per_torrent: int
    metadata_fetches: int

    @classmethod
    def for_workers(cls, threads: int) -> "SwarmWaitBounds":
        """Half the workers may wait for pieces (a quarter on one torrent), an eighth for metadata: the rest
        (at least three eighths) always list, HEAD and answer the API."""
        return cls(reads=max(threads // 2, 1), reads_per_torrent=max(threads // 4, 1),
                   metadata_fetches=max(threads // 8, 1))


class FirstWaits:
    """The GETs whose first read may wait for pieces, counted by torrent."""

    def __init__(self, bounds: SwarmWaitBounds, read_stats: ReadStats) -> None:
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
