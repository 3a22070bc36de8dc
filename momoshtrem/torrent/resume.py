"""Resume data on disk, so a restart neither re-checks nor re-downloads what it had."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Iterable

import libtorrent as lt

from momoshtrem.fsutil import write_atomically
from momoshtrem.torrent.active import ActiveTorrent
from momoshtrem.torrent.alerts import ResumeDataFailed, ResumeDataSaved

log = logging.getLogger(__name__)


class ResumeStore:
    """One `<info-hash>.resume` file a torrent, written atomically when libtorrent hands the data over."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._pending: set[str] = set()
        self._cond = threading.Condition()

    def _path(self, info_hash: str) -> Path:
        return self._dir / f"{info_hash}.resume"

    def add_params(self, info_hash: str) -> "lt.add_torrent_params":
        """The torrent's saved state as add parameters, or empty ones when there is none (or it is unreadable)."""
        resume_file = self._path(info_hash)
        if resume_file.exists():
            try:
                return lt.read_resume_data(resume_file.read_bytes())
            except RuntimeError as exc:
                log.warning("ignoring unreadable resume data for %s: %s", info_hash, exc)
        return lt.add_torrent_params()

    def save(self, torrents: Iterable[ActiveTorrent], wait: float) -> None:
        """Ask libtorrent for the torrents' resume data; wait up to `wait` seconds for it to be written."""
        torrents = list(torrents)
        if not torrents:
            return
        with self._cond:
            self._pending.update(t.info_hash for t in torrents)
        for torrent in torrents:
            torrent.handle.save_resume_data(lt.save_resume_flags_t.flush_disk_cache)
        if wait:
            deadline = time.monotonic() + wait
            hashes = {t.info_hash for t in torrents}
            with self._cond:
                while self._pending & hashes and time.monotonic() < deadline:
                    self._cond.wait(deadline - time.monotonic())

    def on_saved(self, event: ResumeDataSaved, still_in_session: bool) -> None:
        if still_in_session:  # a torrent removed meanwhile must not come back from its resume data
            try:
                write_atomically(self._path(event.info_hash), event.data)
            except OSError as exc:  # a full disk: the pieces are still checked on the next start
                log.warning("could not save resume data of %s: %s", event.info_hash, exc)
        self._done(event.info_hash)

    def on_failed(self, event: ResumeDataFailed) -> None:
        log.debug("no resume data for %s: %s", event.info_hash, event.message)
        self._done(event.info_hash)

    def _done(self, info_hash: str) -> None:
        with self._cond:
            self._pending.discard(info_hash)
            self._cond.notify_all()

    def delete(self, info_hash: str) -> None:
        self._path(info_hash).unlink(missing_ok=True)
