"""The one thread that owns libtorrent's alert queue.

An alert object dies at the next `pop_alerts()` (touching it later crashed the
interpreter), so the pump copies what each handler needs into a plain event
record, inside the pump thread, and dispatches by event type. Nothing else in
the process calls `pop_alerts`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable

import libtorrent as lt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PieceFinished:
    info_hash: str
    piece: int


@dataclass(frozen=True)
class HashFailed:
    """A piece arrived corrupt and was thrown away (libtorrent bans a peer that keeps sending such)."""

    info_hash: str
    piece: int


@dataclass(frozen=True)
class MetadataReceived:
    info_hash: str


@dataclass(frozen=True)
class TorrentChecked:
    info_hash: str


@dataclass(frozen=True)
class TorrentFailed:
    """A torrent-level or file-level error: the torrent cannot serve reads until it is cleared."""

    info_hash: str
    message: str


@dataclass(frozen=True)
class ResumeDataSaved:
    info_hash: str
    data: bytes


@dataclass(frozen=True)
class ResumeDataFailed:
    info_hash: str
    message: str


@dataclass(frozen=True)
class TorrentRemoved:
    info_hash: str


def _hash_of(alert: Any) -> str:
    try:
        return str(alert.handle.info_hashes().v1)
    except RuntimeError:  # the handle is gone (a removed torrent)
        return str(alert.info_hashes.v1) if hasattr(alert, "info_hashes") else ""


def _error_message(alert: Any) -> str:
    try:
        return f"{alert.error.message()} ({getattr(alert, 'filename', lambda: '')() or 'torrent'})"
    except (AttributeError, TypeError):
        return alert.message()


# libtorrent alert class name -> function copying it into an event.
_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "piece_finished_alert": lambda a: PieceFinished(_hash_of(a), int(a.piece_index)),
    "hash_failed_alert": lambda a: HashFailed(_hash_of(a), int(a.piece_index)),
    "metadata_received_alert": lambda a: MetadataReceived(_hash_of(a)),
    "torrent_checked_alert": lambda a: TorrentChecked(_hash_of(a)),
    "torrent_error_alert": lambda a: TorrentFailed(_hash_of(a), _error_message(a)),
    "file_error_alert": lambda a: TorrentFailed(_hash_of(a), _error_message(a)),
    "save_resume_data_alert": lambda a: ResumeDataSaved(_hash_of(a), bytes(lt.write_resume_data_buf(a.params))),
    "save_resume_data_failed_alert": lambda a: ResumeDataFailed(_hash_of(a), a.message()),
    "torrent_removed_alert": lambda a: TorrentRemoved(str(a.info_hashes.v1)),
}


class AlertPump:
    def __init__(self, session: "lt.session") -> None:
        self._session = session
        self._handlers: dict[type, list[Callable[[Any], None]]] = defaultdict(list)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="libtorrent-alerts", daemon=True)

    def on(self, event_type: type, handler: Callable[[Any], None]) -> None:
        """Register before `start()`; handlers run on the pump thread and must not block."""
        self._handlers[event_type].append(handler)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._session.wait_for_alert(200) is None:  # releases the GIL while it waits
                continue
            for alert in self._session.pop_alerts():
                self._dispatch(alert)

    def _dispatch(self, alert: Any) -> None:
        name = type(alert).__name__
        convert = _CONVERTERS.get(name)
        if convert is None:
            if alert.category() & lt.alert_category.error:
                log.debug("libtorrent: %s", alert.message())
            return
        try:
            event = convert(alert)
        except Exception:
            log.exception("could not read %s", name)
            return
        for handler in self._handlers.get(type(event), ()):
            try:
                handler(event)
            except Exception:
                log.exception("handler for %s failed", type(event).__name__)
