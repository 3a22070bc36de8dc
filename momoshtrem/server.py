"""The process: one cheroot server carrying the WebDAV share at / and the API at /api/.

Owns the database and wires the layers together; `serve_forever` adds signal
handling for `momoshtrem serve`, while tests start and stop a `Server` in-process.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Callable, Iterable

from cheroot import wsgi

from momoshtrem.api.app import ApiApp, ApiContext
from momoshtrem.config import Config
from momoshtrem.dav.app import build_dav_app
from momoshtrem.httputil import plain_response, unsafe_path_reason
from momoshtrem.library.assign import Assigner
from momoshtrem.library.db import Database
from momoshtrem.library.store import Library
from momoshtrem.library.tree import TreeCache
from momoshtrem.tmdb.client import TmdbClient

log = logging.getLogger(__name__)

API_PREFIX = "/api"


class Dispatcher:
    """Routes /api and /api/... to the API and everything else to the share."""

    def __init__(self, api: Callable, dav: Callable) -> None:
        self._api = api
        self._dav = dav

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        problem = unsafe_path_reason(path)
        if problem:
            return plain_response(start_response, "400 Bad Request", f"Bad path: {problem}.\n")
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return self._api(environ, start_response)
        return self._dav(environ, start_response)


class Server:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.db = Database(config.library.database)
        self.library = Library(self.db)
        self.trees = TreeCache(self.library)
        tmdb = None
        if config.tmdb.api_key:
            tmdb = TmdbClient(config.tmdb.api_key, config.tmdb.base_url, config.tmdb.language, config.tmdb.timeout)
        api = ApiApp(
            ApiContext(
                library=self.library,
                assigner=Assigner(self.library),
                tmdb=tmdb,
                fetch_metadata=None,
                max_upload_bytes=config.server.max_upload_bytes,
            )
        )
        dav = build_dav_app(self.trees, open_content=None, block_size=config.server.block_size)
        self.app = Dispatcher(api, dav)
        self._httpd = wsgi.Server(
            (config.server.host, config.server.port),
            self.app,
            numthreads=config.server.threads,
            timeout=config.server.socket_timeout,
            server_name="momoshtrem",
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.bind_addr[1]

    @property
    def url(self) -> str:
        return f"http://{self.config.server.host}:{self.port}"

    def start(self) -> None:
        """Bind (port 0 picks a free one) and serve on a background thread."""
        self._httpd.prepare()
        self._thread = threading.Thread(target=self._httpd.serve, name="http", daemon=True)
        self._thread.start()
        log.info("serving on %s (share at /, API at %s/)", self.url, API_PREFIX)

    def stop(self) -> None:
        self._httpd.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
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
