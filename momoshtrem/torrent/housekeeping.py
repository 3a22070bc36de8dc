"""The session's chores, once a second on a thread of their own.

Idle torrents are paused; torrents stopped by an error are retried once there
is room; uTP dialing follows the swarms TCP cannot reach (dialing.py); resume
data is saved every minute; above `cache_size`, whole torrents nobody is
reading are evicted, least recently read first.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import libtorrent as lt

from momoshtrem.torrent.dialing import UtpFallback, offer_peers_again
from momoshtrem.torrent.reports import disk_usage

if TYPE_CHECKING:
    from momoshtrem.torrent.session import SessionManager

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 1.0
RESUME_SAVE_SECONDS = 60.0
EVICTION_CHECK_SECONDS = 5.0
ERROR_RETRY_SECONDS = 5.0  # a torrent stopped by an error is retried this long after, if there is room


class Housekeeper:
    def __init__(self, manager: "SessionManager") -> None:
        self._manager = manager
        self._config = manager.config
        self._dialing = UtpFallback(manager.session, manager.config.enable_utp)
        self._thread = threading.Thread(target=self._run, name="torrent-housekeeping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout=timeout)

    def _run(self) -> None:
        last_resume = last_eviction = time.monotonic()
        while not self._manager.wait_stopping(HOUSEKEEPING_SECONDS):
            try:
                self.pause_idle_torrents()
                self.retry_failed_torrents()
                self.dial_utp_if_starving()
                now = time.monotonic()
                if now - last_resume >= RESUME_SAVE_SECONDS:
                    last_resume = now
                    self._manager.save_resume_data(
                        [t for t in self._manager.torrents() if t.handle.need_save_resume_data()], wait=0)
                if self._config.cache_size and now - last_eviction >= EVICTION_CHECK_SECONDS:
                    last_eviction = now
                    self.evict_over_cache_size()
            except Exception:
                log.exception("torrent housekeeping failed")

    def pause_idle_torrents(self) -> None:
        now = time.monotonic()
        for torrent in self._manager.torrents():
            with torrent.cond:
                idle = (not torrent.idle_paused and not torrent.user_paused and torrent.active_reads == 0
                        and now - torrent.last_read >= self._config.idle_timeout)
                if idle:
                    torrent.idle_paused = True
            if idle:
                log.info("pausing %s: nobody read it for %.0f s", torrent.info_hash, self._config.idle_timeout)
                torrent.handle.pause()
                self._manager.save_resume_data([torrent], wait=0)

    def retry_failed_torrents(self) -> None:
        now = time.monotonic()
        for torrent in self._manager.torrents():
            if torrent.error and now - torrent.error_since >= ERROR_RETRY_SECONDS:
                self._manager.restart_failed(torrent)

    def dial_utp_if_starving(self) -> None:
        """Torrents that want data and have no peer may need uTP to reach their swarm (see dialing.py)."""
        wanted = self._manager.fetches.waiting()
        wanted += [(t.info_hash, t.handle, t.peer_hints) for t in self._manager.torrents() if t.waiting_for_peers()]
        peerless = {info_hash: (handle, hints) for info_hash, handle, hints in wanted
                    if handle.is_valid() and _known_but_unreached(handle.status())}
        for info_hash in self._dialing.update(set(peerless), time.monotonic()):
            offer_peers_again(*peerless[info_hash])  # dialled over uTP now, not at libtorrent's next reconnect

    def evict_over_cache_size(self) -> list[str]:
        """Delete whole torrents nobody is reading, least recently read first, until under `cache_size`."""
        usage: dict[str, int] = {}
        last_used: dict[str, float] = {}
        busy: set[str] = set()
        active = {t.info_hash: t for t in self._manager.torrents()}
        storage_root = self._manager.storage_root
        for entry in os.scandir(storage_root):
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            usage[entry.name] = disk_usage(Path(entry.path))
            torrent = active.get(entry.name)
            if torrent is not None:
                last_used[entry.name] = torrent.last_read_wall
                if torrent.open_readers or torrent.active_reads:
                    busy.add(entry.name)
            else:
                last_used[entry.name] = entry.stat().st_mtime
        total = sum(usage.values())
        evicted = []
        for info_hash in sorted((h for h in usage if h not in busy), key=lambda h: last_used[h]):
            if total <= self._config.cache_size:
                break
            log.info("cache over %d bytes: evicting %s (%d bytes)", self._config.cache_size, info_hash, usage[info_hash])
            self._manager.remove(info_hash)
            total -= usage[info_hash]
            evicted.append(info_hash)
        return evicted


def _known_but_unreached(status: "lt.torrent_status") -> bool:
    """Peers are known and none is connected: uTP may reach them. (Knowing none, uTP would not help.)"""
    return status.num_peers == 0 and status.list_peers > 0
