"""The web UI in a real browser: Debian's chromium driven by Playwright, against a real server, seeder, and the
local TMDB and Torznab stand-ins. Set MOMOSHTREM_SCREENSHOTS=docs/screenshots to refresh the README's pictures."""

from __future__ import annotations

import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests

from tests.fake_opensubtitles import API_KEY as OPENSUBTITLES_KEY, FakeOpenSubtitles, FakeSubtitle
from tests.fake_tmdb import API_KEY as TMDB_KEY, FakeTmdb
from tests.fake_torznab import API_KEY as TORZNAB_KEY, FakeTorznab, Item
from tests.helpers import RunningServer, make_test_config, wait_until

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install-test-tools)")
GB = 1000**3


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        yield launched
        launched.close()


SUBTITLE = b"1\n00:00:01,000 --> 00:00:02,000\nDon't let yourself get attached to anything.\n"


@pytest.fixture
def stand_ins():
    tmdb, torznab = FakeTmdb(), FakeTorznab().start()
    opensubtitles = FakeOpenSubtitles(subtitles=[FakeSubtitle(501, "en", "Heat.1995.1080p.srt", SUBTITLE,
                                                              query="heat")])
    yield tmdb, torznab, opensubtitles
    tmdb.close()
    torznab.close()
    opensubtitles.close()


@pytest.fixture
def ui(tmp_path, stand_ins):
    from momoshtrem.config import IndexerConfig

    tmdb, torznab, opensubtitles = stand_ins
    config = make_test_config(tmp_path)
    config.opensubtitles.api_key, config.opensubtitles.base_url = OPENSUBTITLES_KEY, opensubtitles.base_url
    config.subtitles.dir = str(tmp_path / "subtitles")
    config.tmdb.api_key, config.tmdb.base_url = TMDB_KEY, tmdb.base_url
    config.tmdb.image_base_url, config.tmdb.poster_dir = tmdb.image_base_url, str(tmp_path / "posters")
    config.search.indexers = [IndexerConfig("local", torznab.url("good"), TORZNAB_KEY)]
    config.search.timeout = 5
    server = RunningServer(config)
    yield server
    server.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    dialogs: list[str] = []
    opened.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    opened.dialogs = dialogs
    yield opened
    context.close()


