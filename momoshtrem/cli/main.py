"""`momoshtrem`: `serve` runs the server; every other command is a client of its REST API.

One process owns the database (and later the torrent session), so the
client commands never open the database themselves.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import sqlite3
import sys
from typing import Any, Sequence
from urllib.parse import urlencode

from tabulate import tabulate
from tqdm import tqdm

from momoshtrem import __version__
from momoshtrem.cli import releases
from momoshtrem.cli.client import DEFAULT_URL, ApiClient, ClientError
from momoshtrem.config import ConfigError, load_config
from momoshtrem.humanize import human_bytes


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "serve":
        return _serve(args)
    if args.command == "hash-password":
        return _hash_password()
    client = ApiClient(args.server or os.environ.get("MOMOSHTREM_URL") or DEFAULT_URL)
    try:
        result = args.handler(client, args)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if result is not None:
        print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else args.render(result))
    return 0


def _serve(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.logging.level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    from momoshtrem.server import Server  # imported late: client commands need no libtorrent

    try:
        server = Server(config)
    except (OSError, sqlite3.Error) as exc:
        print(f"error: cannot start: {exc}", file=sys.stderr)
        return 1
    server.serve_forever()
    return 0


def _hash_password() -> int:
    """Prompts on a terminal, else reads one line from stdin; prints the line for `server.auth` / `api_token`."""
    from momoshtrem.auth import hash_secret

    if sys.stdin.isatty():
        secret = getpass.getpass("password: ")
        if getpass.getpass("again: ") != secret:
            print("error: the two entries differ", file=sys.stderr)
            return 1
    else:
        secret = sys.stdin.readline().rstrip("\n")
    if not secret:
        print("error: an empty password", file=sys.stderr)
        return 1
    print(hash_secret(secret))
    return 0


# -- commands ----------------------------------------------------------------


def _movie_add(client: ApiClient, args: argparse.Namespace) -> Any:
    body = {"tmdb_id": args.tmdb} if args.tmdb else {"title": args.title, "year": args.year}
    if not args.tmdb and not args.title:
        raise ClientError("give a TITLE (with --year), or --tmdb ID")
    return client.call("POST", "/api/movies", body)


def _show_add(client: ApiClient, args: argparse.Namespace) -> Any:
    if args.tmdb:
        body: dict[str, Any] = {"tmdb_id": args.tmdb}
        if args.seasons:
            body["seasons"] = _season_list(args.seasons)
    elif args.title:
        body = {"title": args.title, "year": args.year}
    else:
        raise ClientError("give a TITLE (with --year), or --tmdb ID")
    return client.call("POST", "/api/shows", body)


def _season_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ClientError(f"--seasons takes numbers separated by commas, not '{text}'") from None


def _ls(client: ApiClient, args: argparse.Namespace) -> Any:
    rows = []
    pending = [args.path]
    while pending:
        for entry in client.list_dir(pending.pop(0)):
            rows.append({"path": entry.path + ("/" if entry.is_folder else ""), "size": entry.size, "folder": entry.is_folder})
            if entry.is_folder and args.recursive:
                pending.append(entry.path)
    return sorted(rows, key=lambda r: r["path"])


def _assign(client: ApiClient, args: argparse.Namespace) -> Any:
    kind = args.action
    if getattr(args, "best", False) == (args.source is not None):
        raise ClientError("give a SOURCE or --best" if args.source is None else "give a SOURCE or --best, not both")
    source = args.source
    if getattr(args, "best", False) or (source.isdigit() and len(source) <= 3):
        source = releases.pick_source(client, kind, args.id, "best" if args.best else source)
    return client.assign(kind, args.id, source, progress=MetadataProgress())


def _by_title(items: list[dict]) -> list[dict]:
    return sorted(items, key=lambda item: (item["title"].casefold(), item["year"] or 0))


def _torrent_rm(client: ApiClient, args: argparse.Namespace) -> Any:
    torrent = client.call("GET", f"/api/torrents/{args.hash}")
    if not args.yes:
        if not sys.stdin.isatty():
            raise ClientError("refusing to remove without confirmation: add --yes")
        answer = input(f"Remove {torrent['name']} ({torrent['info_hash']}), its data and its assignments? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            raise ClientError("not removed")
    return client.call("DELETE", f"/api/torrents/{args.hash}")


def _subs_path(args: argparse.Namespace) -> str:
    return f"/api/{args.kind}s/{args.id}/subtitles"


def _subs_search(client: ApiClient, args: argparse.Namespace) -> Any:
    query = "?" + urlencode({"languages": args.lang}) if args.lang else ""
    return client.call("GET", _subs_path(args) + "/search" + query)


def _subs_get(client: ApiClient, args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"language": args.language}
    if args.file_id is not None:
        body["file_id"] = args.file_id
    if args.variant:
        body["variant"] = args.variant
    return client.call("POST", _subs_path(args), body)


class MetadataProgress:
    """A tqdm line on stderr while the server waits for a magnet's metadata: peers found, time waited."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None

    def update(self, state: dict) -> None:
        if self._bar is None:
            self._bar = tqdm(desc="fetching metadata", bar_format="{desc}{postfix} [{elapsed}]", file=sys.stderr)
        self._bar.set_postfix_str(f"{state['peers']} peers")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# -- rendering -----------------------------------------------------------------


