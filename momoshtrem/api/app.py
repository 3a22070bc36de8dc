"""The JSON REST API at /api/: routes, request validation, error mapping.

Handlers stay thin: they validate the JSON, call the library, and serialise
the records. Every error a user can cause answers `{"error": "..."}` with a
4xx status; the library is never left half-changed (its writes are
transactions).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
from dataclasses import asdict
from typing import Any, Callable
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from momoshtrem import __version__
from momoshtrem.actions import Actions, torrent_from_bytes
from momoshtrem.httputil import IdConverter
from momoshtrem.library.errors import InvalidInput, LibraryError, NotFound, Unavailable
from momoshtrem.library.models import ItemRef, TorrentRecord
from momoshtrem.library.store import Page
from momoshtrem.torrent.metainfo import TorrentMeta
from momoshtrem.torrent.sources import SourceError, normalise_info_hash

log = logging.getLogger(__name__)

MAX_ID = 2**63 - 1  # SQLite's largest integer
DEFAULT_PAGE = 200  # items a list answers without `limit`: 8,000 movies were 2.8 MB and 191 ms in one answer
MAX_PAGE = 1000


_ROUTES = Map(
    [
        Rule("/api/health", endpoint="health", methods=["GET"]),
        Rule("/api/movies", endpoint="list_movies", methods=["GET"]),
        Rule("/api/movies", endpoint="add_movie", methods=["POST"]),
        Rule("/api/movies/<id:item_id>", endpoint="get_movie", methods=["GET"]),
        Rule("/api/movies/<id:item_id>", endpoint="delete_movie", methods=["DELETE"]),
        Rule("/api/movies/<id:item_id>/assign", endpoint="assign_movie", methods=["POST"]),
        Rule("/api/movies/<id:item_id>/assign", endpoint="unassign_movie", methods=["DELETE"]),
        Rule("/api/shows", endpoint="list_shows", methods=["GET"]),
        Rule("/api/shows", endpoint="add_show", methods=["POST"]),
        Rule("/api/shows/<id:item_id>", endpoint="get_show", methods=["GET"]),
        Rule("/api/shows/<id:item_id>", endpoint="delete_show", methods=["DELETE"]),
        Rule("/api/shows/<id:item_id>/assign", endpoint="assign_show", methods=["POST"]),
        Rule("/api/episodes/<id:item_id>/assign", endpoint="unassign_episode", methods=["DELETE"]),
        Rule("/api/movies/<id:item_id>/releases", endpoint="movie_releases", methods=["GET"]),
        Rule("/api/shows/<id:item_id>/releases", endpoint="season_releases", methods=["GET"]),
        Rule("/api/episodes/<id:item_id>/releases", endpoint="episode_releases", methods=["GET"]),
        Rule("/api/<any(movies, episodes):kind>/<id:item_id>/subtitles", endpoint="list_subtitles", methods=["GET"]),
        Rule("/api/<any(movies, episodes):kind>/<id:item_id>/subtitles", endpoint="download_subtitle",
             methods=["POST"]),
        Rule("/api/<any(movies, episodes):kind>/<id:item_id>/subtitles/search", endpoint="search_subtitles",
             methods=["GET"]),
        Rule("/api/subtitles/<id:subtitle_id>", endpoint="delete_subtitle", methods=["DELETE"]),
        Rule("/api/torrents", endpoint="list_torrents", methods=["GET"]),
        Rule("/api/torrents/<info_hash>", endpoint="get_torrent", methods=["GET"]),
        Rule("/api/torrents/<info_hash>", endpoint="remove_torrent", methods=["DELETE"]),
        Rule("/api/torrents/<info_hash>/pause", endpoint="pause_torrent", methods=["POST"]),
        Rule("/api/torrents/<info_hash>/resume", endpoint="resume_torrent", methods=["POST"]),
    ],
    strict_slashes=False,
    converters={"id": IdConverter},
)


class ApiApp:
    def __init__(self, actions: Actions) -> None:
        self.ctx = actions

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not _buffer_chunked_body(
                environ, self.ctx.max_upload_bytes):
            return _error(413, f"the request body is larger than {self.ctx.max_upload_bytes} bytes")(
                environ, start_response)
        request = Request(environ)
        request.max_content_length = self.ctx.max_upload_bytes
        request.max_form_memory_size = self.ctx.max_upload_bytes
        try:
            endpoint, args = _ROUTES.bind_to_environ(environ).match()
            response = getattr(self, endpoint)(request, **args)
        except LibraryError as exc:
            response = _error(exc.status, str(exc), exc.details)
            if isinstance(exc, Unavailable):
                response.headers["Retry-After"] = str(exc.retry_after)
        except RequestEntityTooLarge:
            response = _error(413, f"the request body is larger than {self.ctx.max_upload_bytes} bytes")
        except HTTPException as exc:
            response = _error(exc.code or 500, exc.description or exc.name)
        except Exception:  # the server keeps serving; the log has the traceback
            log.exception("API %s %s failed", request.method, request.path)
            response = _error(500, "internal error; see the server log")
        return response(environ, start_response)

    # -- routes ---------------------------------------------------------------

    def health(self, request: Request) -> Response:
        return _json({"status": "ok", "version": __version__})

    def list_movies(self, request: Request) -> Response:
        page = _page(request)
        return _paged([self._item(m) for m in self.ctx.library.list_movies(page)], request, page,
                      self.ctx.library.count("movies"))

    def add_movie(self, request: Request) -> Response:
        body = _json_body(request, allowed={"title", "year", "tmdb_id"})
        if "tmdb_id" in body:
            movie = self.ctx.add_movie(None, None, _int_field(body, "tmdb_id", minimum=1))
        else:
            movie = self.ctx.add_movie(body.get("title"), _year(body))
        return _json(asdict(movie), status=201)

    def get_movie(self, request: Request, item_id: int) -> Response:
        return _json(self._item(self.ctx.library.get_movie(item_id)))

    def delete_movie(self, request: Request, item_id: int) -> Response:
        self.ctx.library.delete_movie(item_id)
        self.ctx.subtitles.forget_deleted_items()
        return Response(status=204)

    def assign_movie(self, request: Request, item_id: int) -> Response:
        self.ctx.library.get_movie(item_id)  # 404 before reading the body
        return _json(self.ctx.assign_movie(item_id, self._torrent_from(request)).to_json())

    def unassign_movie(self, request: Request, item_id: int) -> Response:
        self.ctx.library.unassign_movie(item_id)
        return Response(status=204)

    def list_shows(self, request: Request) -> Response:
        page = _page(request)
        return _paged([asdict(s) for s in self.ctx.library.list_shows(page)], request, page,
                      self.ctx.library.count("shows"))

    def add_show(self, request: Request) -> Response:
        body = _json_body(request, allowed={"title", "year", "tmdb_id", "seasons"})
        seasons = body.get("seasons")
        if seasons is not None and (
            not isinstance(seasons, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                                     for n in seasons)
        ):
            raise InvalidInput("'seasons' must be a list of season numbers")
        if "tmdb_id" in body:
            show = self.ctx.add_show(None, None, _int_field(body, "tmdb_id", minimum=1), seasons)
        else:
            show = self.ctx.add_show(body.get("title"), _year(body), seasons=seasons)
        return _json(asdict(show), status=201)

    def get_show(self, request: Request, item_id: int) -> Response:
        return _json(self._item(self.ctx.library.get_show(item_id)))

    def delete_show(self, request: Request, item_id: int) -> Response:
        self.ctx.library.delete_show(item_id)
        self.ctx.subtitles.forget_deleted_items()
        return Response(status=204)

    def assign_show(self, request: Request, item_id: int) -> Response:
        self.ctx.library.get_show(item_id)
        return _json(self.ctx.assign_show(item_id, self._torrent_from(request)).to_json())

    def unassign_episode(self, request: Request, item_id: int) -> Response:
        self.ctx.library.unassign_episode(item_id)
        return Response(status=204)

    def movie_releases(self, request: Request, item_id: int) -> Response:
        return _json(self.ctx.movie_releases(item_id).to_json())

    def season_releases(self, request: Request, item_id: int) -> Response:
        """`?season=N`: season packs first, then single episodes of that season."""
        season = request.args.get("season", "")
        if not season.isascii() or not season.isdigit() or len(season) > 4:
            raise InvalidInput("give the season to search for: ?season=N")
        return _json(self.ctx.season_releases(item_id, int(season)).to_json())

    def episode_releases(self, request: Request, item_id: int) -> Response:
        found, show_id = self.ctx.episode_releases(item_id)
        return _json({**found.to_json(), "show_id": show_id})  # a release is assigned to the show

    def list_subtitles(self, request: Request, kind: str, item_id: int) -> Response:
        return _json(asdict(self.ctx.subtitles.of_item(_item_ref(kind, item_id))))

    def search_subtitles(self, request: Request, kind: str, item_id: int) -> Response:
        """`?languages=en,fr` (default: subtitles.auto_languages); results best first."""
        languages = [code for code in request.args.get("languages", "").split(",") if code.strip()]
        outcome = self.ctx.subtitle_search(_item_ref(kind, item_id), languages or self.ctx.subtitles.auto_languages)
        return _json(asdict(outcome))

    def download_subtitle(self, request: Request, kind: str, item_id: int) -> Response:
        """`{"language": "en"}` takes the best result; with `"file_id"` (and `"variant"`), that file."""
        body = _json_body(request, allowed={"language", "file_id", "variant"})
        if not isinstance(body.get("language"), str):
            raise InvalidInput("'language' is required: an ISO 639-1 code such as en or fr")
        file_id = _int_field(body, "file_id", minimum=1) if "file_id" in body else None
        record = self.ctx.subtitle_download(_item_ref(kind, item_id), body["language"], file_id, body.get("variant"))
        return _json(asdict(record), status=201)

    def delete_subtitle(self, request: Request, subtitle_id: int) -> Response:
        self.ctx.subtitles.delete(subtitle_id)
        return Response(status=204)

    def list_torrents(self, request: Request) -> Response:
        page = _page(request, orders=("added",))
        return _paged([self._torrent_json(record) for record in self.ctx.library.list_torrents(page)], request, page,
                      self.ctx.library.count("torrents"))

    def get_torrent(self, request: Request, info_hash: str) -> Response:
        info_hash = _info_hash(info_hash)
        try:
            record = self.ctx.library.get_torrent(info_hash)
        except NotFound:
            progress = self.ctx.engine.fetch_progress(info_hash)
            if progress is None:
                raise
            # Not stored yet: its metadata is on the way (an assign is waiting for it).
            return _json({"info_hash": info_hash, "state": "fetching_metadata",
                          "elapsed": round(progress[0], 1), "peers": progress[1]})
        return _json(self._torrent_json(record))

    def pause_torrent(self, request: Request, info_hash: str) -> Response:
        info_hash = _info_hash(info_hash)
        self.ctx.library.get_torrent(info_hash)
        self.ctx.engine.pause(info_hash)
        return _json(self._torrent_json(self.ctx.library.get_torrent(info_hash)))

    def resume_torrent(self, request: Request, info_hash: str) -> Response:
        info_hash = _info_hash(info_hash)
        self.ctx.library.get_torrent(info_hash)
        self.ctx.engine.resume(info_hash)
        return _json(self._torrent_json(self.ctx.library.get_torrent(info_hash)))

    def remove_torrent(self, request: Request, info_hash: str) -> Response:
        """The torrent leaves the session and the library, with its data and every assignment to it."""
        info_hash = _info_hash(info_hash)
        return _json({"info_hash": info_hash, "removed_assignments": self.ctx.remove_torrent(info_hash)})

    def _item(self, item: object) -> dict:
        """A movie or show as JSON, each assignment with its `probe` record (see probestore/)."""
        data = asdict(item)
        for assignment in _assignments_in(data):
            probe = self.ctx.probe_status(assignment["info_hash"], assignment["file_index"])
            assignment["probe"] = asdict(probe) if probe is not None else None
        return data

    def _torrent_json(self, record: TorrentRecord) -> dict:
        return {**asdict(record), **asdict(self.ctx.engine.state(record.info_hash))}

    # -- helpers --------------------------------------------------------------

    def _torrent_from(self, request: Request) -> TorrentMeta:
        """The torrent named by an assign request: an uploaded file, base64 bytes, a magnet or an info-hash."""
        if request.mimetype == "multipart/form-data":
            upload = request.files.get("torrent")
            if upload is None:
                raise InvalidInput("the multipart body has no file field named 'torrent'")
            return torrent_from_bytes(upload.read())
        body = _json_body(request, allowed={"source", "torrent"})
        if ("source" in body) == ("torrent" in body):
            raise InvalidInput("give exactly one of 'source' (magnet or info-hash) and 'torrent' (base64 .torrent)")
        if "torrent" in body:
            if not isinstance(body["torrent"], str):
                raise InvalidInput("'torrent' must be the .torrent file's bytes in base64")
            try:
                data = base64.b64decode(body["torrent"], validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput("'torrent' is not valid base64") from None
            return torrent_from_bytes(data)
        return self.ctx.torrent_from_text(body["source"])


def _item_ref(kind: str, item_id: int) -> ItemRef:
    return ItemRef("movie" if kind == "movies" else "episode", item_id)


def _info_hash(text: str) -> str:
    try:
        return normalise_info_hash(text)
    except SourceError as exc:
        raise InvalidInput(str(exc)) from None


def _page(request: Request, orders: tuple[str, ...] = ("id", "title")) -> Page:
    """`limit` (1..MAX_PAGE, default DEFAULT_PAGE), `offset`, `sort` (the first of `orders` by default)."""
    def number(name: str, default: int, low: int, high: int) -> int:
        text = request.args.get(name)
        if text is None:
            return default
        if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
            raise InvalidInput(f"'{name}' must be a whole number from {low} to {high}")
        return int(text)

    sort = request.args.get("sort", orders[0])
    if sort not in orders:
        raise InvalidInput(f"'sort' is one of: {', '.join(orders)}")
    return Page(limit=number("limit", DEFAULT_PAGE, 1, MAX_PAGE), offset=number("offset", 0, 0, MAX_ID),
                order="id" if sort == "added" else sort)


def _paged(items: list, request: Request, page: Page, total: int) -> Response:
    """One page, with the total in X-Total-Count and the next page's URL in a Link header (RFC 8288)."""
    response = _json(items)
    response.headers["X-Total-Count"] = str(total)
    if page.offset + len(items) < total:
        query = {**request.args.to_dict(), "limit": str(page.limit), "offset": str(page.offset + len(items))}
        response.headers["Link"] = f'<{request.path}?{urlencode(query)}>; rel="next"'
    return response


