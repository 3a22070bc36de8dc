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
import io
import logging
import re
import time
from typing import Callable, Iterable, Iterator

from wsgidav.wsgidav_app import WsgiDAVApp

from momoshtrem.dav.listings import Listing, ListingCache
from momoshtrem.dav.probes import is_client_probe
from momoshtrem.dav.provider import ContentOpener, LibraryProvider
from momoshtrem.httputil import plain_response, request_path
from momoshtrem.library.errors import LibraryError
from momoshtrem.library.tree import FileNode, TreeCache
from momoshtrem.requestlog import FILE_READ_KEY

log = logging.getLogger(__name__)

READ_METHODS = ("OPTIONS", "HEAD", "GET", "PROPFIND")
MAX_BODY_BYTES = 64 * 1024  # Finder's largest PROPFIND body is under 1 KB
_FINITE_DEPTH_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>\n'
)


class ShareGate:
    def __init__(self, dav_app: Callable, trees: TreeCache, before_get: Callable[[FileNode, int], Callable[[], None] | None]) -> None:
        self._dav_app = dav_app
        self._trees = trees
        self._before_get = before_get
        self.listings = ListingCache()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "")
        if method not in READ_METHODS:
            return plain_response(
                start_response, "405 Method Not Allowed", f"The share is read-only: {method} is not allowed.\n",
                [("Allow", ", ".join(READ_METHODS))],
            )
        body_refused = _body_refusal(environ)
        if body_refused:
            return plain_response(start_response, body_refused, "A request body to the share is a few KB at most.\n",
                                  [("Connection", "close")], method=method)
        if method == "PROPFIND" and environ.get("HTTP_DEPTH", "infinity").strip().lower() == "infinity":
            # RFC 4918 9.1: a server may refuse infinite depth with 403 and this precondition.
            start_response("403 Forbidden", [
                ("Content-Type", "application/xml; charset=utf-8"),
                ("Content-Length", str(len(_FINITE_DEPTH_BODY))),
            ])
            return [_FINITE_DEPTH_BODY]
        for key in ("HTTP_IF_MODIFIED_SINCE", "HTTP_IF_UNMODIFIED_SINCE"):
            if key in environ and http_timestamp(environ[key]) is None:
                del environ[key]  # RFC 9110 13.1.3-4: a date that is not a valid HTTP-date is ignored
        path = request_path(environ)
        if is_client_probe(path):
            return plain_response(start_response, "404 Not Found", "Not found.\n", method=method)
        if method == "PROPFIND":
            return self._listing(environ, start_response, path)
        if "," in environ.get("HTTP_RANGE", ""):
            environ["HTTP_RANGE"] = first_range(environ["HTTP_RANGE"])
        if method in ("GET", "HEAD"):
            node = self._trees.tree().lookup(path)
            if isinstance(node, FileNode):
                verdict = range_verdict(environ.get("HTTP_RANGE"), node.size)
                if verdict == RANGE_IGNORED:
                    del environ["HTTP_RANGE"]
                elif verdict == RANGE_UNSATISFIABLE:
                    return plain_response(start_response, "416 Range Not Satisfiable",
                                          "The range lies outside the file.\n",
                                          [("Content-Range", f"bytes */{node.size}")], method=method)
                if not_modified(environ, node):
                    start_response("304 Not Modified", [("ETag", f'"{node.etag}"'),
                                                        ("Last-Modified", http_date(node.modified))])
                    return []
                if method == "GET":
                    environ[FILE_READ_KEY] = True
                    try:
                        release = self._before_get(node, range_start(environ.get("HTTP_RANGE"), node.size))
                    except LibraryError as exc:
                        log.warning("GET %s refused: %s", node.name, exc)
                        return plain_response(start_response, "503 Service Unavailable", f"{exc}\n",
                                              [("Retry-After", str(getattr(exc, "retry_after", 30)))])
                    try:
                        return self._plain_errors(environ, start_response, method)
                    finally:
                        if release is not None:
                            release()  # the first read is over (the first chunk is drawn in there)
        return self._plain_errors(environ, start_response, method)

    def _listing(self, environ: dict, start_response: Callable, path: str) -> Iterable[bytes]:
        """A PROPFIND answered from the cache, or rendered by WsgiDAV and kept for the same tree."""
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        key = (path, environ.get("HTTP_DEPTH", "").strip(), body, environ.get("SCRIPT_NAME", ""))
        tree = self._trees.tree()
        listing = self.listings.get(tree, key)
        if listing is None:
            with self.listings.rendering(key):
                listing = self.listings.get(tree, key) or self._render(environ, tree, key)
        headers = [*listing.headers, ("Date", http_date(int(time.time())))]
        body = listing.body
        if listing.status.startswith("207"):
            headers.append(("Vary", "Accept-Encoding"))
            if accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
                body = listing.gzipped()
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers += [("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))]
        start_response(listing.status, headers)
        return [body]

    def _render(self, environ: dict, tree: object, key: tuple) -> Listing:
        """WsgiDAV's answer, whole; a multistatus is kept for `tree`, an error is not."""
        answer: dict = {}

        def capture(status: str, headers: list, exc_info=None) -> Callable:
            answer["status"], answer["headers"] = status, headers
            return lambda data: None

        chunks = self._plain_errors(environ, capture, "PROPFIND")
        try:
            rendered = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        headers = tuple((k, v) for k, v in answer["headers"] if k.lower() != "date")
        listing = Listing(answer["status"], headers, rendered)
        if listing.status.startswith("207"):
            self.listings.put(tree, key, listing)
        return listing

    def _plain_errors(self, environ: dict, start_response: Callable, method: str) -> Iterable[bytes]:
        """WsgiDAV's error pages name its version and repeat the path and the exception (a parser's text, a
        16 MB URL): they become one plain line with the status alone. WsgiDAV starts its response when its
        body is first iterated, so the first chunk is drawn here; a response under way is never touched."""
        error: dict[str, str] = {}
        drawn = False

        def intercept(status: str, headers: list, exc_info=None) -> Callable:
            html = any(k.lower() == "content-type" and v.startswith("text/html") for k, v in headers)
            if not drawn and status[:1] in "45" and html:
                error["status"] = status
                return lambda data: None
            return start_response(status, headers, exc_info)

        body = self._dav_app(environ, intercept)
        chunks = iter(body)
        first = next(chunks, None)
        drawn = True
        if "status" not in error:
            return _chained(first, chunks, body)
        if hasattr(body, "close"):
            body.close()
        return plain_response(start_response, error["status"], f"{error['status']}.\n", method=method)


def accepts_gzip(header: str) -> bool:
    """`Accept-Encoding` names gzip (or *) without q=0."""
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            quality = params.strip()
            return not (quality.startswith("q=") and quality[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False


def _chained(first: bytes | None, rest: Iterator[bytes], body: Iterable[bytes]) -> Iterator[bytes]:
    try:
        if first is not None:
            yield first
        yield from rest
    finally:
        if hasattr(body, "close"):
            body.close()


def _body_refusal(environ: dict) -> str | None:
    """The status refusing a request body the share should not read: too large (a PROPFIND asks for a few
    properties), or of unknown length. WsgiDAV would read a 400 MB body whole into memory; it is never read."""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return "411 Length Required"
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return "400 Bad Request"
    return "413 Content Too Large" if length > MAX_BODY_BYTES else None


def not_modified(environ: dict, node: FileNode) -> bool:
    """RFC 9110 13.1.3: not modified when the date is at or after the file's. WsgiDAV wants it strictly after.

    If-None-Match, when sent, decides instead (WsgiDAV handles it).
    """
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if not since or "HTTP_IF_NONE_MATCH" in environ or "HTTP_RANGE" in environ:
        return False
    timestamp = http_timestamp(since)
    return timestamp is not None and timestamp >= node.modified


def http_timestamp(text: str) -> float | None:
    """Seconds since the epoch of an HTTP-date, or None when it is not one (a year 99999999999 included)."""
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def http_date(timestamp: int) -> str:
    return email.utils.formatdate(timestamp, usegmt=True)


RANGE_USED, RANGE_IGNORED, RANGE_UNSATISFIABLE = "used", "ignored", "unsatisfiable"
_BYTE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def range_verdict(header: str | None, size: int) -> str:
    """RFC 9110 14.1-14.2 for one range: a malformed one (`bytes=10-5`) is ignored (the whole file, 200);
    one that selects no byte of the file (`bytes=-0`, a start past the end) is unsatisfiable (416).
    WsgiDAV answered the first with the last 5 bytes and the second with an impossible Content-Range."""
    if header is None:
        return RANGE_USED
    match = _BYTE_RANGE.match(header)
    if match is None:
        return RANGE_IGNORED
    first, last = match.groups()
    if not first:
        if not last:
            return RANGE_IGNORED
        return RANGE_UNSATISFIABLE if int(last) == 0 or size == 0 else RANGE_USED
    if last and int(last) < int(first):
        return RANGE_IGNORED
    return RANGE_UNSATISFIABLE if int(first) >= size else RANGE_USED


def range_start(header: str | None, size: int) -> int:
    """Where a (valid: see range_verdict) Range header starts reading; 0 without one."""
    return range_bounds(header, size)[0]


def range_bounds(header: str | None, size: int) -> tuple[int, int | None]:
    """(start, end exclusive) of a valid Range header; the end is None when the client named none
    (`bytes=N-`, or no Range): it reads as far as it wants, which may be a few bytes."""
    match = _BYTE_RANGE.match(header or "")
    if match is None:
        return 0, None
    first, last = match.groups()
    if not first:
        return max(size - int(last), 0), size
    return int(first), min(int(last) + 1, size) if last else None


def first_range(header: str) -> str:
    """`bytes=0-99,200-299` -> `bytes=0-99`: players ask for what they need first."""
    unit, _, ranges = header.partition("=")
    return f"{unit}={ranges.split(',')[0].strip()}"


def build_dav_app(
    trees: TreeCache, open_content: ContentOpener, before_get: Callable[[FileNode, int], Callable[[], None] | None], block_size: int
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
