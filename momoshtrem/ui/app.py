"""The web UI at /ui/: browse the library, add, find releases, assign, manage torrents, see the status.

Server-rendered Jinja2 pages (autoescaped: titles, file names and release
names come from torrents, indexers and TMDB, and are attacker-controlled)
that work as plain HTML forms; one small script only shows progress while a
magnet's metadata arrives. Every change is a POST, answered by a redirect
(post/redirect/get) or, for an assignment, by the item's page with the
per-file report. Deleting, unassigning and removing ask for a confirmation
page first. Cross-site posts never get here (CrossSiteGuard); auth is the
server's.
"""

from __future__ import annotations

import logging
import math
import posixpath
import re
import time
from dataclasses import asdict
from typing import Any, Callable, Iterable
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from werkzeug.exceptions import HTTPException, NotFound as RouteNotFound, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from momoshtrem import __version__
from momoshtrem.actions import Actions, torrent_from_bytes
from momoshtrem.httputil import IdConverter
from momoshtrem.humanize import human_bytes
from momoshtrem.library import naming
from momoshtrem.library.errors import InvalidInput, LibraryError
from momoshtrem.library.models import ItemRef
from momoshtrem.torrent.metainfo import TorrentMeta
from momoshtrem.tmdb.posters import Posters
from momoshtrem.torrent.sources import SourceError, normalise_info_hash
from momoshtrem.ui.piecemap import legend_html
from momoshtrem.ui.status import StatusSections

log = logging.getLogger(__name__)

UI_PREFIX = "/ui"
_ITEM_PAGE = re.compile(r"/ui/(movies|episodes)/[0-9]{1,18}")  # where a subtitle's Delete may send the browser back
PAGE_SIZE = 100
STATUS_REFRESH_SECONDS = 2

_ROUTES = Map([
    Rule("/ui/", endpoint="library_page", methods=["GET"]),
    Rule("/ui/add", endpoint="add_page", methods=["GET"]),
    Rule("/ui/add", endpoint="add", methods=["POST"]),
    Rule("/ui/<any(movies, shows, episodes):kind>/<id:item_id>", endpoint="item", methods=["GET"]),
    Rule("/ui/<any(movies, shows, episodes):kind>/<id:item_id>/releases", endpoint="releases", methods=["GET"]),
    Rule("/ui/<any(movies, episodes):kind>/<id:item_id>/subtitles", endpoint="subtitle_search", methods=["GET"]),
    Rule("/ui/<any(movies, episodes):kind>/<id:item_id>/subtitles", endpoint="subtitle_download",
         methods=["POST"]),
    Rule("/ui/subtitles/<id:subtitle_id>/delete", endpoint="subtitle_delete", methods=["POST"]),
    Rule("/ui/<any(movies, shows):kind>/<id:item_id>/assign", endpoint="assign", methods=["POST"]),
    Rule("/ui/<any(movies, shows):kind>/<id:item_id>/delete", endpoint="delete", methods=["POST"]),
    Rule("/ui/movies/<id:item_id>/unassign", endpoint="unassign_movie", methods=["POST"]),
    Rule("/ui/episodes/<id:item_id>/unassign", endpoint="unassign_episode", methods=["POST"]),
    Rule("/ui/torrents", endpoint="torrents", methods=["GET"]),
    Rule("/ui/torrents/<info_hash>/<any(pause, resume, remove):action>", endpoint="torrent_action",
         methods=["POST"]),
    Rule("/ui/status", endpoint="status", methods=["GET"]),
    Rule("/ui/posters/<any(movie, show):kind>/<id:tmdb_id>", endpoint="poster", methods=["GET"]),
], converters={"id": IdConverter})


