"""The PriorityReader, and the per-file stream its readers share.

Every GET gets a `PriorityReader`. All readers of one file share a
`FileStream`, which holds the file's `Prioritizer`, each reader's current
window, and the plan last applied to libtorrent; on every read that moves a
window (and on every read while the plan waits, so it flows again once the
pieces came) it applies only the difference. A new wait clears all deadlines
first, so libtorrent drops what it queued for other pieces. The container is
detected once per file, on a thread of its own, so the first read never waits
for it.

Where the probe store holds a file's head and index (the torrent's own data
may have been evicted since), the plan does not ask the swarm for those
pieces again and the container is read from the store.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

from momoshtrem.library import media
from momoshtrem.probestore.store import StoredProbe
from momoshtrem.streaming.containers import ContainerIndex, analyzer_for, index_read_before_play
from momoshtrem.streaming.prioritizer import PiecePlan, Prioritizer, ReadWindow, StreamingSettings
from momoshtrem.torrent.active import ActiveTorrent
from momoshtrem.torrent.reader import ClientGoneCheck, TorrentReader
from momoshtrem.torrent.session import SessionManager

log = logging.getLogger(__name__)

DETECTION_READ_TIMEOUT = 20.0
DETECTOR_ID = 0  # the container analyzer's window; readers count from 1

LocalCopy = Callable[[], StoredProbe | None]  # the file's probe store entry, if it has one


@dataclass(frozen=True)
class StreamView:
    """What one file's shared plan looks like right now, for the status page."""

    file_path: str
    deadline_pieces: frozenset[int]  # pieces of the torrent with a deadline set
    reader_pieces: dict[int, int]  # reader id -> the torrent piece under its last read (id 0: the detector)
    waiting: bool


