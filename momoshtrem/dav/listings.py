"""Rendered PROPFIND answers, kept until the share's tree changes.

WsgiDAV renders each entry's properties one by one, quotes every href several
times and writes its XML in tiny pieces: a Depth 1 listing of 8,000 movies
took 356 ms and 4 MB, for an answer that only changes when the tree does.
The answer is kept per request shape (path, depth, the body naming the
properties) for the tree it was rendered from; a new tree (any write that
changes the share) empties the cache. Least recently used answers go first
beyond `max_bytes`.
"""

from __future__ import annotations

import gzip
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass
class Listing:
    status: str
    headers: tuple[tuple[str, str], ...]  # without Date, which is the answer's own
    body: bytes
    _gzipped: bytes | None = field(default=None, repr=False)

    def gzipped(self) -> bytes:
        """The body compressed once, for clients that accept gzip: 4 MB of XML is about 200 KB."""
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


class ListingCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._tree: object | None = None
        self._listings: OrderedDict[tuple, Listing] = OrderedDict()
        self._bytes = 0
        self._rendering: dict[tuple, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    @contextmanager
    def rendering(self, key: tuple) -> Iterator[None]:
        """One render per request shape at a time: twenty clients refreshing after a write render it once."""
        with self._lock:
            lock = self._rendering.setdefault(key, threading.Lock())
        with lock:
            yield

    def get(self, tree: object, key: tuple) -> Listing | None:
        with self._lock:
            self._follow(tree)
            listing = self._listings.get(key)
            if listing is None:
                self.misses += 1
                return None
            self._listings.move_to_end(key)
            self.hits += 1
            return listing

    def put(self, tree: object, key: tuple, listing: Listing) -> None:
        if len(listing.body) > self._max_bytes // 4:
            return  # one answer may not push out everything else
        with self._lock:
            if tree is not self._tree:
                return  # rendered for a tree that is no longer the current one
            old = self._listings.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._listings[key] = listing
            self._bytes += len(listing.body)
            while self._bytes > self._max_bytes:
                _, dropped = self._listings.popitem(last=False)
                self._bytes -= len(dropped.body)

    def _follow(self, tree: object) -> None:
        if tree is not self._tree:
            self._tree = tree
            self._listings.clear()
            self._rendering.clear()  # a render under way finishes with its lock; the next one gets a new lock
            self._bytes = 0
