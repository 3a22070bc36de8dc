"""Hostile and odd input: ambiguous magnets, ids beyond SQLite, deep JSON, cross-site writes, foreign Host names."""

from __future__ import annotations

import socket
import threading
from urllib.parse import quote

import pytest
import requests

from momoshtrem.torrent.sources import SourceError, parse_source
from momoshtrem.auth import hash_secret
from momoshtrem.dav.app import MAX_BODY_BYTES, RANGE_IGNORED, RANGE_UNSATISFIABLE, RANGE_USED, range_verdict
from tests.helpers import RunningServer, make_test_config, wait_until

MiB = 1024 * 1024
HASH_A = "a" * 40
HASH_B = "b" * 40
DEAD = "c0ffee" + "0" * 34  # nobody seeds it


# -- magnets: the hash we check is the hash libtorrent uses -------------------------------------------

@pytest.mark.parametrize("text, info_hash", [
    (f"MAGNET:?XT=urn:btih:{HASH_A}", None),  # a key in upper case is another key: no topic
    (f"MAGNET:?xt=urn:btih:{HASH_A}", HASH_A),
    (f"magnet:?xt=urn:btih:{HASH_A}#fragment", HASH_A),
    (f"magnet:?xt=urn:btih:{HASH_A}&dn=x#frag&tr=y", HASH_A),
    (f"magnet:?xt=urn:btih:{HASH_A}&xt=urn:btih:{HASH_A.upper()}", HASH_A),  # the same torrent twice
])
def test_magnets_are_rebuilt_in_one_spelling(text, info_hash):
    if info_hash is None:
        with pytest.raises(SourceError):
            parse_source(text)
        return
    source = parse_source(text)
    assert source.info_hash == info_hash
    assert source.uri.startswith(f"magnet:?xt=urn:btih:{info_hash}")
    assert "#" not in source.uri and source.uri.count("xt=") == 1


def test_a_magnet_naming_two_torrents_is_refused():
    with pytest.raises(SourceError, match="2 different info-hashes"):
        parse_source(f"magnet:?xt=urn:btih:{HASH_A}&xt=urn:btih:{HASH_B}")


def test_a_two_topic_magnet_cannot_cut_a_stream_in_use(server, seeder, torrent_factory):
    made = torrent_factory("Film.2020.mkv", {"Film.2020.mkv": 2 * MiB}, piece_size=256 * 1024, v1_only=True)
    seeder.seed(made)
    movie = server.api("POST", "/api/movies", json={"title": "Film", "year": 2020}).json()
    assert server.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(made)}).ok
    path = quote("/Movies/Film (2020)/Film (2020).mkv")
    assert server.dav("GET", path, headers={"Range": "bytes=0-99"}).status_code == 206  # in the session now

    other = server.api("POST", "/api/movies", json={"title": "Other", "year": 2021}).json()
    hostile = f"magnet:?xt=urn:btih:{DEAD}&xt=urn:btih:{made.info_hash}&x.pe=127.0.0.1:{seeder.port}"
    answer = server.api("POST", f"/api/movies/{other['id']}/assign", json={"source": hostile})
    assert answer.status_code == 400, answer.text

    assert server.api("GET", "/api/torrents").status_code == 200
    content = (made.root / "Film.2020.mkv").read_bytes()
    last = server.dav("GET", path, headers={"Range": f"bytes={len(content) - 100}-"})
    assert last.status_code == 206 and last.content == content[-100:]


def test_the_same_dead_magnet_assigned_twice_times_out_twice_cleanly(server):
    movies = [server.api("POST", "/api/movies", json={"title": f"Dead {n}", "year": 2000 + n}).json()
              for n in (1, 2)]
    answers: dict[int, requests.Response] = {}

    def assign(movie: dict) -> None:
        # A session of its own per thread: requests.Session is not thread-safe.
        answers[movie["id"]] = requests.post(f"{server.url}/api/movies/{movie['id']}/assign",
                                             json={"source": DEAD}, timeout=60)

    first = threading.Thread(target=assign, args=(movies[0],))
    first.start()
    # The second joins the first's fetch while it is under way, and outlives it.
    wait_until(lambda: server.server.engine.fetch_progress(DEAD) is not None, 10, "the first fetch to start")
    second = threading.Thread(target=assign, args=(movies[1],))
    second.start()
    first.join(30)
    second.join(30)
    assert [answers[m["id"]].status_code for m in movies] == [504, 504], [answers[m["id"]].text for m in movies]
    assert server.api("GET", "/api/torrents").status_code == 200


