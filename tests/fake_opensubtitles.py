"""A local stand-in for the OpenSubtitles REST API v1, answering with its real response shapes.

Only the internet service is replaced: the real `OpenSubtitlesClient` talks
HTTP to it. The bodies follow the API's documented answers: `GET /subtitles`
(`total_count`, `data[].attributes` with `language`, `release`,
`hearing_impaired`, `foreign_parts_only`, `moviehash_match`, `files[]` of
`file_id`/`file_name`, ...), `POST /login` (`user`, `token`, `base_url`),
`POST /download` (`link`, `file_name`, `requests`, `remaining`, `message`,
`reset_time`, `reset_time_utc`; 406 with the same fields once the quota is
spent), the rate-limit headers, 429 with `Retry-After`, and the gateway's 401
`{"message": ...}` for a wrong API key. Download links point back at this
server, as the real ones point at www.opensubtitles.com.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.loopback_http import JsonHandler, LoopbackServer

API_KEY = "fakeOpenSubtitlesKey0123456789ab"
USERNAME, PASSWORD = "viewer", "s3cret-pass"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.fake-session-token.signature"


@dataclass
class FakeSubtitle:
    file_id: int
    language: str
    file_name: str
    content: bytes
    tmdb_id: int | None = None  # the movie's, or the show's for an episode
    query: str | None = None  # the title it is found by
    season: int | None = None
    episode: int | None = None
    moviehash: str | None = None
    hearing_impaired: bool = False
    foreign_parts_only: bool = False
    download_count: int = 100
    searchable: bool = True


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: dict | None


@dataclass
class FakeOpenSubtitles:
    subtitles: list[FakeSubtitle] = field(default_factory=list)
    remaining: int = 20  # downloads left in the quota
    throttled: list[float] = field(default_factory=list)  # Retry-After of the next requests answered 429
    delay: float = 0.0  # seconds before every API answer
    redirect_to: str | None = None  # answer every API request with a 307 there
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                fake._handle(self, None)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"null")
                except ValueError:
                    body = None
                fake._handle(self, body)

        self.server = LoopbackServer(Handler)

    @property
    def root(self) -> str:
        return self.server.root

    @property
    def base_url(self) -> str:
        return self.root + "/api/v1"

    def close(self) -> None:
        self.server.close()

    def api_requests(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == "/api/v1" + path]

    # -- answering ------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, body: dict | None) -> None:
        url = urlsplit(handler.path)
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.requests.append(Request(handler.command, url.path, params, dict(handler.headers.items()), body))
        if url.path.startswith("/download/"):
            return self._send_file(handler, url.path)
        if self.delay:
            time.sleep(self.delay)
        if self.redirect_to:
            return handler.send_json(307, {}, {"Location": self.redirect_to + handler.path})
        status, answer, headers = self._answer(handler, url.path, params, body)
        handler.send_json(status, answer, {"x-ratelimit-limit-second": "5", "x-ratelimit-remaining-second": "4",
                                           **headers})

    def _answer(self, handler, path: str, params: dict, body: dict | None) -> tuple[int, dict, dict]:
        if handler.headers.get("Api-Key") != API_KEY:
            return 401, {"message": "Invalid authentication credentials"}, {}
        if not handler.headers.get("User-Agent"):
            return 403, {"message": "You must provide a User-Agent header"}, {}
        if self.throttled:
            retry_after = self.throttled.pop(0)
            return 429, {"message": "Throttle limit reached. Retry later."}, {"Retry-After": f"{retry_after:g}"}
        if path == "/api/v1/subtitles" and handler.command == "GET":
            return 200, self._search(params), {}
        if path == "/api/v1/login" and handler.command == "POST":
            if body != {"username": USERNAME, "password": PASSWORD}:
                return 401, {"message": "Error, invalid username/password", "status": 401}, {}
            return 200, {"user": {"allowed_downloads": 100, "allowed_translations": 5, "level": "Sub leecher",
                                  "user_id": 4242, "ext_installed": False, "vip": False},
                         "base_url": "api.opensubtitles.com", "token": TOKEN, "status": 200}, {}
        if path == "/api/v1/download" and handler.command == "POST":
            return self._download(handler, body)
        return 404, {"message": "Not found"}, {}

    def _search(self, params: dict) -> dict:
        languages = set(params.get("languages", "").split(","))
        found = [s for s in self.subtitles if s.searchable and s.language in languages and self._matches(s, params)]
        data = [{
            "id": str(9000 + s.file_id), "type": "subtitle",
            "attributes": {
                "subtitle_id": str(9000 + s.file_id), "language": s.language, "download_count": s.download_count,
                "new_download_count": 3, "hearing_impaired": s.hearing_impaired, "hd": True, "fps": 23.976,
                "votes": 2, "ratings": 7.5, "from_trusted": False, "foreign_parts_only": s.foreign_parts_only,
                "upload_date": "2021-03-04T19:36:00Z", "ai_translated": False, "machine_translated": False,
                "release": s.file_name.rsplit(".", 1)[0], "comments": "",
                "legacy_subtitle_id": 3600000 + s.file_id,
                "uploader": {"uploader_id": 47823, "name": "subber", "rank": "translator"},
                "feature_details": {"feature_id": 38367, "feature_type": "Episode" if s.season else "Movie",
                                    "year": 2010, "title": s.query or "", "tmdb_id": s.tmdb_id},
                "url": f"https://www.opensubtitles.com/en/subtitles/legacy/{3600000 + s.file_id}",
                "related_links": [],
                "files": [{"file_id": s.file_id, "cd_number": 1, "file_name": s.file_name}],
                "moviehash_match": bool(s.moviehash) and params.get("moviehash") == s.moviehash,
            },
        } for s in found]
        return {"total_pages": 1, "total_count": len(data), "per_page": 60, "page": 1, "data": data}

    @staticmethod
    def _matches(subtitle: FakeSubtitle, params: dict) -> bool:
        if "tmdb_id" in params or "parent_tmdb_id" in params:
            if str(subtitle.tmdb_id) != params.get("tmdb_id", params.get("parent_tmdb_id")):
                return False
        elif params.get("query") != (subtitle.query or "").lower():
            return False
        if "season_number" in params:
            return (str(subtitle.season), str(subtitle.episode)) == (params["season_number"], params["episode_number"])
        return subtitle.season is None

    def _download(self, handler, body: dict | None) -> tuple[int, dict, dict]:
        quota = {"requests": 25 - self.remaining, "reset_time": "14 hours and 46 minutes",
                 "reset_time_utc": "2026-11-22T04:07:58.000Z"}
        if self.remaining <= 0:
            return 406, {**quota, "remaining": -1, "message": (
                "You have downloaded your allowed 20 subtitles for 24h.Your quota will be renewed in 14 hours and "
                "46 minutes (2026-11-22 04:07:58 UTC) ts=1795234078 ")}, {}
        authorization = handler.headers.get("Authorization")
        if authorization is not None and authorization != f"Bearer {TOKEN}":
            return 401, {"message": "invalid token", "status": 401}, {}
        subtitle = next((s for s in self.subtitles if body and s.file_id == body.get("file_id")), None)
        if subtitle is None:
            return 404, {"message": "Invalid file_id", "status": 404}, {}
        self.remaining -= 1
        return 200, {**quota, "requests": 25 - self.remaining, "remaining": self.remaining,
                     "link": f"{self.root}/download/{subtitle.file_id}/subfile/{subtitle.file_name}",
                     "file_name": subtitle.file_name,
                     "message": "Your quota will be renewed in 14 hours and 46 minutes (2026-11-22 04:07:58 UTC) "}, {}

    def _send_file(self, handler: BaseHTTPRequestHandler, path: str) -> None:
        file_id = int(path.split("/")[2])
        content = next(s.content for s in self.subtitles if s.file_id == file_id)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-subrip")
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)
