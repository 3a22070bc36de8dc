"""Assign a torrent's files to a movie or to a show's episodes.

Every source (a `.torrent` file now; a magnet or info-hash once its metadata
has been fetched) ends here as a `TorrentMeta`, so there is one path for all of
them, and the database changes in one transaction or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from momoshtrem.library import matching, media
from momoshtrem.library.errors import InvalidInput
from momoshtrem.library.models import Assignment, Subtitle
from momoshtrem.library.store import EpisodeAssignment, Library
from momoshtrem.subtitles.detect import VideoRef, match_subtitles
from momoshtrem.torrent.metainfo import TorrentFile, TorrentMeta

log = logging.getLogger(__name__)

# guessit reads ~75 names a second; a torrent of 10,000 episodes held a worker for over two minutes. 1,000 is
# a long-running show's complete series, with room for its subtitles; beyond it the assignment is refused.
MAX_FILES_TO_MATCH = 1000


@dataclass
class FileReport:
    """What became of one file of the torrent, in words a user can act on."""

    index: int
    path: str
    size: int
    season: int | None = None
    episodes: list[int] | None = None
    confidence: str | None = None
    reason: str | None = None


@dataclass
class AssignReport:
    info_hash: str
    torrent_name: str
    matched: list[FileReport] = field(default_factory=list)
    unmatched: list[FileReport] = field(default_factory=list)
    assignment: Assignment | None = None  # movies only

    def to_json(self) -> dict:
        data = asdict(self)
        if self.assignment is None:
            del data["assignment"]
        return data


class Assigner:
    def __init__(self, library: Library) -> None:
        self.library = library

    def assign_movie(self, movie_id: int, meta: TorrentMeta) -> AssignReport:
        self.library.get_movie(movie_id)  # 404 before anything else
        _refuse_too_many_to_match(meta)
        chosen, skipped = matching.pick_movie_file(meta.real_files(), meta.name)
        report = AssignReport(meta.info_hash, meta.name, unmatched=[_unmatched(v) for v in skipped])
        if chosen is None:
            raise InvalidInput(f"the torrent '{meta.name}' has no video file to play", report.to_json())
        subtitles = match_subtitles(meta.real_files(), [VideoRef(chosen.index, chosen.path)])
        report.assignment = self.library.assign_movie(movie_id, meta, _assignment_of(chosen, meta, 0, 0, subtitles))
        report.matched.append(FileReport(chosen.index, chosen.path, chosen.size, confidence=matching.HIGH))
        log.info("movie %d assigned to %s file %d (%s)", movie_id, meta.info_hash, chosen.index, chosen.path)
        return report

    def assign_show(self, show_id: int, meta: TorrentMeta) -> AssignReport:
        show = self.library.get_show(show_id)
        _refuse_too_many_to_match(meta)
        verdicts = matching.classify_show_files(meta.real_files(), meta.name)
        report = AssignReport(meta.info_hash, meta.name)
        matched = [v for v in verdicts if v.match is not None]
        report.unmatched += [_unmatched(v) for v in verdicts if v.match is None]
        subtitles = match_subtitles(meta.real_files(), [
            VideoRef(v.file.index, v.file.path, v.match.season, v.match.episodes[0]) for v in matched])
        wanted = [_assignment_of(v.file, meta, v.match.season, episode, subtitles, v.quality)
                  for v in matched for episode in v.match.episodes]
        if not wanted:
            raise InvalidInput(f"no file of the torrent '{meta.name}' could be matched to an episode", report.to_json())
        # A show added without TMDB has no episode list of its own: the torrent's files make it.
        assigned, missing = self.library.assign_episodes(show_id, meta, wanted, create_missing=show.tmdb_id is None)
        assigned_keys = {(a.file_index, a.season, a.episode) for a in assigned}
        missing_files = {a.file_index for a in missing}
        for verdict in verdicts:
            if verdict.match is None:
                continue
            episodes = [e for e in verdict.match.episodes if (verdict.file.index, verdict.match.season, e) in assigned_keys]
            if episodes:
                report.matched.append(
                    FileReport(verdict.file.index, verdict.file.path, verdict.file.size, verdict.match.season,
                               episodes, verdict.match.confidence)
                )
            elif verdict.file.index in missing_files:
                report.unmatched.append(_unmatched(verdict, matching.NO_LIBRARY_EPISODE))
        if not assigned:
            raise InvalidInput(
                f"none of the episodes in '{meta.name}' is in the library's episode list for this show",
                report.to_json(),
            )
        log.info("show %d: %d files of %s assigned, %d not", show_id, len(report.matched), meta.info_hash,
                 len(report.unmatched))
        return report


def _refuse_too_many_to_match(meta: TorrentMeta) -> None:
    """Only videos and subtitles are read by name (guessit); a torrent with too many of them is refused at once."""
    count = sum(1 for f in meta.real_files() if media.is_video(f.path) or media.is_subtitle(f.path))
    if count > MAX_FILES_TO_MATCH:
        raise InvalidInput(f"the torrent '{meta.name}' has {count} video and subtitle files; an assignment "
                           f"matches at most {MAX_FILES_TO_MATCH}")


def _assignment_of(file: TorrentFile, meta: TorrentMeta, season: int, episode: int,
                   subtitles: dict[int, list[Subtitle]], q: matching.Quality | None = None) -> EpisodeAssignment:
    q = q or matching.quality(file.path, meta.name)
    return EpisodeAssignment(season, episode, file.index, file.path, file.size, q.resolution, q.source,
                             tuple(subtitles.get(file.index, ())))


def _unmatched(verdict: matching.FileVerdict, reason: str | None = None) -> FileReport:
    match = verdict.match
    return FileReport(
        verdict.file.index, verdict.file.path, verdict.file.size,
        season=match.season if match else None,
        episodes=list(match.episodes) if match else None,
        reason=reason or verdict.reason,
    )
