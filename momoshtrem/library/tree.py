"""The share's virtual tree, built from the library alone.

`build_tree` is pure: library records in, folders and files out. `TreeCache`
rebuilds it only when the library has changed since the last build, so a
PROPFIND or HEAD costs a dictionary lookup, never a query per item, and never
touches a torrent.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Union

from momoshtrem.library import media, naming
from momoshtrem.library.models import Assignment, DownloadedSubtitle, ItemRef, Movie
from momoshtrem.library.store import AssignedEpisode, Library
from momoshtrem.subtitles.detect import sidecar_names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileNode:
    """A file of the share: a torrent's file, a downloaded subtitle (`stored_path`), or an empty marker file."""

    name: str
    info_hash: str  # '' when the bytes are not in a torrent
    file_index: int
    file_path: str  # inside the torrent
    size: int
    modified: int  # unix seconds: when the assignment (or download) was made
    etag: str
    content_type: str
    stored_path: str = ""  # a downloaded subtitle: its path under subtitles.dir


@dataclass
class FolderNode:
    name: str
    modified: int
    children: dict[str, "Node"] = field(default_factory=dict)


Node = Union[FileNode, FolderNode]


class Tree:
    """Folders and files by path. Paths are '/'-separated; lookups are exact after NFC normalisation."""

    def __init__(self, root: FolderNode) -> None:
        self.root = root
        self._by_path: dict[tuple[str, ...], Node] = {}
        self._index((), root)

    def lookup(self, path: str) -> Node | None:
        return self._by_path.get(split_path(path))

    def _index(self, key: tuple[str, ...], node: Node) -> None:
        self._by_path[key] = node
        if isinstance(node, FolderNode):
            for name, child in node.children.items():
                self._index(key + (name,), child)


def split_path(path: str) -> tuple[str, ...]:
    return tuple(unicodedata.normalize("NFC", part) for part in path.split("/") if part)


def file_etag(info_hash: str, file_index: int, size: int) -> str:
    """Stable across restarts and re-assignments of the same file: clients keep their caches."""
    return hashlib.sha1(f"{info_hash}:{file_index}:{size}".encode()).hexdigest()[:32]


def build_tree(movies: Iterable[Movie], episodes: Iterable[AssignedEpisode], created_at: int,
               root_markers: Iterable[str] = (),
               downloaded: Mapping[ItemRef, list[DownloadedSubtitle]] | None = None) -> Tree:
    """`downloaded`: subtitles fetched for the items, shown beside their videos after the torrent's own."""
    downloaded = downloaded or {}
    root = FolderNode("", created_at)
    movies_folder = FolderNode(naming.MOVIES_FOLDER, created_at)
    shows_folder = FolderNode(naming.SHOWS_FOLDER, created_at)
    root.children = {movies_folder.name: movies_folder, shows_folder.name: shows_folder}
    for name in root_markers:
        root.children[name] = _marker_file(name, created_at)
    movie_names: set[str] = set()
    show_names: set[str] = set()

    for movie in sorted(movies, key=lambda m: m.id):
        assignment = movie.assignment
        assert assignment is not None
        folder = FolderNode(naming.movie_folder(movie.title, movie.year), assignment.assigned_at)
        file = _file(naming.movie_file(movie.title, movie.year, media.extension(assignment.file_path)), [assignment])
        for node in [file, *_subtitle_files(file, assignment, downloaded.get(ItemRef("movie", movie.id), []))]:
            folder.children[node.name] = node
        folder.modified = max(node.modified for node in folder.children.values())  # a later download counts
        _add_child(movies_folder, folder, movie_names)

    for show_episodes in _group_by_show(episodes):
        first = show_episodes[0]
        show_folder = FolderNode(naming.show_folder(first.show_title, first.show_year), created_at)
        by_season: dict[int, list[AssignedEpisode]] = defaultdict(list)
        for episode in show_episodes:
            by_season[episode.season].append(episode)
        for season_number in sorted(by_season):
            season_folder = FolderNode(naming.season_folder(season_number), created_at)
            for file in _season_files(first.show_title, season_number, by_season[season_number], downloaded):
                season_folder.children[file.name] = file
            season_folder.modified = max(f.modified for f in season_folder.children.values())
            show_folder.children[season_folder.name] = season_folder
        show_folder.modified = max(s.modified for s in show_folder.children.values())
        _add_child(shows_folder, show_folder, show_names)

    for folder in (movies_folder, shows_folder):
        folder.children = dict(sorted(folder.children.items(), key=lambda kv: kv[0].casefold()))
        if folder.children:
            folder.modified = max(c.modified for c in folder.children.values())
    root.modified = max(movies_folder.modified, shows_folder.modified)
    return Tree(root)