class FileStream:
    def __init__(self, manager: SessionManager, torrent: ActiveTorrent, file_index: int,
                 settings: StreamingSettings, probe_seconds: float, local_copy: LocalCopy) -> None:
        self.manager = manager
        self.torrent = torrent
        self.file = torrent.meta.files[file_index]
        self.span = torrent.span(file_index)
        self.prioritizer = Prioritizer(self.span, settings, index_read_before_play(media.extension(self.file.path)))
        self.probe_seconds = probe_seconds
        self._lock = threading.Lock()
        self._windows: dict[int, ReadWindow] = {}
        self._keep_base = True
        self._applied = PiecePlan()
        self._detection: threading.Thread | None = None
        self._local_copy = local_copy
        self._stored_pieces: frozenset[int] = frozenset()

    @property
    def index(self) -> ContainerIndex | None:
        return self.prioritizer.index

    @property
    def narrowed(self) -> bool:
        """The applied plan holds only pieces players wait for (and one after): the next read widens it again."""
        return self._applied.waiting

    def view(self) -> StreamView:
        with self._lock:
            readers = {reader_id: self.span.piece_at(min(window.position, max(self.file.size - 1, 0)))
                       for reader_id, window in self._windows.items()}
            return StreamView(self.file.path, frozenset(self._applied.deadlines), readers, self._applied.waiting)

    def opened(self, reader_id: int) -> None:
        stored = self._pieces_stored(self._stored_probe())
        with self._lock:
            self._stored_pieces = stored
            self._keep_base = True
            start_detection = self._detection is None
            if start_detection:
                self._detection = threading.Thread(target=self._detect, name=f"detect-{self.file.index}",
                                                   daemon=True)
            self._apply_locked()
        if start_detection:
            self._detection.start()

    def reading(self, reader_id: int, window: ReadWindow) -> None:
        with self._lock:
            self._windows[reader_id] = window
            self._apply_locked()

    def closed(self, reader_id: int, lived_seconds: float) -> None:
        """A probe (a short-lived reader) leaves the base for the player that follows; a player's end drops it."""
        with self._lock:
            self._windows.pop(reader_id, None)
            if not self._windows and lived_seconds >= self.probe_seconds:
                self._keep_base = False
            self._apply_locked()

    def _apply_locked(self) -> None:
        have = self.torrent.have
        plan = self.prioritizer.plan(self._windows.values(), self._keep_base, have.__getitem__,
                                     self._stored_pieces.__contains__)
        if not plan.priorities:
            self.manager.set_wanted(self.torrent, id(self), False)  # before the priorities drop
        handle, old = self.torrent.handle, self._applied
        newly_waited = plan.waiting and any(not have[p] for p in plan.deadlines.keys() - old.deadlines.keys())
        if newly_waited:
            # Clearing every deadline first makes libtorrent cancel the requests queued at the peers
            # for other pieces (readahead, header, footer): a peer serves requests in order, so
            # otherwise the piece a player now waits for queues behind them.
            handle.clear_piece_deadlines()
            lost_deadline, set_again = old.deadlines.keys(), plan.deadlines.items()
        else:
            lost_deadline = old.deadlines.keys() - plan.deadlines.keys()
            for piece in lost_deadline:
                handle.reset_piece_deadline(piece)
            set_again = [(p, ms) for p, ms in plan.deadlines.items() if old.deadlines.get(p) != ms]
        for piece in old.priorities.keys() | plan.priorities.keys():
            priority = plan.priorities.get(piece, 0)
            # A deadline raised the piece to 7 inside libtorrent: once it is gone, say the plan's priority again.
            if (priority != old.priorities.get(piece, 0) or piece in lost_deadline) and not have[piece]:
                handle.piece_priority(piece, priority)
        # The deadline set last wins ties: set them from the latest to the earliest.
        for ms, piece in sorted(((ms, p) for p, ms in set_again if not have[p]), reverse=True):
            handle.set_piece_deadline(piece, ms)
        if plan.priorities:
            self.manager.set_wanted(self.torrent, id(self), True)
        self._applied = plan

    def _pieces_stored(self, probe: StoredProbe | None) -> frozenset[int]:
        """The file's pieces whose bytes (within the file) the probe store holds whole."""
        if probe is None:
            return frozenset()
        span = self.span
        return frozenset(
            piece for byte_range in probe.ranges for piece in span.pieces_for(byte_range.start, byte_range.length)
            if byte_range.start <= span.piece_start(piece) and span.piece_end(piece) <= byte_range.end)

    # -- container detection -------------------------------------------------------

    def _detect(self) -> None:
        analyze = analyzer_for(media.extension(self.file.path))
        if analyze is None:
            return
        try:
            index = analyze(self._read_for_detection, self.file.size)
        except Exception:  # the analyzers never raise; this guards the reads around them
            log.exception("container detection of %s failed", self.file.path)
            return
        if index is None:
            log.info("%s: not a recognisable %s; keeping header and footer priorities",
                     self.file.path, media.extension(self.file.path))
            return
        log.info("%s: %s index at %s, duration %s s", self.file.path, index.format,
                 [(r.start, r.end) for r in index.ranges], index.duration_seconds)
        with self._lock:
            self.prioritizer.index = index
            self._apply_locked()

    def _read_for_detection(self, offset: int, length: int) -> bytes:
        """Bytes of the file, waiting (bounded) for their pieces; short or empty when they do not come.

        The analyzer waits like a reader, through the shared plan (as its newest reader), so a new
        wait elsewhere cannot clear its deadlines behind its back.
        """
        length = max(0, min(length, self.file.size - offset))
        probe = self._stored_probe()
        stored = probe.read(offset, length) if probe else None
        if stored is not None:  # else not stored, or evicted from the store meanwhile: the swarm it is
            return stored
        pieces = list(self.span.pieces_for(offset, length))
        torrent = self.torrent
        if not all(torrent.have[p] for p in pieces):
            with self._lock:
                self._windows[DETECTOR_ID] = ReadWindow(offset, length)
                self._apply_locked()
            try:
                deadline = time.monotonic() + DETECTION_READ_TIMEOUT
                with torrent.cond:
                    while not all(torrent.have[p] for p in pieces):
                        left = deadline - time.monotonic()
                        if left <= 0 or self.manager.stopping or torrent.error:
                            return b""
                        torrent.cond.wait(left)
            finally:
                with self._lock:
                    self._windows.pop(DETECTOR_ID, None)
                    self._apply_locked()
        with open(torrent.save_path / self.file.path, "rb") as handle:
            return os.pread(handle.fileno(), length, offset)

    def _stored_probe(self) -> StoredProbe | None:
        probe = self._local_copy()
        return probe if probe is not None and probe.file_size == self.file.size else None