# -- numbers and bodies ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/movies/9223372036854775808", "/api/movies/99999999999999999999",
                                  "/api/movies/\uff11", "/api/subtitles/9223372036854775807000"])
def test_ids_beyond_sqlite_or_not_ascii_are_not_found(server, path):
    server.api("POST", "/api/movies", json={"title": "One", "year": 2001})
    assert server.api("GET", quote(path)).status_code == 404
    assert server.api("DELETE", quote(path)).status_code in (404, 405)
    assert [m["title"] for m in server.api("GET", "/api/movies").json()] == ["One"]


def test_a_tmdb_id_beyond_sqlite_is_refused(server):
    answer = server.api("POST", "/api/movies", json={"tmdb_id": 2**63})
    assert answer.status_code == 400 and "out of range" in answer.json()["error"]


def test_json_nested_deeper_than_the_parser_goes_is_a_400(server):
    answer = server.api("POST", "/api/movies", data="[" * 100_000, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and "nested too deep" in answer.json()["error"]


# -- other sites ----------------------------------------------------------------------------------

def test_cross_site_writes_are_refused_and_same_origin_ones_pass(server):
    movie = server.api("POST", "/api/movies", json={"title": "Target", "year": 2001}).json()
    assign = f"/api/movies/{movie['id']}/assign"
    form = {"torrent": ("x.torrent", b"d4:infode", "application/x-bittorrent")}
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site"}, {"Origin": "null"}):
        refused = server.api("POST", assign, files=form, headers=headers)
        assert refused.status_code == 403, (headers, refused.text)
        pause = server.api("POST", f"/api/torrents/{HASH_A}/pause", data="x",
                           headers={**headers, "Content-Type": "text/plain"})
        assert pause.status_code == 403
    assert server.api("GET", f"/api/movies/{movie['id']}").json()["assignment"] is None

    own_origin = server.url  # what a browser on the server's own pages sends
    same = server.api("POST", "/api/movies", json={"title": "Mine", "year": 2002},
                      headers={"Origin": own_origin, "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 201
    # Reading cross-site is a browser's business (no CORS headers are sent), and players never send Origin.
    assert server.api("GET", "/api/movies", headers={"Origin": "http://evil.example"}).status_code == 200


@pytest.mark.parametrize("host, status", [
    ("attacker-rebound.example", 421), ("attacker-rebound.example:4444", 421), ("127.0.0.1:4444", 200),
    ("localhost", 200), ("LOCALHOST:1", 200), ("[::1]:4444", 200), ("10.0.0.2", 200), ("nas.local", 200),
])
def test_without_auth_a_request_must_name_this_server(tmp_path, host, status):
    config = make_test_config(tmp_path)
    config.server.allowed_hosts = ["nas.local"]
    server = RunningServer(config)
    try:
        assert server.api("GET", "/api/health", headers={"Host": host}).status_code == status
        propfind = server.dav("PROPFIND", "/", headers={"Host": host, "Depth": "0"})
        assert propfind.status_code == (207 if status == 200 else status)
    finally:
        server.stop()


def test_a_refused_host_name_is_logged_once_with_the_way_in(server, caplog):
    for _ in range(3):
        assert server.api("GET", "/api/health", headers={"Host": "nas.example:4444"}).status_code == 421
    warnings = [r.getMessage() for r in caplog.records if "nas.example" in r.getMessage()]
    assert len(warnings) == 1 and "server.allowed_hosts" in warnings[0]


def test_with_auth_any_host_name_works(tmp_path):
    config = make_test_config(tmp_path)
    config.server.auth = [f"alice:{hash_secret('secret')}"]
    server = RunningServer(config)
    try:
        answer = server.api("GET", "/api/movies", headers={"Host": "nas.example"}, auth=("alice", "secret"))
        assert answer.status_code == 200
    finally:
        server.stop()


# -- odd requests to the share --------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/%c0%ae", "/%ff%fe", "/api/movies/%ff", "/Movies/%c0%ae%c0%ae/x"])
def test_a_path_that_is_not_utf8_gets_a_400(server, path):
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"not UTF-8" in answer


@pytest.mark.parametrize("header, size, verdict", [
    (None, 100, RANGE_USED), ("bytes=0-", 100, RANGE_USED), ("bytes=0-99", 100, RANGE_USED),
    ("bytes=99-200", 100, RANGE_USED), ("bytes=-5", 100, RANGE_USED), ("bytes=-500", 100, RANGE_USED),
    ("bytes=10-5", 100, RANGE_IGNORED), ("bytes=-", 100, RANGE_IGNORED), ("bytes=abc", 100, RANGE_IGNORED),
    ("items=0-5", 100, RANGE_IGNORED), ("bytes=-0", 100, RANGE_UNSATISFIABLE),
    ("bytes=100-", 100, RANGE_UNSATISFIABLE), ("bytes=100-200", 100, RANGE_UNSATISFIABLE),
])
def test_range_verdicts_follow_rfc_9110(header, size, verdict):
    assert range_verdict(header, size) == verdict


@pytest.fixture
def film(server, seeder, torrent_factory):
    made = torrent_factory("Film.2020.mkv", {"Film.2020.mkv": 300_000}, piece_size=65536, v1_only=True)
    seeder.seed(made)
    movie = server.api("POST", "/api/movies", json={"title": "Film", "year": 2020}).json()
    assert server.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(made)}).ok
    return quote("/Movies/Film (2020)/Film (2020).mkv"), (made.root / "Film.2020.mkv").read_bytes()


def test_ranges_that_select_nothing_or_are_malformed(server, film):
    path, content = film
    backwards = server.dav("GET", path, headers={"Range": "bytes=10-5"})
    assert backwards.status_code == 200 and backwards.content == content
    for spec in ("bytes=-0", f"bytes={len(content)}-"):
        empty = server.dav("GET", path, headers={"Range": spec})
        assert empty.status_code == 416, spec
        assert empty.headers["Content-Range"] == f"bytes */{len(content)}"


@pytest.mark.parametrize("date", ["Sun, 06 Nov 99999999999 08:49:37 GMT", "yesterday", "Sun, 32 Nov 1994 08:49:37 GMT"])
def test_an_impossible_if_modified_since_is_ignored(server, film, date):
    path, content = film
    for method in ("GET", "HEAD"):
        answer = server.dav(method, path, headers={"If-Modified-Since": date, "If-Unmodified-Since": date})
        assert answer.status_code == 200, answer.text
    assert server.dav("GET", path, headers={"If-Modified-Since": date}).content == content
    assert server.dav("PROPFIND", "/Movies/", headers={"Depth": "1", "If-Modified-Since": date}).status_code == 207


def test_header_and_footer_settings_of_zero_still_stream(tmp_path, seeder, torrent_factory):
    config = make_test_config(tmp_path)
    config.streaming.header_priority_bytes = config.streaming.footer_priority_bytes = 0
    server = RunningServer(config)
    try:
        made = torrent_factory("Zero.2020.mkv", {"Zero.2020.mkv": 3 * MiB}, piece_size=256 * 1024, v1_only=True)
        seeder.seed(made)
        movie = server.api("POST", "/api/movies", json={"title": "Zero", "year": 2020}).json()
        assert server.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(made)}).ok
        answer = server.dav("GET", quote("/Movies/Zero (2020)/Zero (2020).mkv"))
        assert answer.status_code == 200 and answer.content == (made.root / "Zero.2020.mkv").read_bytes()
    finally:
        server.stop()