def _assignments_in(data: dict) -> list[dict]:
    """The assignment records of a movie's or a show's JSON."""
    if "seasons" in data:
        return [e["assignment"] for season in data["seasons"] for e in season["episodes"] if e["assignment"]]
    return [data["assignment"]] if data.get("assignment") else []


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, ensure_ascii=False), status=status, mimetype="application/json")


def _error(status: int, message: str, details: dict | None = None) -> Response:
    return _json({"error": message, **(details or {})}, status=status)


def _buffer_chunked_body(environ: dict, limit: int) -> bool:
    """A chunked body (no Content-Length) read here, at most `limit` bytes, and handed on with its length.

    werkzeug sees an empty body where the length is unknown, and once told the
    stream ends by itself it cut the body at the limit (a 400 for broken JSON,
    not a 413). False when the body is larger than `limit`.
    """
    body = environ["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        return False
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    del environ["HTTP_TRANSFER_ENCODING"]
    return True


def _json_body(request: Request, allowed: set[str]) -> dict:
    if request.mimetype != "application/json":
        raise InvalidInput("send a JSON body with Content-Type: application/json")
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise InvalidInput("the body is not valid JSON: nested too deep") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidInput(f"unknown field '{unknown[0]}'; expected: {', '.join(sorted(allowed))}")
    return body


def _int_field(body: dict, key: str, minimum: int | None = None, maximum: int = MAX_ID) -> int:
    """A whole number in range; by default one SQLite can store (a larger one would fail as a 500 there)."""
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"'{key}' must be a whole number")
    if (minimum is not None and value < minimum) or value > maximum:
        raise InvalidInput(f"'{key}' is out of range")
    return value


def _year(body: dict) -> int | None:
    if body.get("year") is None:
        return None
    return _int_field(body, "year", minimum=1870, maximum=2200)
