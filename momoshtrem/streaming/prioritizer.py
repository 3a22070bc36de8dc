"""Which pieces of a file get which priority and deadline. Pure: no libtorrent, no clock.

The plan is the union of two parts:
- the file's **base**: what every player reads before it can play. The header
  and the footer (the whole file when it is small), or, once the container
  told us, the header's first pieces and the exact byte ranges of its index
  (MP4 `moov`, MKV `Info`/`Tracks`/`Cues`) instead of the guessed footer;
- each reader's **window**: the pieces under its read now (earliest
  deadlines), an urgent window, then a readahead with a ladder of later
  deadlines and lower priorities. Pieces behind a reader are in no window, so
  they lose their deadlines.

Several readers of one file (Infuse opens several connections) share one plan:
a piece takes the highest priority and the earliest deadline any part gives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from momoshtrem.streaming.containers import ContainerIndex
from momoshtrem.torrent.pieces import FileSpan

TOP = 7
HIGH = 6
LOW = 1

NOW_DEADLINE_MS = 0  # pieces under the read
NOW_STEP_MS = 10
URGENT_DEADLINE_MS = 200
URGENT_STEP_MS = 50
BASE_DEADLINE_MS = 100  # the index a player reads before it can start
READAHEAD_DEADLINE_MS = 1500
READAHEAD_STEP_MS = 250


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

    def want(self, piece: int, priority: int, deadline: int | None = None) -> None:
        if priority > self.priorities.get(piece, 0):
            self.priorities[piece] = priority
        if deadline is not None and deadline < self.deadlines.get(piece, 1 << 62):
            self.deadlines[piece] = deadline

    def merge(self, other: "PiecePlan") -> None:
        for piece, priority in other.priorities.items():
            self.want(piece, priority, other.deadlines.get(piece))


class Prioritizer:
    def __init__(self, span: FileSpan, settings: StreamingSettings) -> None:
        self.span = span
        self.settings = settings
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
        plan = PiecePlan()
        span, settings = self.span, self.settings
        if span.size <= settings.header_priority_bytes + settings.footer_priority_bytes:
            for piece in span.pieces:
                plan.want(piece, HIGH)
            first = span.pieces_for(0, 1)
            for piece in first:
                plan.want(piece, TOP, BASE_DEADLINE_MS)
            return plan
        header = span.pieces_for(0, settings.header_priority_bytes)
        for piece in header:
            plan.want(piece, LOW)  # after everything with a deadline
        plan.want(header[0], TOP, BASE_DEADLINE_MS)
        if self.index and self.index.ranges:
            # The container told us where its index is: exactly that, instead of a guessed footer.
            for rank, byte_range in enumerate(self.index.ranges):
                for piece in span.pieces_for(byte_range.start, byte_range.length):
                    plan.want(piece, TOP, BASE_DEADLINE_MS + rank * NOW_STEP_MS)
        else:
            footer_start = span.size - settings.footer_priority_bytes
            footer = span.pieces_for(footer_start, settings.footer_priority_bytes)
            for piece in footer:
                plan.want(piece, LOW)
            plan.want(footer[-1], TOP, BASE_DEADLINE_MS)  # where an MP4's moov header or MKV's Cues usually are
        return plan

    def window_plan(self, window: ReadWindow) -> PiecePlan:
        """Counted in whole pieces from the pieces under the read, so a move within a piece changes nothing."""
        plan = PiecePlan()
        span = self.span
        now = span.pieces_for(window.position, max(window.length, 1))
        for rank, piece in enumerate(now):
            plan.want(piece, TOP, NOW_DEADLINE_MS + rank * NOW_STEP_MS)
        last = span.pieces[-1]
        urgent = range(now[-1] + 1, min(now[-1] + 1 + _pieces_in(self.settings.urgent_buffer_bytes, span), last + 1))
        for rank, piece in enumerate(urgent):
            plan.want(piece, TOP, URGENT_DEADLINE_MS + rank * URGENT_STEP_MS)
        start = urgent.stop if urgent else now[-1] + 1
        ahead = range(start, min(start + _pieces_in(self.readahead_bytes(), span), last + 1))
        bands = HIGH - LOW  # a ladder: the nearest fifth at 6, down to 2 for the farthest
        for rank, piece in enumerate(ahead):
            priority = HIGH - rank * bands // len(ahead)
            plan.want(piece, priority, READAHEAD_DEADLINE_MS + rank * READAHEAD_STEP_MS)
        return plan

    def plan(self, windows: Iterable[ReadWindow], keep_base: bool = True) -> PiecePlan:
        """The union of the base (while the file is open or recently probed) and every reader's window."""
        plan = self.base_plan() if keep_base else PiecePlan()
        for window in windows:
            plan.merge(self.window_plan(window))
        return plan


def _pieces_in(byte_count: int, span: FileSpan) -> int:
    return -(-byte_count // span.piece_length)
