"""A local stand-in for TMDB's v3 API, answering with its real response shapes.

Only the internet service is replaced: the real `TmdbClient` talks HTTP to it.
The bodies follow TMDB's documented `/movie/{id}`, `/tv/{id}` and
`/tv/{id}/season/{n}` answers (fields trimmed to a realistic subset) and its
error envelope `{"success": false, "status_code": N, "status_message": "..."}`.
"""

from __future__ import annotations

import re
import struct
import zlib
from urllib.parse import parse_qs, urlsplit

from tests.loopback_http import JsonHandler, LoopbackServer

API_KEY = "0123456789abcdef0123456789abcdef"


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour: what the image host serves for every poster."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


POSTER_PNG = _png(34, 51, (40, 90, 160))

MOVIES = {
    603: {
        "adult": False, "backdrop_path": "/fNG7i7RqMErkcqhohV2a6cV1Ehy.jpg", "budget": 63000000,
        "genres": [{"id": 28, "name": "Action"}, {"id": 878, "name": "Science Fiction"}],
        "homepage": "http://www.warnerbros.com/matrix", "id": 603, "imdb_id": "tt0133093",
        "original_language": "en", "original_title": "The Matrix", "overview": "Set in the 22nd century...",
        "popularity": 80.1, "poster_path": "/f89U3ADr1oiB1s9GkdPOEpXUk5H.jpg", "release_date": "1999-03-30",
        "revenue": 463517383, "runtime": 136, "status": "Released", "tagline": "Welcome to the Real World.",
        "title": "The Matrix", "video": False, "vote_average": 8.2, "vote_count": 24000,
    },
}

SHOWS = {
    1396: {
        "backdrop_path": "/tsRy63Mu5cu8etL1X7ZLyf7UP1M.jpg", "episode_run_time": [45, 47],
        "first_air_date": "2008-01-20", "genres": [{"id": 18, "name": "Drama"}], "id": 1396,
        "in_production": False, "languages": ["en"], "last_air_date": "2013-09-29", "name": "Breaking Bad",
        "number_of_episodes": 5, "number_of_seasons": 2, "original_name": "Breaking Bad",
        "overview": "Walter White...", "status": "Ended", "type": "Scripted",
        "seasons": [
            {"air_date": "2009-02-17", "episode_count": 1, "id": 3577, "name": "Specials", "overview": "",
             "poster_path": None, "season_number": 0, "vote_average": 0.0},
            {"air_date": "2008-01-20", "episode_count": 3, "id": 3572, "name": "Season 1", "overview": "",
             "poster_path": "/1BP4xYv9ZG4ZVHkL7ocOziBbSYH.jpg", "season_number": 1, "vote_average": 8.3},
            {"air_date": "2009-03-08", "episode_count": 1, "id": 3573, "name": "Season 2", "overview": "",
             "poster_path": "/e3oGYpoTUhOFK0BJfloru5ZmGV.jpg", "season_number": 2, "vote_average": 8.4},
        ],
    },
}

EPISODE_NAMES = {
    (1396, 0): [(1, "Good Cop / Bad Cop", "2009-02-17")],
    (1396, 1): [(1, "Pilot", "2008-01-20"), (2, "Cat's in the Bag...", "2008-01-27"),
                (3, "...And the Bag's in the River", "2008-02-10")],
    (1396, 2): [(1, "Seven Thirty-Seven", "2009-03-08")],
}


def search_result(item: dict) -> dict:
    """An entry of /search/movie or /search/tv: a subset of the details, as TMDB sends it."""
    keys = ("adult", "backdrop_path", "id", "original_language", "overview", "popularity", "poster_path",
            "vote_average", "vote_count", "title", "original_title", "release_date", "video",
            "name", "original_name", "first_air_date")
    return {key: item[key] for key in keys if key in item} | {"genre_ids": [g["id"] for g in item["genres"]]}


def season_body(show_id: int, number: int) -> dict:
    return {
        "_id": f"52542282760ee313280{number:05d}", "air_date": EPISODE_NAMES[(show_id, number)][0][2],
        "name": "Specials" if number == 0 else f"Season {number}", "overview": "", "id": 3572 + number,
        "poster_path": None, "season_number": number, "vote_average": 8.0,
        "episodes": [
            {"air_date": air, "episode_number": n, "episode_type": "standard", "id": 62085 + n,
             "name": name, "overview": "", "production_code": "", "runtime": 47, "season_number": number,
             "show_id": show_id, "still_path": None, "vote_average": 8.0, "vote_count": 100,
             "crew": [], "guest_stars": []}
            for n, name, air in EPISODE_NAMES[(show_id, number)]
        ],
    }


class FakeTmdb:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.rate_limited = False
        self.redirect_to: str | None = None  # answer every request with a 302 there, query and all
        self.echo_errors = False  # answer 500 with a status_message that repeats the request, key included
        self.images_are_pages = False  # the image host answers HTML, as a captive portal would
        fake = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                fake.requests.append(self.path)
                if self.path.startswith("/t/p/"):  # the image host: no key, raw bytes
                    body, content_type = ((b"<html>not an image</html>", "text/html") if fake.images_are_pages
                                          else (POSTER_PNG, "image/png"))
                    self.send_response(200)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_json(*fake.answer(self.path, self.headers.get("Authorization")))

        self.server = LoopbackServer(Handler)

    @property
    def base_url(self) -> str:
        return self.server.root + "/3"

    @property
    def image_base_url(self) -> str:
        return self.server.root + "/t/p"

    def close(self) -> None:
        self.server.close()

    def answer(self, raw_path: str, authorization: str | None) -> tuple:
        url = urlsplit(raw_path)
        if self.redirect_to:
            return 302, {}, {"Location": f"{self.redirect_to}{raw_path}"}
        if self.echo_errors:
            return 500, {"success": False, "status_code": 11, "status_message": f"Internal error for {raw_path}"}
        key = parse_qs(url.query).get("api_key", [None])[0]
        if key != API_KEY and authorization != f"Bearer eyJ{API_KEY}":
            return 401, {"success": False, "status_code": 7,
                         "status_message": "Invalid API key: You must be granted a valid key."}
        if self.rate_limited:
            return 429, {"success": False, "status_code": 25,
                         "status_message": "Your request count (#) is over the allowed limit of (40)."}
        not_found = (404, {"success": False, "status_code": 34,
                           "status_message": "The resource you requested could not be found."})
        if m := re.fullmatch(r"/3/movie/(\d+)", url.path):
            movie = MOVIES.get(int(m.group(1)))
            return (200, movie) if movie else not_found
        if m := re.fullmatch(r"/3/tv/(\d+)", url.path):
            show = SHOWS.get(int(m.group(1)))
            return (200, show) if show else not_found
        if m := re.fullmatch(r"/3/tv/(\d+)/season/(\d+)", url.path):
            key_ = (int(m.group(1)), int(m.group(2)))
            return (200, season_body(*key_)) if key_ in EPISODE_NAMES else not_found
        if m := re.fullmatch(r"/3/search/(movie|tv)", url.path):
            query = parse_qs(url.query).get("query", [""])[0].casefold()
            pool = MOVIES if m.group(1) == "movie" else SHOWS
            found = [search_result(item) for item in pool.values()
                     if query and query in (item.get("title") or item.get("name")).casefold()]
            return 200, {"page": 1, "results": found, "total_pages": 1, "total_results": len(found)}
        return not_found
