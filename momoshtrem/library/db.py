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
from typing import Iterator

from momoshtrem.library.migrations import MIGRATIONS

log = logging.getLogger(__name__)


class Database:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._generation = 0
        self._generation_lock = threading.Lock()
        self._migrate()

    @property
    def generation(self) -> int:
        """Bumped after every committed write: readers cache derived views keyed on it."""
        return self._generation

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all of it commits, or none of it does."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        with self._generation_lock:
            self._generation += 1

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
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (str(int(time.time())),))
