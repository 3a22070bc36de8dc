"""A client of the OpenSubtitles REST API (api.opensubtitles.com/api/v1): search, download link, file.

Every request carries the `Api-Key` and the `User-Agent` the API requires
("momoshtrem vX.Y"). Searches need no login; downloads count against the
quota of the API key, or of the user once logged in (`POST /login`, its token
sent as a Bearer header). The API answers 429 over its rate limit, with
`Retry-After`: the client waits that long once (when it is short) and tries
again. A 406 on download means the day's quota is spent; its body says when
it resets. The API key, the password and the token never appear in logs.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import requests

from momoshtrem import __version__
from momoshtrem.library.errors import LibraryError, Unavailable
from momoshtrem.redact import redact_in_logs
from momoshtrem.upstream import RedirectedAway, request_same_origin

log = logging.getLogger(__name__)

USER_AGENT = f"momoshtrem v{__version__}"
MAX_RETRY_WAIT = 5.0  # seconds: a longer Retry-After is the user's to wait, not a request's
MIN_REQUEST_INTERVAL = 0.2  # seconds between requests: the API allows 5 per second
MAX_FILE_BYTES = 5 * 1024 * 1024  # text subtitles are far smaller; anything bigger is not one


class RateLimited(LibraryError):
    """Too many requests, or the download quota is spent: the message says when to try again."""

    status = 429


class BadFile(LibraryError):
    """OpenSubtitles sent something that is not a usable subtitle file."""

    status = 502


@dataclass(frozen=True)
class SearchQuery:
    """What to look for. A TMDB id beats a title; for an episode, `tmdb_id` is the show's."""

    languages: tuple[str, ...]
    kind: str  # "movie" or "episode"
    tmdb_id: int | None = None
    title: str | None = None
    year: int | None = None
    season: int | None = None
    episode: int | None = None
    moviehash: str | None = None


@dataclass(frozen=True)
class SubtitleResult:
    """One downloadable file of a search result, with what ranks it."""

    file_id: int
    file_name: str
    language: str
    release: str
    hearing_impaired: bool
    foreign_parts_only: bool
    moviehash_match: bool
    machine_translated: bool
    from_trusted: bool
    download_count: int
    uploader: str | None


@dataclass(frozen=True)
class DownloadedFile:
    file_name: str
    content: bytes
    remaining: int | None  # downloads left in the quota


def search_params(query: SearchQuery) -> list[tuple[str, str]]:
    """The GET parameters, sorted by name with lower-case values: the API redirects any other order. Pure."""
    params: dict[str, str] = {"languages": ",".join(sorted(lang.lower() for lang in query.languages))}
    episode = query.kind == "episode"
    params["type"] = "episode" if episode else "movie"
    if query.tmdb_id is not None:
        params["parent_tmdb_id" if episode else "tmdb_id"] = str(query.tmdb_id)
    elif query.title:
        params["query"] = query.title.lower()
        if query.year is not None and not episode:
            params["year"] = str(query.year)
    if episode and query.season is not None and query.episode is not None:
        params["season_number"] = str(query.season)
        params["episode_number"] = str(query.episode)
    if query.moviehash:
        params["moviehash"] = query.moviehash.lower()
    return sorted(params.items())


def parse_results(body: dict) -> list[SubtitleResult]:
    """Each file of each `data[].attributes` (a result of several CDs gives several files). Pure."""
    results = []
    for item in body.get("data") or []:
        attributes = item.get("attributes") or {}
        for file in attributes.get("files") or []:
            if not isinstance(file.get("file_id"), int):
                continue
            results.append(SubtitleResult(
                file_id=file["file_id"],
                file_name=str(file.get("file_name") or ""),
                language=str(attributes.get("language") or ""),
                release=str(attributes.get("release") or ""),
                hearing_impaired=bool(attributes.get("hearing_impaired")),
                foreign_parts_only=bool(attributes.get("foreign_parts_only")),
                moviehash_match=bool(attributes.get("moviehash_match")),
                machine_translated=bool(attributes.get("machine_translated") or attributes.get("ai_translated")),
                from_trusted=bool(attributes.get("from_trusted")),
                download_count=int(attributes.get("download_count") or 0),
                uploader=(attributes.get("uploader") or {}).get("name"),
            ))
    return results


