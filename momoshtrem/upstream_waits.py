"""How many requests may hold a server worker while they wait on services on the internet.

A release search waits up to twice `search.timeout` on a hung indexer; a TMDB
or OpenSubtitles call, or a release link, up to its own timeout. Each of those
requests holds one of cheroot's workers meanwhile: with an indexer hung, a few
dozen clicks or a script would take them all and the share would stop
answering. Like the reads that wait on swarms (torrent/waits.py), they get a
share of the workers, and a request beyond it is a quick 503 with Retry-After.
Background work (automatic subtitle downloads, posters) holds no worker and is
not counted.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from momoshtrem.library.errors import Busy


class UpstreamWaits:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._waiting = 0

    @classmethod
    def for_workers(cls, threads: int) -> "UpstreamWaits":
        """An eighth of the workers, as for assignments waiting on metadata: with half for reads, at least
        a quarter always lists, HEADs and answers the API."""
        return cls(max(threads // 8, 1))

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Held while a request waits on an indexer, TMDB or OpenSubtitles; Busy (a 503) when none is free."""
        with self._lock:
            if self._waiting >= self.limit:
                raise Busy(f"{self._waiting} requests already wait on indexers, TMDB or OpenSubtitles (at most "
                           f"{self.limit}); try again in a few seconds")
            self._waiting += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting -= 1
