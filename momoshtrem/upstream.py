"""Requests to the services momoshtrem uses (TMDB, OpenSubtitles, indexers): their keys stay with their host,
and their answers are read with limits.

requests follows redirects anywhere and drops only `Authorization` on the
way; an `Api-Key` header, or a key in a query string the redirect repeats,
would reach whatever host the upstream (or someone between) names. Here a
redirect is followed only to the same scheme, host and port.
"""

from __future__ import annotations

import time
from urllib.parse import urljoin, urlsplit

import requests

MAX_REDIRECTS = 3


class BodyTooLarge(Exception):
    """The answer grew past the limit; reading stopped there."""


class BodyTooSlow(Exception):
    """The answer was still arriving at the deadline (each read was quick enough, the whole was not)."""


def read_capped(response: requests.Response, limit: int, deadline: float | None = None) -> bytes:
    """A streamed answer's body, at most `limit` bytes, complete by `deadline` (time.monotonic) if one is given:
    an upstream's answer is untrusted, and requests' timeout bounds each read, not the whole."""
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body.extend(chunk)
        if len(body) > limit:
            raise BodyTooLarge()
        if deadline is not None and time.monotonic() > deadline:
            raise BodyTooSlow()
    return bytes(body)


class RedirectedAway(requests.RequestException):
    """The service redirected to another origin; the request was not repeated there."""


def request_same_origin(session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
    for _ in range(MAX_REDIRECTS + 1):
        response = session.request(method, url, allow_redirects=False, **kwargs)
        if not response.is_redirect:
            return response
        target = urljoin(url, response.headers.get("Location", ""))
        response.close()
        if _origin(target) != _origin(url):
            raise RedirectedAway(f"redirected to another host ({urlsplit(target).hostname})")
        url = target
        if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
            method = "GET"  # as browsers and requests do
            kwargs.pop("json", None)
            kwargs.pop("data", None)
    raise RedirectedAway(f"more than {MAX_REDIRECTS} redirects")


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, parts.hostname, port