def _season_files(show_title: str, season: int, episodes: list[AssignedEpisode],
                  downloaded: Mapping[ItemRef, list[DownloadedSubtitle]]) -> list[FileNode]:
    """One file per torrent file: a multi-episode file is listed once as `S01E01-E02`."""
    by_file: dict[tuple[str, int], list[AssignedEpisode]] = defaultdict(list)
    for episode in episodes:
        by_file[(episode.assignment.info_hash, episode.assignment.file_index)].append(episode)
    files = []
    for group in sorted(by_file.values(), key=lambda g: min(e.number for e in g)):
        group.sort(key=lambda e: e.number)
        assignment = group[0].assignment
        name = naming.episode_file(
            show_title, season, [e.number for e in group], group[0].name, media.extension(assignment.file_path)
        )
        video = _file(name, [e.assignment for e in group])
        fetched = [sub for e in group for sub in downloaded.get(ItemRef("episode", e.episode_id), [])]
        files += [video, *_subtitle_files(video, assignment, fetched)]
    return files


def _file(name: str, assignments: list[Assignment]) -> FileNode:
    a = assignments[0]
    return FileNode(
        name=name,
        info_hash=a.info_hash,
        file_index=a.file_index,
        file_path=a.file_path,
        size=a.file_size,
        modified=max(x.assigned_at for x in assignments),
        etag=file_etag(a.info_hash, a.file_index, a.file_size),
        content_type=media.content_type(a.file_path),
    )


def _subtitle_files(video: FileNode, assignment: Assignment, fetched: list[DownloadedSubtitle]) -> list[FileNode]:
    """The video's subtitles, named after it (`Movie (2010).en.srt`) so players pick them up."""
    stem = video.name[: -len(media.extension(video.name))] if media.extension(video.name) else video.name
    own = assignment.subtitles
    names = sidecar_names(stem, [(s.language, s.variant, media.extension(s.file_path)) for s in own]
                          + [(s.language, s.variant, media.extension(s.stored_path)) for s in fetched])
    nodes = [
        FileNode(name=name, info_hash=video.info_hash, file_index=s.file_index, file_path=s.file_path,
                 size=s.file_size, modified=video.modified,
                 etag=file_etag(video.info_hash, s.file_index, s.file_size), content_type=media.content_type(name))
        for name, s in zip(names, own)
    ]
    nodes += [
        FileNode(name=name, info_hash="", file_index=-1, file_path="", size=s.size, modified=s.added_at,
                 etag=hashlib.sha1(f"{s.stored_path}:{s.size}".encode()).hexdigest()[:32],
                 content_type=media.content_type(name), stored_path=s.stored_path)
        for name, s in zip(names[len(own):], fetched)
    ]
    return nodes


def _marker_file(name: str, created_at: int) -> FileNode:
    return FileNode(name=name, info_hash="", file_index=-1, file_path="", size=0, modified=created_at,
                    etag=hashlib.sha1(f"marker:{name}".encode()).hexdigest()[:32],
                    content_type="application/octet-stream")


def _group_by_show(episodes: Iterable[AssignedEpisode]) -> list[list[AssignedEpisode]]:
    by_show: dict[int, list[AssignedEpisode]] = defaultdict(list)
    for episode in episodes:
        by_show[episode.show_id].append(episode)
    return [by_show[show_id] for show_id in sorted(by_show)]


def _add_child(parent: FolderNode, child: FolderNode, taken: set[str]) -> None:
    """First come (lowest id) keeps a name; a later item whose safe name collides is left out, with a warning.

    Names compare case-insensitively: Finder and Infuse on macOS cannot tell `Alien` from `ALIEN`.
    """
    key = child.name.casefold()
    if key in taken:
        log.warning("'%s/%s' is already taken by another item; rename one of them to show both", parent.name, child.name)
        return
    taken.add(key)
    parent.children[child.name] = child


class TreeCache:
    """The current tree: rebuilt aside by the thread that changed the share, then swapped in.

    A write that cannot change the share (adding a movie without a torrent)
    keeps the tree. After one that can, the writing thread builds the new tree
    before its request answers, while readers go on with the old one: nobody
    waits behind a build, and the writer's next request sees its change.
    """

    def __init__(self, library: Library, root_markers: Iterable[str] = ()) -> None:
        self._library = library
        self._root_markers = tuple(root_markers)
        self._lock = threading.Lock()
        self._tree: Tree | None = None
        self._generation = -1
        library.db.on_share_change(self.refresh)

    def tree(self) -> Tree:
        tree = self._tree
        if tree is not None and self._generation == self._library.db.share_generation:
            return tree
        if tree is not None and not self._lock.acquire(blocking=False):
            return tree  # a writer is building the next one; its request has not answered yet
        if tree is not None:
            self._lock.release()
        return self.refresh()

    def refresh(self) -> Tree:
        with self._lock:
            generation = self._library.db.share_generation
            if self._tree is None or self._generation != generation:
                movies, episodes = self._library.assigned_items()
                self._tree = build_tree(movies, episodes, self._library.created_at(), self._root_markers,
                                        self._library.downloaded.of_assigned_items())
                self._generation = generation
            return self._tree
