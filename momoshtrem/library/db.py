"""SQLite access: one connection per thread, WAL, foreign keys, migrations at open.

cheroot serves each request on a worker thread; per-thread connections let
readers run concurrently under WAL while writes serialise in short
`BEGIN IMMEDIATE` transactions, so a crash never leaves half an assignment.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from momoshtrem.library.errors import Unavailable
from momoshtrem.library.migrations import MIGRATIONS

log = logging.getLogger(__name__)


PAGE_CACHE_KIB = 512


class Database:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._share_generation = 0
        self._generation_lock = threading.Lock()
        self._share_listeners: list[Callable[[], None]] = []
        self._migrate()

    @property
    def share_generation(self) -> int:
        """Bumped after a committed write that may change the share (not adding an unassigned item)."""
        return self._share_generation

    def on_share_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` in the writing thread after each committed write that may change the share."""
        self._share_listeners.append(listener)

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            # Every worker thread has a connection: a small page cache each (SQLite's default is 2 MiB).
            conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self, changes_share: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction: all of it commits, or none of it does.

        `changes_share=False` says the write cannot change what the share shows (a movie without a torrent is
        not in it), so the share's tree and its cached listings stay valid.

        A database that cannot be written (read-only file or directory, full
        disk, I/O error) is a 503 naming SQLite's reason, not a 500: the
        library is intact and the cause is outside the server.
        """
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if not _cannot_write(exc):
                raise
            log.error("the library database %s cannot be written: %s", self.path, exc)
            raise Unavailable(f"the library database cannot be written ({exc}); nothing was changed") from None
        if changes_share:
            with self._generation_lock:
                self._share_generation += 1
            for listener in self._share_listeners:
                try:
                    listener()
                except Exception:  # the write is committed; a stale view rebuilds on its next read
                    log.exception("a view of the share could not be refreshed after a write")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return self.connection().execute(sql, params).fetchone()

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:
                    pass  # closed from another thread already
            self._connections.clear()
        self._local = threading.local()

    def _migrate(self) -> None:
        conn = self.connection()
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"database {self.path} has schema version {current}, newer than this momoshtrem ({len(MIGRATIONS)})"
            )
        for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
            log.info("applying database migration %d", version)
            try:
                conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        if conn.execute("SELECT 1 FROM meta WHERE key = 'created_at'").fetchone() is None:  # read-only files start
            conn.execute("INSERT INTO meta (key, value) VALUES ('created_at', ?)", (str(int(time.time())),))


_CANNOT_WRITE = ("readonly database", "disk i/o error", "database or disk is full", "unable to open database")


def _cannot_write(error: sqlite3.OperationalError) -> bool:
    message = str(error).lower()
    return any(reason in message for reason in _CANNOT_WRITE)
