"""Finding releases on Torznab indexers: parsing, ranking for the item, and assigning a result end to end."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest
import requests

from momoshtrem.search import ranking
from momoshtrem.search.ranking import Release, Wanted
from momoshtrem.search.torznab import IndexerError, parse_caps, parse_results, query_for
from tests.fake_torznab import API_KEY, BOMB, CAPS, FakeTorznab, Item
from tests.helpers import RunningServer, Tracker, make_test_config

GB = 1000**3
MATRIX = Wanted("movie", "The Matrix", 1999)
EPISODE = Wanted("episode", "Breaking Bad", 2008, season=1, episode=2)
SEASON = Wanted("season", "Breaking Bad", 2008, season=1)


def release(title: str, seeders: int = 10, size: int | None = None) -> Release:
    return Release(title=title, indexer="x", source_url=f"magnet:?xt=urn:btih:{abs(hash(title)):040x}"[:60],
                   size=size, seeders=seeders)


# -- ranking: pure, a table of real release names ----------------------------------------------------------

@pytest.mark.parametrize("wanted, title, kept", [
    (MATRIX, "The.Matrix.1999.1080p.BluRay.x264-GRP", True),
    (MATRIX, "Matrix.1999.DVDRip.XviD", True),  # the article does not count
    (MATRIX, "The.Matrix.2003.1080p.BluRay", False),  # another year
    (MATRIX, "The.Matrix.Reloaded.2003.1080p.BluRay", False),  # another title
    (MATRIX, "The.Matrix.Resurrections.2021.2160p.WEB-DL", False),
    (MATRIX, "The Matrix S01E01 720p", False),  # a show of the same name
    (MATRIX, "The Matrix 1080p WEB-DL", True),  # no year given: kept
    (EPISODE, "Breaking.Bad.S01E02.720p.HDTV", True),
    (EPISODE, "Breaking.Bad.S01E03.720p.HDTV", False),  # another episode
    (EPISODE, "Breaking.Bad.S02E02.720p.HDTV", False),  # another season
    (EPISODE, "Breaking.Bad.S01.1080p.BluRay", True),  # its season's pack
    (EPISODE, "Breaking.Bad.S01-S05.Complete.720p", True),  # a pack of several seasons holding it
    (EPISODE, "Breaking.Bad.S02-S05.720p", False),
    (EPISODE, "Better.Call.Saul.S01E02.720p", False),
    (SEASON, "Breaking.Bad.S01.1080p.BluRay", True),
    (SEASON, "Breaking.Bad.S01E05.1080p", True),  # an episode of the season: offered, after the packs
    (SEASON, "Breaking.Bad.S03.1080p", False),
])
def test_releases_for_another_title_year_season_or_episode_are_dropped(wanted, title, kept):
    assert bool(ranking.rank([release(title)], wanted)) == kept


def test_the_wanted_release_beats_more_seeded_wrong_ones_and_zero_seeders_go_last():
    ranked = ranking.rank([
        release("The.Matrix.2003.1080p.BluRay", seeders=5000),
        release("The.Matrix.Reloaded.2003.1080p.BluRay", seeders=9000),
        release("The.Matrix.1999.1080p.BluRay.x264", seeders=0, size=8 * GB),
        release("The.Matrix.1999.HDCAM", seeders=900, size=1 * GB),
        release("The.Matrix.1999.720p.WEB-DL", seeders=40, size=3 * GB),
        release("The.Matrix.1999.1080p.BluRay.x264-GRP", seeders=40, size=9 * GB),
        release("The.Matrix.1999.1080p.WEB-DL", seeders=40, size=120 * 1000**2),  # too small for 1080p
    ], MATRIX, preferred_resolution="1080p")
    titles = [r.release.title for r in ranked]
    assert titles == ["The.Matrix.1999.1080p.BluRay.x264-GRP", "The.Matrix.1999.720p.WEB-DL",
                      "The.Matrix.1999.1080p.WEB-DL", "The.Matrix.1999.HDCAM", "The.Matrix.1999.1080p.BluRay.x264"]
    best = ranked[0]
    assert (best.resolution, best.source) == ("1080p", "BluRay")
    assert best.why == ["1080p (preferred) +30", "BluRay +25", "40 seeders +16"]
    assert "small for 1080p" in " ".join(ranked[2].why)
    assert ranked[-1].why[-1] == "no seeders: last"


def test_a_season_search_puts_the_pack_before_single_episodes_and_an_episode_search_the_episode_first():
    found = [release("Breaking.Bad.S01E05.1080p.BluRay", seeders=30), release("Breaking.Bad.S01.1080p.BluRay", 30),
             release("Breaking.Bad.S01E02.1080p.BluRay", seeders=30)]
    assert ranking.rank(found, SEASON)[0].release.title == "Breaking.Bad.S01.1080p.BluRay"
    assert [r.release.title for r in ranking.rank(found, EPISODE)] == [
        "Breaking.Bad.S01E02.1080p.BluRay", "Breaking.Bad.S01.1080p.BluRay"]


# -- parsing: the real shapes, and hostile ones -------------------------------------------------------------

def test_caps_and_the_query_the_indexer_supports():
    caps = parse_caps(CAPS)
    assert caps.supports("movie-search", "tmdbid") and not caps.supports("music-search")
    assert query_for(caps, "movie", "The Matrix", 1999, 603).params == (("tmdbid", "603"), ("cat", "2000"))
    assert query_for(caps, "movie", "The Matrix", 1999, None).params == (("q", "The Matrix 1999"), ("cat", "2000"))
    assert query_for(caps, "show", "Breaking Bad", 2008, None, 1, 2).params == (
        ("q", "Breaking Bad"), ("season", "1"), ("ep", "2"), ("cat", "5000"))
    bare = parse_caps(b'<caps><searching><search available="yes" supportedParams="q"/></searching></caps>')
    assert query_for(bare, "show", "Breaking Bad", 2008, 1396, 1, None).params == (("q", "Breaking Bad S01"),)


def test_results_parse_size_seeders_magnet_and_hash():
    fake = FakeTorznab([Item("The.Matrix.1999.1080p", seeders=12, size=123, magnet=f"magnet:?xt=urn:btih:{'ab' * 20}"),
                        Item("No.Magnet.1999", seeders=0, info_hash="CD" * 20)])
    releases = parse_results(fake.feed("http://127.0.0.1:1/good"), "Local")
    assert releases[0] == Release("The.Matrix.1999.1080p", "Local", f"magnet:?xt=urn:btih:{'ab' * 20}", 123, 12, 15,
                                  "ab" * 20)
    assert releases[1].source_url == f"http://127.0.0.1:1/good/dl/1?apikey={API_KEY}"
    assert (releases[1].info_hash, releases[1].seeders) == ("cd" * 20, 0)


@pytest.mark.parametrize("xml, reason", [
    (BOMB, "DTD or entities"),
    (b"<rss><channel><item><title>Cut", "not well-formed"),
    (b"<html><body>Cloudflare</body></html>", "not a Torznab RSS feed"),
])
def test_hostile_answers_are_refused_with_a_reason(xml, reason):
    with pytest.raises(IndexerError, match=reason):
        parse_results(xml, "x")


# -- end to end: the API, a real seeder, the share ---------------------------------------------------------

@pytest.fixture
def torznab():
    fake = FakeTorznab().start()
    yield fake
    fake.close()


@pytest.fixture
def searching(tmp_path, torznab):
    config = make_test_config(tmp_path)
    config.search.timeout = 2
    config.search.indexers = [make_indexer(torznab, name) for name in ("good", "badkey", "hang", "malformed", "bomb")]
    server = RunningServer(config)
    yield server
    server.stop()


def make_indexer(fake: FakeTorznab, name: str):
    from momoshtrem.config import IndexerConfig

    return IndexerConfig(name=name, url=fake.url(name), api_key=API_KEY)


def test_a_movie_search_ranks_across_indexers_reports_the_broken_ones_and_hides_the_key(searching, torznab, seeder,
                                                                                        torrent_factory, caplog):
    caplog.set_level(logging.DEBUG)
    film = torrent_factory("The.Matrix.1999.1080p.BluRay.x264-GRP.mkv",
                           {"The.Matrix.1999.1080p.BluRay.x264-GRP.mkv": 300_000})
    seeder.seed(film)
    torznab.items = [
        Item("The.Matrix.2003.1080p.BluRay", seeders=5000),
        Item("The.Matrix.Reloaded.2003.1080p.BluRay", seeders=9000),
        Item("The.Matrix.1999.720p.WEB-DL", seeders=0, size=3 * GB),
        Item("The.Matrix.1999.1080p.BluRay.x264-GRP", seeders=50, size=9 * GB,
             magnet=seeder.magnet(film), info_hash=film.info_hash),
    ]
    movie = searching.api("POST", "/api/movies", json={"title": "The Matrix", "year": 1999}).json()
    answer = searching.api("GET", f"/api/movies/{movie['id']}/releases", timeout=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["title"] for r in body["results"]] == ["The.Matrix.1999.1080p.BluRay.x264-GRP",
                                                     "The.Matrix.1999.720p.WEB-DL"]
    best = body["results"][0]
    assert (best["indexer"], best["seeders"], best["peers"], best["info_hash"]) == ("good", 50, 53, film.info_hash)
    errors = {e["indexer"]: e["error"] for e in body["errors"]}
    assert set(errors) == {"badkey", "hang", "malformed", "bomb"}
    assert errors["badkey"] == "error 100: Invalid API Key"
    assert "2 s" in errors["hang"] and "well-formed" in errors["malformed"] and "entities" in errors["bomb"]
    assert API_KEY not in answer.text and API_KEY not in caplog.text
    searches = [q for q in torznab.queries if q["indexer"] == ["good"] and q["t"] != ["caps"]]
    assert searches[-1]["t"] == ["movie"] and searches[-1]["q"] == ["The Matrix 1999"]

    assigned = searching.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": best["source_url"]})
    assert assigned.status_code == 200, assigned.text
    path = "/Movies/The Matrix (1999)/The Matrix (1999).mkv"
    got = requests.get(searching.url + quote(path), timeout=60)
    assert got.content == (film.root / "The.Matrix.1999.1080p.BluRay.x264-GRP.mkv").read_bytes()


@pytest.mark.parametrize("by_redirect", [False, True], ids=["torrent-file", "redirect-to-magnet"])
def test_a_download_link_result_is_assigned_end_to_end(searching, torznab, seeder, torrent_factory, tmp_path,
                                                      by_redirect):
    pack = torrent_factory("Breaking.Bad.S01.720p.HDTV", {"Breaking.Bad.S01E01.mkv": 200_000,
                                                         "Breaking.Bad.S01E02.mkv": 200_000})
    tracker = Tracker(tmp_path / "tracker", [pack.info_hash])  # how a .torrent's peers are found
    try:
        searching.server.engine.config.default_trackers = [tracker.announce_url]
        seeder.seed(pack, trackers=[tracker.announce_url])
        torznab.items = [Item("Breaking.Bad.S01.720p.HDTV", seeders=7, size=2 * GB, torrent=pack.data,
                              magnet=seeder.magnet(pack) if by_redirect else None, magnet_by_redirect=by_redirect)]
        show = searching.api("POST", "/api/shows", json={"title": "Breaking Bad", "year": 2008}).json()
        found = searching.api("GET", f"/api/shows/{show['id']}/releases?season=1", timeout=30).json()
        link = found["results"][0]["source_url"]
        assert link.startswith(torznab.server.root) and API_KEY not in link  # the indexer's link, its key hidden
        assigned = searching.api("POST", f"/api/shows/{show['id']}/assign", json={"source": link})
        assert assigned.status_code == 200, assigned.text
        assert sorted(f["episodes"] for f in assigned.json()["matched"]) == [[1], [2]]
        got = requests.get(searching.url + quote("/TV Shows/Breaking Bad (2008)/Season 01/"
                                                 "Breaking Bad - S01E02 - Episode 2.mkv"), timeout=60)
        assert got.content == (pack.root / "Breaking.Bad.S01.720p.HDTV" / "Breaking.Bad.S01E02.mkv").read_bytes()
    finally:
        tracker.close()


def test_links_that_are_no_torrent_or_no_web_link_are_refused_and_change_nothing(searching, torznab):
    torznab.items = [Item("Login.Page", seeders=1)]  # its download link answers an HTML page
    movie = searching.api("POST", "/api/movies", json={"title": "Anything", "year": 2000}).json()
    for source, reason in ((f"{torznab.server.root}/good/dl/0?apikey={API_KEY}", "web page"),
                           ("file:///etc/passwd", "http(s) link"), ("ftp://127.0.0.1/x.torrent", "http(s) link"),
                           ("http://127.0.0.1:1/x.torrent", "could not be reached")):
        answer = searching.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": source})
        assert answer.status_code in (400, 502), (source, answer.text)
        assert reason in answer.json()["error"], (source, answer.text)
    assert searching.api("GET", f"/api/movies/{movie['id']}").json()["assignment"] is None


def test_without_indexers_a_search_says_how_to_configure_one(server):
    movie = server.api("POST", "/api/movies", json={"title": "Anything", "year": 2000}).json()
    answer = server.api("GET", f"/api/movies/{movie['id']}/releases")
    assert answer.status_code == 503 and "search.indexers" in answer.json()["error"]


def test_cli_lists_releases_and_assigns_the_best_or_the_nth(searching, torznab, seeder, torrent_factory, capsys,
                                                            monkeypatch, tmp_path):
    from momoshtrem.cli.main import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    films = [torrent_factory(f"Heat.1995.{q}.mkv", {f"Heat.1995.{q}.mkv": 100_000 + n})
             for n, q in enumerate(("1080p.BluRay", "720p.WEB-DL"))]
    for film in films:
        seeder.seed(film)
    torznab.items = [Item(f"Heat.1995.{q}", seeders=s, size=s * GB, magnet=seeder.magnet(film))
                     for film, q, s in zip(films, ("1080p.BluRay", "720p.WEB-DL"), (9, 3))]
    heat = searching.api("POST", "/api/movies", json={"title": "Heat", "year": 1995}).json()["id"]

    def cli(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*args, "--server", searching.url])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = cli("releases", "movie", str(heat))
    assert code == 0
    lines = out.splitlines()
    assert "Heat.1995.1080p.BluRay" in lines[2] and "Heat.1995.720p.WEB-DL" in lines[3]
    assert "indexer badkey: error 100: Invalid API Key" in out and API_KEY not in out
    code, out, err = cli("assign", "movie", str(heat), "2")
    assert code == 0, err
    assert searching.api("GET", f"/api/movies/{heat}").json()["assignment"]["info_hash"] == films[1].info_hash
    code, out, err = cli("assign", "movie", str(heat), "--best")
    assert code == 0, err
    assert searching.api("GET", f"/api/movies/{heat}").json()["assignment"]["info_hash"] == films[0].info_hash
    code, _, err = cli("assign", "movie", str(heat + 1), "1")
    assert code == 1 and "last listing was not for this movie" in err


def test_a_magnet_naming_trackers_is_a_magnet_not_a_link(server, torrent_factory):
    """Magnets in the wild carry tracker URLs (`tr=udp://...`): the '://' inside is not a link to fetch."""
    made = torrent_factory("Known.2001.mkv", {"Known.2001.mkv": 1000})
    first = server.api("POST", "/api/movies", json={"title": "Known", "year": 2001}).json()
    assert server.api("POST", f"/api/movies/{first['id']}/assign", json={"torrent": made.b64}).ok
    again = server.api("POST", "/api/movies", json={"title": "Known Again", "year": 2002}).json()
    magnet = (f"magnet:?xt=urn:btih:{made.info_hash}&dn=Known&tr=udp%3A%2F%2Ftracker.example%3A1337%2Fannounce"
              f"&tr=http://tracker.example/announce")
    answer = server.api("POST", f"/api/movies/{again['id']}/assign", json={"source": magnet})
    assert answer.status_code == 200, answer.text  # its metadata is stored: no network needed
