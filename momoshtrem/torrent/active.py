"""A torrent in the session: its handle, which pieces are here, and who is reading it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import libtorrent as lt

from momoshtrem.torrent.metainfo import TorrentMeta
from momoshtrem.torrent.pieces import FileSpan


class ActiveTorrent:
    """A torrent in the session. `cond` guards the fields below it and wakes waiting readers."""

    def __init__(self, info_hash: str, meta: TorrentMeta, handle: "lt.torrent_handle", save_path: Path) -> None:
        self.info_hash = info_hash
        self.meta = meta
        self.handle = handle
        self.save_path = save_path
        self.num_pieces = (meta.total_size + meta.piece_length - 1) // meta.piece_length
        self.cond = threading.Condition()
        self.have = bytearray(self.num_pieces)
        self.open_readers = 0
        self.readers_opened = 0  # ever: background work leaves a torrent a player used meanwhile in the session
        self.active_reads = 0
        self.last_read = time.monotonic()
        self.last_read_wall = time.time()
        self.idle_paused = False
        self.user_paused = False
        self.error: str | None = None
        self.error_since = 0.0
        self.peer_hints: list[tuple[str, int]] = []  # from the magnet it was assigned by
        self.wanted_by: set[int] = set()  # ids of the file streams that currently want pieces
        self.last_peer_refresh = 0.0
        self.rechecking = False  # its files are being checked again because data went missing on disk
        self.hash_failures = 0  # pieces that arrived corrupt (and were thrown away)

    def span(self, file_index: int) -> FileSpan:
        """Where one of its files lies among its pieces."""
        file = self.meta.files[file_index]
        return FileSpan(file.offset, file.size, self.meta.piece_length)

    def refresh_have(self) -> None:
        """Re-read which pieces we have (after adding or checking): events only tell what changes.

        After a recheck the bits are mirrored, lost pieces included; otherwise
        they only grow, so a piece-finished event racing this read is never undone.
        """
        pieces = self.handle.status(lt.status_flags_t.query_pieces).pieces
        with self.cond:
            mirror, self.rechecking = self.rechecking, False
            for index, have in enumerate(pieces):
                if have or mirror:
                    self.have[index] = 1 if have else 0
            self.cond.notify_all()

    def corruption_note(self) -> str:
        """For the message of a wait that timed out: pieces that arrived corrupt are often why."""
        corrupt = self.hash_failures
        if not corrupt:
            return ""
        return f"; {corrupt} pieces arrived corrupt, from a peer that sent bad data and may be banned"

    def waiting_for_peers(self) -> bool:
        """Some stream wants pieces and the torrent is running: it needs peers now."""
        with self.cond:
            return bool(self.wanted_by) and not self.idle_paused and not self.user_paused
