"""The process: one cheroot server carrying the WebDAV share at /, the API at /api/, the status page at /ui/
and Prometheus metrics at /metrics; and one torrent session.

Owns the database and wires the layers together; `serve_forever` adds signal
handling for `momoshtrem serve`, while tests start and stop a `Server` in-process.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
from pathlib import Path
from typing import Callable, Iterable

from momoshtrem.actions import Actions
from momoshtrem.api.app import ApiApp
from momoshtrem.auth import AuthGate, parse_users
from momoshtrem.config import Config
from momoshtrem.crosssite import CrossSiteGuard
from momoshtrem.content import Content
from momoshtrem.dav.app import build_dav_app
from momoshtrem.dav.probes import ROOT_MARKERS
from momoshtrem.httpserver import HttpServer
from momoshtrem.httputil import plain_response, unsafe_path_reason
from momoshtrem.library.assign import Assigner
from momoshtrem.library.db import Database
from momoshtrem.library.store import Library
from momoshtrem.library.tree import TreeCache
from momoshtrem.memory import limit_malloc_arenas
from momoshtrem.metrics import Metrics
from momoshtrem.probestore.fetcher import ProbeFetcher
from momoshtrem.probestore.store import ProbeStore
from momoshtrem.requestlog import RequestLog
from momoshtrem.search.service import ReleaseSearch
from momoshtrem.search.torznab import IndexerSettings
from momoshtrem.subtitles.files import SubtitleFiles
from momoshtrem.subtitles.opensubtitles import OpenSubtitlesClient
from momoshtrem.subtitles.service import SubtitleService
from momoshtrem.tmdb.client import TmdbClient
from momoshtrem.tmdb.posters import Posters
from momoshtrem.streaming.prioritizer import StreamingSettings
from momoshtrem.streaming.stream import Streams
from momoshtrem.torrent.session import SessionManager, StoredTorrentLookup
from momoshtrem.ui.app import UI_PREFIX, WebUI
from momoshtrem.ui.status import StatusSections
from momoshtrem.worker_shares import UpstreamWaits, WorkerShares

log = logging.getLogger(__name__)

API_PREFIX = "/api"
METRICS_PATH = "/metrics"
# cheroot keeps only 10 idle keep-alive connections and a listen backlog of 5 by default. Under 50 listing
# clients (bench/load_bench.py) every other response then closed its connection, the reconnects overflowed
# the backlog, and 1 % of requests took a 1 s SYN retry. Idle connections cost a socket in a selector, not a thread.
KEEP_ALIVE_CONNECTIONS = 512
LISTEN_BACKLOG = 128
# cheroot reads request lines and headers of any size by default: a 16 MB URL was read, and echoed in its 404.
# Browsers stop at 2 MB of URL; players and Finder send a few hundred bytes. Beyond it: 414 (or 413 for headers).
MAX_REQUEST_HEADER_BYTES = 64 * 1024


class Dispatcher:
    """Routes a path prefix (/api, /ui, /metrics) and what lies under it to its app, everything else to the share."""

    def __init__(self, routes: dict[str, Callable], share: Callable) -> None:
        self._routes = routes
        self._share = share

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        problem = unsafe_path_reason(path)
        if problem:
            return plain_response(start_response, "400 Bad Request", f"Bad path: {problem}.\n",
                                  method=environ.get("REQUEST_METHOD", "GET"))
        if path == "/" and environ.get("REQUEST_METHOD") in ("GET", "HEAD") and _wants_a_page(environ):
            start_response("302 Found", [("Location", UI_PREFIX + "/"), ("Content-Length", "0")])
            return [b""]  # a browser at the server's root lands on the web UI; WebDAV clients ask for no HTML
        for prefix, app in self._routes.items():
            if path == prefix or path.startswith(prefix + "/"):
                return app(environ, start_response)
        return self._share(environ, start_response)


class Server:
    def __init__(self, config: Config) -> None:
        limit_malloc_arenas()  # before cheroot starts its worker threads
        self.config = config
        self.db = Database(config.library.database)
        self.library = Library(self.db)
        self.trees = TreeCache(self.library, ROOT_MARKERS)
        shares = WorkerShares.for_workers(config.server.threads)
        self.engine = SessionManager(
            config.torrent, StoredTorrentLookup(self.library.torrent_metadata, self.library.torrent_source),
            wait_bounds=shares,
        )
        self.probes = None
        if config.library.probe_store_size:
            self.probes = ProbeFetcher(ProbeStore(Path(config.library.probe_store_dir), config.library.probe_store_size),
                                       self.engine, self.library.assigned_files)
            self.db.on_share_change(self.probes.share_changed)
        tmdb = None
        if config.tmdb.api_key:
            tmdb = TmdbClient(config.tmdb.api_key, config.tmdb.base_url, config.tmdb.language, config.tmdb.timeout)
        self.subtitle_files = SubtitleFiles(config.subtitles.dir)
        self.subtitles = SubtitleService(self.library, self.subtitle_files, _opensubtitles_client(config),
                                         self.engine, config.subtitles.auto_languages,
                                         self.probes.moviehash if self.probes else None)
        self.actions = Actions(
            library=self.library,
            assigner=Assigner(self.library),
            tmdb=tmdb,
            engine=self.engine,
            subtitles=self.subtitles,
            search=ReleaseSearch([IndexerSettings(i.name, i.url, i.api_key) for i in config.search.indexers],
                                 config.search.timeout, config.search.preferred_resolution),
            max_upload_bytes=config.server.max_upload_bytes,
            probes=self.probes,
            upstream=UpstreamWaits(shares.internet),
        )
        api = ApiApp(self.actions)
        streaming = config.streaming
        self.streams = Streams(
            self.engine,
            StreamingSettings(streaming.header_priority_bytes, streaming.footer_priority_bytes,
                              streaming.urgent_buffer_bytes, streaming.readahead_bytes, streaming.readahead_seconds),
            probe_seconds=streaming.probe_seconds,
            read_timeout=config.torrent.read_timeout,
            prioritize=streaming.prioritize,
            local_copies=self.probes.stored if self.probes else lambda info_hash, file_index: None,
        )
        self.content = Content(self.engine, self.streams, self.probes, self.subtitle_files, config.server.socket_timeout)
        self.share = dav = build_dav_app(
            self.trees,
            open_content=self.content.open,
            before_get=self.content.ready,
            block_size=config.server.block_size,
        )
        self.metrics = Metrics(self.engine, self.probes, self.library.assigned_files, self.actions.upstream)
        posters = Posters(tmdb, config.tmdb.image_base_url, Path(config.tmdb.poster_dir), config.tmdb.timeout)
        web_ui = WebUI(self.actions, StatusSections(self.library, self.engine, self.streams, self.probes), posters)
        routes = {API_PREFIX: api, UI_PREFIX: web_ui, METRICS_PATH: self.metrics.app}
        self.auth = AuthGate(Dispatcher(routes, dav), parse_users(config.server.auth), config.server.api_token)
        guarded = CrossSiteGuard(self.auth, config.server.allowed_hosts, check_host=not self.auth.enabled)
        self.app = RequestLog(guarded, observers=[self.metrics.observe])
        self._httpd = HttpServer(
            (config.server.host, config.server.port),
            self.app,
            numthreads=config.server.threads,
            timeout=config.server.socket_timeout,
            header_timeout=config.server.header_timeout,
            server_name="momoshtrem",
            request_queue_size=LISTEN_BACKLOG,
        )
        self._httpd.keep_alive_conn_limit = KEEP_ALIVE_CONNECTIONS
        self._httpd.max_request_header_size = MAX_REQUEST_HEADER_BYTES
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.bind_addr[1]

    @property
    def url(self) -> str:
        return f"http://{self.config.server.host}:{self.port}"

    def start(self) -> None:
        """Bind (port 0 picks a free one) and serve on a background thread."""
        self.engine.start()
        self.subtitles.start()
        if self.probes:
            self.probes.start()
        self._httpd.prepare()
        self._thread = threading.Thread(target=self._httpd.serve, name="http", daemon=True)
        self._thread.start()
        log.info("serving on %s (share at /, API at %s/, status page at %s/, metrics at %s)", self.url, API_PREFIX,
                 UI_PREFIX, METRICS_PATH)
        if open_to_the_network(self._httpd.bind_addr[0], self.auth.enabled):
            log.warning("no authentication (server.auth is empty) and listening on %s: anyone on the network can "
                        "browse and stream the library; add users with `momoshtrem hash-password`",
                        self._httpd.bind_addr[0])

    def stop(self) -> None:
        """Readers blocked on pieces are woken first, so the HTTP workers can finish and stop() is quick."""
        if self.probes:
            self.probes.stop()
        self.engine.stop()
        self._httpd.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.subtitles.close()
        self.db.close()
        log.info("stopped")

    def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT (a background shell ignores SIGINT, so both are handled)."""
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        self.start()
        stop.wait()
        log.info("shutting down")
        self.stop()


def _opensubtitles_client(config: Config) -> OpenSubtitlesClient | None:
    settings = config.opensubtitles
    if not settings.api_key:
        return None
    return OpenSubtitlesClient(settings.api_key, settings.base_url, settings.username, settings.password,
                               settings.timeout)


def _wants_a_page(environ: dict) -> bool:
    return "text/html" in environ.get("HTTP_ACCEPT", "")


def open_to_the_network(host: str, auth_enabled: bool) -> bool:
    """No authentication, and listening where other machines can connect."""
    if auth_enabled or host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name: it may resolve beyond this machine