def screenshot(page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("MOMOSHTREM_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    assert (folder / f"{name}.png").read_bytes().startswith(b"\x89PNG")


def share_entries(server: RunningServer, folder: str) -> list[str]:
    answer = requests.request("PROPFIND", server.url + folder, headers={"Depth": "1"}, timeout=30)
    return [href.text for href in ElementTree.fromstring(answer.content).iter("{DAV:}href")]


def test_a_browser_at_the_root_lands_on_the_library_and_webdav_answers_do_not_change(ui, page):
    page.goto(ui.url + "/")
    assert page.url == ui.url + "/ui/"
    assert page.get_by_role("heading", name="Library").is_visible()
    assert requests.get(ui.url + "/", allow_redirects=False, timeout=30).status_code != 302
    assert requests.request("PROPFIND", ui.url + "/", headers={"Depth": "1"}, timeout=30).status_code == 207


def test_add_a_movie_assign_a_magnet_in_the_torrent_field_and_it_is_in_the_share(ui, page, seeder, torrent_factory,
                                                                                 tmp_path):
    film = torrent_factory("Heat.1995.1080p.BluRay.mkv", {"Heat.1995.1080p.BluRay.mkv": 400_000})
    seeder.seed(film)
    page.goto(ui.url + "/ui/add")
    page.get_by_label("Title").fill("Heat")
    page.get_by_label("Year").fill("1995")
    page.get_by_role("button", name="Add movie").click()
    page.get_by_role("heading", name="Heat (1995)").wait_for()
    page.get_by_label("Torrent", exact=True).fill(seeder.magnet(film))
    page.get_by_role("button", name="Assign", exact=True).click()
    page.locator("#report").wait_for()
    assert "Assigned" in page.locator(".message").inner_text()
    assert "/Movies/Heat (1995)/Heat (1995).mkv" in page.content()
    assert any(href.endswith("/Movies/Heat%20(1995)/") for href in share_entries(ui, "/Movies/"))
    screenshot(page, "item", tmp_path)
    page.goto(ui.url + "/ui/")
    assert page.get_by_role("link", name="Heat").is_visible()
    assert "assigned" in page.locator("tr", has_text="Heat").inner_text()
    screenshot(page, "library", tmp_path)


def test_find_releases_and_assign_one_with_its_button_while_hostile_titles_stay_text(ui, page, stand_ins, seeder,
                                                                                      torrent_factory):
    _, torznab, _ = stand_ins
    film = torrent_factory("The.Matrix.1999.1080p.BluRay.mkv", {"The.Matrix.1999.1080p.BluRay.mkv": 300_000})
    seeder.seed(film)
    torznab.items = [
        Item("The.Matrix.1999.<script>alert(1)</script>.720p", seeders=5, size=3 * GB),
        Item("The.Matrix.1999.1080p.BluRay", seeders=40, size=9 * GB, magnet=seeder.magnet(film)),
    ]
    page.goto(ui.url + "/ui/add?q=matrix&kind=movie")  # added through TMDB's search
    page.locator("tr", has_text="The Matrix").get_by_role("button", name="Add").click()
    page.get_by_role("heading", name="The Matrix (1999)").wait_for()
    page.get_by_role("button", name="Find releases").click()
    rows = page.locator("#releases + table tbody tr")
    rows.first.wait_for()
    assert "The.Matrix.1999.1080p.BluRay" in rows.nth(0).inner_text()
    assert "<script>alert(1)</script>" in rows.nth(1).inner_text()  # shown as text, never run
    assert page.dialogs == []
    rows.nth(0).get_by_role("button", name="Assign").click()
    page.locator("#report").wait_for()
    assert "The Matrix (1999).mkv" in page.content()
    assert page.dialogs == []


def test_pause_and_resume_a_torrent_on_the_torrents_page(ui, page, seeder, torrent_factory, tmp_path):
    film = torrent_factory("Alien.1979.mkv", {"Alien.1979.mkv": 200_000})
    seeder.seed(film)
    movie = ui.api("POST", "/api/movies", json={"title": "Alien", "year": 1979}).json()
    assert ui.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(film)}).ok
    page.goto(ui.url + "/ui/torrents")
    card = page.locator(f'article[data-info-hash="{film.info_hash}"]')
    assert card.get_by_role("button", name="Pause").count() == 0  # not in the session: nothing to pause
    played = requests.get(ui.url + "/Movies/Alien (1979)/Alien (1979).mkv", headers={"Range": "bytes=0-99"},
                          timeout=30)
    assert played.status_code == 206  # a read brings it into the session
    page.reload()
    card.get_by_role("button", name="Pause").click()
    wait_until(lambda: ui.api("GET", f"/api/torrents/{film.info_hash}").json()["paused"], 10, "the pause")
    assert card.locator(".torrent-state").inner_text() == "paused"
    screenshot(page, "torrents", tmp_path)
    card.get_by_role("button", name="Resume").click()
    card.get_by_role("button", name="Pause").wait_for()
    assert ui.api("GET", f"/api/torrents/{film.info_hash}").json()["paused"] is False


def test_a_cross_site_form_post_is_refused_and_changes_nothing(ui, page):
    attack = f"""<!doctype html><form id="f" method="post" action="{ui.url}/ui/add">
      <input name="title" value="Planted"><input name="kind" value="movie"></form>
      <script>document.getElementById("f").submit()</script>""".encode()

    class Attacker(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(attack)))
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Attacker)  # another origin: another port
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        with page.expect_response(lambda r: r.url == ui.url + "/ui/add") as posted:
            page.goto(f"http://127.0.0.1:{site.server_address[1]}/")
        assert posted.value.status == 403
    finally:
        site.shutdown()
        site.server_close()
    assert ui.api("GET", "/api/movies").json() == []


def test_deleting_asks_first_and_a_bad_year_is_a_clear_400(ui, page):
    movie = ui.api("POST", "/api/movies", json={"title": "Doomed", "year": 2001}).json()
    page.goto(ui.url + f"/ui/movies/{movie['id']}")
    page.get_by_role("button", name="Delete movie").click()
    page.get_by_role("heading", name="Delete Doomed?").wait_for()
    assert ui.api("GET", f"/api/movies/{movie['id']}").status_code == 200  # nothing yet
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("heading", name="Library").wait_for()
    assert ui.api("GET", f"/api/movies/{movie['id']}").status_code == 404
    bad = requests.post(ui.url + "/ui/add", data={"title": "X", "year": "nineteen", "kind": "movie"}, timeout=30)
    assert bad.status_code == 400 and "Year must be a whole number" in bad.text