# -- titles -----------------------------------------------------------------------------------------

def test_titles_lose_control_characters_and_are_stored_in_nfc(server):
    added = server.api("POST", "/api/movies", json={"title": "Bell\x07 \x1b[31mRed\x00\tTitle", "year": 2001})
    assert added.status_code == 201 and added.json()["title"] == "Bell [31mRed Title"
    nfd = "Ame\u0301lie"
    assert server.api("POST", "/api/movies", json={"title": nfd, "year": 2001}).json()["title"] == "Am\u00e9lie"
    assert server.api("POST", "/api/movies", json={"title": "\x00\x07", "year": 2001}).status_code == 400


@pytest.mark.parametrize("twin", ["Ame\u0301lie", "AM\u00c9LIE", "Am\u00e9lie*", "Am\u00e9lie?", "am\u00e9lie "])
def test_a_title_that_would_show_as_an_existing_folder_is_a_conflict(server, twin):
    assert server.api("POST", "/api/movies", json={"title": "Am\u00e9lie", "year": 2001}).status_code == 201
    twin_answer = server.api("POST", "/api/movies", json={"title": twin, "year": 2001})
    assert twin_answer.status_code == 409, twin_answer.text
    assert "would show as" in twin_answer.json()["error"]
    assert server.api("POST", "/api/movies", json={"title": twin, "year": 2002}).status_code == 201
    assert server.api("POST", "/api/movies", json={"title": "Am\u00e9lie:", "year": 2001}).status_code == 201  # "Amélie-"
    assert len(server.api("GET", "/api/movies").json()) == 3


