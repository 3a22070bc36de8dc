"""Subtitles of a movie or an episode: those its torrent carries, and those fetched from OpenSubtitles.

A download is stored in this order: the file is fetched whole, checked and
converted to UTF-8 in memory, written atomically, and only then recorded in
the library. Any failure on the way leaves neither a file nor a record.
`subtitles.auto_languages` downloads run on one background thread after an
assignment, so assigning never waits on OpenSubtitles.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Sequence

from momoshtrem.library import media
from momoshtrem.library.downloaded import NewDownloadedSubtitle
from momoshtrem.library.errors import Conflict, InvalidInput, LibraryError, NotFound, Unavailable
from momoshtrem.library.models import Assignment, DownloadedSubtitle, ItemRef, Movie, Subtitle
from momoshtrem.library.store import EpisodeDetails, Library
from momoshtrem.subtitles.files import SubtitleFiles
from momoshtrem.subtitles.languages import normalise_language
from momoshtrem.subtitles.moviehash import BLOCK, moviehash
from momoshtrem.subtitles.opensubtitles import (BadFile, OpenSubtitlesClient, RateLimited, SearchQuery,
                                                SubtitleResult)
from momoshtrem.subtitles.ranking import best_first, variant_of
from momoshtrem.subtitles.text import TEXT_FORMATS, InvalidSubtitle, to_utf8
from momoshtrem.torrent.session import SessionManager

log = logging.getLogger(__name__)

PROVIDER = "opensubtitles"


@dataclass
class ItemSubtitles:
    torrent: list[Subtitle]  # files of the assigned torrent
    downloaded: list[DownloadedSubtitle]


@dataclass
class SearchOutcome:
    moviehash: str | None  # None: the file's first and last 64 KiB are not downloaded yet
    results: list[SubtitleResult]  # best first


# (info hash, file index, seconds to wait while the probe store fetches it) -> the moviehash, if the store has it
StoredMoviehash = Callable[..., str | None]
PROBE_WAIT_SECONDS = 120.0  # an automatic download right after an assignment waits this long for the moviehash


class SubtitleService:
    def __init__(self, library: Library, files: SubtitleFiles, client: OpenSubtitlesClient | None,
                 engine: SessionManager, auto_languages: Sequence[str] = (),
                 stored_moviehash: StoredMoviehash | None = None) -> None:
        self.library = library
        self.stored_moviehash = stored_moviehash
        self.files = files
        self.client = client
        self.engine = engine
        self.auto_languages = [normalise_language(code) for code in auto_languages]
        self._auto_queue: queue.Queue[list[ItemRef] | None] = queue.Queue()
        self._auto_thread: threading.Thread | None = None
        self._storing = threading.Lock()

    def start(self) -> None:
        """Delete stored files no record names (left by a crash, or by a deleted movie)."""
        self.files.sweep(self.library.downloaded.stored_paths())
        if self.auto_languages and self.client is not None:
            self._auto_thread = threading.Thread(target=self._auto_worker, name="subtitles-auto", daemon=True)
            self._auto_thread.start()

    def close(self) -> None:
        if self._auto_thread is not None:
            self._auto_queue.put(None)
            self._auto_thread.join(timeout=10)

    # -- reading ----------------------------------------------------------------

    def of_item(self, item: ItemRef) -> ItemSubtitles:
        return self._subtitles_of(item, self._item(item).assignment)

    def _subtitles_of(self, item: ItemRef, assignment: Assignment | None) -> ItemSubtitles:
        return ItemSubtitles(list(assignment.subtitles) if assignment else [], self.library.downloaded.of_item(item))

    def search(self, item: ItemRef, languages: Sequence[str]) -> SearchOutcome:
        record = self._item(item)  # an unknown item is a 404, before anything else
        codes = self._languages(languages)
        client = self._client()
        hash_ = self._moviehash(record.assignment)
        results = client.search(self._query(record, codes, hash_))
        return SearchOutcome(hash_, best_first(results))

    # -- changing -----------------------------------------------------------------

    def download(self, item: ItemRef, language: str, file_id: int | None = None,
                 variant: str | None = None) -> DownloadedSubtitle:
        """The chosen file, or (no `file_id`) the best result in `language`; stored, recorded, in the share."""
        self._item(item)  # an unknown item spends no download of the quota
        language = self._languages([language])[0]
        client = self._client()
        if variant not in (None, "forced", "sdh"):
            raise InvalidInput("'variant' is 'forced', 'sdh' or absent")
        release = None
        if file_id is None:
            chosen = self._best(item, language)
            file_id, variant, release = chosen.file_id, variant_of(chosen), chosen.release or chosen.file_name
        existing = self.library.downloaded.find(item, PROVIDER, file_id)
        if existing is not None:  # before spending a download of the quota
            raise Conflict(f"OpenSubtitles file {file_id} is already downloaded for this {item.kind} "
                           f"(subtitle id {existing.id})")
        fetched = client.download(file_id)
        extension = media.extension(fetched.file_name)
        if extension not in TEXT_FORMATS:
            raise BadFile(f"OpenSubtitles sent '{fetched.file_name}', not a text subtitle "
                          f"({', '.join(sorted(TEXT_FORMATS))})")
        try:
            data, encoding = to_utf8(fetched.content, extension, language)
        except InvalidSubtitle as exc:
            raise BadFile(f"OpenSubtitles file {file_id} is not usable: {exc}") from None
        stored_path = self.files.name_for(item, PROVIDER, file_id, language, extension)
        with self._storing:  # a sweep, or the same file fetched twice at once, never sees it half-recorded
            try:
                self.files.write(stored_path, data)
            except OSError as exc:
                raise Unavailable(f"the subtitle could not be stored: {exc.strerror or exc}") from None
            try:
                record = self.library.downloaded.add(item, NewDownloadedSubtitle(
                    language, variant, PROVIDER, file_id, release or fetched.file_name, stored_path, len(data)))
            except BaseException:
                if stored_path not in self.library.downloaded.stored_paths():  # not another download's file
                    self.files.remove(stored_path)
                raise
        log.info("%s %d: subtitle %s (%s, was %s) stored as %s", item.kind, item.id, language,
                 variant or "full", encoding, stored_path)
        return record

    def delete(self, subtitle_id: int) -> DownloadedSubtitle:
        record = self.library.downloaded.delete(subtitle_id)
        self.files.remove(record.stored_path)
        return record

    def forget_deleted_items(self) -> None:
        """After a movie or show is deleted, its subtitles' records went with it: their files go now."""
        with self._storing:
            self.files.sweep(self.library.downloaded.stored_paths())

    @property
    def downloads_automatically(self) -> bool:
        return self._auto_thread is not None

    def download_automatically(self, items: Sequence[ItemRef]) -> None:
        """Queue `auto_languages` downloads for newly assigned items (no-op without them)."""
        if self.downloads_automatically and items:
            self._auto_queue.put(list(items))

    # -- helpers ------------------------------------------------------------------

    def _auto_worker(self) -> None:
        while (items := self._auto_queue.get()) is not None:
            try:
                self._download_missing_languages(items)
            except Exception:  # the worker outlives any one item
                log.exception("automatic subtitle download failed")

    def _download_missing_languages(self, items: list[ItemRef]) -> None:
        for item in items:
            try:
                assignment = self._item(item).assignment
            except NotFound:
                continue  # deleted meanwhile
            present = self._subtitles_of(item, assignment)
            have = {s.language for s in [*present.torrent, *present.downloaded]}
            missing = [language for language in self.auto_languages if language not in have]
            if missing and assignment is not None and self.stored_moviehash:  # the exact release's subtitles first
                self.stored_moviehash(assignment.info_hash, assignment.file_index, wait=PROBE_WAIT_SECONDS)
            for language in missing:
                try:
                    self.download(item, language)
                except RateLimited as exc:
                    log.warning("automatic subtitles stopped: %s", exc)
                    return
                except LibraryError as exc:
                    log.warning("no automatic %s subtitle for %s %d: %s", language, item.kind, item.id, exc)

    def _best(self, item: ItemRef, language: str) -> SubtitleResult:
        results = [r for r in self.search(item, [language]).results if _same_language(r.language, language)]
        if not results:
            raise NotFound(f"OpenSubtitles has no '{language}' subtitle for this {item.kind}")
        return results[0]

    def _client(self) -> OpenSubtitlesClient:
        if self.client is None:
            raise Unavailable("OpenSubtitles is not configured: set opensubtitles.api_key")
        return self.client

    @staticmethod
    def _languages(languages: Sequence[str]) -> list[str]:
        if not languages:
            raise InvalidInput("name at least one language (ISO 639-1, like en or fr)")
        try:
            return [normalise_language(code) for code in languages]
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None

    def _item(self, item: ItemRef) -> Movie | EpisodeDetails:
        return self.library.get_movie(item.id) if item.kind == "movie" else self.library.get_episode(item.id)

    @staticmethod
    def _query(record: Movie | EpisodeDetails, languages: list[str], hash_: str | None) -> SearchQuery:
        if isinstance(record, Movie):
            return SearchQuery(tuple(languages), "movie", record.tmdb_id, record.title, record.year, moviehash=hash_)
        return SearchQuery(tuple(languages), "episode", record.show_tmdb_id, record.show_title, record.show_year,
                           record.season, record.number, hash_)

    def _moviehash(self, assignment: Assignment | None) -> str | None:
        """From the probe store (known soon after assignment), else the torrent's copy of the file's first and
        last 64 KiB once both are downloaded."""
        if assignment is None or assignment.file_size < BLOCK:
            return None
        stored = self.stored_moviehash and self.stored_moviehash(assignment.info_hash, assignment.file_index)
        if stored:
            return stored
        read = self.engine.read_if_downloaded
        try:
            head = read(assignment.info_hash, assignment.file_index, 0, BLOCK)
            tail = read(assignment.info_hash, assignment.file_index, assignment.file_size - BLOCK, BLOCK)
        except LibraryError as exc:
            log.info("no moviehash: %s", exc)
            return None
        if head is None or tail is None:
            return None
        return moviehash(assignment.file_size, head, tail)


def _same_language(found: str, wanted: str) -> bool:
    return found.lower() == wanted.lower()
