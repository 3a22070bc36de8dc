"""A small client of TMDB's v3 API: the titles, years and episode lists the library needs.

Accepts a v3 API key (sent as the `api_key` parameter) or a v4 read access
token (a JWT, sent as a Bearer header). The key never appears in logs or errors.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import requests

from momoshtrem.library.errors import InvalidInput, NotFound, Unavailable
from momoshtrem.library.store import NewEpisode, NewSeason
from momoshtrem.redact import redact_in_logs
from momoshtrem.upstream import RedirectedAway, request_same_origin

log = logging.getLogger(__name__)


@dataclass
class TmdbMovie:
    tmdb_id: int
    title: str
    year: int | None


@dataclass
class TmdbShow:
    tmdb_id: int
    title: str
    year: int | None
    seasons: list[NewSeason]


@dataclass(frozen=True)
class TmdbHit:
    """One search result: enough to recognise the film or show and to add it by id."""

    tmdb_id: int
    title: str
    year: int | None
    overview: str


MAX_HITS = 20
_POSTER_PATH = re.compile(r"/[A-Za-z0-9_-]{1,100}\.(jpg|jpeg|png)")


class TmdbClient:
    def __init__(self, api_key: str, base_url: str, language: str = "en-US", timeout: float = 10.0) -> None:
        self._api_key = api_key
        redact_in_logs(api_key)
        self._base_url = base_url.rstrip("/")
        self._language = language
        self._timeout = timeout
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        if api_key.startswith("eyJ"):
            self._session.headers["Authorization"] = f"Bearer {api_key}"

    def movie(self, tmdb_id: int) -> TmdbMovie:
        data = self._get(f"/movie/{int(tmdb_id)}", what=f"movie {tmdb_id}")
        return TmdbMovie(tmdb_id=data["id"], title=data.get("title") or data.get("original_title") or "",
                         year=_year(data.get("release_date")))

    def show(self, tmdb_id: int, season_numbers: list[int] | None = None) -> TmdbShow:
        """The show with the episodes of the chosen seasons (all, Specials included, by default)."""
        data = self._get(f"/tv/{int(tmdb_id)}", what=f"show {tmdb_id}")
        available = sorted(s["season_number"] for s in data.get("seasons") or [])
        chosen = available if season_numbers is None else season_numbers
        unknown = sorted(set(chosen) - set(available))
        if unknown:
            raise InvalidInput(f"TMDB show {tmdb_id} has no season {unknown[0]} (it has {available})")
        seasons = []
        for number in chosen:
            season = self._get(f"/tv/{int(tmdb_id)}/season/{number}", what=f"show {tmdb_id} season {number}")
            episodes = [
                NewEpisode(number=e["episode_number"], name=e.get("name") or None, air_date=e.get("air_date") or None)
                for e in season.get("episodes") or []
            ]
            seasons.append(NewSeason(number=number, name=season.get("name"), episodes=episodes))
        return TmdbShow(tmdb_id=data["id"], title=data.get("name") or data.get("original_name") or "",
                        year=_year(data.get("first_air_date")), seasons=seasons)

    def poster_path(self, kind: str, tmdb_id: int) -> str | None:
        """The item's poster on TMDB's image host (`/abc.jpg`), or None; anything else it says is ignored."""
        data = self._get(f"/{'movie' if kind == 'movie' else 'tv'}/{int(tmdb_id)}", what=f"{kind} {tmdb_id}")
        path = data.get("poster_path")
        return path if isinstance(path, str) and _POSTER_PATH.fullmatch(path) else None

    def search(self, kind: str, query: str) -> list[TmdbHit]:
        """Movies (kind "movie") or shows whose title matches `query`, TMDB's best first."""
        path = "/search/movie" if kind == "movie" else "/search/tv"
        data = self._get(path, what=f"search for '{query[:50]}'", query=query[:200])
        hits = []
        for item in (data.get("results") or [])[:MAX_HITS]:
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                continue
            title = item.get("title") or item.get("name") or item.get("original_title") or item.get("original_name")
            date = item.get("release_date") or item.get("first_air_date")
            hits.append(TmdbHit(item["id"], str(title or "")[:300], _year(date if isinstance(date, str) else None),
                                str(item.get("overview") or "")[:500]))
        return hits

    def _get(self, path: str, what: str, **extra: str) -> dict:
        params = {"language": self._language, **extra}
        if not self._api_key.startswith("eyJ"):
            params["api_key"] = self._api_key
        try:
            response = request_same_origin(self._session, "GET", self._base_url + path, params=params,
                                           timeout=self._timeout)
        except RedirectedAway as exc:
            log.warning("TMDB request for %s: %s; not followed", what, exc)
            raise Unavailable("TMDB redirected the request to another host; check tmdb.base_url") from None
        except requests.RequestException as exc:
            log.warning("TMDB request for %s failed: %s", what, type(exc).__name__)
            raise Unavailable(f"TMDB could not be reached ({type(exc).__name__})") from None
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise Unavailable("TMDB answered with something that is not JSON") from None
        # TMDB's own status_message is not repeated: an upstream's text is not ours to show (it may echo the key).
        if response.status_code == 404:
            raise NotFound(f"TMDB has no {what}")
        if response.status_code == 401:
            raise Unavailable("TMDB refused the configured API key (HTTP 401)")
        if response.status_code == 429:
            raise Unavailable("TMDB's rate limit was reached; try again in a few seconds")
        raise Unavailable(f"TMDB answered HTTP {response.status_code}")


def _year(date: str | None) -> int | None:
    if date and len(date) >= 4 and date[:4].isdigit():
        return int(date[:4])
    return None
