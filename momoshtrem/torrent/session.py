"""One libtorrent session for the whole process, and the torrents in it.

Torrents join lazily, on the first read of one of their files, from the
metadata stored in the library: listing the share never touches the swarm.
Nothing downloads until a reader asks for pieces; a torrent nobody reads is
paused after `idle_timeout`; when the data outgrows `cache_size`, whole
torrents nobody is reading are evicted, least recently read first.

The jobs around it have modules of their own: magnets to metadata
(metadata_fetch.py), how a torrent joins (joining.py), resume data
(resume.py), removals (removal.py), the once-a-second chores
(housekeeping.py), how peers are dialled (dialing.py), how many reads may
wait on swarms (waits.py) and what is reported (reports.py).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

import libtorrent as lt

from momoshtrem.config import TorrentConfig
from momoshtrem.library.errors import LibraryError, NotFound, Unavailable
from momoshtrem.torrent.active import ActiveTorrent
from momoshtrem.torrent.alerts import (
    AlertPump,
    HashFailed,
    MetadataReceived,
    PieceFinished,
    ResumeDataFailed,
    ResumeDataSaved,
    TorrentChecked,
    TorrentFailed,
    TorrentRemoved,
)
from momoshtrem.torrent.dialing import offer_peers_again
from momoshtrem.torrent.housekeeping import Housekeeper
from momoshtrem.torrent.joining import join_params, peer_hints
from momoshtrem.torrent.metadata_fetch import MetadataFetches
from momoshtrem.torrent.metainfo import MetainfoError, TorrentMeta, parse_torrent
from momoshtrem.torrent.readstats import ReadStats
from momoshtrem.torrent.removal import Removals
from momoshtrem.torrent.reports import (
    PieceStates,
    TorrentState,
    active_state,
    disk_usage,
    piece_states,
)
from momoshtrem.torrent.resume import ResumeStore
from momoshtrem.torrent.settings import session_settings
from momoshtrem.torrent.sources import MagnetSource
from momoshtrem.torrent.waits import FirstWaits
from momoshtrem.worker_shares import WorkerShares

log = logging.getLogger(__name__)

SHUTDOWN_RESUME_WAIT = 3.0
PEER_REFRESH_SECONDS = 5.0
RETRY_FREE_BYTES = 16 * 1024 * 1024  # room on the disk below which a torrent stopped by an error is not retried


class StoredTorrentLookup:
    """What the session needs from the library: stored metadata and the magnet a torrent came from."""

    def __init__(self, metadata: Callable[[str], bytes], source: Callable[[str], str | None]) -> None:
        self.metadata = metadata
        self.source = source


class SessionManager:
    def __init__(self, config: TorrentConfig, stored: StoredTorrentLookup, *,
                 wait_bounds: WorkerShares) -> None:
        self.config = config
        self.wait_bounds = wait_bounds
        self._stored = stored
        self.storage_root = Path(config.memory_dir if config.storage == "memory" else config.data_dir)
        self._resume = ResumeStore(self.storage_root / ".resume")
        params = lt.session_params()
        params.settings = session_settings(config)
        # Writes land on disk before piece_finished_alert, so a reader may pread them at once.
        params.disk_io_constructor = "posix_disk_io_constructor"
        self.session = lt.session(params)
        self._lock = threading.RLock()
        self._torrents: dict[str, ActiveTorrent] = {}
        self._stopping = threading.Event()
        self.read_stats = ReadStats()
        self.first_waits = FirstWaits(wait_bounds, self.read_stats)
        self._removals = Removals(self.session, self._stopping)
        self.fetches = MetadataFetches(self.session, self.storage_root, config, self._removals,
                                       self._lock, self._stopping, max_waiting=wait_bounds.metadata_fetches)
        self._pump = AlertPump(self.session)
        self._pump.on(PieceFinished, self._on_piece_finished)
        self._pump.on(TorrentChecked, self._on_checked)
        self._pump.on(TorrentFailed, self._on_failed)
        self._pump.on(HashFailed, self._on_hash_failed)
        self._pump.on(MetadataReceived, self.fetches.on_metadata)
        self._pump.on(ResumeDataSaved, self._on_resume_saved)
        self._pump.on(ResumeDataFailed, self._resume.on_failed)
        self._pump.on(TorrentRemoved, self._removals.on_removed)
        self.housekeeper = Housekeeper(self)

    @property
    def listen_port(self) -> int:
        return self.session.listen_port()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def wait_stopping(self, timeout: float) -> bool:
        """Sleep up to `timeout`; True once the session is stopping."""
        return self._stopping.wait(timeout)

    def start(self) -> None:
        self._pump.start()
        self.housekeeper.start()
        log.info("torrent session listening on %s (port %d), storage %s at %s",
                 self.config.listen_interfaces, self.listen_port, self.config.storage, self.storage_root)

    def stop(self) -> None:
        """Wake every blocked reader, save resume data, and let the session go; a few seconds at most."""
        self._stopping.set()
        self.fetches.wake_all()
        torrents = self.torrents()
        for torrent in torrents:
            with torrent.cond:
                torrent.cond.notify_all()
        self.save_resume_data(torrents, wait=SHUTDOWN_RESUME_WAIT)
        self.session.pause()
        self._pump.stop()
        self.housekeeper.join(timeout=5)
        log.info("torrent session stopped")

    # -- metadata ---------------------------------------------------------------

    def fetch_metadata(self, source: MagnetSource, timeout: float | None = None) -> TorrentMeta:
        """The torrent's metadata: from the session when it is there, else from the swarm."""
        timeout = self.config.metadata_timeout if timeout is None else timeout
        return self.fetches.fetch(source, timeout, already_known=self._meta_in_session)

    def _meta_in_session(self, info_hash: str) -> TorrentMeta | None:
        torrent = self.find(info_hash)
        return torrent.meta if torrent is not None else None

    def fetch_progress(self, info_hash: str) -> tuple[float, int] | None:
        """(seconds waited, peers found) while metadata is being fetched, else None."""
        return self.fetches.progress(info_hash)

    # -- torrents in the session ------------------------------------------------

    def activate(self, info_hash: str) -> ActiveTorrent:
        """The torrent in the session, added from stored metadata if it is not there yet.

        One stopped by an error is added afresh when there is room on the disk again (`restart_failed`).
        """
        failed = self.find(info_hash)
        if failed is not None and failed.error:
            self.restart_failed(failed)
        with self._lock:
            torrent = self._torrents.get(info_hash)
            if torrent is not None:
                return torrent
            if self.stopping:
                raise LibraryError("the server is shutting down")
            try:
                meta = parse_torrent(self._stored.metadata(info_hash))
                magnet = self._stored.source(info_hash)
                params = join_params(meta, self._resume.add_params(info_hash), self.storage_root / info_hash,
                                     magnet, self.config.default_trackers)
                handle = self.session.add_torrent(params)
            except (MetainfoError, RuntimeError) as exc:
                raise Unavailable(f"torrent {info_hash} cannot be added to the session: {exc}") from None
            torrent = ActiveTorrent(info_hash, meta, handle, Path(params.save_path))
            torrent.idle_paused = True  # added paused: the first read resumes it
            torrent.peer_hints = peer_hints(magnet)
            self._torrents[info_hash] = torrent
        torrent.refresh_have()
        log.info("added %s (%s) to the session", info_hash, meta.name)
        return torrent

    def refresh_peers_if_starving(self, torrent: ActiveTorrent) -> None:
        """A reader is waiting and no peer is connected: look for the swarm again.

        libtorrent stops dialling a peer after a few failed connections (see
        `offer_peers_again`), so the magnet's peers are offered again, and the
        trackers and DHT are asked again. At most every few seconds, so a dead
        peer costs one refused connection now and then.
        """
        now = time.monotonic()
        if now - torrent.last_peer_refresh < PEER_REFRESH_SECONDS or torrent.handle.status().num_peers:
            return
        torrent.last_peer_refresh = now
        log.info("torrent %s has no peers while a reader waits: looking for its swarm again", torrent.info_hash)
        offer_peers_again(torrent.handle, torrent.peer_hints)
        # Now, not at the tracker's minimum interval (libtorrent waits for it by default): a seeder that
        # announced while our first announce was under way is in the swarm, and the reader waits.
        torrent.handle.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        if self.config.enable_dht:
            torrent.handle.force_dht_announce()

    def find(self, info_hash: str) -> ActiveTorrent | None:
        with self._lock:
            return self._torrents.get(info_hash)

    def read_if_downloaded(self, info_hash: str, file_index: int, start: int, length: int) -> bytes | None:
        """The file's bytes when every piece under them is on disk already; None otherwise. Never asks the swarm.

        The torrent joins the session paused if it is not there, so the pieces
        its resume data lists count (a film watched before a restart).
        """
        torrent = self.activate(info_hash)
        file = torrent.meta.files[file_index]
        span = torrent.span(file_index)
        if length <= 0 or start < 0 or start + length > file.size:
            return None
        with torrent.cond:
            if not all(torrent.have[p] for p in span.pieces_for(start, length)):
                return None
        try:
            with open(torrent.save_path / file.path, "rb") as handle:
                data = os.pread(handle.fileno(), length, start)
        except OSError:
            return None
        return data if len(data) == length else None

    def check_file_on_disk(self, torrent: ActiveTorrent, file_index: int) -> None:
        """Before a GET: a file shorter on disk than the pieces we hold (deleted or truncated behind our back)
        has its torrent checked again, so the lost pieces are fetched anew instead of failing every read."""
        file = torrent.meta.files[file_index]
        pieces = torrent.span(file_index).pieces
        with torrent.cond:
            last_held = torrent.have.rfind(1, pieces.start, pieces.stop)  # C speed: a film has thousands of pieces
        if last_held < 0:
            return
        try:
            on_disk = (torrent.save_path / file.path).stat().st_size
        except OSError:
            on_disk = -1
        if on_disk < torrent.span(file_index).piece_end(last_held):
            self.recheck(torrent, f"'{file.path}' is {'missing' if on_disk < 0 else 'shorter'} on disk")

    def recheck(self, torrent: ActiveTorrent, reason: str) -> None:
        """Forget which pieces we have and let libtorrent check the files: what is gone is downloaded again."""
        with torrent.cond:
            if torrent.rechecking:
                return
            torrent.rechecking = True
            torrent.have[:] = bytes(len(torrent.have))
        log.error("torrent %s: %s; checking its files again, lost pieces will be downloaded anew",
                  torrent.info_hash, reason)
        torrent.handle.force_recheck()

    def set_wanted(self, torrent: ActiveTorrent, stream_id: int, wants: bool) -> None:
        """Call before a stream's priorities drop to nothing: the torrent is paused once nobody wants a piece.

        A running torrent that wants nothing is "finished", and one that later
        wants pieces again without having been paused never reconnects to a
        seed it lost meanwhile (measured: 0 connect candidates, even after
        connect_peer). Paused first, it resumes cleanly on the next read.
        """
        with torrent.cond:
            if wants:
                torrent.wanted_by.add(stream_id)
                return
            torrent.wanted_by.discard(stream_id)
            park = not torrent.wanted_by and not torrent.idle_paused and not torrent.user_paused
            if park:
                torrent.idle_paused = True
        if park:
            log.debug("pausing %s: no reader wants any of its pieces", torrent.info_hash)
            torrent.handle.pause()

    def mark_reading(self, torrent: ActiveTorrent) -> None:
        """A read starts: the torrent is wanted, so an idle pause ends."""
        with torrent.cond:
            torrent.last_read = time.monotonic()
            torrent.last_read_wall = time.time()
            resume = torrent.idle_paused
            torrent.idle_paused = False
        if resume:
            log.info("resuming idle torrent %s", torrent.info_hash)
            torrent.handle.resume()

    # -- control (API) ----------------------------------------------------------

    def _in_session(self, info_hash: str) -> ActiveTorrent:
        torrent = self.find(info_hash)
        if torrent is None:
            raise NotFound(f"torrent {info_hash} is not in the session")
        return torrent

    def pause(self, info_hash: str) -> None:
        torrent = self._in_session(info_hash)
        with torrent.cond:
            torrent.user_paused = True
            torrent.cond.notify_all()
        torrent.handle.pause()
        self.save_resume_data([torrent], wait=0)

    def resume(self, info_hash: str) -> None:
        torrent = self._in_session(info_hash)
        with torrent.cond:
            torrent.user_paused = False
            # It stays paused until the next read, which resumes it after asking for its pieces
            # (see TorrentReader._wait_for for why that order matters).
            torrent.idle_paused = True

    def remove(self, info_hash: str) -> None:
        """Leave the session and delete the downloaded data and resume data."""
        with self._lock:
            torrent = self._torrents.pop(info_hash, None)
        if torrent is not None:
            with torrent.cond:
                torrent.error = "the torrent was removed"
                torrent.cond.notify_all()
            self._removals.remove_and_wait(torrent.handle, info_hash, lt.session.delete_files)
        self._resume.delete(info_hash)
        shutil.rmtree(self.storage_root / info_hash, ignore_errors=True)

    def deactivate(self, torrent: ActiveTorrent) -> bool:
        """Take a torrent nobody reads out of the session, keeping its data and resume data on disk.

        Background work (the probe store's fetches) leaves the session as it
        found it: a library of hundreds of files must not leave hundreds of
        paused torrents behind. False when someone reads it (it stays).
        """
        if not self._idle(torrent):
            return False
        self.save_resume_data([torrent], wait=SHUTDOWN_RESUME_WAIT)
        with self._lock:
            if self._torrents.get(torrent.info_hash) is not torrent or not self._idle(torrent):
                return False
            del self._torrents[torrent.info_hash]
        with torrent.cond:
            torrent.error = torrent.error or "the torrent left the session"  # a reader that raced us fails clearly
            torrent.cond.notify_all()
        self._removals.remove_and_wait(torrent.handle, torrent.info_hash)
        log.info("%s left the session (nobody reads it)", torrent.info_hash)
        return True

    @staticmethod
    def _idle(torrent: ActiveTorrent) -> bool:
        with torrent.cond:
            return not (torrent.open_readers or torrent.active_reads or torrent.wanted_by)

    def state(self, info_hash: str) -> TorrentState:
        progress = self.fetch_progress(info_hash)
        if progress is not None:
            return TorrentState(info_hash, in_session=True, state="fetching_metadata", peers=progress[1])
        torrent = self.find(info_hash)
        if torrent is None:
            return TorrentState(info_hash, in_session=False, state="inactive",
                                bytes_on_disk=disk_usage(self.storage_root / info_hash))
        return active_state(torrent)

    def states(self) -> list[TorrentState]:
        """Every torrent in the session, and those whose metadata is being fetched."""
        with self._lock:
            hashes = self.fetches.hashes() + list(self._torrents)
        return [self.state(info_hash) for info_hash in hashes]

    def piece_states(self, info_hash: str) -> PieceStates | None:
        torrent = self.find(info_hash)
        return piece_states(torrent) if torrent is not None else None

    def cache_bytes(self) -> int:
        """Bytes the downloaded data takes on disk (sparse files count what was written)."""
        return disk_usage(self.storage_root)

    def torrents(self) -> list[ActiveTorrent]:
        """The torrents in the session now."""
        with self._lock:
            return list(self._torrents.values())

    # -- alert handlers (pump thread) ---------------------------------------------

    def _on_piece_finished(self, event: PieceFinished) -> None:
        torrent = self.find(event.info_hash)
        if torrent is not None:
            with torrent.cond:
                torrent.have[event.piece] = 1
                torrent.cond.notify_all()

    def _on_checked(self, event: TorrentChecked) -> None:
        torrent = self.find(event.info_hash)
        if torrent is not None:
            torrent.refresh_have()

    def _on_failed(self, event: TorrentFailed) -> None:
        log.error("torrent %s: %s", event.info_hash, event.message)
        torrent = self.find(event.info_hash)
        if torrent is not None:
            with torrent.cond:
                if not torrent.error:  # the first error is the cause; later ones follow from it
                    torrent.error = event.message
                    torrent.error_since = time.monotonic()
                torrent.cond.notify_all()

    def _on_hash_failed(self, event: HashFailed) -> None:
        log.warning("torrent %s: piece %d arrived corrupt and was thrown away; a peer sends bad data",
                    event.info_hash, event.piece)
        torrent = self.find(event.info_hash)
        if torrent is not None:
            with torrent.cond:
                torrent.hash_failures += 1

    def _on_resume_saved(self, event: ResumeDataSaved) -> None:
        self._resume.on_saved(event, still_in_session=self.find(event.info_hash) is not None)

    # -- failures and resume data ---------------------------------------------------

    def restart_failed(self, torrent: ActiveTorrent) -> None:
        """Take a torrent stopped by an error (a full disk, most often) out of the session once there is room.

        The next read adds it again from stored metadata, as on a fresh start,
        and its pieces on disk are found again by resume data or a check.
        Clearing the error in place was not enough (measured): the seed that
        stayed connected was never found interesting again, and the piece under
        the read never came. While the error stands, reads fail at once with
        its message; the check for room keeps a disk still full from failing
        again on every retry.
        """
        with torrent.cond:
            if not torrent.error:
                return
        where = torrent.save_path if torrent.save_path.exists() else self.storage_root
        free = shutil.disk_usage(where).free
        if free < max(RETRY_FREE_BYTES, 4 * torrent.meta.piece_length):
            return
        with self._lock:
            if self._torrents.get(torrent.info_hash) is not torrent:
                return  # another thread did it
            del self._torrents[torrent.info_hash]
        log.info("restarting %s after '%s': %d bytes free", torrent.info_hash, torrent.error, free)
        self._removals.remove_and_wait(torrent.handle, torrent.info_hash)

    def save_resume_data(self, torrents: list[ActiveTorrent], wait: float) -> None:
        self._resume.save(torrents, wait)
