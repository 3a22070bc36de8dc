"""Reads of torrent files that nobody watches (the probe store's fetches), at the lowest priority.

A background read asks for its pieces one at a time, at priority 1 and no
deadline, so a player's pieces (priority 7 with deadlines) go first and queue
behind one of ours at most; it waits on the torrent's condition like a
reader, bounded by a deadline, and pauses before each piece while someone
watches. A player's plan
lowers the priorities of pieces it no longer wants, ours included: the wait
says ours again every second. The torrent joins the session for the work and
leaves it afterwards if it was not there before and nobody reads it.
"""

from __future__ import annotations

import itertools
import logging
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from momoshtrem.torrent.active import ActiveTorrent
from momoshtrem.torrent.reader import ReadError, ReadTimeout
from momoshtrem.torrent.session import SessionManager

log = logging.getLogger(__name__)

LOW_PRIORITY = 1
REASSERT_SECONDS = 1.0
PAUSE_CHECK_SECONDS = 1.0
_ids = itertools.count(-1, -1)  # wanted-by ids of background work: negative, never a stream's id()


class BackgroundReads:
    """Low-priority reads of one torrent, for the duration of a `with background_reads(...)` block."""

    def __init__(self, manager: SessionManager, torrent: ActiveTorrent) -> None:
        self.manager = manager
        self.torrent = torrent
        self._id = next(_ids)

    def fetch(self, file_index: int, ranges: list[tuple[int, int]], piece_timeout: float,
              pause_while: Callable[[], bool]) -> None:
        """Until every piece under the (start, end) `ranges` of the file is on disk, one piece at a time.

        One at a time (and the next one wanted), because a peer serves requests in the order they came: a player
        that starts meanwhile waits behind two of ours at most (measured, with head and end asked for at once: a
        cold ffprobe right after the assignment took 0.88 s instead of 0.43 s). Before each piece the work waits while
        `pause_while()` (someone is watching). ReadTimeout when a piece does not come within `piece_timeout`.
        """
        span = self.torrent.span(file_index)
        pieces = sorted({p for start, end in ranges for p in span.pieces_for(start, end - start)})
        for number, piece in enumerate(pieces):
            while pause_while() and not self.manager.stopping:
                self.manager.wait_stopping(PAUSE_CHECK_SECONDS)
            following = pieces[number + 1] if number + 1 < len(pieces) else None
            self._fetch_piece(piece, following, time.monotonic() + piece_timeout)

    def _fetch_piece(self, piece: int, following: int | None, deadline: float) -> None:
        """Waits for `piece`; `following` is wanted too, so the peers stay interested between the two (alone, each
        piece took 0.2 s on loopback: "not interested", then interested again, and a request queue of 2 blocks)."""
        torrent, manager = self.torrent, self.manager
        if torrent.have[piece]:
            return
        manager.set_wanted(torrent, self._id, True)
        if following is not None and not torrent.have[following] and torrent.handle.piece_priority(following) == 0:
            torrent.handle.piece_priority(following, LOW_PRIORITY)
        with torrent.cond:  # re-entrant: mark_reading and refresh_peers_if_starving may take it again
            while not torrent.have[piece]:
                if manager.stopping or torrent.error:
                    raise ReadError(torrent.error or "the server is stopping")
                if torrent.user_paused:
                    raise ReadError("the torrent is paused")
                left = deadline - time.monotonic()
                if left <= 0:
                    peers = torrent.handle.status().num_peers
                    raise ReadTimeout(f"piece {piece} did not arrive in time ({peers} peers connected"
                                      f"{torrent.corruption_note()})")
                if torrent.handle.piece_priority(piece) == 0:
                    torrent.handle.piece_priority(piece, LOW_PRIORITY)
                manager.mark_reading(torrent)  # resumes it from an idle pause
                if not torrent.cond.wait(min(left, REASSERT_SECONDS)):
                    manager.refresh_peers_if_starving(torrent)

    def read(self, file_index: int, start: int, length: int) -> bytes:
        """Bytes whose pieces are on disk (after `fetch`); the file is opened for this read alone."""
        data = self.manager.read_if_downloaded(self.torrent.info_hash, file_index, start, length)
        if data is None:
            raise ReadError(f"'{self.torrent.meta.files[file_index].path}' lacks bytes {start}-{start + length - 1} "
                            "on disk")
        return data

    def done(self) -> None:
        self.manager.set_wanted(self.torrent, self._id, False)


@contextmanager
def background_reads(manager: SessionManager, info_hash: str) -> Iterator[BackgroundReads]:
    """The torrent in the session for some background work; out of it afterwards if it came in for it and no
    player opened it meanwhile (one that did will want it again soon: the idle pause deals with it)."""
    was_there = manager.find(info_hash) is not None
    torrent = manager.activate(info_hash)
    players_before = torrent.readers_opened
    reads = BackgroundReads(manager, torrent)
    try:
        yield reads
    finally:
        reads.done()
        if not was_there and torrent.readers_opened == players_before:
            manager.deactivate(torrent)
