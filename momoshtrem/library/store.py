"""The library's reads and writes. Every write is one transaction.

Listing a show loads its seasons, episodes and assignments in a fixed number of
queries, never one per episode: a 500-episode show is as cheap as a small one.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
import unicodedata
from dataclasses import dataclass

from momoshtrem.library.db import Database
from momoshtrem.library.downloaded import DownloadedSubtitles
from momoshtrem.library.errors import Conflict, InvalidInput, NotFound
from momoshtrem.library.naming import titled
from momoshtrem.library.models import (Assignment, Episode, LibraryCounts, Movie, Season, Show, Subtitle,
                                       TorrentRecord)
from momoshtrem.torrent.metainfo import TorrentMeta, parse_torrent

_TABLES = {"movie": "movies", "show": "shows"}
_COUNTED = {"movies": "movies", "shows": "shows", "torrents": "torrents"}
# "id": the order items were added in, so paging while items are added sees each once; "title": as people read.
_ORDERS = {"id": "{t}id", "title": "{t}title COLLATE NOCASE, {t}year, {t}id"}  # {t}: the table's alias


@dataclass(frozen=True)
class Page:
    """A slice of a list: `limit` items (None: all) from `offset`, in `order` ("id" or "title")."""

    limit: int | None = None
    offset: int = 0
    order: str = "id"

    @property
    def sql_limit(self) -> int:
        return -1 if self.limit is None else self.limit  # SQLite: a negative LIMIT means none


_ASSIGNMENT_COLUMNS = "a.info_hash, a.file_index, a.file_path, a.file_size, a.resolution, a.source, a.assigned_at"


@dataclass
class NewEpisode:
    number: int
    name: str | None = None
    air_date: str | None = None


@dataclass
class NewSeason:
    number: int
    name: str | None = None
    episodes: list[NewEpisode] | None = None


@dataclass
class ShowSummary:
    id: int
    title: str
    year: int | None
    tmdb_id: int | None
    seasons: int
    episodes: int
    assigned_episodes: int


@dataclass(frozen=True)
class AssignedEpisode:
    episode_id: int
    show_id: int
    show_title: str
    show_year: int | None
    season: int
    number: int
    name: str | None
    assignment: Assignment


@dataclass(frozen=True)
class EpisodeDetails:
    """One episode with its show: what a subtitle search for it needs."""

    id: int
    show_id: int
    show_title: str
    show_year: int | None
    show_tmdb_id: int | None
    season: int
    number: int
    name: str | None
    assignment: Assignment | None


@dataclass(frozen=True)
class EpisodeAssignment:
    """One episode of a show to point at one torrent file."""

    season: int
    episode: int
    file_index: int
    file_path: str
    file_size: int
    resolution: str | None
    source: str | None
    subtitles: tuple[Subtitle, ...] = ()  # the torrent's subtitle files for this video


class Library:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.downloaded = DownloadedSubtitles(db)

    # -- movies ---------------------------------------------------------------

    def add_movie(self, title: str, year: int | None, tmdb_id: int | None = None) -> Movie:
        title = _clean_title(title)
        with self.db.transaction(changes_share=False) as conn:  # without a torrent it is not in the share
            self._refuse_duplicate(conn, "movies", "movie", title, year, tmdb_id)
            cur = conn.execute(
                "INSERT INTO movies (title, year, tmdb_id, created_at) VALUES (?, ?, ?, ?)",
                (title, year, tmdb_id, _now()),
            )
            movie_id = cur.lastrowid
        return self.get_movie(movie_id)

    def list_movies(self, page: Page | None = None) -> list[Movie]:
        """By title (all of them), or one page in `page.order`."""
        page = page or Page(order="title")
        order = _ORDERS[page.order]
        rows = self.db.query(
            f"SELECT m.*, a.id AS assignment_id, {_ASSIGNMENT_COLUMNS} "
            f"FROM (SELECT * FROM movies ORDER BY {order.format(t='')} LIMIT ? OFFSET ?) m "
            f"LEFT JOIN assignments a ON a.movie_id = m.id ORDER BY {order.format(t='m.')}",
            (page.sql_limit, page.offset),
        )
        subtitles = self._subtitles_of(rows)
        return [_movie(row, subtitles) for row in rows]

    def count(self, table: str) -> int:
        return self.db.query_one(f"SELECT count(*) FROM {_COUNTED[table]}")[0]

    def get_movie(self, movie_id: int) -> Movie:
        row = self.db.query_one(
            f"SELECT m.*, a.id AS assignment_id, {_ASSIGNMENT_COLUMNS} FROM movies m "
            "LEFT JOIN assignments a ON a.movie_id = m.id WHERE m.id = ?",
            (movie_id,),
        )
        if row is None:
            raise NotFound(f"no movie with id {movie_id}")
        return _movie(row, self._subtitles_of([row]))

    def delete_movie(self, movie_id: int) -> None:
        with self.db.transaction() as conn:
            if conn.execute("DELETE FROM movies WHERE id = ?", (movie_id,)).rowcount == 0:
                raise NotFound(f"no movie with id {movie_id}")

    def assign_movie(self, movie_id: int, meta: TorrentMeta, assignment: EpisodeAssignment) -> Assignment:
        """Point a movie at a torrent file, replacing its old assignment in the same transaction."""
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM movies WHERE id = ?", (movie_id,)).fetchone() is None:
                raise NotFound(f"no movie with id {movie_id}")
            self._store_torrent(conn, meta)
            conn.execute("DELETE FROM assignments WHERE movie_id = ?", (movie_id,))
            self._insert_assignment(conn, meta.info_hash, assignment, movie_id=movie_id)
        assigned = self.get_movie(movie_id).assignment
        assert assigned is not None
        return assigned

    def unassign_movie(self, movie_id: int) -> None:
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM movies WHERE id = ?", (movie_id,)).fetchone() is None:
                raise NotFound(f"no movie with id {movie_id}")
            if conn.execute("DELETE FROM assignments WHERE movie_id = ?", (movie_id,)).rowcount == 0:
                raise NotFound(f"movie {movie_id} has no assignment")

    # -- shows ----------------------------------------------------------------

    def add_show(
        self, title: str, year: int | None, tmdb_id: int | None = None, seasons: list[NewSeason] | None = None
    ) -> Show:
        title = _clean_title(title)
        with self.db.transaction(changes_share=False) as conn:  # its episodes have no torrent yet
            self._refuse_duplicate(conn, "shows", "show", title, year, tmdb_id)
            show_id = conn.execute(
                "INSERT INTO shows (title, year, tmdb_id, created_at) VALUES (?, ?, ?, ?)",
                (title, year, tmdb_id, _now()),
            ).lastrowid
            for season in seasons or []:
                season_id = conn.execute(
                    "INSERT INTO seasons (show_id, number, name) VALUES (?, ?, ?)", (show_id, season.number, season.name)
                ).lastrowid
                conn.executemany(
                    "INSERT INTO episodes (season_id, number, name, air_date) VALUES (?, ?, ?, ?)",
                    [(season_id, e.number, e.name, e.air_date) for e in season.episodes or []],
                )
        return self.get_show(show_id)

    def list_shows(self, page: Page | None = None) -> list[ShowSummary]:
        """By title (all of them), or one page in `page.order`."""
        page = page or Page(order="title")
        order = _ORDERS[page.order]
        rows = self.db.query(
            f"""
            SELECT s.id, s.title, s.year, s.tmdb_id,
                   (SELECT count(*) FROM seasons se WHERE se.show_id = s.id) AS seasons,
                   count(e.id) AS episodes,
                   count(a.id) AS assigned_episodes
            FROM (SELECT * FROM shows ORDER BY {order.format(t='')} LIMIT ? OFFSET ?) s
            LEFT JOIN seasons se ON se.show_id = s.id
            LEFT JOIN episodes e ON e.season_id = se.id
            LEFT JOIN assignments a ON a.episode_id = e.id
            GROUP BY s.id ORDER BY {order.format(t='s.')}
            """,
            (page.sql_limit, page.offset),
        )
        return [ShowSummary(**dict(row)) for row in rows]

    def get_show(self, show_id: int) -> Show:
        row = self.db.query_one("SELECT id, title, year, tmdb_id FROM shows WHERE id = ?", (show_id,))
        if row is None:
            raise NotFound(f"no show with id {show_id}")
        show = Show(id=row["id"], title=row["title"], year=row["year"], tmdb_id=row["tmdb_id"])
        seasons = {
            r["number"]: Season(number=r["number"], name=r["name"])
            for r in self.db.query("SELECT number, name FROM seasons WHERE show_id = ? ORDER BY number", (show_id,))
        }
        episode_rows = self.db.query(
            f"""
            SELECT e.id, se.number AS season, e.number, e.name, e.air_date, a.id AS assignment_id, {_ASSIGNMENT_COLUMNS}
            FROM episodes e JOIN seasons se ON se.id = e.season_id
            LEFT JOIN assignments a ON a.episode_id = e.id
            WHERE se.show_id = ? ORDER BY se.number, e.number
            """,
            (show_id,),
        )
        subtitles = self._subtitles_of(episode_rows)
        for r in episode_rows:
            seasons[r["season"]].episodes.append(
                Episode(
                    id=r["id"], season=r["season"], number=r["number"], name=r["name"], air_date=r["air_date"],
                    assignment=_assignment(r, subtitles),
                )
            )
        show.seasons = list(seasons.values())
        return show

    def delete_show(self, show_id: int) -> None:
        """Seasons, episodes and their assignments go with the show (ON DELETE CASCADE)."""
        with self.db.transaction() as conn:
            if conn.execute("DELETE FROM shows WHERE id = ?", (show_id,)).rowcount == 0:
                raise NotFound(f"no show with id {show_id}")

    def assign_episodes(
        self, show_id: int, meta: TorrentMeta, assignments: list[EpisodeAssignment], create_missing: bool
    ) -> tuple[list[EpisodeAssignment], list[EpisodeAssignment]]:
        """Assign files to episodes in one transaction; returns (assigned, no such episode in the library).

        `create_missing` adds the seasons and episodes the files name, for shows
        whose episode list did not come from TMDB.
        """
        assigned: list[EpisodeAssignment] = []
        missing: list[EpisodeAssignment] = []
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM shows WHERE id = ?", (show_id,)).fetchone() is None:
                raise NotFound(f"no show with id {show_id}")
            episode_ids = {
                (r["season"], r["episode"]): r["id"]
                for r in conn.execute(
                    "SELECT e.id, se.number AS season, e.number AS episode FROM episodes e "
                    "JOIN seasons se ON se.id = e.season_id WHERE se.show_id = ?",
                    (show_id,),
                )
            }
            for item in assignments:
                key = (item.season, item.episode)
                if key not in episode_ids and create_missing:
                    episode_ids[key] = self._create_episode(conn, show_id, item.season, item.episode)
                if key not in episode_ids:
                    missing.append(item)
                    continue
                assigned.append(item)
            if assigned:
                self._store_torrent(conn, meta)
            for item in assigned:
                episode_id = episode_ids[(item.season, item.episode)]
                conn.execute("DELETE FROM assignments WHERE episode_id = ?", (episode_id,))
                self._insert_assignment(conn, meta.info_hash, item, episode_id=episode_id)
        return assigned, missing

    def get_episode(self, episode_id: int) -> EpisodeDetails:
        row = self.db.query_one(
            f"""
            SELECT e.id AS episode_id, sh.id AS show_id, sh.title AS show_title, sh.year AS show_year,
                   sh.tmdb_id AS show_tmdb_id, se.number AS season, e.number, e.name,
                   a.id AS assignment_id, {_ASSIGNMENT_COLUMNS}
            FROM episodes e JOIN seasons se ON se.id = e.season_id JOIN shows sh ON sh.id = se.show_id
            LEFT JOIN assignments a ON a.episode_id = e.id WHERE e.id = ?
            """,
            (episode_id,),
        )
        if row is None:
            raise NotFound(f"no episode with id {episode_id}")
        return EpisodeDetails(
            id=row["episode_id"], show_id=row["show_id"], show_title=row["show_title"], show_year=row["show_year"],
            show_tmdb_id=row["show_tmdb_id"], season=row["season"], number=row["number"], name=row["name"],
            assignment=_assignment(row, self._subtitles_of([row])),
        )

    def unassign_episode(self, episode_id: int) -> None:
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM episodes WHERE id = ?", (episode_id,)).fetchone() is None:
                raise NotFound(f"no episode with id {episode_id}")
            if conn.execute("DELETE FROM assignments WHERE episode_id = ?", (episode_id,)).rowcount == 0:
                raise NotFound(f"episode {episode_id} has no assignment")

    def has_tmdb_id(self, kind: str, tmdb_id: int) -> bool:
        return self.db.query_one(f"SELECT 1 FROM {_TABLES[kind]} WHERE tmdb_id = ?", (tmdb_id,)) is not None

    def refuse_known_tmdb_id(self, kind: str, tmdb_id: int) -> None:
        """409 when a movie or show with this TMDB id is already in the library."""
        self._refuse_duplicate(self.db.connection(), _TABLES[kind], kind, None, None, tmdb_id)

    # -- torrents -------------------------------------------------------------

    def list_torrents(self, page: Page | None = None) -> list[TorrentRecord]:
        """Oldest first (all of them, or one page)."""
        page = page or Page()
        rows = self.db.query(
            "SELECT info_hash, name, total_size, piece_length, added_at FROM torrents "
            "ORDER BY added_at, info_hash LIMIT ? OFFSET ?", (page.sql_limit, page.offset),
        )
        return [TorrentRecord(**dict(r)) for r in rows]

    def get_torrent(self, info_hash: str) -> TorrentRecord:
        row = self.db.query_one(
            "SELECT info_hash, name, total_size, piece_length, added_at FROM torrents WHERE info_hash = ?", (info_hash,)
        )
        if row is None:
            raise NotFound(f"no torrent {info_hash}")
        return TorrentRecord(**dict(row))

    def torrent_metadata(self, info_hash: str) -> bytes:
        """The stored `.torrent` bytes: what the engine adds a torrent from, without the swarm."""
        row = self.db.query_one("SELECT metadata FROM torrents WHERE info_hash = ?", (info_hash,))
        if row is None:
            raise NotFound(f"no torrent {info_hash}")
        return bytes(row["metadata"])

    def assigned_items(self) -> tuple[list[Movie], list[AssignedEpisode]]:
        """Every assigned movie and episode in two queries: the share's tree is built from these alone."""
        movie_rows = self.db.query(
            f"SELECT m.*, a.id AS assignment_id, {_ASSIGNMENT_COLUMNS} FROM movies m "
            "JOIN assignments a ON a.movie_id = m.id"
        )
        rows = self.db.query(
            f"""
            SELECT e.id AS episode_id, sh.id AS show_id, sh.title AS show_title, sh.year AS show_year,
                   se.number AS season, e.number, e.name, a.id AS assignment_id, {_ASSIGNMENT_COLUMNS}
            FROM assignments a JOIN episodes e ON e.id = a.episode_id
            JOIN seasons se ON se.id = e.season_id JOIN shows sh ON sh.id = se.show_id
            """
        )
        subtitles = self._subtitles_of(movie_rows + rows)
        movies = [_movie(r, subtitles) for r in movie_rows]
        episodes = [
            AssignedEpisode(
                episode_id=r["episode_id"], show_id=r["show_id"], show_title=r["show_title"], show_year=r["show_year"], season=r["season"],
                number=r["number"], name=r["name"], assignment=_assignment(r, subtitles),
            )
            for r in rows
        ]
        return movies, episodes

    def assigned_files(self) -> set[tuple[str, int]]:
        """(info hash, file index) of every assigned video: what the probe store keeps."""
        return {(r["info_hash"], r["file_index"]) for r in self.db.query("SELECT DISTINCT info_hash, file_index FROM assignments")}

    def torrent_source(self, info_hash: str) -> str | None:
        row = self.db.query_one("SELECT source FROM torrents WHERE info_hash = ?", (info_hash,))
        return row["source"] if row else None

    def stored_meta(self, info_hash: str) -> TorrentMeta | None:
        """The stored metadata, so assigning a known torrent again never waits on the swarm."""
        row = self.db.query_one("SELECT metadata, source FROM torrents WHERE info_hash = ?", (info_hash,))
        if row is None:
            return None
        return dataclasses.replace(parse_torrent(bytes(row["metadata"])), source=row["source"])

    def delete_torrent(self, info_hash: str) -> int:
        """Forget a torrent and every assignment to it; returns how many assignments went."""
        with self.db.transaction() as conn:
            count = conn.execute("SELECT count(*) FROM assignments WHERE info_hash = ?", (info_hash,)).fetchone()[0]
            if conn.execute("DELETE FROM torrents WHERE info_hash = ?", (info_hash,)).rowcount == 0:
                raise NotFound(f"no torrent {info_hash}")
        return count

    def counts(self) -> LibraryCounts:
        """How big the library is, in one query: the status page's summary."""
        row = self.db.query_one(
            """
            SELECT (SELECT count(*) FROM movies) AS movies,
                   (SELECT count(*) FROM assignments WHERE movie_id IS NOT NULL) AS movies_assigned,
                   (SELECT count(*) FROM shows) AS shows,
                   (SELECT count(*) FROM episodes) AS episodes,
                   (SELECT count(*) FROM assignments WHERE episode_id IS NOT NULL) AS episodes_assigned,
                   (SELECT count(*) FROM torrents) AS torrents
            """
        )
        return LibraryCounts(**dict(row))

    def created_at(self) -> int:
        row = self.db.query_one("SELECT value FROM meta WHERE key = 'created_at'")
        return int(row["value"]) if row else 0

    # -- helpers --------------------------------------------------------------

    @staticmethod
    def _refuse_duplicate(
        conn: sqlite3.Connection, table: str, kind: str, title: str | None, year: int | None, tmdb_id: int | None
    ) -> None:
        if tmdb_id is not None:
            row = conn.execute(f"SELECT id FROM {table} WHERE tmdb_id = ?", (tmdb_id,)).fetchone()
            if row:
                raise Conflict(f"a {kind} with TMDB id {tmdb_id} is already in the library (id {row['id']})")
        if title is None:
            return
        # Judged on the folder the share will show, as clients compare names (case-insensitively): "AMÉLIE",
        # "Amélie:" and "Amélie?" all become "Amélie (2001)" or its case twin, and only one could be seen.
        shown = titled(title, year)
        if year is None:
            candidates = conn.execute(f"SELECT id, title, year FROM {table}")
        else:
            candidates = conn.execute(f"SELECT id, title, year FROM {table} WHERE year IS ? OR year IS NULL", (year,))
        for row in candidates:
            if titled(row["title"], row["year"]).casefold() == shown.casefold():
                raise Conflict(f"the {kind} '{title}' would show as '{shown}', like '{row['title']}' already in the "
                               f"library (id {row['id']})")

    @staticmethod
    def _store_torrent(conn: sqlite3.Connection, meta: TorrentMeta) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO torrents (info_hash, name, total_size, piece_length, metadata, source, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (meta.info_hash, meta.name, meta.total_size, meta.piece_length, meta.torrent_bytes, meta.source, _now()),
        )

    @staticmethod
    def _insert_assignment(
        conn: sqlite3.Connection,
        info_hash: str,
        item: EpisodeAssignment,
        movie_id: int | None = None,
        episode_id: int | None = None,
    ) -> None:
        assignment_id = conn.execute(
            "INSERT INTO assignments (movie_id, episode_id, info_hash, file_index, file_path, file_size, "
            "resolution, source, assigned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (movie_id, episode_id, info_hash, item.file_index, item.file_path, item.file_size,
             item.resolution, item.source, _now()),
        ).lastrowid
        conn.executemany(
            "INSERT INTO subtitles (assignment_id, language, variant, file_index, file_path, file_size) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(assignment_id, sub.language, sub.variant, sub.file_index, sub.file_path, sub.file_size)
             for sub in item.subtitles],
        )

    def _subtitles_of(self, rows: list[sqlite3.Row]) -> dict[int, list[Subtitle]]:
        """The subtitles of the assignments in `rows`, by assignment id, in one query (ids passed as JSON)."""
        ids = [r["assignment_id"] for r in rows if r["assignment_id"] is not None]
        found: dict[int, list[Subtitle]] = {}
        if not ids:
            return found
        for r in self.db.query(
            "SELECT * FROM subtitles WHERE assignment_id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(ids),),
        ):
            found.setdefault(r["assignment_id"], []).append(
                Subtitle(r["language"], r["variant"], r["file_index"], r["file_path"], r["file_size"]))
        return found

    @staticmethod
    def _create_episode(conn: sqlite3.Connection, show_id: int, season: int, episode: int) -> int:
        conn.execute("INSERT OR IGNORE INTO seasons (show_id, number) VALUES (?, ?)", (show_id, season))
        season_id = conn.execute(
            "SELECT id FROM seasons WHERE show_id = ? AND number = ?", (show_id, season)
        ).fetchone()["id"]
        return conn.execute("INSERT INTO episodes (season_id, number) VALUES (?, ?)", (season_id, episode)).lastrowid


