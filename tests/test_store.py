"""The library database: schema, transactions, cascades, and the tree built from it."""

from __future__ import annotations

import sqlite3

import pytest

from momoshtrem.library.assign import Assigner
from momoshtrem.library.db import Database
from momoshtrem.library.errors import Conflict, InvalidInput, NotFound
from momoshtrem.library.migrations import MIGRATIONS
from momoshtrem.library.store import EpisodeAssignment, Library, NewEpisode, NewSeason
from momoshtrem.library.tree import FileNode, FolderNode, TreeCache
from momoshtrem.torrent.metainfo import parse_torrent


@pytest.fixture
def library(tmp_path):
    db = Database(tmp_path / "lib.db")
    yield Library(db)
    db.close()


def test_database_is_wal_with_foreign_keys_and_migrated(library):
    conn = library.db.connection()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path):
    db = Database(tmp_path / "lib.db")
    Library(db).add_movie("Heat", 1995)
    created = Library(db).created_at()
    db.close()
    db = Database(tmp_path / "lib.db")
    assert [m.title for m in Library(db).list_movies()] == ["Heat"]
    assert Library(db).created_at() == created
    db.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "lib.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Database(path)


def test_duplicates_are_conflicts(library):
    library.add_movie("Heat", 1995, tmdb_id=949)
    with pytest.raises(Conflict):
        library.add_movie("heat", 1995)
    with pytest.raises(Conflict):
        library.add_movie("Heat (other)", 1996, tmdb_id=949)
    library.add_movie("Heat", 1986)  # a different year is a different movie
    with pytest.raises(InvalidInput):
        library.add_movie("   ", 2000)


def test_deleting_a_show_removes_seasons_episodes_and_assignments(library, torrent_factory):
    made = torrent_factory("Show", {"Show.S01E01.mkv": 1000, "Show.S01E02.mkv": 1000})
    show = library.add_show("Show", 2020)
    Assigner(library).assign_show(show.id, parse_torrent(made.data))
    assert library.db.query_one("SELECT count(*) FROM assignments")[0] == 2
    library.delete_show(show.id)
    for table in ("seasons", "episodes", "assignments"):
        assert library.db.query_one(f"SELECT count(*) FROM {table}")[0] == 0, table
    assert library.db.query_one("SELECT count(*) FROM torrents")[0] == 1  # metadata is kept for reuse
    with pytest.raises(NotFound):
        library.delete_show(show.id)


def test_reassigning_replaces_in_one_transaction(library, torrent_factory):
    first = parse_torrent(torrent_factory("A", {"A.2010.mkv": 3000}).data)
    second = parse_torrent(torrent_factory("B", {"B.2010.mkv": 5000}).data)
    movie = library.add_movie("A", 2010)
    assigner = Assigner(library)
    assigner.assign_movie(movie.id, first)
    assigner.assign_movie(movie.id, second)
    assert library.get_movie(movie.id).assignment.info_hash == second.info_hash
    assert library.db.query_one("SELECT count(*) FROM assignments")[0] == 1


def test_a_failed_assignment_changes_nothing(library, torrent_factory):
    meta = parse_torrent(torrent_factory("A", {"A.2010.mkv": 3000}).data)
    movie = library.add_movie("A", 2010)
    Assigner(library).assign_movie(movie.id, meta)
    before = library.db.share_generation
    bad = EpisodeAssignment(0, 0, file_index=0, file_path="x.mkv", file_size=-1, resolution=None, source=None)
    # A constraint failure inside the transaction (unknown movie id for the second insert) rolls all back.
    with pytest.raises(sqlite3.IntegrityError):
        with library.db.transaction() as conn:
            conn.execute("DELETE FROM assignments WHERE movie_id = ?", (movie.id,))
            library._insert_assignment(conn, meta.info_hash, bad, movie_id=99999)
    assert library.get_movie(movie.id).assignment is not None
    assert library.db.share_generation == before


def test_show_without_tmdb_gets_its_episodes_from_the_files(library, torrent_factory):
    made = torrent_factory(
        "Show.S01.1080p.WEB-DL",
        {"Show.S01E01.mkv": 1000, "Show.S01E02E03.mkv": 2000, "Show.S01E04.sample.mkv": 10, "notes.txt": 5},
    )
    show = library.add_show("Show", 2020)
    report = Assigner(library).assign_show(show.id, parse_torrent(made.data))
    assert sorted((f.path.split("/")[-1], tuple(f.episodes)) for f in report.matched) == [
        ("Show.S01E01.mkv", (1,)), ("Show.S01E02E03.mkv", (2, 3))
    ]
    assert {f.path.split("/")[-1]: f.reason for f in report.unmatched} == {
        "Show.S01E04.sample.mkv": "sample", "notes.txt": "not_video"
    }
    episodes = library.get_show(show.id).seasons[0].episodes
    assert [(e.number, e.assignment.resolution, e.assignment.source) for e in episodes] == [
        (1, "1080p", "WEB-DL"), (2, "1080p", "WEB-DL"), (3, "1080p", "WEB-DL")
    ]