class WebUI:
    def __init__(self, actions: Actions, status: StatusSections, posters: Posters) -> None:
        self.actions = actions
        self.posters = posters
        self.library = actions.library
        self.status_sections = status
        self.templates = Environment(loader=PackageLoader("momoshtrem.ui", "templates"),
                                     autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["bytes"] = human_bytes

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == UI_PREFIX:
            return redirect(UI_PREFIX + "/", code=301)(environ, start_response)
        request = Request(environ)
        request.max_content_length = request.max_form_memory_size = self.actions.max_upload_bytes
        try:
            endpoint, args = _ROUTES.bind_to_environ(environ).match()
            response = getattr(self, endpoint)(request, **args)
        except LibraryError as exc:
            response = self._page("error.html", exc.status, title="Something went wrong",
                                  message=_error(str(exc)))
        except RequestEntityTooLarge:
            response = self._page("error.html", 413, title="Too large",
                                  message=_error(f"the upload is larger than {self.actions.max_upload_bytes} bytes"))
        except RouteNotFound:
            response = self._page("error.html", 404, title="No such page")
        except HTTPException as exc:
            response = self._page("error.html", exc.code or 500, title=exc.name)
        except Exception:  # the server keeps serving; the log has the traceback
            log.exception("UI %s %s failed", request.method, request.path)
            response = self._page("error.html", 500, title="Internal error", message=_error("see the server log"))
        return response(environ, start_response)

    # -- library ----------------------------------------------------------------

    def library_page(self, request: Request) -> Response:
        query = request.args.get("q", "").strip()[:200]
        state = request.args.get("state", "")
        items = [{"kind": "movie", "title": m.title, "year": m.year, "href": f"/ui/movies/{m.id}",
                  "poster": _poster_url("movie", m.tmdb_id),
                  "state": "assigned" if m.assignment else "no torrent",
                  "state_class": "assigned" if m.assignment else "none"} for m in self.library.list_movies()]
        items += [{"kind": "show", "title": s.title, "year": s.year, "href": f"/ui/shows/{s.id}",
                   "poster": _poster_url("show", s.tmdb_id),
                   "state": f"{s.assigned_episodes} of {s.episodes} episodes",
                   "state_class": "assigned" if s.assigned_episodes else "none"} for s in self.library.list_shows()]
        if query:
            items = [i for i in items if query.casefold() in i["title"].casefold()]
        if state:
            items = [i for i in items if i["state_class"] == state]
        items.sort(key=lambda i: (i["title"].casefold(), i["year"] or 0))
        pages = max(1, math.ceil(len(items) / PAGE_SIZE))
        page = min(max(_page_number(request.args.get("page")), 1), pages)

        def page_query(number: int) -> str:
            return urlencode({k: v for k, v in (("q", query), ("state", state), ("page", number)) if v})

        return self._page("library.html", title="Library", here="/ui/", query=query, state=state, total=len(items),
                          items=items[(page - 1) * PAGE_SIZE:page * PAGE_SIZE], page=page, pages=pages,
                          page_query=page_query)

    def add_page(self, request: Request) -> Response:
        query = request.args.get("q", "").strip()[:200]
        kind = "show" if request.args.get("kind") == "show" else "movie"
        hits, message = None, None
        if query and self.actions.tmdb is not None:
            try:
                hits = self.actions.tmdb_search(kind, query)
            except LibraryError as exc:
                message = _error(str(exc))
        return self._page("add.html", title="Add", here="/ui/add", tmdb=self.actions.tmdb is not None, query=query,
                          kind=kind, hits=hits, message=message)

    def add(self, request: Request) -> Response:
        form = request.form
        kind = form.get("kind")
        if kind not in ("movie", "show"):
            raise InvalidInput("choose Add movie or Add show")
        tmdb_id = _optional_int(form.get("tmdb_id"), "TMDB id")
        year = _optional_int(form.get("year"), "Year")
        if year is not None and not 1870 <= year <= 2200:
            raise InvalidInput("the year is out of range")
        try:
            if kind == "movie":
                item_id = self.actions.add_movie(form.get("title"), year, tmdb_id).id
            else:
                item_id = self.actions.add_show(form.get("title"), year, tmdb_id).id
        except LibraryError as exc:
            return self._page("add.html", exc.status, title="Add", here="/ui/add", tmdb=self.actions.tmdb is not None,
                              title_value=form.get("title"), year_value=form.get("year"), hits=None, kind=kind, message=_error(str(exc)))
        return redirect(f"/ui/{kind}s/{item_id}", code=303)

    # -- a movie or a show ------------------------------------------------------

    def item(self, request: Request, kind: str, item_id: int, status: int = 200, **extra: Any) -> Response:
        base = f"/ui/{kind}/{item_id}"
        context: dict[str, Any] = {"base": base, "assign_to": base, "releases": None, "report": None}
        if kind == "shows":
            show = self.library.get_show(item_id)
            return self._page("show.html", status, title=show.title, show=show, **{**context, "season": None, **extra})
        if kind == "movies":
            item = self.library.get_movie(item_id)
            template, title = "movie.html", item.title
        else:
            item = self.library.get_episode(item_id)
            template = "episode.html"
            title = f"{item.show_title} {naming.episode_code(item.season, [item.number])}"
            context["assign_to"] = f"/ui/shows/{item.show_id}"
        assignment = item.assignment
        if assignment:
            context["torrent_name"] = self.library.get_torrent(assignment.info_hash).name
            context["probe"] = self.actions.probe_status(assignment.info_hash, assignment.file_index)
            if kind == "movies":
                ext = posixpath.splitext(assignment.file_path)[1] or ".mkv"
                context["share_path"] = (f"/Movies/{naming.movie_folder(item.title, item.year)}/"
                                         f"{naming.movie_file(item.title, item.year, ext)}")
        subtitles = self.actions.subtitles
        ref = ItemRef("movie" if kind == "movies" else "episode", item_id)
        context.update(subtitles=subtitles.of_item(ref), subtitle_search=subtitles.client is not None,
                       languages=",".join(subtitles.auto_languages) or "en", subtitle_results=None)
        return self._page(template, status, title=title, item=item, **{**context, **extra})

    def releases(self, request: Request, kind: str, item_id: int) -> Response:
        season = None
        try:
            if kind == "movies":
                found = self.actions.movie_releases(item_id)
            elif kind == "episodes":
                found, _ = self.actions.episode_releases(item_id)
            else:
                season = _optional_int(request.args.get("season"), "Season")
                if season is None:
                    raise InvalidInput("give the season to find releases for")
                found = self.actions.season_releases(item_id, season)
        except LibraryError as exc:
            return self.item(request, kind, item_id, exc.status, message=_error(str(exc)))
        return self.item(request, kind, item_id, releases=found.to_json(), season=season)

    def subtitle_search(self, request: Request, kind: str, item_id: int) -> Response:
        languages = request.args.get("languages", "")[:100]
        codes = [code.strip() for code in languages.split(",") if code.strip()]
        try:
            found = self.actions.subtitle_search(_subtitle_ref(kind, item_id), codes or ["en"])
        except LibraryError as exc:
            return self.item(request, kind, item_id, exc.status, message=_error(str(exc)))
        return self.item(request, kind, item_id, subtitle_results=found.results, languages=languages)

    def subtitle_download(self, request: Request, kind: str, item_id: int) -> Response:
        file_id = _optional_int(request.form.get("file_id"), "File id")
        try:
            record = self.actions.subtitle_download(_subtitle_ref(kind, item_id), request.form.get("language", ""),
                                                   file_id)
        except LibraryError as exc:
            return self.item(request, kind, item_id, exc.status, message=_error(str(exc)))
        return self.item(request, kind, item_id, message={"kind": "ok", "text": f"Downloaded {record.language} "
                                                                                  "subtitles; they are in the share."})

    def subtitle_delete(self, request: Request, subtitle_id: int) -> Response:
        back = request.form.get("back", "")
        if not _ITEM_PAGE.fullmatch(back):
            raise InvalidInput("the page to return to is not an item's page")
        self.actions.subtitles.delete(subtitle_id)
        return redirect(back, code=303)

    def assign(self, request: Request, kind: str, item_id: int) -> Response:
        (self.library.get_movie if kind == "movies" else self.library.get_show)(item_id)  # 404 first
        try:
            meta = self._torrent_from(request)
            report = (self.actions.assign_movie if kind == "movies" else self.actions.assign_show)(item_id, meta)
        except LibraryError as exc:
            return self.item(request, kind, item_id, exc.status, message=_error(str(exc)),
                             report=exc.details or None)
        return self.item(request, kind, item_id, report=report.to_json(),
                         message={"kind": "ok", "text": f"Assigned {report.torrent_name}."})

    def delete(self, request: Request, kind: str, item_id: int) -> Response:
        record = (self.library.get_movie if kind == "movies" else self.library.get_show)(item_id)
        if request.form.get("confirm") != "yes":
            what = "movie" if kind == "movies" else "show with its seasons and episodes"
            return self._confirm(f"Delete {record.title}?", f"The {what} leaves the library and the share. "
                                 "Its torrents stay until you remove them.", "Delete", request.path,
                                 f"/ui/{kind}/{item_id}")
        (self.library.delete_movie if kind == "movies" else self.library.delete_show)(item_id)
        self.actions.subtitles.forget_deleted_items()
        return redirect("/ui/", code=303)

    def unassign_movie(self, request: Request, item_id: int) -> Response:
        movie = self.library.get_movie(item_id)
        if request.form.get("confirm") != "yes":
            return self._confirm(f"Unassign {movie.title}?", "Its file leaves the share; the torrent stays.",
                                 "Unassign", request.path, f"/ui/movies/{item_id}")
        self.library.unassign_movie(item_id)
        return redirect(f"/ui/movies/{item_id}", code=303)

    def unassign_episode(self, request: Request, item_id: int) -> Response:
        episode = self.library.get_episode(item_id)
        back = f"/ui/shows/{episode.show_id}"
        if request.form.get("confirm") != "yes":
            return self._confirm(f"Unassign {episode.show_title} {naming.episode_code(episode.season, [episode.number])}?",
                                 "Its file leaves the share; the torrent stays.", "Unassign", request.path, back)
        self.library.unassign_episode(item_id)
        return redirect(back, code=303)

    # -- torrents and status ----------------------------------------------------

    def torrents(self, request: Request) -> Response:
        rows = []
        for record in self.library.list_torrents():
            state = self.actions.engine.state(record.info_hash)
            rows.append({**asdict(record), **asdict(state),
                         "piece_map": self.status_sections.piece_map(record.info_hash)})
        return self._page("torrents.html", title="Torrents", here="/ui/torrents", torrents=rows, legend=legend_html())

    def torrent_action(self, request: Request, info_hash: str, action: str) -> Response:
        try:
            info_hash = normalise_info_hash(info_hash)
        except SourceError as exc:
            raise InvalidInput(str(exc)) from None
        record = self.library.get_torrent(info_hash)
        if action == "remove":
            if request.form.get("confirm") != "yes":
                return self._confirm(f"Remove {record.name}?", "Its data and every assignment to it go too.",
                                     "Remove", request.path, "/ui/torrents")
            self.actions.remove_torrent(info_hash)
        elif action == "pause":
            self.actions.engine.pause(info_hash)
        else:
            self.actions.engine.resume(info_hash)
        return redirect("/ui/torrents", code=303)

    def status(self, request: Request) -> Response:
        return self._page("status.html", title="Status", here="/ui/status", refresh=STATUS_REFRESH_SECONDS,
                          version=__version__, now=time.strftime("%H:%M:%S"), sections=self.status_sections.render())

    def poster(self, request: Request, kind: str, tmdb_id: int) -> Response:
        """Only for items in the library: the server is nobody's proxy to TMDB."""
        found = self.posters.get(kind, tmdb_id) if self.library.has_tmdb_id(kind, tmdb_id) else None
        if found is None:
            return Response("no poster\n", status=404, mimetype="text/plain")
        data, content_type = found
        return Response(data, mimetype=content_type, headers={"Cache-Control": "private, max-age=86400",
                                                              "X-Content-Type-Options": "nosniff"})

    # -- helpers ------------------------------------------------------------------

    def _torrent_from(self, request: Request) -> TorrentMeta:
        upload = request.files.get("torrent")
        if upload is not None and upload.filename:
            return torrent_from_bytes(upload.read(), what="the uploaded file")
        source = request.form.get("source", "").strip()
        if not source:
            raise InvalidInput("give a magnet, an info-hash or a link in Torrent, or choose a Torrent file")
        return self.actions.torrent_from_text(source)

    def _confirm(self, question: str, detail: str, verb: str, action: str, back: str) -> Response:
        return self._page("confirm.html", title=question, question=question, detail=detail, verb=verb,
                          action=action, back=back)

    def _page(self, template: str, status: int = 200, **context: Any) -> Response:
        body = self.templates.get_template(template).render(**context)
        return Response(body, status=status, mimetype="text/html",
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                                                            "script-src 'unsafe-inline'; img-src 'self' data:; "
                                                            "frame-ancestors 'none'"})


def _poster_url(kind: str, tmdb_id: int | None) -> str | None:
    return f"/ui/posters/{kind}/{tmdb_id}" if tmdb_id else None


def _subtitle_ref(kind: str, item_id: int) -> ItemRef:
    return ItemRef("movie" if kind == "movies" else "episode", item_id)


def _error(text: str) -> dict:
    return {"kind": "error", "text": text}


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isascii() and text.isdigit() and len(text) < 7 else 1


def _optional_int(text: str | None, label: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise InvalidInput(f"{label} must be a whole number")
    return int(text)
