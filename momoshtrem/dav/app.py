"""The WebDAV application: WsgiDAV with the library provider, behind a gate.

The gate decides, before WsgiDAV calls `start_response`, what WsgiDAV would
otherwise get wrong for this share: it refuses write methods with a proper
`Allow` header, refuses `Depth: infinity` (a whole library walk per request),
answers the names Finder and Windows probe for with a quick 404, keeps only
the first range of a multi-range request (WsgiDAV would answer the last), and
readies a file's torrent before a GET, so a torrent that cannot be served is a
clear 503 rather than a 500 after the headers went out.
"""

from __future__ import annotations

import email.utils
import logging
from typing import Callable, Iterable

from wsgidav.wsgidav_app import WsgiDAVApp

from momoshtrem.dav.probes import is_client_probe
from momoshtrem.dav.provider import ContentOpener, LibraryProvider
from momoshtrem.httputil import plain_response, request_path
from momoshtrem.library.errors import LibraryError
from momoshtrem.library.tree import FileNode, TreeCache
from momoshtrem.requestlog import FILE_READ_KEY

log = logging.getLogger(__name__)

READ_METHODS = ("OPTIONS", "HEAD", "GET", "PROPFIND")
_FINITE_DEPTH_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>\n'
)


class ShareGate:
    def __init__(self, dav_app: Callable, trees: TreeCache, before_get: Callable[[FileNode], None]) -> None:
        self._dav_app = dav_app
        self._trees = trees
        self._before_get = before_get

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if method not in READ_METHODS:
            return plain_response(
                start_response, "405 Method Not Allowed", f"The share is read-only: {method} is not allowed.\n",
                [("Allow", ", ".join(READ_METHODS))],
            )
        if method == "PROPFIND" and environ.get("HTTP_DEPTH", "infinity").strip().lower() == "infinity":
            # RFC 4918 9.1: a server may refuse infinite depth with 403 and this precondition.
            start_response("403 Forbidden", [
                ("Content-Type", "application/xml; charset=utf-8"),
                ("Content-Length", str(len(_FINITE_DEPTH_BODY))),
            ])
            return [_FINITE_DEPTH_BODY]
        path = request_path(environ)
        if is_client_probe(path):
            return plain_response(start_response, "404 Not Found", "Not found.\n", method=method)
        if "," in environ.get("HTTP_RANGE", ""):
            environ["HTTP_RANGE"] = first_range(environ["HTTP_RANGE"])
        if method in ("GET", "HEAD"):
            node = self._trees.tree().lookup(path)
            if isinstance(node, FileNode):
                if not_modified(environ, node):
                    start_response("304 Not Modified", [("ETag", f'"{node.etag}"'),
                                                        ("Last-Modified", http_date(node.modified))])
                    return []
                if method == "GET":
                    environ[FILE_READ_KEY] = True
                    try:
                        self._before_get(node)
                    except LibraryError as exc:
                        log.warning("GET %s refused: %s", node.name, exc)
                        return plain_response(start_response, "503 Service Unavailable", f"{exc}\n",
                                              [("Retry-After", "30")])
        return self._dav_app(environ, start_response)


def not_modified(environ: dict, node: FileNode) -> bool:
    """RFC 9110 13.1.3: not modified when the date is at or after the file's. WsgiDAV wants it strictly after.

    If-None-Match, when sent, decides instead (WsgiDAV handles it).
    """
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if not since or "HTTP_IF_NONE_MATCH" in environ or "HTTP_RANGE" in environ:
        return False
    try:
        return email.utils.parsedate_to_datetime(since).timestamp() >= node.modified
    except (TypeError, ValueError):
        return False


def http_date(timestamp: int) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


def first_range(header: str) -> str:
    """`bytes=0-99,200-299` -> `bytes=0-99`: players ask for what they need first."""
    unit, _, ranges = header.partition("=")
    return f"{unit}={ranges.split(',')[0].strip()}"


def build_dav_app(
    trees: TreeCache, open_content: ContentOpener, before_get: Callable[[FileNode], None], block_size: int
) -> ShareGate:
    # WsgiDAV warns at construction about write access and SSL, which do not apply to a read-only share.
    logging.getLogger("wsgidav.wsgidav_app").setLevel(logging.ERROR)
    provider = LibraryProvider(trees, open_content)
    config = {
        "provider_mapping": {"/": provider},
        "simple_dc": {"user_mapping": {"*": True}},
        "http_authenticator": {"accept_basic": True, "accept_digest": False, "default_to_digest": False},
        "dir_browser": {
            "enable": True,
            "davmount": False,
            "ms_sharepoint_support": False,
            "libre_office_support": False,
            "response_trailer": "momoshtrem",
        },
        "lock_storage": None,
        "property_manager": None,
        "block_size": block_size,
        "verbose": 1,
        "logging": {"enable": False},
        "suppress_version_info": True,
    }
    return ShareGate(WsgiDAVApp(config), trees, before_get)