def test_the_library_pages_through_thousands_of_items_and_filters(ui):
    library = ui.server.library
    for n in range(2000):
        library.add_movie(f"Film {n:04d}", 1950 + n % 70)
    first = requests.get(ui.url + "/ui/", timeout=30)
    assert first.status_code == 200 and "2000 items, page 1 of 20." in first.text
    assert first.text.count('href="/ui/movies/') == 100
    last = requests.get(ui.url + "/ui/?page=20", timeout=30).text
    assert "Film 1999" in last and "Next" not in last
    found = requests.get(ui.url + "/ui/?q=film+0042", timeout=30).text
    assert found.count('href="/ui/movies/') == 1 and "1 item match" in found


def test_search_download_and_delete_a_subtitle_on_a_movie_page(ui, page, seeder, torrent_factory):
    film = torrent_factory("Heat.1995.1080p.mkv", {"Heat.1995.1080p.mkv": 200_000})
    seeder.seed(film)
    movie = ui.api("POST", "/api/movies", json={"title": "Heat", "year": 1995}).json()
    assert ui.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(film)}).ok
    page.goto(ui.url + f"/ui/movies/{movie['id']}")
    page.get_by_label("Languages").fill("en")
    page.get_by_role("button", name="Search subtitles").click()
    result = page.locator("#subtitle-results tbody tr", has_text="Heat.1995.1080p")
    result.get_by_role("button", name="Download").click()
    page.get_by_text("Downloaded en subtitles").wait_for()
    assert any(href.endswith("Heat%20(1995).en.srt") for href in share_entries(ui, "/Movies/Heat%20(1995)/"))
    page.locator("#subtitles + table tr", has_text="opensubtitles").get_by_role("button", name="Delete").click()
    page.get_by_text("None yet.").wait_for()
    assert not any(href.endswith(".srt") for href in share_entries(ui, "/Movies/Heat%20(1995)/"))


def test_posters_come_from_the_server_fetched_from_tmdb_once(ui, page, stand_ins, tmp_path):
    tmdb = stand_ins[0]
    ui.api("POST", "/api/movies", json={"tmdb_id": 603})
    ui.api("POST", "/api/movies", json={"title": "Home Movie", "year": 2001})  # no TMDB id: no poster
    page.goto(ui.url + "/ui/")
    posters = page.locator("td.thumb img")
    assert posters.count() == 1
    posters.first.scroll_into_view_if_needed()
    wait_until(lambda: posters.first.evaluate("img => img.complete && img.naturalWidth") == 34, 10,
               "the poster to load")
    assert posters.first.get_attribute("src") == "/ui/posters/movie/603"  # from the server, never from TMDB
    fetched = [r for r in tmdb.requests if r.startswith("/t/p/")]
    page.reload()
    page.goto(ui.url + "/ui/movies/1")
    wait_until(lambda: page.locator("img.poster").evaluate("img => img.complete && img.naturalWidth") == 34, 10,
               "the item page's poster")
    assert [r for r in tmdb.requests if r.startswith("/t/p/")] == fetched  # kept on disk: asked once
    screenshot(page, "movie-with-poster", tmp_path)


def test_a_poster_is_only_served_for_library_items_and_only_if_it_is_an_image(ui, stand_ins):
    tmdb = stand_ins[0]
    asked = len(tmdb.requests)
    assert requests.get(ui.url + "/ui/posters/movie/603", timeout=30).status_code == 404  # not in the library
    assert len(tmdb.requests) == asked  # and TMDB was not asked
    tmdb.images_are_pages = True
    ui.api("POST", "/api/movies", json={"tmdb_id": 603})
    answer = requests.get(ui.url + "/ui/posters/movie/603", timeout=30)
    assert answer.status_code == 404 and answer.headers["Content-Type"].startswith("text/plain")


def test_while_a_magnet_waits_the_page_shows_its_progress_then_a_clear_error(ui, page):
    dead = "d" * 40  # nobody seeds it; the test config waits 3 s for metadata
    movie = ui.api("POST", "/api/movies", json={"title": "Lost", "year": 1990}).json()
    page.goto(ui.url + f"/ui/movies/{movie['id']}")
    page.get_by_label("Torrent", exact=True).fill(f"magnet:?xt=urn:btih:{dead}")
    page.get_by_role("button", name="Assign", exact=True).click()
    page.get_by_text("Fetching metadata: 0 peers").wait_for()
    page.locator(".message.error").wait_for()
    assert f"no metadata for {dead}" in page.locator(".message.error").inner_text()
    assert ui.api("GET", f"/api/movies/{movie['id']}").json()["assignment"] is None
