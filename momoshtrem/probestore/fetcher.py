"""Fills the probe store in the background, and says where each assigned file stands.

After every change to the share (and once a minute, and at start, which
covers a library assigned before the store existed) the library's assigned
files are compared with the store: entries nobody is assigned to any more go,
missing ones are queued by torrent. Two workers take a torrent each, a few
seconds after the last assignment (a user who assigns often plays at once): it
joins the session, the container's header and end are read one piece at a
time at the lowest priority, its analyzer finds the index, the ranges a player
reads are fetched and written as one entry, and the torrent leaves the session
again. Before each piece a worker waits while someone is watching, so
prefetching a library never competes with a player for more than one piece.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable

from momoshtrem.library import media
from momoshtrem.library.errors import LibraryError
from momoshtrem.probestore.plan import HEAD_BYTES, TAIL_BYTES_INDEXED, ranges_to_keep
from momoshtrem.probestore.store import Key, ProbeStore, StoredProbe
from momoshtrem.streaming.containers import ByteRange, analyzer_for
from momoshtrem.subtitles.moviehash import BLOCK, moviehash
from momoshtrem.torrent.background import BackgroundReads, background_reads
from momoshtrem.torrent.session import SessionManager

log = logging.getLogger(__name__)

WORKERS = 2
PIECE_TIMEOUT = 120.0  # a file whose next piece does not arrive within this is failed, and tried again later
SETTLE_SECONDS = 3.0  # fetches start this long after the last assignment
FAILED_RETRY_SECONDS = 600.0
RECONCILE_SECONDS = 60.0
PLAYER_RECENT_SECONDS = 30.0  # an open reader that read within this is someone watching


@dataclass(frozen=True)
class ProbeStatus:
    """The API's `probe` record of an assigned file."""

    state: str  # "pending", "stored" or "failed"
    bytes: int = 0
    error: str | None = None


