"""Small HTTP helpers shared by the share and the API."""

from __future__ import annotations

import re
from typing import Callable, Iterable

from werkzeug.routing import BaseConverter

_ENCODED_SEPARATOR = re.compile(r"%(2f|5c|00)", re.IGNORECASE)


def request_path(environ: dict) -> str:
    """PATH_INFO as text: WSGI hands it over as latin-1-decoded bytes (PEP 3333)."""
    raw = environ.get("PATH_INFO", "")
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


def unsafe_path_reason(path: str) -> str | None:
    """Why a request path (PATH_INFO as WSGI gives it) is refused outright, or None.

    The share is virtual, so no path can reach the disk; still, a client that
    sends `..` segments or encoded separators is either confused or probing,
    and a clear 400 beats a silently normalised answer. A path that is not
    UTF-8 (`%c0%ae`, `%ff`) names nothing here; WsgiDAV raised on it and the
    client got no answer at all.
    """
    try:
        path.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return "the path is not UTF-8"
    if _ENCODED_SEPARATOR.search(path):
        return "encoded '/', '\\' or NUL in the path"
    if "\\" in path or "\x00" in path:
        return "'\\' or NUL in the path"
    if any(segment in (".", "..") for segment in path.split("/")):
        return "'.' or '..' segments in the path"
    return None


def plain_response(start_response: Callable, status: str, text: str, headers: list | None = None,
                   method: str = "GET") -> Iterable[bytes]:
    """A short text answer; a HEAD gets its headers only (a body would be read as the next response)."""
    body = text.encode("utf-8")
    start_response(status, [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        *(headers or []),
    ])
    return [] if method == "HEAD" else [body]


class IdConverter(BaseConverter):
    """Ids in paths: ASCII digits only (werkzeug's int also takes '１'), at most 18 of them (below 2^63)."""

    regex = r"[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
