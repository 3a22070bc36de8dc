"""Taking torrents out of the session, and knowing when libtorrent has done it."""

from __future__ import annotations

import logging
import threading

import libtorrent as lt

from momoshtrem.torrent.alerts import TorrentRemoved

log = logging.getLogger(__name__)

REMOVAL_WAIT_SECONDS = 5.0


class Removals:
    """Removal is asynchronous; waiting for its alert lets the same torrent be added again at once."""

    def __init__(self, session: "lt.session", stopping: threading.Event) -> None:
        self._session = session
        self._stopping = stopping
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Event] = {}

    def remove_and_wait(self, handle: "lt.torrent_handle", info_hash: str, flags: int = 0) -> None:
        removed = threading.Event()
        with self._lock:
            self._pending[info_hash] = removed
        self._session.remove_torrent(handle, flags)
        if self._stopping.is_set():
            return  # the alert pump may be gone; nobody will add it again
        if not removed.wait(REMOVAL_WAIT_SECONDS):
            log.warning("libtorrent did not confirm the removal of %s", info_hash)
        with self._lock:
            self._pending.pop(info_hash, None)

    def on_removed(self, event: TorrentRemoved) -> None:
        with self._lock:
            removed = self._pending.get(event.info_hash)
        if removed is not None:
            removed.set()