def test_show_from_tmdb_reports_files_without_a_library_episode(library, torrent_factory):
    made = torrent_factory("Show", {"Show.S01E01.mkv": 1000, "Show.S09E01.mkv": 1000})
    show = library.add_show("Show", 2020, tmdb_id=5, seasons=[NewSeason(1, "Season 1", [NewEpisode(1, "Pilot")])])
    report = Assigner(library).assign_show(show.id, parse_torrent(made.data))
    assert [f.path for f in report.matched] == ["Show/Show.S01E01.mkv"]
    assert [(f.path, f.reason) for f in report.unmatched] == [("Show/Show.S09E01.mkv", "no_library_episode")]
    assert len(library.get_show(show.id).seasons) == 1  # nothing was invented for a TMDB show


def test_tree_layout_hides_unassigned_items_and_merges_multi_episode_files(library, torrent_factory):
    library.add_movie("Unassigned", 2001)
    movie = library.add_movie("Amélie: The Movie", 2001)
    Assigner(library).assign_movie(movie.id, parse_torrent(torrent_factory("M", {"M.2001.mp4": 4000}).data))
    library.add_show("Empty Show", 1999)
    show = library.add_show("Show", 2020, seasons=[NewSeason(1, None, [NewEpisode(1, "Pilot"), NewEpisode(2, None),
                                                                          NewEpisode(3, "Three")])])
    library.db.connection().execute("UPDATE shows SET tmdb_id = NULL")  # let files create season 2
    made = torrent_factory("Show", {"Show.S01E01.mkv": 1000, "Show.S01E02E03.mkv": 2000, "Show.S02E01.avi": 3000})
    Assigner(library).assign_show(show.id, parse_torrent(made.data))

    tree = TreeCache(library).tree()
    assert list(tree.root.children) == ["Movies", "TV Shows"]
    assert list(tree.lookup("/Movies").children) == ["Amélie- The Movie (2001)"]
    movie_file = tree.lookup("/Movies/Amélie- The Movie (2001)/Amélie- The Movie (2001).mp4")
    assert isinstance(movie_file, FileNode) and movie_file.size == 4000 and movie_file.content_type == "video/mp4"
    assert list(tree.lookup("/TV Shows").children) == ["Show (2020)"]
    assert list(tree.lookup("/TV Shows/Show (2020)").children) == ["Season 01", "Season 02"]
    assert list(tree.lookup("/TV Shows/Show (2020)/Season 01/").children) == [
        "Show - S01E01 - Pilot.mkv", "Show - S01E02-E03 - Episode 2.mkv"
    ]
    assert list(tree.lookup("TV Shows/Show (2020)/Season 02").children) == ["Show - S02E01 - Episode 1.avi"]
    assert tree.lookup("/TV Shows/Empty Show (1999)") is None
    assert tree.lookup("/Movies/../Movies") is None


def test_tree_is_rebuilt_only_after_a_write_that_changes_the_share(library, torrent_factory):
    cache = TreeCache(library)
    first = cache.tree()
    assert cache.tree() is first
    movie = library.add_movie("X", 2000)  # no torrent: not in the share
    assert cache.tree() is first
    meta = parse_torrent(torrent_factory("X.2000.mkv", {"X.2000.mkv": 100}, v1_only=True).data)
    Assigner(library).assign_movie(movie.id, meta)
    assert cache.tree() is not first
    assert cache.tree().lookup("/Movies/X (2000)/X (2000).mkv") is not None


def test_tree_source_does_not_query_per_episode(library, torrent_factory):
    show = library.add_show("Big", 2000)
    files = {f"Big.S01E{n:03d}.mkv": 100 for n in range(1, 121)}
    Assigner(library).assign_show(show.id, parse_torrent(torrent_factory("Big", files, v1_only=True).data))
    statements: list[str] = []
    library.db.connection().set_trace_callback(statements.append)
    tree = TreeCache(library).tree()
    library.db.connection().set_trace_callback(None)
    assert len(tree.lookup("/TV Shows/Big (2000)/Season 01").children) == 120
    assert len(statements) <= 5, statements  # movies, episodes, torrent subtitles, downloaded ones, creation date
    assert isinstance(tree.lookup("/TV Shows"), FolderNode)
