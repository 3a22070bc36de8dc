"""A client for one Torznab indexer (Jackett, Prowlarr): capabilities, searches, results.

Torznab is RSS 2.0 with `torznab:attr` elements, served at one endpoint with
`t=caps|search|movie|tvsearch` and the user's `apikey`. Everything an indexer
sends is untrusted: the XML is parsed with defusedxml (no entities, no DTDs),
answers are read up to MAX_RESPONSE_BYTES within the timeout, and error texts
never carry the key (requests puts the URL, key included, in its messages).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from momoshtrem.redact import redact_in_logs
from momoshtrem.search.ranking import Release
from momoshtrem.upstream import BodyTooLarge, BodyTooSlow, read_capped
from momoshtrem.torrent.sources import SourceError, parse_source

TORZNAB_NS = "{http://torznab.com/schemas/2015/feed}"
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MAX_TITLE_CHARS = 300
CAPS_TTL = 3600.0  # seconds an indexer's capabilities are trusted before they are asked again
MOVIE_CATEGORY = 2000
TV_CATEGORY = 5000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class IndexerSettings:
    name: str
    url: str
    api_key: str


class IndexerError(Exception):
    """What went wrong with one indexer, in words safe to show (no key, no URL)."""


@dataclass
class Capabilities:
    """Search modes the indexer offers, each with the parameters it takes (`q`, `season`, `imdbid`, ...)."""

    modes: dict[str, set[str]] = field(default_factory=dict)

    def supports(self, mode: str, *params: str) -> bool:
        return mode in self.modes and all(p in self.modes[mode] for p in params)


@dataclass(frozen=True)
class Query:
    """One Torznab request: `t` and its parameters."""

    mode: str
    params: tuple[tuple[str, str], ...]


class TorznabClient:
    def __init__(self, settings: IndexerSettings, timeout: float) -> None:
        self.settings = settings
        self.timeout = timeout
        redact_in_logs(settings.api_key)  # urllib3 logs request lines, the apikey parameter included
        redact_in_logs(quote_plus(settings.api_key))
        self._caps: tuple[float, Capabilities] | None = None
        self._lock = threading.Lock()

    def capabilities(self) -> Capabilities:
        with self._lock:
            if self._caps is not None and time.monotonic() - self._caps[0] < CAPS_TTL:
                return self._caps[1]
        caps = parse_caps(self._get({"t": "caps"}))
        with self._lock:
            self._caps = (time.monotonic(), caps)
        return caps

    def search(self, query: Query) -> list[Release]:
        return parse_results(self._get({"t": query.mode, **dict(query.params)}), self.settings.name)

    def _get(self, params: dict[str, str]) -> bytes:
        """The answer's body, at most MAX_RESPONSE_BYTES, read within the timeout (not per socket read)."""
        deadline = time.monotonic() + self.timeout
        try:
            with requests.get(self.settings.url, params={**params, "apikey": self.settings.api_key},
                              timeout=self.timeout, stream=True, allow_redirects=False) as response:
                body = read_capped(response, MAX_RESPONSE_BYTES, deadline)
                status = response.status_code
        except BodyTooLarge:
            raise IndexerError(f"the answer is larger than {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB") from None
        except BodyTooSlow:
            raise IndexerError(f"no complete answer within {self.timeout:g} s") from None
        except requests.Timeout:
            raise IndexerError(f"no answer within {self.timeout:g} s") from None
        except requests.ConnectionError:
            raise IndexerError("cannot connect") from None
        except requests.RequestException as exc:
            raise IndexerError(f"request failed ({type(exc).__name__})") from None
        error = _error_element(body)
        if error:
            raise IndexerError(self._scrub(error))
        if status >= 400:
            raise IndexerError(f"HTTP {status}")
        if 300 <= status < 400:
            raise IndexerError(f"HTTP {status}: redirected; set the indexer's Torznab URL itself")
        return body

    def _scrub(self, text: str) -> str:
        return text.replace(self.settings.api_key, "***") if self.settings.api_key else text


