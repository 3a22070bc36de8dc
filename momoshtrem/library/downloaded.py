"""Records of subtitles downloaded for movies and episodes. The files themselves are `subtitles.files`' job.

A record is written only after its file is safely on disk, and removed before
its file is: a crash between the two leaves an unreferenced file, which the
next sweep deletes, never a record without its file.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from momoshtrem.library.db import Database
from momoshtrem.library.errors import Conflict, NotFound
from momoshtrem.library.models import DownloadedSubtitle, ItemRef

_ITEM_COLUMN = {"movie": "movie_id", "episode": "episode_id"}
_ITEM_TABLE = {"movie": "movies", "episode": "episodes"}


@dataclass(frozen=True)
class NewDownloadedSubtitle:
    language: str
    variant: str | None
    provider: str
    provider_file_id: int
    release: str | None
    stored_path: str
    size: int


class DownloadedSubtitles:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, item: ItemRef, new: NewDownloadedSubtitle) -> DownloadedSubtitle:
        column = _ITEM_COLUMN[item.kind]
        with self.db.transaction() as conn:
            _refuse_unknown_item(conn, item)
            try:
                subtitle_id = conn.execute(
                    f"INSERT INTO downloaded_subtitles ({column}, language, variant, provider, provider_file_id, "
                    "release, stored_path, size, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (item.id, new.language, new.variant, new.provider, new.provider_file_id, new.release,
                     new.stored_path, new.size, int(time.time())),
                ).lastrowid
            except sqlite3.IntegrityError:
                raise Conflict(f"{new.provider} file {new.provider_file_id} is already downloaded for "
                               f"{item.kind} {item.id}") from None
        return self.get(subtitle_id)

    def find(self, item: ItemRef, provider: str, provider_file_id: int) -> DownloadedSubtitle | None:
        row = self.db.query_one(
            f"SELECT * FROM downloaded_subtitles WHERE {_ITEM_COLUMN[item.kind]} = ? AND provider = ? "
            "AND provider_file_id = ?",
            (item.id, provider, provider_file_id),
        )
        return _record(row) if row else None

    def get(self, subtitle_id: int) -> DownloadedSubtitle:
        row = self.db.query_one("SELECT * FROM downloaded_subtitles WHERE id = ?", (subtitle_id,))
        if row is None:
            raise NotFound(f"no downloaded subtitle with id {subtitle_id}")
        return _record(row)

    def delete(self, subtitle_id: int) -> DownloadedSubtitle:
        """The record goes; the caller removes its file (returned here) afterwards."""
        with self.db.transaction() as conn:
            row = conn.execute("SELECT * FROM downloaded_subtitles WHERE id = ?", (subtitle_id,)).fetchone()
            if row is None:
                raise NotFound(f"no downloaded subtitle with id {subtitle_id}")
            conn.execute("DELETE FROM downloaded_subtitles WHERE id = ?", (subtitle_id,))
        return _record(row)

    def of_item(self, item: ItemRef) -> list[DownloadedSubtitle]:
        _refuse_unknown_item(self.db.connection(), item)
        rows = self.db.query(
            f"SELECT * FROM downloaded_subtitles WHERE {_ITEM_COLUMN[item.kind]} = ? ORDER BY id", (item.id,))
        return [_record(r) for r in rows]

    def of_assigned_items(self) -> dict[ItemRef, list[DownloadedSubtitle]]:
        """Every assigned item's downloaded subtitles, in one query: the share's tree shows these."""
        found: dict[ItemRef, list[DownloadedSubtitle]] = {}
        for row in self.db.query(
            "SELECT d.* FROM downloaded_subtitles d JOIN assignments a "
            "ON a.movie_id = d.movie_id OR a.episode_id = d.episode_id ORDER BY d.id"
        ):
            item = ItemRef("movie", row["movie_id"]) if row["movie_id"] is not None else ItemRef(
                "episode", row["episode_id"])
            found.setdefault(item, []).append(_record(row))
        return found

    def stored_paths(self) -> set[str]:
        return {row["stored_path"] for row in self.db.query("SELECT stored_path FROM downloaded_subtitles")}


def _refuse_unknown_item(conn: sqlite3.Connection, item: ItemRef) -> None:
    if conn.execute(f"SELECT 1 FROM {_ITEM_TABLE[item.kind]} WHERE id = ?", (item.id,)).fetchone() is None:
        raise NotFound(f"no {item.kind} with id {item.id}")


def _record(row: sqlite3.Row) -> DownloadedSubtitle:
    return DownloadedSubtitle(
        id=row["id"], language=row["language"], variant=row["variant"], provider=row["provider"],
        provider_file_id=row["provider_file_id"], release=row["release"], stored_path=row["stored_path"],
        size=row["size"], added_at=row["added_at"],
    )
