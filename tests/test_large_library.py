"""Large libraries: cached listings that never outlive a change, a tree kept across writes that change nothing
in the share, and API lists served a page at a time."""

from __future__ import annotations

import threading
from urllib.parse import unquote
from xml.etree import ElementTree

import pytest
import requests

from momoshtrem.library.downloaded import NewDownloadedSubtitle
from momoshtrem.library.models import ItemRef


def listing(server, folder: str) -> list[str]:
    answer = server.dav("PROPFIND", folder, headers={"Depth": "1"})
    assert answer.status_code == 207
    return sorted(unquote(h.text) for h in ElementTree.fromstring(answer.content).iter("{DAV:}href"))


def listings_served_from_cache(server) -> int:
    return server.server.share.listings.hits


def test_a_cached_listing_is_never_served_after_a_change_to_the_share(server, torrent_factory, tmp_path):
    made = torrent_factory("Heat.1995.mkv", {"Heat.1995.mkv": 1000})
    movie = server.api("POST", "/api/movies", json={"title": "Heat", "year": 1995}).json()
    assert listing(server, "/Movies/") == ["/Movies/"]
    hits = listings_served_from_cache(server)
    assert listing(server, "/Movies/") == ["/Movies/"]
    assert listings_served_from_cache(server) == hits + 1  # the same answer, not rendered again

    assert server.api("POST", f"/api/movies/{movie['id']}/assign", json={"torrent": made.b64}).status_code == 200
    assert listing(server, "/Movies/") == ["/Movies/", "/Movies/Heat (1995)/"]
    folder = "/Movies/Heat (1995)/"
    assert listing(server, folder) == [folder, folder + "Heat (1995).mkv"]

    subtitles = tmp_path / "subs"
    server.server.library.downloaded.add(ItemRef("movie", movie["id"]), NewDownloadedSubtitle(
        "en", None, "opensubtitles", 7, "Heat.srt", "movie-1/opensubtitles-7.en.srt", 10))
    assert listing(server, folder) == [folder, folder + "Heat (1995).en.srt", folder + "Heat (1995).mkv"]

    assert server.api("DELETE", f"/api/movies/{movie['id']}/assign").status_code == 204
    assert listing(server, "/Movies/") == ["/Movies/"]
    assert server.dav("PROPFIND", folder, headers={"Depth": "1"}).status_code == 404
    del subtitles


def test_adding_items_without_a_torrent_keeps_the_tree_and_its_cached_listings(server):
    listing(server, "/TV Shows/")
    tree = server.server.trees.tree()
    hits = listings_served_from_cache(server)
    server.api("POST", "/api/movies", json={"title": "Unassigned", "year": 2000})
    server.api("POST", "/api/shows", json={"title": "Also Unassigned", "year": 2001})
    assert server.server.trees.tree() is tree
    listing(server, "/TV Shows/")
    assert listings_served_from_cache(server) == hits + 1


def test_pages_return_every_item_exactly_once_while_items_are_added(server):
    for n in range(45):
        server.api("POST", "/api/movies", json={"title": f"Film {n:02d}", "year": 2000})
    seen: list[int] = []
    added = threading.Event()
    offset, total_seen = 0, None
    while True:
        page = server.api("GET", f"/api/movies?limit=10&offset={offset}")
        assert page.status_code == 200
        total_seen = int(page.headers["X-Total-Count"])
        seen += [m["id"] for m in page.json()]
        if not added.is_set():  # inserts while a client pages through: they land after the pages read
            for n in range(3):
                server.api("POST", "/api/movies", json={"title": f"Late {n}", "year": 2001})
            added.set()
        if "next" not in page.links:
            break
        offset += 10
        assert page.links["next"]["url"].endswith(f"/api/movies?limit=10&offset={offset}")
    assert len(seen) == len(set(seen)) == total_seen == 48


@pytest.mark.parametrize("query", ["limit=0", "limit=100000", "offset=-1", "limit=x", "offset=1e3"])
def test_bad_pagination_is_a_clear_400(server, query):
    answer = server.api("GET", f"/api/movies?{query}")
    assert answer.status_code == 400 and ("limit" in answer.json()["error"] or "offset" in answer.json()["error"])


def test_without_limit_a_list_is_one_default_page_and_says_how_many_there_are(server):
    for n in range(3):
        server.api("POST", "/api/shows", json={"title": f"Show {n}", "year": 2000 + n})
    shows = server.api("GET", "/api/shows")
    assert len(shows.json()) == 3 and shows.headers["X-Total-Count"] == "3" and "next" not in shows.links
    torrents = requests.get(server.url + "/api/torrents?limit=1", timeout=30)
    assert torrents.status_code == 200 and torrents.headers["X-Total-Count"] == "0"


def test_the_cli_pages_through_a_list_and_shows_it_by_title(server, capsys, monkeypatch):
    import json

    from momoshtrem.cli import client
    from momoshtrem.cli.main import main

    monkeypatch.setattr(client, "PAGE_SIZE", 2)
    for title in ("Zodiac", "Alien", "Memento", "Brazil", "Heat"):
        server.api("POST", "/api/movies", json={"title": title, "year": 1990})
    capsys.readouterr()
    assert main(["movie", "list", "--json", "--server", server.url]) == 0
    assert [m["title"] for m in json.loads(capsys.readouterr().out)] == ["Alien", "Brazil", "Heat", "Memento",
                                                                          "Zodiac"]


def test_a_listing_is_gzipped_for_clients_that_ask_and_plain_for_the_others(server):
    import gzip

    plain = requests.request("PROPFIND", server.url + "/", headers={"Depth": "1", "Accept-Encoding": "identity"},
                             timeout=30)
    assert plain.status_code == 207 and "Content-Encoding" not in plain.headers
    raw = requests.request("PROPFIND", server.url + "/", headers={"Depth": "1", "Accept-Encoding": "gzip"},
                           timeout=30, stream=True)
    assert raw.headers["Content-Encoding"] == "gzip" and raw.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(raw.raw.read()) == plain.content
    refused = requests.request("PROPFIND", server.url + "/", timeout=30,
                               headers={"Depth": "1", "Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers
