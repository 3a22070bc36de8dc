"""Which pieces of a file get which priority and deadline. Pure: no libtorrent, no clock.

A file's plan has two shapes.

**Flowing** (nobody waits): priorities only, the union of
- the file's **base**: what every player reads before it can play. The header
  and the footer (the whole file when it is small), or, once the container
  told us, the header and the exact byte ranges of its index (MP4 `moov`, MKV
  `Info`/`Tracks`/`Cues`) instead of the guessed footer;
- each reader's **window**: the pieces under its read now and an urgent
  window at top priority, then a readahead with a ladder of lower priorities.
  Pieces behind a reader are in no window, so they lose their priority.

**Waiting** (a piece a player needs is missing): only those pieces, with
deadlines. They are the base's first piece and its index (or the guessed
footer's last piece), and the pieces under the read of the newest reader that
waits. A Matroska file's index is not waited for: ffmpeg and mpv read the
Cues only at their first seek (strace, see probestore/plan.py), so a probe or
a play from the start would wait for a piece it never reads (the last piece of
a film is up to 16 MiB). Once the first piece is in, a wait also wants the
index at the lowest priority, like the continuation below, so a seek that
reads it next finds it sooner; it is at HIGH once the plan flows, and a client
that reads it (a seek, Infuse's probe) waits for it as its read. Wanted at
the lowest priority while the first piece was still awaited, it cost a probe
as much as waiting for it (libtorrent asks for low-priority blocks as soon as
a peer's queue has room).

Measured on one 4 MiB/s seeder: a peer serves requests in the order they
came, so every readahead block in flight delays the piece the player waits
for (a cold MP4 probe took 5.4 s with the readahead wanted meanwhile, 0.4 s
without). The newest reader
wins because a player that opens a new request is waiting on it, while the
connection it used before may be one it gave up (ffmpeg closes the old one
only once the new one answers).

One more piece stays wanted while a player waits: the **continuation**, the
first missing piece after the waited read, at the lowest priority and with no
deadline, so libtorrent asks for its blocks after the waited pieces' blocks.
Without it, the moment the waited pieces arrive the torrent wants nothing,
libtorrent tells the peers it is not interested, and that ends each
connection's slow start; until libtorrent's once-a-second tick has measured
the connection's rate, its request queue then sizes itself from a rate of 0,
which is 2 blocks. Measured: the next piece a player read took 0.6 s instead
of 0.25 s, in about half of the cold seeks. The price is a piece fetched
that a reader may never read; once an MKV probe no longer waited for the last
piece, the price was within noise (7 interleaved trials: ffprobe MKV 0.35 s
with it, 0.38 s without), while the MP4 seek took 1.07 s without it, 0.81 s
with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from momoshtrem.streaming.containers import ContainerIndex
from momoshtrem.torrent.pieces import FileSpan

TOP = 7
HIGH = 6
LOW = 1

BASE_DEADLINE_MS = 0  # the index a player reads before it can start: as urgent as any read
NOW_DEADLINE_MS = 20  # pieces under the read a player waits for
NOW_STEP_MS = 10  # each further piece, in order

@dataclass(frozen=True)
class StreamingSettings:
    header_priority_bytes: int = 10 * 1024 * 1024
    footer_priority_bytes: int = 5 * 1024 * 1024
    urgent_buffer_bytes: int = 2 * 1024 * 1024
    readahead_bytes: int = 16 * 1024 * 1024
    readahead_seconds: float = 30.0


@dataclass(frozen=True)
class ReadWindow:
    """One reader's current read: `length` bytes from `position` of the file."""

    position: int
    length: int


@dataclass
class PiecePlan:
    priorities: dict[int, int] = field(default_factory=dict)  # pieces not listed: 0
    deadlines: dict[int, int] = field(default_factory=dict)  # piece -> milliseconds
    waiting: bool = False  # a player waits for the pieces with deadlines, and for nothing else

    def want(self, piece: int, priority: int, deadline: int | None = None) -> None:
        if priority > self.priorities.get(piece, 0):
            self.priorities[piece] = priority
        if deadline is not None and deadline < self.deadlines.get(piece, 1 << 62):
            self.deadlines[piece] = deadline

    def drop(self, unwanted: Callable[[int], bool]) -> None:
        for piece in [p for p in self.priorities if unwanted(p)]:
            del self.priorities[piece]
            self.deadlines.pop(piece, None)

    def merge(self, other: "PiecePlan") -> None:
        for piece, priority in other.priorities.items():
            self.want(piece, priority, other.deadlines.get(piece))


class Prioritizer:
    def __init__(self, span: FileSpan, settings: StreamingSettings, index_before_play: bool = True) -> None:
        self.span = span
        self.settings = settings
        self.index_before_play = index_before_play  # False for Matroska (see the module's docstring)
        self._index: ContainerIndex | None = None
        self._base: PiecePlan | None = None  # computed once per index: the same on every read

    @property
    def index(self) -> ContainerIndex | None:
        return self._index

    @index.setter
    def index(self, index: ContainerIndex | None) -> None:
        self._index = index
        self._base = None

    # -- sizes ---------------------------------------------------------------------

    def readahead_bytes(self) -> int:
        """Seconds of playback when the container tells the bitrate, within [urgent, readahead] bytes."""
        upper = self.settings.readahead_bytes
        duration = self.index.duration_seconds if self.index else None
        if not duration or duration <= 0:
            return upper
        by_time = int(self.span.size / duration * self.settings.readahead_seconds)
        return max(self.settings.urgent_buffer_bytes, min(upper, by_time))

    def is_seek(self, previous_end: int | None, start: int) -> bool:
        """A read that does not continue the last one by more than a piece; moves within a piece are no seek."""
        if previous_end is None:
            return False
        return abs(start - previous_end) > self.span.piece_length

    # -- plans -----------------------------------------------------------------------

    def base_plan(self) -> PiecePlan:
        if self._base is None:
            self._base = self._compute_base_plan()
        return PiecePlan(dict(self._base.priorities), dict(self._base.deadlines))

    def _compute_base_plan(self) -> PiecePlan:
        """The deadlines here mark what a player waits for before it can start (the first piece, the index)."""
        plan = PiecePlan()
        span, settings = self.span, self.settings
        if span.size <= settings.header_priority_bytes + settings.footer_priority_bytes:
            for piece in span.pieces:
                plan.want(piece, HIGH)
            plan.want(span.pieces[0], TOP, BASE_DEADLINE_MS)
            return plan
        # At least the first and the last piece, whatever the settings: every player's probe reads both ends.
        header = span.pieces_for(0, max(settings.header_priority_bytes, 1))
        for piece in header:
            plan.want(piece, LOW)
        plan.want(header[0], TOP, BASE_DEADLINE_MS)
        if not self._index_known():
            footer_bytes = max(settings.footer_priority_bytes, 1)
            for piece in span.pieces_for(span.size - footer_bytes, footer_bytes):
                plan.want(piece, LOW)
        # The guessed footer's deadline comes after the header's first piece, which every player reads first.
        first_rank = 0 if self._index_known() else 1
        for rank, pieces in enumerate(self._index_pieces(), first_rank):
            for piece in pieces:
                if self.index_before_play:
                    plan.want(piece, TOP, BASE_DEADLINE_MS + rank * NOW_STEP_MS)
                else:  # not waited for (see the module's docstring)
                    plan.want(piece, HIGH)
        return plan

    def _index_known(self) -> bool:
        return bool(self.index and self.index.ranges)

    def _index_pieces(self) -> list[range]:
        """Where players read the index, in their order: the container's exact ranges once it told us, else the
        file's last piece, where an MP4's moov or an MKV's Cues usually are."""
        if self._index_known():
            return [self.span.pieces_for(r.start, r.length) for r in self.index.ranges]
        last = self.span.pieces[-1]
        return [range(last, last + 1)]

    def now_pieces(self, window: ReadWindow) -> range:
        return self.span.pieces_for(window.position, max(window.length, 1))

    def _window_ranges(self, now: range) -> tuple[range, range]:
        """The urgent window (from the pieces under a read) and the readahead after it, within the file."""
        file_end = self.span.pieces[-1] + 1
        urgent_end = min(now[-1] + 1 + _pieces_in(self.settings.urgent_buffer_bytes, self.span), file_end)
        ahead_end = min(urgent_end + _pieces_in(self.readahead_bytes(), self.span), file_end)
        return range(now[0], urgent_end), range(urgent_end, ahead_end)

    def window_plan(self, window: ReadWindow) -> PiecePlan:
        """Counted in whole pieces from the pieces under the read, so a move within a piece changes nothing."""
        plan = PiecePlan()
        urgent, ahead = self._window_ranges(self.now_pieces(window))
        for piece in urgent:
            plan.want(piece, TOP)
        bands = HIGH - LOW  # a ladder: the nearest fifth at 6, down to 2 for the farthest
        for rank, piece in enumerate(ahead):
            plan.want(piece, HIGH - rank * bands // len(ahead))
        return plan

    def plan(self, windows: Iterable[ReadWindow], keep_base: bool = True,
             have: Callable[[int], bool] = lambda piece: False,
             stored: Callable[[int], bool] = lambda piece: False) -> PiecePlan:
        """Waiting or flowing (see the module's docstring). `windows` come oldest first.

        `stored` pieces are held by a local copy (the probe store): the base
        never wants them, since players' probes are served from that copy. A
        reader's own window still wants them: it reads the torrent's data.
        """
        windows = list(windows)
        base = self.base_plan() if keep_base else PiecePlan()
        base.drop(stored)
        waiting = PiecePlan()
        for piece, ms in base.deadlines.items():
            if not have(piece):
                waiting.want(piece, TOP, ms)
        for window in reversed(windows):
            now = self.now_pieces(window)
            missing = [piece for piece in now if not have(piece)]
            if missing:
                for rank, piece in enumerate(missing):
                    waiting.want(piece, TOP, NOW_DEADLINE_MS + rank * NOW_STEP_MS)
                continuation = self._first_missing_after(now, have)
                if continuation is not None:
                    waiting.want(continuation, LOW)
                break
        if waiting.priorities:
            if not self.index_before_play and have(self.span.pieces[0]):
                # A probe has what it reads: from now on a seek would want the index.
                for pieces in self._index_pieces():
                    for piece in pieces:
                        if piece in base.priorities and not have(piece):
                            waiting.want(piece, LOW)
            waiting.waiting = True
            return waiting
        flowing = PiecePlan(base.priorities)  # deadlines are for waiting only
        for window in windows:
            flowing.merge(self.window_plan(window))
        return flowing

    def _first_missing_after(self, now: range, have: Callable[[int], bool]) -> int | None:
        """The continuation of a waited read: the first missing piece of its urgent window and readahead."""
        _, ahead = self._window_ranges(now)
        return next((piece for piece in range(now[-1] + 1, ahead.stop) if not have(piece)), None)


def _pieces_in(byte_count: int, span: FileSpan) -> int:
    return -(-byte_count // span.piece_length)
