"""Library records as plain dataclasses; the JSON API serialises them with `asdict`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Subtitle:
    """A subtitle file of the assigned video's torrent."""

    language: str  # ISO 639-1, or "und"
    variant: str | None  # "forced", "sdh", or None
    file_index: int
    file_path: str
    file_size: int


@dataclass(frozen=True)
class ItemRef:
    """A movie or an episode: what subtitles are downloaded for."""

    kind: str  # "movie" or "episode"
    id: int


@dataclass
class DownloadedSubtitle:
    """A subtitle file fetched from a provider for a movie or an episode, kept under `subtitles.dir`."""

    id: int
    language: str  # ISO 639-1, or a regional code such as pt-BR
    variant: str | None  # "forced", "sdh", or None
    provider: str  # "opensubtitles"
    provider_file_id: int
    release: str | None  # the provider's name for the file
    stored_path: str  # relative to subtitles.dir
    size: int
    added_at: int


@dataclass
class Assignment:
    info_hash: str
    file_index: int
    file_path: str
    file_size: int
    resolution: str | None
    source: str | None
    assigned_at: int
    subtitles: list[Subtitle] = field(default_factory=list)


@dataclass
class Movie:
    id: int
    title: str
    year: int | None
    tmdb_id: int | None
    assignment: Assignment | None = None


@dataclass
class Episode:
    id: int
    season: int
    number: int
    name: str | None
    air_date: str | None
    assignment: Assignment | None = None


@dataclass
class Season:
    number: int
    name: str | None
    episodes: list[Episode] = field(default_factory=list)


@dataclass
class Show:
    id: int
    title: str
    year: int | None
    tmdb_id: int | None
    seasons: list[Season] = field(default_factory=list)


@dataclass
class TorrentRecord:
    info_hash: str
    name: str
    total_size: int
    piece_length: int
    added_at: int


@dataclass(frozen=True)
class LibraryCounts:
    movies: int
    movies_assigned: int
    shows: int
    episodes: int
    episodes_assigned: int
    torrents: int
