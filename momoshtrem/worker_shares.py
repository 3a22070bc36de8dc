"""How many of cheroot's workers may wait at once on what the server does not control.

A read that waits for pieces holds a worker for up to `read_timeout`, an
assignment waiting for a magnet's metadata for up to `metadata_timeout`, a
release search up to twice `search.timeout` on a hung indexer, a TMDB or
OpenSubtitles call or a release link up to its own timeout. Without bounds a
dead swarm or a hung upstream, and a player retrying or a script, would take
every worker and listings would queue behind them. A request beyond its share
is a quick 503 with Retry-After (errors.Busy). The shares are decided here,
together, so the rest of the workers always list, HEAD and answer the API.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from momoshtrem.library.errors import Busy


@dataclass(frozen=True)
class WorkerShares:
    reads: int  # GETs whose first read waits for pieces, in all
    reads_per_torrent: int  # ... on one torrent
    metadata_fetches: int  # assignments waiting for a magnet's metadata
    internet: int  # requests waiting on indexers, TMDB or OpenSubtitles

    @classmethod
    def for_workers(cls, threads: int) -> "WorkerShares":
        """Half the workers may wait for pieces (a quarter on one torrent), an eighth for metadata and an eighth
        on the internet: the rest (at least a quarter) always list, HEAD and answer the API."""
        return cls(reads=max(threads // 2, 1), reads_per_torrent=max(threads // 4, 1),
                   metadata_fetches=max(threads // 8, 1), internet=max(threads // 8, 1))


class UpstreamWaits:
    """The requests waiting on indexers, TMDB or OpenSubtitles. Background work (automatic subtitle downloads,
    posters) holds no worker and is not counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._waiting = 0
        self._refused = 0

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    @property
    def refused(self) -> int:
        """Requests answered 503 since the start, for /metrics."""
        with self._lock:
            return self._refused

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Held while a request waits on an indexer, TMDB or OpenSubtitles; Busy (a 503) when none is free."""
        with self._lock:
            if self._waiting >= self.limit:
                self._refused += 1
                raise Busy(f"{self._waiting} requests already wait on indexers, TMDB or OpenSubtitles (at most "
                           f"{self.limit}); try again in a few seconds")
            self._waiting += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting -= 1