class ProbeFetcher:
    def __init__(self, store: ProbeStore, engine: SessionManager, assigned: Callable[[], set[Key]],
                 workers: int = WORKERS, piece_timeout: float = PIECE_TIMEOUT) -> None:
        self.store = store
        self.engine = engine
        self._assigned = assigned
        self._piece_timeout = piece_timeout
        self._lock = threading.Lock()
        self._failed: dict[Key, tuple[str, float]] = {}  # why, and when (monotonic)
        self._queued: set[str] = set()  # torrents queued or being fetched
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._changed = threading.Event()
        self._settled = threading.Condition()  # notified when a file's probe is stored or has failed
        self._last_change = 0.0  # monotonic time of the last library write that may have assigned something
        self._stopping = threading.Event()
        self._unusable: str | None = None  # the store cannot be used at all: why
        self._threads = [threading.Thread(target=self._reconcile_loop, name="probe-reconcile", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"probe-fetch-{n}", daemon=True)
                          for n in range(workers)]

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        try:
            self.store.load()
        except OSError as exc:
            self._unusable = f"the probe store at {self.store.root} cannot be used: {exc.strerror or exc}"
            log.error("%s; players' probes will be read from the swarms", self._unusable)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()
        self._notify_settled()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def share_changed(self) -> None:
        """A library write that may change what is assigned (called in the writing thread: only a wake-up)."""
        self._last_change = time.monotonic()
        self._changed.set()

    # -- what the API, the status page and the share ask ------------------------------

    def stored(self, info_hash: str, file_index: int) -> StoredProbe | None:
        return None if self._unusable else self.store.get(info_hash, file_index)

    def moviehash(self, info_hash: str, file_index: int, wait: float = 0.0) -> str | None:
        """The OpenSubtitles hash of a stored file, known without playing it; waits up to `wait` seconds while the
        file's probe is pending (an automatic subtitle download right after the assignment)."""
        deadline = time.monotonic() + wait
        with self._settled:
            while True:
                probe = None if self._unusable else self.store.peek(info_hash, file_index)
                if probe is not None:
                    return probe.moviehash
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set() or self.status(info_hash, file_index).state != "pending":
                    return None
                self._settled.wait(left)

    def status(self, info_hash: str, file_index: int) -> ProbeStatus:
        if self._unusable:
            return ProbeStatus("failed", 0, self._unusable)
        probe = self.store.peek(info_hash, file_index)
        if probe is not None:
            return ProbeStatus("stored", probe.stored_bytes)
        with self._lock:
            failed = self._failed.get((info_hash, file_index))
        return ProbeStatus("failed", 0, failed[0]) if failed else ProbeStatus("pending")

    def counts(self, assigned: set[Key]) -> dict[str, int]:
        """How many of the assigned files are stored, pending and failed."""
        stored = self.store.keys() if not self._unusable else set()
        with self._lock:
            failed = {k for k in self._failed if k in assigned and k not in stored}
        if self._unusable:
            failed = set(assigned)
        done = len(assigned & stored)
        return {"stored": done, "failed": len(failed), "pending": len(assigned) - done - len(failed)}

    # -- reconciling the store with the library ----------------------------------------

    def _reconcile_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.reconcile()
            except Exception:
                log.exception("the probe store could not be compared with the library")
            self._changed.wait(RECONCILE_SECONDS)
            self._changed.clear()

    def reconcile(self) -> None:
        if self._unusable:
            return
        assigned = self._assigned()
        stored = self.store.keys()
        for key in stored - assigned:
            log.info("probe store: %s file %d is no longer assigned; its entry goes", *key)
            self.store.remove(*key)
        now = time.monotonic()
        with self._lock:
            self._failed = {k: v for k, v in self._failed.items()
                            if k in assigned and now - v[1] < FAILED_RETRY_SECONDS}
            wanted = {info_hash for info_hash, index in assigned - stored
                      if (info_hash, index) not in self._failed}
            new = wanted - self._queued
            self._queued |= new
        for info_hash in sorted(new):
            self._queue.put(info_hash)

    # -- fetching -------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            info_hash = self._queue.get()
            if info_hash is None or self._stopping.is_set():
                return
            try:
                # A user who assigns a file often plays it at once: the player goes first (see players_active).
                self._stopping.wait(max(0.0, self._last_change + SETTLE_SECONDS - time.monotonic()))
                files = sorted(index for h, index in self._assigned() - self.store.keys() if h == info_hash)
                if files:
                    self.fetch_torrent(info_hash, files)
            except Exception:
                log.exception("probe store: fetching %s failed", info_hash)
            finally:
                with self._lock:
                    self._queued.discard(info_hash)

    def players_active(self) -> bool:
        """Someone is watching: a reader is open on a torrent and read within the last half minute."""
        now = time.monotonic()
        return any(t.open_readers and now - t.last_read < PLAYER_RECENT_SECONDS for t in self.engine.torrents())

    def fetch_torrent(self, info_hash: str, file_indexes: list[int]) -> None:
        try:
            with background_reads(self.engine, info_hash) as reads:
                for index in file_indexes:
                    if self._stopping.is_set():
                        return
                    try:
                        probe = self._fetch_file(reads, index)
                    except (OSError, LibraryError) as exc:  # ReadError is an OSError; so is a full store
                        self._fail((info_hash, index), str(exc))
                        continue
                    log.info("probe store: %s file %d stored (%d bytes in %d ranges)", info_hash, index,
                             probe.stored_bytes, len(probe.ranges))
                    self._notify_settled()
        except LibraryError as exc:  # the torrent could not join the session
            for index in file_indexes:
                self._fail((info_hash, index), str(exc))

    def _fail(self, key: Key, why: str) -> None:
        log.warning("probe store: %s file %d: %s", *key, why)
        with self._lock:
            self._failed[key] = (why, time.monotonic())
        self._notify_settled()

    def _notify_settled(self) -> None:
        with self._settled:
            self._settled.notify_all()

    def _fetch_file(self, reads: BackgroundReads, index: int) -> StoredProbe:
        file = reads.torrent.meta.files[index]
        size = file.size

        def fetch(ranges: list[tuple[int, int]]) -> None:
            reads.fetch(index, ranges, self._piece_timeout, pause_while=self.players_active)

        def read(offset: int, length: int) -> bytes:
            end = min(offset + length, size)
            if end <= offset:
                return b""
            fetch([(offset, end)])
            return reads.read(index, offset, end - offset)

        # Head and end first: most files' index is in one of them, so the analyzer rarely waits again.
        fetch([(0, min(HEAD_BYTES, size)), (max(0, size - TAIL_BYTES_INDEXED), size)])
        analyze = analyzer_for(media.extension(file.path))
        container = analyze(read, size) if analyze else None
        keep = ranges_to_keep(size, container)
        fetch([(r.start, r.end) for r in keep])
        chunks = [(r, reads.read(index, r.start, r.length)) for r in keep]
        return self.store.put(reads.torrent.info_hash, index, size, chunks, _moviehash_of(size, chunks))


def _moviehash_of(size: int, chunks: list[tuple[ByteRange, bytes]]) -> str | None:
    if size < BLOCK:
        return None
    head, tail = _slice(chunks, 0, BLOCK), _slice(chunks, size - BLOCK, size)
    return moviehash(size, head, tail) if head is not None and tail is not None else None


def _slice(chunks: list[tuple[ByteRange, bytes]], start: int, end: int) -> bytes | None:
    for byte_range, data in chunks:
        if byte_range.start <= start and end <= byte_range.end:
            return data[start - byte_range.start: end - byte_range.start]
    return None
