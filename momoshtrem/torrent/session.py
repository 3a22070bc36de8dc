"""One libtorrent session for the whole process, and the torrents in it.

Torrents join lazily, on the first read of one of their files, from the
metadata stored in the library: listing the share never touches the swarm.
Nothing downloads until a reader asks for pieces; a torrent nobody reads is
paused after `idle_timeout`; when the data outgrows `cache_size`, whole
torrents nobody is reading are evicted, least recently read first.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import libtorrent as lt

from momoshtrem.config import TorrentConfig
from momoshtrem.fsutil import write_atomically
from momoshtrem.library.errors import LibraryError, NotFound, Unavailable
from momoshtrem.torrent.alerts import (
    AlertPump,
    MetadataReceived,
    PieceFinished,
    ResumeDataFailed,
    ResumeDataSaved,
    TorrentChecked,
    TorrentFailed,
    TorrentRemoved,
)
from momoshtrem.torrent.dialing import UtpFallback
from momoshtrem.torrent.metainfo import MetainfoError, TorrentMeta, parse_torrent
from momoshtrem.torrent.pieces import FileSpan
from momoshtrem.torrent.readstats import ReadStats
from momoshtrem.torrent.settings import session_settings
from momoshtrem.torrent.sources import MagnetSource

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 1.0
RESUME_SAVE_SECONDS = 60.0
EVICTION_CHECK_SECONDS = 5.0
SHUTDOWN_RESUME_WAIT = 3.0
PEER_REFRESH_SECONDS = 5.0
ERROR_RETRY_SECONDS = 5.0  # a torrent stopped by an error is retried this long after, if there is room
RETRY_FREE_BYTES = 16 * 1024 * 1024  # room on the disk below which a torrent stopped by an error is not retried


class MetadataTimeout(LibraryError):
    status = 504


class StoredTorrentLookup:
    """What the session needs from the library: stored metadata and the magnet a torrent came from."""

    def __init__(self, metadata: Callable[[str], bytes], source: Callable[[str], str | None]) -> None:
        self.metadata = metadata
        self.source = source


@dataclass
class TorrentState:
    """A torrent as the session sees it, for the API and the CLI."""

    info_hash: str
    in_session: bool
    state: str  # inactive, fetching_metadata, checking, downloading, finished, seeding, paused, idle, error
    progress: float = 0.0  # of the whole torrent, 0..1
    downloaded_bytes: int = 0  # verified bytes we have
    bytes_on_disk: int = 0  # real disk (or tmpfs) usage; storage is sparse
    peers: int = 0
    seeds: int = 0
    download_rate: int = 0
    upload_rate: int = 0
    paused: bool = False
    idle: bool = False
    readers: int = 0
    error: str | None = None


@dataclass
class PieceStates:
    """One moment of a torrent's pieces, for the status page's piece map."""

    have: bytes  # 1 per piece we have
    downloading: set[int]  # pieces with blocks requested or arrived
    priorities: list[int]  # libtorrent's piece priorities (0 = not wanted)


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

    def refresh_have(self) -> None:
        """Re-read which pieces we have (after adding or checking): events only tell what changes."""
        pieces = self.handle.status(lt.status_flags_t.query_pieces).pieces
        with self.cond:
            for index, have in enumerate(pieces):
                if have:
                    self.have[index] = 1
            self.cond.notify_all()


class _MetadataFetch:
    def __init__(self, handle: "lt.torrent_handle", peer_hints: list[tuple[str, int]]) -> None:
        self.handle = handle
        self.peer_hints = peer_hints
        self.started = time.monotonic()
        self.done = threading.Event()


class SessionManager:
    def __init__(self, config: TorrentConfig, stored: StoredTorrentLookup) -> None:
        self.config = config
        self._stored = stored
        self.storage_root = Path(config.memory_dir if config.storage == "memory" else config.data_dir)
        self._resume_dir = self.storage_root / ".resume"
        self._resume_dir.mkdir(parents=True, exist_ok=True)
        params = lt.session_params()
        params.settings = session_settings(config)
        # Writes land on disk before piece_finished_alert, so a reader may pread them at once.
        params.disk_io_constructor = "posix_disk_io_constructor"
        self.session = lt.session(params)
        self._lock = threading.RLock()
        self._torrents: dict[str, ActiveTorrent] = {}
        self._fetches: dict[str, _MetadataFetch] = {}
        self._pending_resume: set[str] = set()
        self._resume_cond = threading.Condition()
        self._stopping = threading.Event()
        self._pump = AlertPump(self.session)
        self._pump.on(PieceFinished, self._on_piece_finished)
        self._pump.on(TorrentChecked, self._on_checked)
        self._pump.on(TorrentFailed, self._on_failed)
        self._pump.on(MetadataReceived, self._on_metadata)
        self._pump.on(ResumeDataSaved, self._on_resume_saved)
        self._pump.on(ResumeDataFailed, self._on_resume_failed)
        self._pump.on(TorrentRemoved, self._on_removed)
        self._removals: dict[str, threading.Event] = {}
        self.read_stats = ReadStats()
        self._dialing = UtpFallback(self.session, config.enable_utp)
        self._housekeeper = threading.Thread(target=self._housekeeping, name="torrent-housekeeping", daemon=True)

    @property
    def listen_port(self) -> int:
        return self.session.listen_port()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        self._pump.start()
        self._housekeeper.start()
        log.info("torrent session listening on %s (port %d), storage %s at %s",
                 self.config.listen_interfaces, self.listen_port, self.config.storage, self.storage_root)

    def stop(self) -> None:
        """Wake every blocked reader, save resume data, and let the session go; a few seconds at most."""
        self._stopping.set()
        with self._lock:
            torrents = list(self._torrents.values())
            for fetch in self._fetches.values():
                fetch.done.set()
        for torrent in torrents:
            with torrent.cond:
                torrent.cond.notify_all()
        self._save_resume_data(torrents, wait=SHUTDOWN_RESUME_WAIT)
        self.session.pause()
        self._pump.stop()
        self._housekeeper.join(timeout=5)
        log.info("torrent session stopped")

    # -- metadata ---------------------------------------------------------------

    def fetch_metadata(self, source: MagnetSource, timeout: float | None = None) -> TorrentMeta:
        """The torrent's metadata from the swarm: peers from the magnet, its trackers, the defaults, DHT."""
        timeout = self.config.metadata_timeout if timeout is None else timeout
        info_hash = source.info_hash
        with self._lock:
            active = self._torrents.get(info_hash)
            if active is not None:
                return active.meta
            fetch = self._fetches.get(info_hash)
            if fetch is None:
                params = lt.parse_magnet_uri(source.uri)
                params.save_path = str(self.storage_root / info_hash)
                params.trackers = _merge(params.trackers, self.config.default_trackers)
                params.flags |= lt.torrent_flags.upload_mode  # metadata only: no payload
                params.flags &= ~lt.torrent_flags.auto_managed
                params.flags &= ~lt.torrent_flags.paused
                fetch = _MetadataFetch(self.session.add_torrent(params), list(params.peers))
                self._fetches[info_hash] = fetch
                log.info("fetching metadata for %s", info_hash)
        try:
            arrived = fetch.done.wait(timeout)
            if self.stopping:
                raise Unavailable("the server is shutting down")
            if not arrived:
                peers = fetch.handle.status().num_peers
                raise MetadataTimeout(
                    f"no metadata for {info_hash} after {timeout:.0f} s ({peers} peers found): "
                    "the swarm may have no seeders, or none could be reached"
                )
            return self._metadata_from(fetch.handle, source)
        finally:
            with self._lock:
                owner = self._fetches.get(info_hash) is fetch
                if owner:
                    del self._fetches[info_hash]
            if owner:
                self._remove_and_wait(fetch.handle, info_hash)

    def _remove_and_wait(self, handle: "lt.torrent_handle", info_hash: str, flags: int = 0) -> None:
        """Removal is asynchronous; waiting for it lets the same torrent be added again at once."""
        removed = threading.Event()
        with self._lock:
            self._removals[info_hash] = removed
        self.session.remove_torrent(handle, flags)
        if self.stopping:
            return  # the alert pump may be gone; nobody will add it again
        if not removed.wait(5):
            log.warning("libtorrent did not confirm the removal of %s", info_hash)
        with self._lock:
            self._removals.pop(info_hash, None)

    def fetch_progress(self, info_hash: str) -> tuple[float, int] | None:
        """(seconds waited, peers found) while metadata is being fetched, else None."""
        with self._lock:
            fetch = self._fetches.get(info_hash)
        if fetch is None:
            return None
        return time.monotonic() - fetch.started, fetch.handle.status().num_peers

    @staticmethod
    def _metadata_from(handle: "lt.torrent_handle", source: MagnetSource) -> TorrentMeta:
        info = handle.torrent_file()
        trackers = [entry["url"] for entry in handle.trackers()]
        head = b"13:announce-list" + lt.bencode([[url.encode()] for url in trackers]) if trackers else b""
        meta = parse_torrent(b"d" + head + b"4:info" + bytes(info.info_section()) + b"e")
        if meta.info_hash != source.info_hash:
            raise LibraryError(f"the swarm sent metadata for {meta.info_hash}, not {source.info_hash}")
        return dataclasses.replace(meta, source=source.uri)

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
                params = self._add_params(meta)
                handle = self.session.add_torrent(params)
            except (MetainfoError, RuntimeError) as exc:
                raise Unavailable(f"torrent {info_hash} cannot be added to the session: {exc}") from None
            torrent = ActiveTorrent(info_hash, meta, handle, Path(params.save_path))
            torrent.idle_paused = True  # added paused: the first read resumes it
            torrent.peer_hints = self._peer_hints(info_hash)
            self._torrents[info_hash] = torrent
        torrent.refresh_have()
        log.info("added %s (%s) to the session", info_hash, meta.name)
        return torrent

    def _add_params(self, meta: TorrentMeta) -> "lt.add_torrent_params":
        resume_file = self._resume_dir / f"{meta.info_hash}.resume"
        params = lt.add_torrent_params()
        if resume_file.exists():
            try:
                params = lt.read_resume_data(resume_file.read_bytes())
            except RuntimeError as exc:
                log.warning("ignoring unreadable resume data for %s: %s", meta.info_hash, exc)
        params.ti = lt.torrent_info(meta.torrent_bytes)
        params.save_path = str(self.storage_root / meta.info_hash)
        source = self._stored.source(meta.info_hash)
        if source:
            hints = lt.parse_magnet_uri(source)
            params.peers = list(params.peers) + list(hints.peers)
            params.trackers = _merge(params.trackers, hints.trackers)
        params.trackers = _merge(params.trackers, self.config.default_trackers)
        # Nothing downloads until a reader asks for it. Added running with nothing wanted, a torrent is
        # "finished" and became interested in its peer only up to 0.7 s after the first deadline
        # (measured); added paused and resumed after the first read's priorities are set, within 3 ms.
        params.piece_priorities = [0] * params.ti.num_pieces()
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.upload_mode
                          | lt.torrent_flags.sequential_download)
        params.flags |= lt.torrent_flags.paused
        return params

    def _peer_hints(self, info_hash: str) -> list[tuple[str, int]]:
        source = self._stored.source(info_hash)
        return list(lt.parse_magnet_uri(source).peers) if source else []

    def refresh_peers_if_starving(self, torrent: ActiveTorrent) -> None:
        """A reader is waiting and no peer is connected: look for the swarm again.

        libtorrent stops retrying a peer after a few failed connections, so a
        swarm that vanished and came back is found only by announcing again and
        by re-offering the magnet's peer hints. At most every few seconds.
        """
        now = time.monotonic()
        if now - torrent.last_peer_refresh < PEER_REFRESH_SECONDS or torrent.handle.status().num_peers:
            return
        torrent.last_peer_refresh = now
        log.info("torrent %s has no peers while a reader waits: announcing again", torrent.info_hash)
        for endpoint in torrent.peer_hints:
            torrent.handle.connect_peer(endpoint)
        torrent.handle.force_reannounce()
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
        span = FileSpan(file.offset, file.size, torrent.meta.piece_length)
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
        self._save_resume_data([torrent], wait=0)

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
            self._remove_and_wait(torrent.handle, info_hash, lt.session.delete_files)
        self._delete_data(info_hash)

    def state(self, info_hash: str) -> TorrentState:
        progress = self.fetch_progress(info_hash)
        if progress is not None:
            return TorrentState(info_hash, in_session=True, state="fetching_metadata", peers=progress[1])
        torrent = self.find(info_hash)
        if torrent is None:
            return TorrentState(info_hash, in_session=False, state="inactive",
                                bytes_on_disk=_disk_usage(self.storage_root / info_hash))
        status = torrent.handle.status()
        return TorrentState(
            info_hash=info_hash,
            in_session=True,
            state=self._state_name(torrent, status),
            # libtorrent's own `progress` counts only wanted pieces: 93 % of a film barely started.
            progress=round(status.total_done / max(torrent.meta.total_size, 1), 4),
            downloaded_bytes=status.total_done,
            bytes_on_disk=_disk_usage(torrent.save_path),
            peers=status.num_peers,
            seeds=status.num_seeds,
            download_rate=status.download_payload_rate,
            upload_rate=status.upload_payload_rate,
            paused=torrent.user_paused,
            idle=torrent.idle_paused,
            readers=torrent.open_readers,
            error=torrent.error,
        )

    def states(self) -> list[TorrentState]:
        """Every torrent in the session, and those whose metadata is being fetched."""
        with self._lock:
            hashes = list(self._fetches) + list(self._torrents)
        return [self.state(info_hash) for info_hash in hashes]

    def piece_states(self, info_hash: str) -> PieceStates | None:
        torrent = self.find(info_hash)
        if torrent is None:
            return None
        handle = torrent.handle
        downloading = {int(entry["piece_index"]) for entry in handle.get_download_queue()}
        return PieceStates(bytes(torrent.have), downloading, list(handle.get_piece_priorities()))

    def cache_bytes(self) -> int:
        """Bytes the downloaded data takes on disk (sparse files count what was written)."""
        return _disk_usage(self.storage_root)

    @staticmethod
    def _state_name(torrent: ActiveTorrent, status: "lt.torrent_status") -> str:
        if torrent.error:
            return "error"
        if torrent.user_paused:
            return "paused"
        if torrent.idle_paused:
            return "idle"
        states = lt.torrent_status.states
        return {
            states.checking_files: "checking",
            states.checking_resume_data: "checking",
            states.downloading: "downloading",
            states.finished: "finished",
            states.seeding: "seeding",
        }.get(status.state, "downloading")

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

    def _on_metadata(self, event: MetadataReceived) -> None:
        with self._lock:
            fetch = self._fetches.get(event.info_hash)
        if fetch is not None:
            fetch.done.set()

    def _on_removed(self, event: TorrentRemoved) -> None:
        with self._lock:
            removed = self._removals.get(event.info_hash)
        if removed is not None:
            removed.set()

    def _on_resume_saved(self, event: ResumeDataSaved) -> None:
        with self._lock:
            known = event.info_hash in self._torrents
        if known:
            try:
                write_atomically(self._resume_dir / f"{event.info_hash}.resume", event.data)
            except OSError as exc:  # a full disk: the pieces are still checked on the next start
                log.warning("could not save resume data of %s: %s", event.info_hash, exc)
        self._resume_done(event.info_hash)

    def _on_resume_failed(self, event: ResumeDataFailed) -> None:
        log.debug("no resume data for %s: %s", event.info_hash, event.message)
        self._resume_done(event.info_hash)

    def _resume_done(self, info_hash: str) -> None:
        with self._resume_cond:
            self._pending_resume.discard(info_hash)
            self._resume_cond.notify_all()

    # -- housekeeping -------------------------------------------------------------

    def _housekeeping(self) -> None:
        last_resume = last_eviction = time.monotonic()
        while not self._stopping.wait(HOUSEKEEPING_SECONDS):
            try:
                self._pause_idle_torrents()
                self._retry_failed_torrents()
                self._dial_utp_if_starving()
                now = time.monotonic()
                if now - last_resume >= RESUME_SAVE_SECONDS:
                    last_resume = now
                    with self._lock:
                        torrents = list(self._torrents.values())
                    self._save_resume_data([t for t in torrents if t.handle.need_save_resume_data()], wait=0)
                if self.config.cache_size and now - last_eviction >= EVICTION_CHECK_SECONDS:
                    last_eviction = now
                    self.evict_over_cache_size()
            except Exception:
                log.exception("torrent housekeeping failed")

    def _pause_idle_torrents(self) -> None:
        now = time.monotonic()
        with self._lock:
            torrents = list(self._torrents.values())
        for torrent in torrents:
            with torrent.cond:
                idle = (not torrent.idle_paused and not torrent.user_paused and torrent.active_reads == 0
                        and now - torrent.last_read >= self.config.idle_timeout)
                if idle:
                    torrent.idle_paused = True
            if idle:
                log.info("pausing %s: nobody read it for %.0f s", torrent.info_hash, self.config.idle_timeout)
                torrent.handle.pause()
                self._save_resume_data([torrent], wait=0)

    def _dial_utp_if_starving(self) -> None:
        """Torrents that want data and have no peer may need uTP to reach their swarm (see dialing.py)."""
        with self._lock:
            wanted = [(h, f.handle, f.peer_hints) for h, f in self._fetches.items()]
            torrents = list(self._torrents.values())
        for torrent in torrents:
            with torrent.cond:
                waiting = torrent.wanted_by and not torrent.idle_paused and not torrent.user_paused
            if waiting:
                wanted.append((torrent.info_hash, torrent.handle, torrent.peer_hints))
        peerless = {info_hash: (handle, hints) for info_hash, handle, hints in wanted
                    if handle.is_valid() and handle.status().num_peers == 0}
        for info_hash in self._dialing.update(set(peerless), time.monotonic()):
            handle, hints = peerless[info_hash]
            for endpoint in hints:  # at once, rather than at libtorrent's next reconnect
                handle.connect_peer(endpoint)

    def _retry_failed_torrents(self) -> None:
        now = time.monotonic()
        with self._lock:
            failed = [t for t in self._torrents.values() if t.error and now - t.error_since >= ERROR_RETRY_SECONDS]
        for torrent in failed:
            self.restart_failed(torrent)

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
        self._remove_and_wait(torrent.handle, torrent.info_hash)

    def evict_over_cache_size(self) -> list[str]:
        """Delete whole torrents nobody is reading, least recently read first, until under `cache_size`."""
        usage: dict[str, int] = {}
        last_used: dict[str, float] = {}
        busy: set[str] = set()
        with self._lock:
            active = dict(self._torrents)
        for entry in os.scandir(self.storage_root):
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            usage[entry.name] = _disk_usage(Path(entry.path))
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
            if total <= self.config.cache_size:
                break
            log.info("cache over %d bytes: evicting %s (%d bytes)", self.config.cache_size, info_hash, usage[info_hash])
            self.remove(info_hash)
            total -= usage[info_hash]
            evicted.append(info_hash)
        return evicted

    def _save_resume_data(self, torrents: list[ActiveTorrent], wait: float) -> None:
        if not torrents:
            return
        with self._resume_cond:
            for torrent in torrents:
                self._pending_resume.add(torrent.info_hash)
        for torrent in torrents:
            torrent.handle.save_resume_data(lt.save_resume_flags_t.flush_disk_cache)
        if wait:
            deadline = time.monotonic() + wait
            hashes = {t.info_hash for t in torrents}
            with self._resume_cond:
                while self._pending_resume & hashes and time.monotonic() < deadline:
                    self._resume_cond.wait(deadline - time.monotonic())

    def _delete_data(self, info_hash: str) -> None:
        (self._resume_dir / f"{info_hash}.resume").unlink(missing_ok=True)
        shutil.rmtree(self.storage_root / info_hash, ignore_errors=True)


def _merge(existing: Iterable[str], more: Iterable[str]) -> list[str]:
    merged = list(existing)
    for url in more:
        if url not in merged:
            merged.append(url)
    return merged


def _disk_usage(path: Path) -> int:
    """Bytes really allocated under `path` (sparse files count only what was written)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total

