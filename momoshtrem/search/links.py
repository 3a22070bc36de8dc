"""A release's download link: fetched by the server, the way a user would click it, with limits.

Indexers give either a magnet or a link to their own download endpoint, which
answers the `.torrent` or redirects (Jackett does, for magnet-only sites) to a
`magnet:` URI. Only http and https are fetched; the body is capped and must be
a torrent, which the caller checks. Indexer links carry the indexer's key
(`apikey=`), so results hide it behind KEY_PLACEHOLDER, and the key is put back
only for a link to that indexer's own host.
"""

from __future__ import annotations

import time
from urllib.parse import urljoin, urlsplit

import requests

from momoshtrem.library.errors import InvalidInput, LibraryError
from momoshtrem.search.torznab import IndexerSettings
from momoshtrem.upstream import BodyTooLarge, BodyTooSlow, read_capped

MAX_REDIRECTS = 5
KEY_PLACEHOLDER = "indexer-key-hidden-by-momoshtrem"


class LinkFailed(LibraryError):
    """The link's host could not be reached or answered an error."""

    status = 502


def is_link(source: str) -> bool:
    return isinstance(source, str) and source.strip().lower().startswith(("http://", "https://"))


def hide_key(url: str, indexer: IndexerSettings) -> str:
    return url.replace(indexer.api_key, KEY_PLACEHOLDER) if indexer.api_key else url


def reveal_key(url: str, indexers: list[IndexerSettings]) -> str:
    """The link with the hidden key of the indexer at its host; the key goes to no other host."""
    if KEY_PLACEHOLDER not in url:
        return url
    for indexer in indexers:
        if _origin(indexer.url) == _origin(url):
            return url.replace(KEY_PLACEHOLDER, indexer.api_key)
    raise InvalidInput("the link carries a hidden indexer key, but no configured indexer is at its host")


def fetch_link(url: str, timeout: float, max_bytes: int) -> bytes | str:
    """The body at `url` (at most `max_bytes`), or the magnet URI it redirects to."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            raise InvalidInput("only http and https links are fetched")
        try:
            with requests.get(url, timeout=timeout, stream=True, allow_redirects=False) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("Location", "").strip())
                    if target.lower().startswith("magnet:"):
                        return target
                    url = target
                    continue
                if response.status_code >= 400:
                    raise LinkFailed(f"the link answered HTTP {response.status_code}")
                return read_capped(response, max_bytes, deadline)
        except BodyTooLarge:
            raise InvalidInput(f"the link's answer is larger than {max_bytes} bytes: not a .torrent") from None
        except (requests.Timeout, BodyTooSlow):
            raise LinkFailed(f"the link did not answer within {timeout:g} s") from None
        except requests.RequestException:
            raise LinkFailed(f"the link's host ({urlsplit(url).hostname}) could not be reached") from None
    raise LinkFailed(f"the link redirected more than {MAX_REDIRECTS} times")


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
