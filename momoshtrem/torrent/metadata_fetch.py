"""Turning a magnet or an info-hash into metadata, from the swarm, while an assignment waits."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import libtorrent as lt

from momoshtrem.config import TorrentConfig
from momoshtrem.library.errors import Busy, LibraryError, Unavailable
from momoshtrem.torrent.alerts import MetadataReceived
from momoshtrem.torrent.metainfo import TorrentMeta, parse_torrent
from momoshtrem.torrent.removal import Removals
from momoshtrem.torrent.sources import MagnetSource

log = logging.getLogger(__name__)


class MetadataTimeout(LibraryError):
    status = 504


class _Fetch:
    def __init__(self, handle: "lt.torrent_handle", peer_hints: list[tuple[str, int]]) -> None:
        self.handle = handle
        self.peer_hints = peer_hints
        self.started = time.monotonic()
        self.done = threading.Event()
        self.waiters = 0  # assignments waiting on it; the last one to leave removes the torrent


class MetadataFetches:
    """The magnets whose metadata is on its way: one libtorrent torrent each, in upload mode, shared by waiters.

    The torrent only carries the metadata exchange (upload mode: no payload)
    and leaves the session once its first waiter is done, so the first read
    adds it afresh from the stored metadata.
    """

    def __init__(self, session: "lt.session", storage_root: Path, config: TorrentConfig,
                 removals: Removals, lock: threading.RLock, stopping: threading.Event, *, max_waiting: int) -> None:
        self._session = session
        self._storage_root = storage_root
        self._config = config
        self._removals = removals
        self._lock = lock  # the session manager's: no torrent joins the session between its check and ours
        self._stopping = stopping
        self._fetches: dict[str, _Fetch] = {}
        # Each waiting assignment holds a server worker for up to metadata_timeout: 200 dead magnets took them all.
        self._max_waiting = max_waiting
        self._waiting = 0

    def fetch(self, source: MagnetSource, timeout: float,
              already_known: Callable[[str], TorrentMeta | None]) -> TorrentMeta:
        """The torrent's metadata: peers from the magnet, its trackers, the defaults, DHT."""
        info_hash = source.info_hash
        with self._lock:
            known = already_known(info_hash)
            if known is not None:
                return known
            if self._waiting >= self._max_waiting:
                raise Busy(f"{self._waiting} assignments already wait for metadata from their swarms (at most "
                           f"{self._max_waiting}); try again in a few seconds")
            fetch = self._fetches.get(info_hash)
            if fetch is None:
                fetch = self._start(source)
            fetch.waiters += 1
            self._waiting += 1
        try:
            arrived = fetch.done.wait(timeout)
            if self._stopping.is_set():
                raise Unavailable("the server is shutting down")
            if not arrived:
                peers = fetch.handle.status().num_peers
                raise MetadataTimeout(
                    f"no metadata for {info_hash} after {timeout:.0f} s ({peers} peers found): "
                    "the swarm may have no seeders, or none could be reached"
                )
            return _metadata_from(fetch.handle, source)
        finally:
            with self._lock:
                self._waiting -= 1
                fetch.waiters -= 1
                last = fetch.waiters == 0 and self._fetches.get(info_hash) is fetch
                if last:
                    del self._fetches[info_hash]
            if last:
                self._removals.remove_and_wait(fetch.handle, info_hash)

    def _start(self, source: MagnetSource) -> _Fetch:
        """Adds the magnet's torrent in upload mode; called with the lock held, the torrent not in the session."""
        info_hash = source.info_hash
        params = lt.parse_magnet_uri(source.uri)
        params.save_path = str(self._storage_root / info_hash)
        params.trackers = merge_trackers(params.trackers, self._config.default_trackers)
        params.flags |= lt.torrent_flags.upload_mode  # metadata only: no payload
        params.flags &= ~lt.torrent_flags.auto_managed
        params.flags &= ~lt.torrent_flags.paused
        if str(params.info_hashes.v1) != info_hash:
            # Never add (and later remove) a torrent other than the one asked for: libtorrent would hand back the
            # handle of a torrent already streaming, and removing it at the end would cut that stream.
            raise LibraryError(f"the magnet's info-hash is {params.info_hashes.v1}, not {info_hash}")
        fetch = _Fetch(self._session.add_torrent(params), list(params.peers))
        self._fetches[info_hash] = fetch
        log.info("fetching metadata for %s", info_hash)
        return fetch

    def progress(self, info_hash: str) -> tuple[float, int] | None:
        """(seconds waited, peers found) while metadata is being fetched, else None."""
        with self._lock:
            fetch = self._fetches.get(info_hash)
        if fetch is None:
            return None
        return time.monotonic() - fetch.started, fetch.handle.status().num_peers

    def hashes(self) -> list[str]:
        with self._lock:
            return list(self._fetches)

    def waiting(self) -> list[tuple[str, "lt.torrent_handle", list[tuple[str, int]]]]:
        """(info-hash, handle, the magnet's peers) of every fetch: each wants peers now."""
        with self._lock:
            return [(info_hash, f.handle, f.peer_hints) for info_hash, f in self._fetches.items()]

    def on_metadata(self, event: MetadataReceived) -> None:
        with self._lock:
            fetch = self._fetches.get(event.info_hash)
        if fetch is not None:
            fetch.done.set()

    def wake_all(self) -> None:
        """At shutdown: every waiter returns now."""
        with self._lock:
            for fetch in self._fetches.values():
                fetch.done.set()


def _metadata_from(handle: "lt.torrent_handle", source: MagnetSource) -> TorrentMeta:
    info = handle.torrent_file()
    trackers = [entry["url"] for entry in handle.trackers()]
    head = b"13:announce-list" + lt.bencode([[url.encode()] for url in trackers]) if trackers else b""
    meta = parse_torrent(b"d" + head + b"4:info" + bytes(info.info_section()) + b"e")
    if meta.info_hash != source.info_hash:
        raise LibraryError(f"the swarm sent metadata for {meta.info_hash}, not {source.info_hash}")
    return dataclasses.replace(meta, source=source.uri)


def merge_trackers(existing: Iterable[str], more: Iterable[str]) -> list[str]:
    merged = list(existing)
    for url in more:
        if url not in merged:
            merged.append(url)
    return merged