class OpenSubtitlesClient:
    def __init__(self, api_key: str, base_url: str, username: str = "", password: str = "",
                 timeout: float = 15.0) -> None:
        for secret in (api_key, password):
            redact_in_logs(secret)
        self._base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._timeout = timeout
        self._session = requests.Session()
        self._session.headers.update({"Api-Key": api_key, "User-Agent": USER_AGENT, "Accept": "application/json"})
        self._token: str | None = None
        self._lock = threading.Lock()  # one request at a time keeps to the rate limit
        self._last_request = 0.0

    def search(self, query: SearchQuery) -> list[SubtitleResult]:
        response = self._request("GET", "/subtitles", what="search", params=search_params(query))
        return parse_results(_json(response))

    def download(self, file_id: int) -> DownloadedFile:
        """Ask for a download link (one of the quota), then fetch the file from it."""
        headers = {"Authorization": f"Bearer {self._login()}"} if self._username else {}
        response = self._request("POST", "/download", what="download", json={"file_id": file_id}, headers=headers)
        body = _json(response)
        link, remaining = body.get("link"), body.get("remaining")
        if not isinstance(link, str) or not link.startswith(("https://", "http://")):
            raise Unavailable("OpenSubtitles answered the download without a link")
        log.info("OpenSubtitles file %d: %s downloads left, quota resets %s", file_id, remaining,
                 body.get("reset_time_utc") or "?")
        return DownloadedFile(str(body.get("file_name") or ""), self._fetch(link),
                              remaining if isinstance(remaining, int) else None)

    # -- HTTP -----------------------------------------------------------------

    def _login(self) -> str:
        if self._token is None:
            response = self._request("POST", "/login", what="login",
                                     json={"username": self._username, "password": self._password})
            token = _json(response).get("token")
            if not isinstance(token, str) or not token:
                raise Unavailable("OpenSubtitles answered the login without a token")
            redact_in_logs(token)
            self._token = token
        return self._token

    def _request(self, method: str, path: str, what: str, **kwargs) -> requests.Response:
        for attempt in (1, 2):
            response = self._send(method, path, what, **kwargs)
            if response.status_code == 200:
                return response
            if response.status_code == 429:
                wait = _retry_after(response)
                if attempt == 1 and wait <= MAX_RETRY_WAIT:
                    log.info("OpenSubtitles rate limit: retrying the %s in %.1f s", what, wait)
                    time.sleep(wait)
                    continue
                raise RateLimited(f"OpenSubtitles' rate limit was reached; try again in {wait:.0f} s")
            if response.status_code == 401 and what == "download" and self._token is not None:
                self._token = None  # an expired token: log in again, once
                kwargs["headers"] = {"Authorization": f"Bearer {self._login()}"}
                continue
            raise _error_for(response, what)
        raise _error_for(response, what)

    def _send(self, method: str, path: str, what: str, **kwargs) -> requests.Response:
        with self._lock:
            pause = self._last_request + MIN_REQUEST_INTERVAL - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                return request_same_origin(self._session, method, self._base_url + path, timeout=self._timeout,
                                           **kwargs)
            except RedirectedAway as exc:
                log.warning("OpenSubtitles %s: %s; not followed", what, exc)
                raise Unavailable("OpenSubtitles redirected the request to another host; check "
                                  "opensubtitles.base_url") from None
            except requests.Timeout:
                raise Unavailable(f"OpenSubtitles did not answer the {what} within {self._timeout:.0f} s") from None
            except requests.RequestException as exc:
                log.warning("OpenSubtitles %s failed: %s", what, type(exc).__name__)
                raise Unavailable(f"OpenSubtitles could not be reached ({type(exc).__name__})") from None
            finally:
                self._last_request = time.monotonic()

    def _fetch(self, link: str) -> bytes:
        """The file behind a download link: no API key to that host, and never more than MAX_FILE_BYTES."""
        try:
            with requests.get(link, headers={"User-Agent": USER_AGENT}, timeout=self._timeout, stream=True) as response:
                if response.status_code != 200:
                    raise Unavailable(f"the subtitle file could not be fetched (HTTP {response.status_code})")
                data = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    data += chunk
                    if len(data) > MAX_FILE_BYTES:
                        raise BadFile(f"the subtitle file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; "
                                      "not a text subtitle")
                return bytes(data)
        except requests.Timeout:
            raise Unavailable(f"the subtitle file did not arrive within {self._timeout:.0f} s") from None
        except requests.RequestException as exc:
            raise Unavailable(f"the subtitle file could not be fetched ({type(exc).__name__})") from None


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        raise Unavailable("OpenSubtitles answered with something that is not JSON") from None
    if not isinstance(body, dict):
        raise Unavailable("OpenSubtitles answered with an unexpected JSON shape")
    return body


def _error_for(response: requests.Response, what: str) -> LibraryError:
    """The error to show, from the status alone: OpenSubtitles' own text is not repeated (it may echo a key)."""
    status = response.status_code
    if status == 406 and what == "download":
        renewed = _quota_reset(response)
        when = f"; it is renewed at {renewed}" if renewed else ""
        return RateLimited(f"the OpenSubtitles download quota is spent{when}")
    if status == 401:
        refused = "username or password" if what == "login" else "API key"
        return Unavailable(f"OpenSubtitles refused the configured {refused} (HTTP 401)")
    if status == 429:
        return RateLimited(f"OpenSubtitles' rate limit was reached; try again in {_retry_after(response):.0f} s")
    return Unavailable(f"OpenSubtitles answered the {what} with HTTP {status}")


def _quota_reset(response: requests.Response) -> str | None:
    """`reset_time_utc` of a spent quota as `YYYY-MM-DD HH:MM:SS UTC`, when it is a real timestamp."""
    try:
        value = response.json().get("reset_time_utc")
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, AttributeError, TypeError):
        return None


def _retry_after(response: requests.Response) -> float:
    """Seconds to wait, from `Retry-After` or the `ratelimit-reset` header; 1 when neither says."""
    for header in ("Retry-After", "ratelimit-reset", "x-ratelimit-reset"):
        try:
            return max(0.0, float(response.headers[header]))
        except (KeyError, ValueError):
            continue
    return 1.0
