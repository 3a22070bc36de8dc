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

import threading
from collections import OrderedDict
from dataclasses import dataclass

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Listing:
    status: str
    headers: tuple[tuple[str, str], ...]  # without Date, which is the answer's own
    body: bytes


class ListingCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._tree: object | None = None
        self._listings: OrderedDict[tuple, Listing] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

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
            self._bytes = 0