def _render_movies(movies: list[dict]) -> str:
    rows = [[m["id"], m["title"], m["year"] or "", m["tmdb_id"] or "", _assigned(m["assignment"]), _probe(m["assignment"])]
            for m in movies]
    return tabulate(rows, headers=["id", "title", "year", "tmdb", "assigned file", "probe"]) if rows else "no movies"


def _render_movie(movie: dict) -> str:
    return _render_movies([movie])


def _render_shows(shows: list[dict]) -> str:
    rows = [[s["id"], s["title"], s["year"] or "", s["tmdb_id"] or "", s["seasons"], s["episodes"],
             s["assigned_episodes"]] for s in shows]
    return tabulate(rows, headers=["id", "title", "year", "tmdb", "seasons", "episodes", "assigned"]) if rows else "no shows"


def _render_show(show: dict) -> str:
    head = f"{show['title']} ({show['year'] or '?'})  id {show['id']}" + (f"  tmdb {show['tmdb_id']}" if show["tmdb_id"] else "")
    rows = [
        [e["id"], f"S{e['season']:02d}E{e['number']:02d}", e["name"] or "", e["air_date"] or "", _assigned(e["assignment"]),
         _probe(e["assignment"])]
        for season in show["seasons"]
        for e in season["episodes"]
    ]
    headers = ["episode id", "episode", "name", "aired", "assigned file", "probe"]
    return head + "\n" + (tabulate(rows, headers=headers) if rows else "no episodes")


def _render_report(report: dict) -> str:
    rows = [[f["path"], _episodes(f) or "movie", f["confidence"]] for f in report["matched"]]
    lines = [f"torrent {report['info_hash']}  {report['torrent_name']}"]
    if rows:
        lines.append(tabulate(rows, headers=["matched file", "as", "confidence"]))
    if report["unmatched"]:
        lines.append(tabulate([[f["path"], f["reason"]] for f in report["unmatched"]], headers=["not used", "why"]))
    return "\n\n".join(lines)


def _render_torrents(torrents: list[dict]) -> str:
    rows = [
        [t["info_hash"], _shorten(t["name"], 40), human_bytes(t["total_size"]), t["state"],
         f"{t['progress'] * 100:.1f}%", t["peers"], human_bytes(t["download_rate"]) + "/s",
         human_bytes(t["upload_rate"]) + "/s", human_bytes(t["bytes_on_disk"])]
        for t in torrents
    ]
    headers = ["info-hash", "name", "size", "state", "done", "peers", "down", "up", "on disk"]
    return tabulate(rows, headers=headers) if rows else "no torrents"



def _render_subtitles(listing: dict) -> str:
    rows = [["", "torrent", s["language"], s["variant"] or "", human_bytes(s["file_size"]), s["file_path"]]
            for s in listing["torrent"]]
    rows += [[s["id"], s["provider"], s["language"], s["variant"] or "", human_bytes(s["size"]), s["release"] or ""]
             for s in listing["downloaded"]]
    headers = ["id", "from", "language", "variant", "size", "file"]
    return tabulate(rows, headers=headers) if rows else "no subtitles"