# -- sizes ------------------------------------------------------------------------------------------

def test_a_huge_url_is_refused_without_being_echoed(server):
    answer = server.dav("GET", "/Movies/" + "a" * 200_000)
    assert answer.status_code == 414 and len(answer.content) < 1000


def test_a_share_request_body_over_the_limit_is_refused_unread(server):
    big = server.dav("PROPFIND", "/", data=b"x" * (MAX_BODY_BYTES + 1), headers={"Depth": "0"})
    assert big.status_code == 413
    chunked = server.dav("PROPFIND", "/", data=iter([b"<?xml version='1.0'?>", b"<propfind xmlns='DAV:'/>"]),
                         headers={"Depth": "0"})
    assert chunked.status_code == 411
    # Declared but never sent: the answer comes at once, the body is never waited for.
    with socket.create_connection(("127.0.0.1", server.server.port), timeout=10) as connection:
        connection.sendall(b"PROPFIND / HTTP/1.1\r\nHost: 127.0.0.1\r\nDepth: 0\r\n"
                           b"Content-Length: 400000000\r\n\r\n")
        assert connection.recv(100).startswith(b"HTTP/1.1 413 ")


def test_a_chunked_api_body_is_read_and_held_to_the_upload_limit(tmp_path):
    config = make_test_config(tmp_path)
    config.server.max_upload_bytes = 1000
    server = RunningServer(config)
    try:
        small = server.api("POST", "/api/movies", data=iter([b'{"title": "Chunked", ', b'"year": 2001}']),
                           headers={"Content-Type": "application/json"})
        assert small.status_code == 201, small.text
        big = server.api("POST", "/api/movies", data=iter([b'{"title": "' + b"x" * 600, b"y" * 600 + b'"}']),
                         headers={"Content-Type": "application/json"})
        assert big.status_code == 413, big.text
    finally:
        server.stop()


def test_error_pages_name_no_software_and_repeat_nothing(server):
    for method, path, body in (("GET", "/nothing/here<script>", None), ("PROPFIND", "/nope", None),
                               ("PROPFIND", "/", b"<bad")):
        answer = server.dav(method, quote(path), data=body, headers={"Depth": "0"})
        assert answer.status_code in (400, 404)
        for leak in ("WsgiDAV", "4.4", "script", "nope", "Expat", "exception"):
            assert leak.lower() not in answer.text.lower(), (path, answer.text)
