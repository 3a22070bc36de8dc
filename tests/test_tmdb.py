"""Adding by TMDB id: the real client against a local server with TMDB's response shapes."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest

from tests.dav import parse_multistatus
from tests.fake_tmdb import API_KEY, FakeTmdb
from tests.helpers import RunningServer
from tests.loopback_http import JsonHandler, LoopbackServer


@pytest.fixture
def tmdb():
    fake = FakeTmdb()
    yield fake
    fake.close()


@pytest.fixture
def tmdb_server(config, tmdb):
    config.tmdb.api_key = API_KEY
    config.tmdb.base_url = tmdb.base_url
    running = RunningServer(config)
    yield running
    running.stop()


def test_add_movie_by_tmdb_id(tmdb_server, tmdb, caplog):
    caplog.set_level(logging.DEBUG)
    response = tmdb_server.api("POST", "/api/movies", json={"tmdb_id": 603})
    assert response.status_code == 201, response.text
    assert response.json() == {"id": response.json()["id"], "title": "The Matrix", "year": 1999,
                               "tmdb_id": 603, "assignment": None}
    assert any(r.startswith("/3/movie/603?") and f"api_key={API_KEY}" in r for r in tmdb.requests)
    assert API_KEY not in caplog.text


def test_duplicate_tmdb_id_is_a_conflict_without_calling_tmdb(tmdb_server, tmdb):
    assert tmdb_server.api("POST", "/api/movies", json={"tmdb_id": 603}).status_code == 201
    calls = len(tmdb.requests)
    response = tmdb_server.api("POST", "/api/movies", json={"tmdb_id": 603})
    assert response.status_code == 409 and "603" in response.json()["error"]
    assert len(tmdb.requests) == calls
    assert len(tmdb_server.api("GET", "/api/movies").json()) == 1


def test_add_show_fills_seasons_and_episode_names(tmdb_server, torrent_factory):
    response = tmdb_server.api("POST", "/api/shows", json={"tmdb_id": 1396})
    assert response.status_code == 201, response.text
    show = response.json()
    assert (show["title"], show["year"], show["tmdb_id"]) == ("Breaking Bad", 2008, 1396)
    assert [s["number"] for s in show["seasons"]] == [0, 1, 2]
    season1 = show["seasons"][1]["episodes"]
    assert [(e["number"], e["name"], e["air_date"]) for e in season1] == [
        (1, "Pilot", "2008-01-20"), (2, "Cat's in the Bag...", "2008-01-27"),
        (3, "...And the Bag's in the River", "2008-02-10"),
    ]

    made = torrent_factory("Breaking.Bad.S01.720p", {
        "Breaking.Bad.S01E01.mkv": 1000, "Breaking.Bad.S01E03.mkv": 1000, "Breaking.Bad.S05E01.mkv": 1000,
    })
    report = tmdb_server.api("POST", f"/api/shows/{show['id']}/assign", json={"torrent": made.b64}).json()
    assert sorted(f["episodes"][0] for f in report["matched"]) == [1, 3]
    assert [f["reason"] for f in report["unmatched"]] == ["no_library_episode"]

    listing = tmdb_server.dav("PROPFIND", quote("/TV Shows/Breaking Bad (2008)/Season 01/"), headers={"Depth": "1"})
    names = sorted(p.rsplit("/", 1)[1] for p in parse_multistatus(listing.content) if p.endswith(".mkv"))
    assert names == ["Breaking Bad - S01E01 - Pilot.mkv", "Breaking Bad - S01E03 - ...And the Bag's in the River.mkv"]


def test_add_show_with_chosen_seasons(tmdb_server):
    show = tmdb_server.api("POST", "/api/shows", json={"tmdb_id": 1396, "seasons": [2]}).json()
    assert [s["number"] for s in show["seasons"]] == [2]
    response = tmdb_server.api("POST", "/api/shows", json={"tmdb_id": 1396, "seasons": [1]})
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body,status,message",
    [
        ({"tmdb_id": 999}, 404, "TMDB has no show 999"),
        ({"tmdb_id": 1396, "seasons": [7]}, 400, "no season 7"),
        ({"tmdb_id": 1396, "seasons": "1"}, 400, "list of season numbers"),
        ({"tmdb_id": "1396"}, 400, "whole number"),
    ],
)
def test_show_errors(tmdb_server, body, status, message):
    response = tmdb_server.api("POST", "/api/shows", json=body)
    assert response.status_code == status and message in response.json()["error"]
    assert tmdb_server.api("GET", "/api/shows").json() == []


def test_wrong_key_and_rate_limit_are_clear_503s(config, tmdb, caplog):
    config.tmdb.api_key = "wrong-key-0000"
    config.tmdb.base_url = tmdb.base_url
    running = RunningServer(config)
    try:
        response = running.api("POST", "/api/movies", json={"tmdb_id": 603})
        assert response.status_code == 503 and "refused the configured API key" in response.json()["error"]
        assert "wrong-key-0000" not in response.text and "wrong-key-0000" not in caplog.text
    finally:
        running.stop()
    config.tmdb.api_key = API_KEY
    tmdb.rate_limited = True
    running = RunningServer(config)
    try:
        response = running.api("POST", "/api/movies", json={"tmdb_id": 603})
        assert response.status_code == 503 and "rate limit" in response.json()["error"]
        assert running.api("GET", "/api/movies").json() == []
    finally:
        running.stop()


def test_bearer_token_is_sent_as_a_header(config, tmdb):
    config.tmdb.api_key = f"eyJ{API_KEY}"
    config.tmdb.base_url = tmdb.base_url
    running = RunningServer(config)
    try:
        assert running.api("POST", "/api/movies", json={"tmdb_id": 603}).status_code == 201
        assert all("api_key" not in r for r in tmdb.requests)
    finally:
        running.stop()


def test_unreachable_tmdb_is_a_503(config):
    config.tmdb.api_key = API_KEY
    config.tmdb.base_url = "http://127.0.0.1:9/3"  # discard port: nothing listens
    config.tmdb.timeout = 2
    running = RunningServer(config)
    try:
        response = running.api("POST", "/api/movies", json={"tmdb_id": 603})
        assert response.status_code == 503 and "could not be reached" in response.json()["error"]
    finally:
        running.stop()


class _Recorder(JsonHandler):
    seen: list[tuple[str, dict]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        _Recorder.seen.append((self.path, dict(self.headers)))
        self.send_json(200, {"id": 603, "title": "Elsewhere"})


def test_a_redirect_to_another_host_is_not_followed_and_the_key_stays_home(tmdb_server, tmdb):
    elsewhere = LoopbackServer(_Recorder)
    try:
        tmdb.redirect_to = elsewhere.root  # another port: another origin
        response = tmdb_server.api("POST", "/api/movies", json={"tmdb_id": 603})
        assert response.status_code == 503 and "another host" in response.json()["error"]
        assert _Recorder.seen == []
        assert tmdb_server.api("GET", "/api/movies").json() == []
    finally:
        elsewhere.close()


def test_an_upstream_error_text_is_summarised_never_repeated(tmdb_server, tmdb):
    tmdb.echo_errors = True
    response = tmdb_server.api("POST", "/api/movies", json={"tmdb_id": 603})
    assert response.status_code == 503 and response.json()["error"] == "TMDB answered HTTP 500"
    assert API_KEY not in response.text