def _clean_title(title: str) -> str:
    """NFC, no control characters (NUL, ESC, BEL reach terminals and logs), whitespace collapsed."""
    if not isinstance(title, str):
        raise InvalidInput("a title is required")
    if len(title) > 500:
        raise InvalidInput("the title is longer than 500 characters")
    title = "".join(c for c in unicodedata.normalize("NFC", title) if unicodedata.category(c) != "Cc" or c.isspace())
    title = " ".join(title.split())
    if not title:
        raise InvalidInput("a title is required")
    return title


def _now() -> int:
    return int(time.time())


def _assignment(row: sqlite3.Row, subtitles: dict[int, list[Subtitle]]) -> Assignment | None:
    if row["assignment_id"] is None:
        return None
    return Assignment(
        info_hash=row["info_hash"], file_index=row["file_index"], file_path=row["file_path"],
        file_size=row["file_size"], resolution=row["resolution"], source=row["source"],
        assigned_at=row["assigned_at"], subtitles=subtitles.get(row["assignment_id"], []),
    )


def _movie(row: sqlite3.Row, subtitles: dict[int, list[Subtitle]]) -> Movie:
    return Movie(id=row["id"], title=row["title"], year=row["year"], tmdb_id=row["tmdb_id"],
                 assignment=_assignment(row, subtitles))
