"""What a user can do to the library, whichever door they come through: the JSON API or the web UI.

Each action validates what it is given, calls the library, the torrent engine,
TMDB or the indexers, and raises a LibraryError a user can act on; the doors
only parse their requests and render the answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from momoshtrem.library.assign import Assigner, AssignReport
from momoshtrem.library.errors import InvalidInput, Unavailable
from momoshtrem.library.models import DownloadedSubtitle, ItemRef, Movie, Show
from momoshtrem.library.store import Library
from momoshtrem.probestore.fetcher import ProbeFetcher, ProbeStatus
from momoshtrem.search.links import fetch_link, is_link, reveal_key
from momoshtrem.search.ranking import Wanted
from momoshtrem.search.service import ReleaseSearch, SearchOutcome
from momoshtrem.subtitles.service import SearchOutcome as SubtitleSearch, SubtitleService
from momoshtrem.tmdb.client import TmdbClient, TmdbHit
from momoshtrem.torrent.metainfo import MetainfoError, TorrentMeta, parse_torrent
from momoshtrem.torrent.session import SessionManager
from momoshtrem.torrent.sources import SourceError, parse_source
from momoshtrem.worker_shares import UpstreamWaits


_OTHER_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # file://, ftp://...: by its scheme, not a '://' inside


@dataclass
class Actions:
    library: Library
    assigner: Assigner
    tmdb: TmdbClient | None
    engine: SessionManager
    subtitles: SubtitleService
    search: ReleaseSearch
    max_upload_bytes: int
    upstream: UpstreamWaits  # how many requests may wait on indexers, TMDB and OpenSubtitles at once
    probes: ProbeFetcher | None = None

    def probe_status(self, info_hash: str, file_index: int) -> ProbeStatus | None:
        """Where the file's probe bytes stand; None with the probe store turned off."""
        return self.probes.status(info_hash, file_index) if self.probes else None

    # -- adding ---------------------------------------------------------------

    def add_movie(self, title: str | None, year: int | None, tmdb_id: int | None = None) -> Movie:
        if tmdb_id is not None:
            self.library.refuse_known_tmdb_id("movie", tmdb_id)  # before spending a TMDB request
            with self.upstream.slot():
                info = self._tmdb().movie(tmdb_id)
            return self.library.add_movie(info.title, info.year, info.tmdb_id)
        return self.library.add_movie(_title(title), year)

    def add_show(self, title: str | None, year: int | None, tmdb_id: int | None = None,
                 seasons: list[int] | None = None) -> Show:
        if tmdb_id is not None:
            self.library.refuse_known_tmdb_id("show", tmdb_id)
            with self.upstream.slot():
                info = self._tmdb().show(tmdb_id, seasons)
            return self.library.add_show(info.title, info.year, info.tmdb_id, info.seasons)
        if seasons is not None:
            raise InvalidInput("'seasons' goes with 'tmdb_id'; without TMDB the torrent's files make the seasons")
        return self.library.add_show(_title(title), year)

    # -- assigning ------------------------------------------------------------

    def assign_movie(self, movie_id: int, meta: TorrentMeta) -> AssignReport:
        report = self.assigner.assign_movie(movie_id, meta)
        self.subtitles.download_automatically([ItemRef("movie", movie_id)])
        return report

    def assign_show(self, show_id: int, meta: TorrentMeta) -> AssignReport:
        report = self.assigner.assign_show(show_id, meta)
        if self.subtitles.downloads_automatically:  # else no need to look the episodes up again
            matched = {(f.season, number) for f in report.matched for number in f.episodes or []}
            self.subtitles.download_automatically([
                ItemRef("episode", episode.id) for season in self.library.get_show(show_id).seasons
                for episode in season.episodes if (episode.season, episode.number) in matched])
        return report

    def torrent_from_text(self, text: object) -> TorrentMeta:
        """A magnet, an info-hash, or an http(s) link to a .torrent (an indexer's download link)."""
        if is_link(text):
            with self.upstream.slot():
                fetched = fetch_link(reveal_key(str(text).strip(), self.search.indexers), self.search.timeout,
                                     self.max_upload_bytes)
            if isinstance(fetched, bytes):
                return torrent_from_bytes(fetched, what="the link's answer")
            text = fetched
        elif isinstance(text, str) and _OTHER_URL.match(text.strip()):
            raise InvalidInput("a source is a magnet URI, an info-hash or an http(s) link to a .torrent")
        try:
            source = parse_source(text)  # type: ignore[arg-type]  (it says what is wrong with a non-string)
        except SourceError as exc:
            raise InvalidInput(str(exc)) from None
        # A torrent assigned before never waits on the swarm again.
        return self.library.stored_meta(source.info_hash) or self.engine.fetch_metadata(source)

    # -- finding releases -----------------------------------------------------

    def movie_releases(self, movie_id: int) -> SearchOutcome:
        movie = self.library.get_movie(movie_id)
        return self._find(Wanted("movie", movie.title, movie.year), movie.tmdb_id)

    def season_releases(self, show_id: int, season: int) -> SearchOutcome:
        show = self.library.get_show(show_id)
        return self._find(Wanted("season", show.title, show.year, season=season), show.tmdb_id)

    def episode_releases(self, episode_id: int) -> tuple[SearchOutcome, int]:
        """The results, and the show they are assigned to."""
        episode = self.library.get_episode(episode_id)
        wanted = Wanted("episode", episode.show_title, episode.show_year, episode.season, episode.number)
        return self._find(wanted, episode.show_tmdb_id), episode.show_id

    def _find(self, wanted: Wanted, tmdb_id: int | None) -> SearchOutcome:
        with self.upstream.slot():
            return self.search.find(wanted, tmdb_id)

    # -- TMDB and subtitles, asked while a request waits ---------------------

    def tmdb_search(self, kind: str, query: str) -> list[TmdbHit]:
        with self.upstream.slot():
            return self._tmdb().search(kind, query)

    def subtitle_search(self, item: ItemRef, languages: Sequence[str]) -> SubtitleSearch:
        with self.upstream.slot():
            return self.subtitles.search(item, languages)

    def subtitle_download(self, item: ItemRef, language: str, file_id: int | None = None,
                          variant: str | None = None) -> DownloadedSubtitle:
        with self.upstream.slot():
            return self.subtitles.download(item, language, file_id, variant)

    # -- torrents ---------------------------------------------------------------

    def remove_torrent(self, info_hash: str) -> int:
        """The torrent leaves the session and the library, with its data and every assignment to it."""
        self.library.get_torrent(info_hash)
        self.engine.remove(info_hash)
        return self.library.delete_torrent(info_hash)

    def _tmdb(self) -> TmdbClient:
        if self.tmdb is None:
            raise Unavailable("TMDB is not configured: set tmdb.api_key, or add with a title and year")
        return self.tmdb


def torrent_from_bytes(data: bytes, what: str = "") -> TorrentMeta:
    try:
        return parse_torrent(data)
    except MetainfoError as exc:
        if what and data.lstrip()[:1] == b"<":
            raise InvalidInput(f"{what} is a web page, not a .torrent file") from None
        raise InvalidInput(f"{what}: {exc}" if what else str(exc)) from None


def _title(title: str | None) -> str:
    if not isinstance(title, str) or not title.strip():
        raise InvalidInput("'title' is required (or 'tmdb_id' when TMDB is configured)")
    return title
