"""Posters of library items, fetched from TMDB's image host once and kept on disk.

The browser never talks to TMDB (the UI's pages allow images from the server
only), posters work with auth on, and a library page of 100 items costs TMDB
nothing after the first view. What TMDB's image host sends is untrusted: at
most MAX_POSTER_BYTES, and only a JPEG or PNG is kept. An item without a poster
is remembered for a day, so its page does not ask again on every view.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import requests

from momoshtrem.library.errors import LibraryError
from momoshtrem.tmdb.client import TmdbClient
from momoshtrem.upstream import BodyTooLarge, read_capped

log = logging.getLogger(__name__)

POSTER_SIZE = "w342"
MAX_POSTER_BYTES = 2 * 1024 * 1024
RETRY_MISSING_SECONDS = 24 * 3600
_KINDS = {b"\xff\xd8\xff": ("jpg", "image/jpeg"), b"\x89PNG\r\n\x1a\n": ("png", "image/png")}


class Posters:
    def __init__(self, client: TmdbClient | None, image_base_url: str, folder: Path, timeout: float) -> None:
        self._client = client
        self._image_base_url = image_base_url.rstrip("/")
        self._folder = folder
        self._timeout = timeout
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def get(self, kind: str, tmdb_id: int) -> tuple[bytes, str] | None:
        """(image bytes, content type), from disk or fetched now; None when there is none (or TMDB is away)."""
        key = f"{kind}-{int(tmdb_id)}"
        with self._lock_for(key):  # two pages asking at once fetch it once
            for extension, content_type in _KINDS.values():
                stored = self._folder / f"{key}.{extension}"
                if stored.exists():
                    return stored.read_bytes(), content_type
            missing = self._folder / f"{key}.none"
            if missing.exists() and time.time() - missing.stat().st_mtime < RETRY_MISSING_SECONDS:
                return None
            if self._client is None:
                return None
            try:
                fetched = self._fetch(kind, tmdb_id)
            except (LibraryError, requests.RequestException) as exc:
                log.info("no poster for %s now: %s", key, exc if isinstance(exc, LibraryError) else type(exc).__name__)
                return None  # TMDB away: asked again next time
            if fetched is None:
                self._write(missing, b"")
                return None
            data, (extension, content_type) = fetched
            self._write(self._folder / f"{key}.{extension}", data)
            return data, content_type

    def _fetch(self, kind: str, tmdb_id: int) -> tuple[bytes, tuple[str, str]] | None:
        path = self._client.poster_path(kind, tmdb_id)
        if path is None:
            return None
        with requests.get(f"{self._image_base_url}/{POSTER_SIZE}{path}", timeout=self._timeout, stream=True) as answer:
            if answer.status_code != 200:
                return None
            try:
                data = read_capped(answer, MAX_POSTER_BYTES)
            except BodyTooLarge:
                return None
        kind_of = next((found for magic, found in _KINDS.items() if data.startswith(magic)), None)
        return (data, kind_of) if kind_of else None

    def _write(self, path: Path, data: bytes) -> None:
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".tmp")
            partial.write_bytes(data)
            os.replace(partial, path)
        except OSError as exc:
            log.warning("cannot keep a poster in %s: %s", self._folder, exc.strerror)

    def _lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())
