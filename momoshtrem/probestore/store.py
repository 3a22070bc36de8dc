"""The probe store on disk: for each assigned video, the byte ranges a player reads before its first frame.

One file per torrent file, `<dir>/<info hash>/<file index>.probe`: a JSON
line (the file's size, the ranges kept, the moviehash) and then the ranges'
bytes one after the other. A file is written whole to a temporary name and
renamed (fsutil), so a crash leaves the old entry or none; an entry that does
not parse is deleted at start. The store has its own cap, least recently read
first out, and is never touched by the torrent cache's eviction.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from momoshtrem.fsutil import TEMPORARY_SUFFIX, write_atomically
from momoshtrem.probestore.plan import covered_until
from momoshtrem.streaming.containers import ByteRange

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_HEADER_BYTES = 1024 * 1024
TOUCH_EVERY_SECONDS = 60.0  # the last-read time (the file's mtime) is written at most this often


class StoreFull(OSError):
    """The entry does not fit under the store's cap even after evicting every other entry."""


@dataclass(frozen=True)
class StoredProbe:
    """One entry: where its bytes are and which bytes of the torrent file they are."""

    path: Path
    file_size: int
    ranges: tuple[ByteRange, ...]
    data_offset: int  # where the first range's bytes start in `path`
    moviehash: str | None
    disk_bytes: int

    @property
    def stored_bytes(self) -> int:
        return sum(r.length for r in self.ranges)

    def covered_until(self, position: int) -> int:
        return covered_until(self.ranges, position)

    def offset_in_entry(self, position: int) -> int:
        """Where the byte at `position` of the torrent file is in the entry's file; it must be stored."""
        before = 0
        for byte_range in self.ranges:
            if byte_range.start <= position < byte_range.end:
                return self.data_offset + before + position - byte_range.start
            before += byte_range.length
        raise ValueError(f"byte {position} is not in the probe store")

    def read(self, position: int, length: int) -> bytes | None:
        """The `length` bytes at `position` of the torrent file, if all of them are stored and the entry is still
        there (an eviction may have removed it since it was looked up)."""
        if self.covered_until(position) < position + length:
            return None
        try:
            with open(self.path, "rb") as handle:
                data = os.pread(handle.fileno(), length, self.offset_in_entry(position))
        except OSError:
            return None
        return data if len(data) == length else None


Key = tuple[str, int]  # (info hash, file index)


class ProbeStore:
    def __init__(self, root: Path, cap_bytes: int) -> None:
        self.root = root
        self.cap_bytes = cap_bytes
        self._lock = threading.Lock()
        self._entries: dict[Key, StoredProbe] = {}
        self._last_read: dict[Key, float] = {}

    def load(self) -> None:
        """Index what is on disk; temporary files and entries that do not parse are deleted."""
        self.root.mkdir(parents=True, exist_ok=True)
        found: dict[Key, StoredProbe] = {}
        last_read: dict[Key, float] = {}
        for folder in os.scandir(self.root):
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder.path):
                path = Path(entry.path)
                key = _key_of(folder.name, entry.name)
                probe = _read_header(path) if key else None
                if probe is None:
                    log.warning("probe store: removing %s (%s)", path,
                                "left by a crash" if entry.name.endswith(TEMPORARY_SUFFIX) else "not an entry")
                    path.unlink(missing_ok=True)
                    continue
                found[key] = probe
                last_read[key] = entry.stat().st_mtime
        with self._lock:
            self._entries, self._last_read = found, last_read
        log.info("probe store at %s: %d entries, %d bytes", self.root, len(found), self.usage())

    def peek(self, info_hash: str, file_index: int) -> StoredProbe | None:
        """The entry, without counting as a read (for reports)."""
        with self._lock:
            return self._entries.get((info_hash, file_index))

    def get(self, info_hash: str, file_index: int) -> StoredProbe | None:
        """The entry, for a read: it moves to the back of the eviction order."""
        key = (info_hash, file_index)
        with self._lock:
            probe = self._entries.get(key)
            if probe is None:
                return None
            now = time.time()
            touch = now - self._last_read.get(key, 0.0) >= TOUCH_EVERY_SECONDS
            self._last_read[key] = now
        if touch:
            try:
                os.utime(probe.path, (now, now))
            except OSError:
                pass  # the order of eviction after a restart is a little off; nothing else depends on it
        return probe

    def keys(self) -> set[Key]:
        with self._lock:
            return set(self._entries)

    def usage(self) -> int:
        with self._lock:
            return sum(p.disk_bytes for p in self._entries.values())

    def put(self, info_hash: str, file_index: int, file_size: int, chunks: list[tuple[ByteRange, bytes]],
            moviehash: str | None) -> StoredProbe:
        """Write an entry atomically, evicting the least recently read ones to stay under the cap."""
        header = json.dumps({"version": FORMAT_VERSION, "size": file_size, "moviehash": moviehash,
                             "ranges": [[r.start, r.end] for r, _ in chunks]}).encode() + b"\n"
        body = header + b"".join(data for _, data in chunks)
        if len(body) > self.cap_bytes:
            raise StoreFull(f"the probe needs {len(body)} bytes and the store holds {self.cap_bytes} "
                            "(library.probe_store_size)")
        key = (info_hash, file_index)
        self._make_room(len(body), keep=key)
        path = self.root / info_hash / f"{file_index}.probe"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, body)
        probe = StoredProbe(path, file_size, tuple(r for r, _ in chunks), len(header), moviehash, len(body))
        with self._lock:
            self._entries[key] = probe
            self._last_read[key] = time.time()
        return probe

    def remove(self, info_hash: str, file_index: int) -> None:
        with self._lock:
            probe = self._entries.pop((info_hash, file_index), None)
            self._last_read.pop((info_hash, file_index), None)
        if probe is not None:
            probe.path.unlink(missing_ok=True)
            if probe.path.parent.exists() and not any(probe.path.parent.iterdir()):
                shutil.rmtree(probe.path.parent, ignore_errors=True)

    def _make_room(self, needed: int, keep: Key) -> None:
        with self._lock:
            total = sum(p.disk_bytes for k, p in self._entries.items() if k != keep)
            oldest_first = sorted((k for k in self._entries if k != keep), key=lambda k: self._last_read.get(k, 0.0))
        for key in oldest_first:
            if total + needed <= self.cap_bytes:
                break
            log.info("probe store over %d bytes: evicting %s file %d", self.cap_bytes, *key)
            with self._lock:
                probe = self._entries.get(key)
            if probe is not None:
                total -= probe.disk_bytes
                self.remove(*key)


def _key_of(folder: str, name: str) -> Key | None:
    stem, dot, suffix = name.partition(".")
    if len(folder) != 40 or suffix != "probe" or not stem.isdigit():
        return None
    return folder, int(stem)


def _read_header(path: Path) -> StoredProbe | None:
    try:
        with open(path, "rb") as handle:
            line = handle.readline(MAX_HEADER_BYTES)
            disk_bytes = os.fstat(handle.fileno()).st_size
        header = json.loads(line)
        ranges = tuple(ByteRange(int(start), int(end)) for start, end in header["ranges"])
        size = int(header["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if header.get("version") != FORMAT_VERSION or len(line) + sum(r.length for r in ranges) != disk_bytes:
        return None  # another format, or cut short
    moviehash = header.get("moviehash")
    return StoredProbe(path, size, ranges, len(line), moviehash if isinstance(moviehash, str) else None, disk_bytes)