class PriorityReader(TorrentReader):
    """A TorrentReader whose reads move this reader's window in the file's shared plan."""

    _ids = itertools.count(1)

    def __init__(self, manager: SessionManager, torrent: ActiveTorrent, stream: FileStream, read_timeout: float,
                 client_gone: ClientGoneCheck | None = None) -> None:
        super().__init__(manager, torrent, stream.file, read_timeout, client_gone)
        self.stream = stream
        self._id = next(self._ids)
        self._opened_at = time.monotonic()
        self._last_end: int | None = None
        self._last_pieces: range | None = None
        stream.opened(self._id)

    def prepare_read(self, start: int, length: int) -> list[int]:
        if self.stream.prioritizer.is_seek(self._last_end, start):
            log.debug("%s: seek from %s to %d", self.file.path, self._last_end, start)
            self._manager.read_stats.add(seeks=1)
        self._last_end = start + length
        pieces = self.span.pieces_for(start, length)
        # The window is counted in whole pieces: most 256 KiB reads fall in the pieces of the last one.
        if pieces != self._last_pieces or self.stream.narrowed:
            self._last_pieces = pieces
            self.stream.reading(self._id, ReadWindow(start, length))
        return list(pieces)

    def close(self) -> None:
        if not self.closed:
            self.stream.closed(self._id, time.monotonic() - self._opened_at)
        super().close()


class SequentialReader(TorrentReader):
    """Prioritisation off: the file's pieces in order, no deadlines (the benchmarks' baseline)."""

    _started = False

    def prepare_read(self, start: int, length: int) -> list[int]:
        if not self._started:
            self._started = True
            handle = self._torrent.handle
            for piece in self.span.pieces:
                if not self._torrent.have[piece]:
                    handle.piece_priority(piece, 4)
            handle.set_sequential_download(True)
        return list(self.span.pieces_for(start, length))


class Streams:
    """Opens readers: one FileStream per file, shared by all its readers."""

    def __init__(self, manager: SessionManager, settings: StreamingSettings, probe_seconds: float,
                 read_timeout: float, prioritize: bool = True,
                 local_copies: Callable[[str, int], StoredProbe | None] = lambda info_hash, file_index: None) -> None:
        self.manager = manager
        self.local_copies = local_copies
        self.settings = settings
        self.probe_seconds = probe_seconds
        self.read_timeout = read_timeout
        self.prioritize = prioritize
        self._lock = threading.Lock()
        self._streams: dict[tuple[str, int], FileStream] = {}

    def open(self, info_hash: str, file_index: int, client_gone: ClientGoneCheck | None = None) -> TorrentReader:
        """`client_gone` tells a waiting read that its client hung up (see torrent/reader.py)."""
        torrent = self.manager.activate(info_hash)
        if not self.prioritize:
            return SequentialReader(self.manager, torrent, torrent.meta.files[file_index], self.read_timeout,
                                    client_gone)
        with self._lock:
            stream = self._streams.get((info_hash, file_index))
            if stream is None or stream.torrent is not torrent:  # new, or its torrent was re-added
                stream = FileStream(self.manager, torrent, file_index, self.settings, self.probe_seconds,
                                    lambda: self.local_copies(info_hash, file_index))
                self._streams[(info_hash, file_index)] = stream
        return PriorityReader(self.manager, torrent, stream, self.read_timeout, client_gone)

    def stream(self, info_hash: str, file_index: int) -> FileStream | None:
        with self._lock:
            return self._streams.get((info_hash, file_index))

    def views(self, info_hash: str) -> list[StreamView]:
        """The plans of the torrent's files that have been read since it joined the session."""
        torrent = self.manager.find(info_hash)
        with self._lock:
            streams = [s for (h, _), s in self._streams.items() if h == info_hash and s.torrent is torrent]
        return [stream.view() for stream in streams]