def _render_search(outcome: dict) -> str:
    head = f"moviehash {outcome['moviehash']}" if outcome["moviehash"] else "moviehash: not yet (play the file first)"
    rows = [[r["file_id"], r["language"], "yes" if r["moviehash_match"] else "",
             "forced" if r["foreign_parts_only"] else "sdh" if r["hearing_impaired"] else "",
             r["download_count"], _shorten(r["release"] or r["file_name"], 60)] for r in outcome["results"]]
    table = tabulate(rows, headers=["file id", "language", "hash match", "variant", "downloads", "release"])
    return head + "\n" + (table if rows else "no results")


def _render_downloaded(record: dict) -> str:
    return f"downloaded subtitle {record['id']}: {record['language']} {record['variant'] or ''} ({record['release']})"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render_tree(rows: list[dict]) -> str:
    return "\n".join(f"{r['size']:>14,}  {r['path']}" if not r["folder"] else f"{'':>14}  {r['path']}" for r in rows) or "(empty)"


def _render_created(item: dict) -> str:
    return f"added {item['title']} ({item['year'] or '?'}) with id {item['id']}"


def _assigned(assignment: dict | None) -> str:
    if not assignment:
        return "-"
    quality = " ".join(x for x in (assignment["resolution"], assignment["source"]) if x)
    return f"{assignment['file_path']}" + (f"  [{quality}]" if quality else "")


def _probe(assignment: dict | None) -> str:
    """Where the file's probe bytes stand: what a player's first reads are answered from (see `probe` in the API)."""
    probe = (assignment or {}).get("probe")
    if not probe:
        return ""
    if probe["state"] == "stored":
        return f"stored ({human_bytes(probe['bytes'])})"
    return f"failed: {probe['error']}" if probe["state"] == "failed" else probe["state"]


def _episodes(report_file: dict) -> str:
    if report_file.get("season") is None:
        return ""
    return ",".join(f"S{report_file['season']:02d}E{e:02d}" for e in report_file["episodes"])


def _done(_: Any) -> str:
    return "done"


