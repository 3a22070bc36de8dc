"""Where a GET's bytes come from: a downloaded subtitle's file, the probe store, or the torrent's swarm.

The share calls `ready` before the response starts (so a torrent that cannot
be served is still a clear 503) and `open` for the file object WsgiDAV reads.
A read that starts in the probe store touches no torrent in either.
"""

from __future__ import annotations

import logging
from typing import BinaryIO, Callable

from momoshtrem.clientwatch import SOCKET_KEY, client_hung_up, client_keeps_reading
from momoshtrem.dav.app import range_bounds
from momoshtrem.library.errors import Unavailable
from momoshtrem.library.tree import FileNode
from momoshtrem.probestore.fetcher import ProbeFetcher
from momoshtrem.probestore.reader import StoredFirstReader
from momoshtrem.probestore.store import StoredProbe
from momoshtrem.streaming.stream import Streams
from momoshtrem.subtitles.files import SubtitleFiles
from momoshtrem.torrent.reader import ReadError, TorrentReader
from momoshtrem.torrent.session import SessionManager

log = logging.getLogger(__name__)


class Content:
    def __init__(self, engine: SessionManager, streams: Streams, probes: ProbeFetcher | None,
                 subtitle_files: SubtitleFiles, client_timeout: float) -> None:
        self.engine = engine
        self.streams = streams
        self.probes = probes
        self.subtitle_files = subtitle_files
        self.client_timeout = client_timeout  # how long a client may leave sent bytes untaken (socket_timeout)

    def ready(self, node: FileNode, start: int) -> Callable[[], None] | None:
        """Add the torrent before the GET's headers go out, so a failure can still be a 503.

        Returns the release of the GET's place among the reads that may wait, if it took one.
        """
        if not node.info_hash or self._stored_at(node, start):
            return None  # a marker file, or a read the probe store answers: its torrent joins if the read runs on
        torrent = self.engine.activate(node.info_hash)
        self.engine.check_file_on_disk(torrent, node.file_index)
        if torrent.user_paused:
            raise Unavailable(f"the torrent of '{node.name}' is paused; resume it to play")
        if torrent.error:
            raise Unavailable(f"the torrent of '{node.name}' stopped: {torrent.error}")
        return self.engine.first_waits.reserve(torrent, node.file_index, start)

    def open(self, node: FileNode, environ: dict) -> BinaryIO:
        if node.stored_path:
            return open(self.subtitle_files.path(node.stored_path), "rb")
        start, end = range_bounds(environ.get("HTTP_RANGE"), node.size)
        client = environ.get(SOCKET_KEY)

        def open_swarm() -> TorrentReader:
            return self.streams.open(node.info_hash, node.file_index, client_gone=lambda: client_hung_up(client))

        probe = self._stored_at(node, start)
        if probe is None:
            return open_swarm()
        try:
            reader = StoredFirstReader(probe, open_swarm,
                                       may_continue=lambda: client_keeps_reading(client, self.client_timeout))
        except FileNotFoundError:  # evicted from the store since it was looked up: the swarm has the bytes
            return open_swarm()
        stored_end = probe.covered_until(start)
        if end is not None and end > stored_end:  # the client asked for more than is stored: the swarm starts now
            try:
                reader.start_swarm_at(stored_end, end - stored_end)
            except ReadError as exc:  # the stored bytes are served; the read past them fails with this again
                log.warning("GET %s: the swarm cannot start: %s", node.name, exc)
        return reader

    def _stored_at(self, node: FileNode, start: int) -> StoredProbe | None:
        """The file's probe entry when it holds the byte at `start`."""
        probe = self.probes.stored(node.info_hash, node.file_index) if self.probes else None
        return probe if probe is not None and probe.covered_until(start) > start else None
