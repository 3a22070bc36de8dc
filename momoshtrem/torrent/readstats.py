"""Counters of what readers went through, for /metrics: the numbers behind "it stutters".

Kept by the session manager and bumped by the readers; plain integers under a
lock so the torrent layer needs no metrics library.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class ReadStats:
    reads: int = 0  # reads that returned bytes
    blocked_reads: int = 0  # reads that had to wait for a piece (whatever came of it)
    blocked_read_seconds: float = 0.0  # time spent in those waits
    read_timeouts: int = 0
    read_errors: int = 0  # failed reads other than timeouts (cancelled, torrent error, disk)
    abandoned_reads: int = 0  # reads that waited for pieces until their client hung up (a player's seek)
    seeks: int = 0  # reads that did not continue where the reader's last one ended
    refused_reads: int = 0  # GETs answered 503 because too many reads already waited for pieces
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