# -- argument parsing --------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="momoshtrem", description="A movie and TV library as a WebDAV share, streamed from BitTorrent.")
    parser.add_argument("--version", action="version", version=f"momoshtrem {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", metavar="URL", help=f"the server's URL (env MOMOSHTREM_URL, default {DEFAULT_URL})")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("-c", "--config", metavar="PATH", help="config file (defaults are built in)")
    commands.add_parser("hash-password", help="hash a password (or API token) for server.auth / server.api_token")

    def command(group: Any, name: str, help: str, handler: Any, render: Any) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help, parents=[common])
        sub.set_defaults(handler=handler, render=render)
        return sub

    movie = commands.add_parser("movie", help="movies in the library").add_subparsers(dest="action", required=True)
    add = command(movie, "add", "add a movie by title and year, or by TMDB id", _movie_add, _render_created)
    add.add_argument("title", nargs="?")
    add.add_argument("--year", type=int)
    add.add_argument("--tmdb", type=int, metavar="ID")
    command(movie, "list", "list movies", lambda c, a: _by_title(c.all_pages("/api/movies")), _render_movies)
    get = command(movie, "get", "one movie", lambda c, a: c.call("GET", f"/api/movies/{a.id}"), _render_movie)
    get.add_argument("id", type=int)
    rm = command(movie, "rm", "remove a movie", lambda c, a: c.call("DELETE", f"/api/movies/{a.id}"), _done)
    rm.add_argument("id", type=int)

    show = commands.add_parser("show", help="TV shows in the library").add_subparsers(dest="action", required=True)
    add = command(show, "add", "add a show by title and year, or by TMDB id", _show_add, _render_created)
    add.add_argument("title", nargs="?")
    add.add_argument("--year", type=int)
    add.add_argument("--tmdb", type=int, metavar="ID")
    add.add_argument("--seasons", metavar="N,N", help="with --tmdb: only these seasons")
    command(show, "list", "list shows", lambda c, a: _by_title(c.all_pages("/api/shows")), _render_shows)
    get = command(show, "get", "one show with its episodes", lambda c, a: c.call("GET", f"/api/shows/{a.id}"), _render_show)
    get.add_argument("id", type=int)
    rm = command(show, "rm", "remove a show with its seasons and episodes",
                 lambda c, a: c.call("DELETE", f"/api/shows/{a.id}"), _done)
    rm.add_argument("id", type=int)

    assign = commands.add_parser("assign", help="assign a torrent to a movie or a show").add_subparsers(dest="action", required=True)
    for kind in ("movie", "show"):
        sub = command(assign, kind, f"assign a torrent to a {kind}", _assign, _render_report)
        sub.add_argument("id", type=int)
        sub.add_argument("source", nargs="?", help="a .torrent file, a magnet URI, a 40-hex info-hash, an http(s) "
                                                   "link to a .torrent, or N: the Nth of the last `releases` listing")
        if kind == "movie":
            sub.add_argument("--best", action="store_true", help="search the indexers and assign the best release")

    found = commands.add_parser("releases", help="find releases on the indexers (Jackett, Prowlarr), best first"
                                ).add_subparsers(dest="action", required=True)
    for kind in ("movie", "show", "episode"):
        sub = command(found, kind, f"releases for a {kind}" + (" season" if kind == "show" else ""),
                      lambda c, a, kind=kind: releases.search(c, kind, a.id, a.season), releases.render)
        sub.add_argument("id", type=int)
        sub.set_defaults(season=None)
        if kind == "show":
            sub.add_argument("--season", type=int, required=True)

    torrents = command(commands, "torrents", "torrents: state in the session, pause, resume, remove",
                       lambda c, a: c.all_pages("/api/torrents"), _render_torrents)
    actions = torrents.add_subparsers(dest="action")
    command(actions, "list", "list torrents", lambda c, a: c.all_pages("/api/torrents"), _render_torrents)
    for name, verb in (("get", "GET"), ("pause", "POST"), ("resume", "POST")):
        path = "" if name == "get" else f"/{name}"
        sub = command(actions, name, f"{name} one torrent",
                      lambda c, a, verb=verb, path=path: c.call(verb, f"/api/torrents/{a.hash}{path}"),
                      lambda t: _render_torrents([t]))
        sub.add_argument("hash")
    sub = command(actions, "rm", "remove a torrent, its data and every assignment to it", _torrent_rm,
                  lambda r: f"removed {r['info_hash']} and {r['removed_assignments']} assignments")
    sub.add_argument("hash")
    sub.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    unassign = commands.add_parser("unassign", help="remove an assignment").add_subparsers(dest="action", required=True)
    sub = command(unassign, "movie", "unassign a movie", lambda c, a: c.call("DELETE", f"/api/movies/{a.id}/assign"), _done)
    sub.add_argument("id", type=int)
    sub = command(unassign, "episode", "unassign one episode",
                  lambda c, a: c.call("DELETE", f"/api/episodes/{a.id}/assign"), _done)
    sub.add_argument("id", type=int)

    subs = commands.add_parser("subs", help="subtitles of a movie or an episode").add_subparsers(
        dest="action", required=True)

    def item_arguments(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("kind", choices=["movie", "episode"])
        sub.add_argument("id", type=int)

    item_arguments(command(subs, "list", "the item's subtitles: from its torrent and downloaded",
                           lambda c, a: c.call("GET", _subs_path(a)), _render_subtitles))
    sub = command(subs, "search", "search OpenSubtitles (best first)", _subs_search, _render_search)
    item_arguments(sub)
    sub.add_argument("--lang", metavar="CODES", help="languages, like en,fr (default: subtitles.auto_languages)")
    sub = command(subs, "get", "download the best subtitle in LANGUAGE, or the file --file-id", _subs_get,
                  _render_downloaded)
    item_arguments(sub)
    sub.add_argument("language", help="ISO 639-1 code, like en or pt-BR")
    sub.add_argument("--file-id", type=int, metavar="N", help="a file id from `subs search`")
    sub.add_argument("--variant", choices=["forced", "sdh"], help="with --file-id: what the file is")
    sub = command(subs, "rm", "delete a downloaded subtitle",
                  lambda c, a: c.call("DELETE", f"/api/subtitles/{a.id}") or {"id": a.id},
                  lambda r: f"deleted subtitle {r['id']}")
    sub.add_argument("id", type=int, help="its id from `subs list`")

    ls = command(commands, "ls", "list the share's tree", _ls, _render_tree)
    ls.add_argument("path", nargs="?", default="/")
    ls.add_argument("-R", "--recursive", action="store_true")
    return parser
