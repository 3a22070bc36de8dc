"""Versioned schema migrations; `PRAGMA user_version` records how many have run.

Append new migrations; never edit one that has shipped.
"""

MIGRATIONS: list[str] = [
    # 1: the library, torrents and assignments.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE movies (
        id         INTEGER PRIMARY KEY,
        title      TEXT NOT NULL,
        year       INTEGER,
        tmdb_id    INTEGER UNIQUE,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE shows (
        id         INTEGER PRIMARY KEY,
        title      TEXT NOT NULL,
        year       INTEGER,
        tmdb_id    INTEGER UNIQUE,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE seasons (
        id      INTEGER PRIMARY KEY,
        show_id INTEGER NOT NULL REFERENCES shows(id) ON DELETE CASCADE,
        number  INTEGER NOT NULL CHECK (number >= 0),
        name    TEXT,
        UNIQUE (show_id, number)
    );
    CREATE TABLE episodes (
        id        INTEGER PRIMARY KEY,
        season_id INTEGER NOT NULL REFERENCES seasons(id) ON DELETE CASCADE,
        number    INTEGER NOT NULL CHECK (number >= 0),
        name      TEXT,
        air_date  TEXT,
        UNIQUE (season_id, number)
    );
    CREATE TABLE torrents (
        info_hash    TEXT PRIMARY KEY CHECK (length(info_hash) = 40),
        name         TEXT NOT NULL,
        total_size   INTEGER NOT NULL,
        piece_length INTEGER NOT NULL,
        metadata     BLOB NOT NULL,
        added_at     INTEGER NOT NULL
    );
    CREATE TABLE assignments (
        id          INTEGER PRIMARY KEY,
        movie_id    INTEGER UNIQUE REFERENCES movies(id) ON DELETE CASCADE,
        episode_id  INTEGER UNIQUE REFERENCES episodes(id) ON DELETE CASCADE,
        info_hash   TEXT NOT NULL REFERENCES torrents(info_hash) ON DELETE CASCADE,
        file_index  INTEGER NOT NULL,
        file_path   TEXT NOT NULL,
        file_size   INTEGER NOT NULL,
        resolution  TEXT,
        source      TEXT,
        assigned_at INTEGER NOT NULL,
        CHECK ((movie_id IS NULL) != (episode_id IS NULL))
    );
    CREATE INDEX assignments_by_torrent ON assignments(info_hash);
    CREATE INDEX episodes_by_season ON episodes(season_id);
    CREATE INDEX seasons_by_show ON seasons(show_id);
    """,
    # 2: the magnet a torrent was assigned by; its peer hints and trackers help when the torrent is added later.
    """
    ALTER TABLE torrents ADD COLUMN source TEXT;
    """,
    # 3: subtitles beside an assigned video: a file of its torrent, found at assignment.
    """
    CREATE TABLE subtitles (
        id            INTEGER PRIMARY KEY,
        assignment_id INTEGER NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
        language      TEXT NOT NULL,
        variant       TEXT CHECK (variant IN ('forced', 'sdh')),
        file_index    INTEGER NOT NULL,
        file_path     TEXT NOT NULL,
        file_size     INTEGER NOT NULL
    );
    CREATE INDEX subtitles_by_assignment ON subtitles(assignment_id);
    """,
    # 4: subtitles downloaded for a movie or an episode (from OpenSubtitles), kept under subtitles.dir.
    # They belong to the item, not to its assignment: a better torrent later keeps them.
    """
    CREATE TABLE downloaded_subtitles (
        id               INTEGER PRIMARY KEY,
        movie_id         INTEGER REFERENCES movies(id) ON DELETE CASCADE,
        episode_id       INTEGER REFERENCES episodes(id) ON DELETE CASCADE,
        language         TEXT NOT NULL,
        variant          TEXT CHECK (variant IN ('forced', 'sdh')),
        provider         TEXT NOT NULL,
        provider_file_id INTEGER NOT NULL,
        release          TEXT,
        stored_path      TEXT NOT NULL UNIQUE,
        size             INTEGER NOT NULL,
        added_at         INTEGER NOT NULL,
        CHECK ((movie_id IS NULL) != (episode_id IS NULL)),
        UNIQUE (movie_id, provider, provider_file_id),
        UNIQUE (episode_id, provider, provider_file_id)
    );
    CREATE INDEX downloaded_subtitles_by_movie ON downloaded_subtitles(movie_id);
    CREATE INDEX downloaded_subtitles_by_episode ON downloaded_subtitles(episode_id);
    """,
    # 5: the orders lists are served in, a page at a time (the API's `sort=title`, the UI's library).
    """
    CREATE INDEX movies_by_title ON movies(title COLLATE NOCASE, year);
    CREATE INDEX shows_by_title ON shows(title COLLATE NOCASE, year);
    CREATE INDEX torrents_by_age ON torrents(added_at, info_hash);
    """,
]