def query_for(caps: Capabilities, kind: str, title: str, year: int | None, tmdb_id: int | None,
              season: int | None = None, episode: int | None = None) -> Query:
    """The most precise search the indexer supports for a movie (kind "movie") or a show's season or episode."""
    if kind == "movie":
        if tmdb_id and caps.supports("movie-search", "tmdbid"):
            return Query("movie", (("tmdbid", str(tmdb_id)), ("cat", str(MOVIE_CATEGORY))))
        text = f"{title} {year}" if year else title
        if caps.supports("movie-search", "q"):
            return Query("movie", (("q", text), ("cat", str(MOVIE_CATEGORY))))
        return Query("search", (("q", text),))
    numbers: list[tuple[str, str]] = []
    if caps.supports("tv-search", "q", "season"):
        numbers.append(("season", str(season)))
        if episode is not None and caps.supports("tv-search", "ep"):
            numbers.append(("ep", str(episode)))
        if tmdb_id and caps.supports("tv-search", "tmdbid"):
            return Query("tvsearch", (("tmdbid", str(tmdb_id)), *numbers, ("cat", str(TV_CATEGORY))))
        return Query("tvsearch", (("q", title), *numbers, ("cat", str(TV_CATEGORY))))
    marker = f"S{season:02d}" + (f"E{episode:02d}" if episode is not None else "")
    return Query("search", (("q", f"{title} {marker}"),))


def parse_caps(xml: bytes) -> Capabilities:
    root = _parse(xml)
    searching = root.find("searching")
    if root.tag != "caps" or searching is None:
        raise IndexerError("the capabilities answer is not a Torznab caps document")
    modes = {}
    for mode in searching:
        if mode.get("available", "no").lower() == "yes":
            modes[mode.tag] = {p.strip() for p in mode.get("supportedParams", "q").split(",") if p.strip()}
    return Capabilities(modes)


def parse_results(xml: bytes, indexer: str) -> list[Release]:
    root = _parse(xml)
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise IndexerError("the answer is not a Torznab RSS feed")
    return [release for item in channel.iter("item") if (release := _release(item, indexer)) is not None]


def _release(item, indexer: str) -> Release | None:
    attrs = {a.get("name", ""): a.get("value", "") for a in item.iter(f"{TORZNAB_NS}attr")}
    title = _clean(item.findtext("title") or "")
    enclosure = item.find("enclosure")
    links = [attrs.get("magneturl", ""), (item.findtext("link") or "").strip(),
             enclosure.get("url", "") if enclosure is not None else ""]
    source_url = next((link.strip() for link in links if _usable_link(link.strip())), None)
    if not title or source_url is None:
        return None
    size = _number(item.findtext("size")) or _number(attrs.get("size"))
    if size is None and enclosure is not None:
        size = _number(enclosure.get("length"))
    seeders = _number(attrs.get("seeders"))
    peers = _number(attrs.get("peers"))
    return Release(title=title, indexer=indexer, source_url=source_url, size=size, seeders=seeders, peers=peers,
                   info_hash=_info_hash(attrs.get("infohash"), source_url))


def _usable_link(link: str) -> bool:
    return link.lower().startswith(("magnet:", "http://", "https://"))


def _info_hash(declared: str | None, source_url: str) -> str | None:
    for candidate in (f"magnet:?xt=urn:btih:{declared}" if declared else None, source_url):
        if candidate and candidate.lower().startswith("magnet:"):
            try:
                return parse_source(candidate).info_hash
            except SourceError:
                continue
    return None


def _number(text: str | None) -> int | None:
    try:
        value = int(str(text).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 0 else None


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()[:MAX_TITLE_CHARS]


def _parse(xml: bytes):
    try:
        return fromstring(xml, forbid_dtd=True)
    except DefusedXmlException:
        raise IndexerError("refused the answer: it declares a DTD or entities (an XML bomb?)") from None
    except ParseError:
        raise IndexerError("the answer is not well-formed XML") from None


def _error_element(xml: bytes) -> str | None:
    """Torznab's `<error code="100" description="Invalid API Key"/>`, as text, when that is the answer."""
    if b"<error" not in xml[:4096]:
        return None
    try:
        root = _parse(xml)
    except IndexerError:
        return None
    if root.tag != "error":
        return None
    return f"error {_clean(root.get('code', '?'))[:10]}: {_clean(root.get('description', 'no description'))[:200]}"

