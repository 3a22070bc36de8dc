"""Requests to the internet services momoshtrem uses (TMDB, OpenSubtitles): their keys stay with their host.

requests follows redirects anywhere and drops only `Authorization` on the
way; an `Api-Key` header, or a key in a query string the redirect repeats,
would reach whatever host the upstream (or someone between) names. Here a
redirect is followed only to the same scheme, host and port.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests

MAX_REDIRECTS = 3


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
