"""No client can starve the others: silent and trickling sockets, dead magnets and huge torrents cost no worker."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import ExitStack

import pytest
import requests

from tests.fake_torznab import FakeTorznab
from tests.helpers import RunningServer, make_test_config, wait_until

PROPFIND_ROOT = b"PROPFIND / HTTP/1.1\r\nHost: 127.0.0.1\r\nDepth: 0\r\nContent-Length: 0\r\n\r\n"


def _connect(server: RunningServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.server.port), timeout=10)


def _closed_by_server(connection: socket.socket) -> bool:
    """True once the server has closed the connection (it may have sent a short answer first)."""
    connection.settimeout(0.1)
    try:
        while True:
            data = connection.recv(4096)
            if not data:
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@pytest.fixture
def short_headers(tmp_path):
    config = make_test_config(tmp_path)
    config.server.header_timeout = 2
    server = RunningServer(config)
    yield server
    server.stop()


def test_silent_sockets_beyond_the_worker_count_do_not_block_a_listing(server):
    with ExitStack() as stack:
        for _ in range(server.config.server.threads * 3):
            stack.enter_context(_connect(server))
        listing = server.dav("PROPFIND", "/", headers={"Depth": "1"}, timeout=5)
        assert listing.status_code == 207


def test_headers_that_trickle_in_hold_no_worker(server):
    """Slowloris: every socket has sent part of a request line; the workers still answer everyone else."""
    with ExitStack() as stack:
        trickling = [stack.enter_context(_connect(server)) for _ in range(server.config.server.threads * 3)]
        for connection in trickling:
            connection.sendall(b"GET /Movies/ HTTP/1.1\r\nHost: 127.")
        for connection in trickling:
            connection.sendall(b"0")
        listing = server.dav("PROPFIND", "/", headers={"Depth": "1"}, timeout=5)
        assert listing.status_code == 207
        health = server.api("GET", "/api/health", timeout=5)
        assert health.status_code == 200


def test_a_request_sent_in_pieces_within_the_header_timeout_is_served(short_headers):
    with _connect(short_headers) as connection:
        for part in (PROPFIND_ROOT[:5], PROPFIND_ROOT[5:30], PROPFIND_ROOT[30:]):
            connection.sendall(part)
            time.sleep(0.2)  # a slow client, not synchronisation: the answer is awaited below
        assert connection.recv(100).startswith(b"HTTP/1.1 207 ")


def test_pipelined_requests_on_one_connection_are_all_answered(server):
    with _connect(server) as connection:
        connection.sendall(PROPFIND_ROOT * 3)
        answers = b""
        deadline = time.monotonic() + 10
        while answers.count(b"HTTP/1.1 207 ") < 3 and time.monotonic() < deadline:
            answers += connection.recv(65536)
        assert answers.count(b"HTTP/1.1 207 ") == 3


@pytest.mark.parametrize("sent", [b"", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"], ids=["silent", "half-sent"])
def test_a_connection_whose_request_never_completes_is_closed_after_the_header_timeout(short_headers, sent):
    with _connect(short_headers) as connection:
        connection.sendall(sent)
        wait_until(lambda: _closed_by_server(connection), 15, "the server to close the connection")


def test_an_idle_keep_alive_connection_outlives_the_header_timeout(short_headers):
    """Between requests a paused player may sit for socket_timeout; the header clock starts at its next byte."""
    with _connect(short_headers) as connection:
        connection.sendall(PROPFIND_ROOT)
        assert connection.recv(100).startswith(b"HTTP/1.1 207 ")
        time.sleep(short_headers.config.server.header_timeout + 1.5)  # the idle time under test
        connection.sendall(PROPFIND_ROOT)
        answer = b""
        while b"HTTP/1.1 207 " not in answer:
            chunk = connection.recv(65536)
            assert chunk, "the idle connection was closed"
            answer += chunk


def _assert_refused_while_they_wait(server: RunningServer, refused: requests.Response, why: str,
                                    waiting: list[threading.Thread]) -> None:
    """A request beyond a bound is a quick 503 while the bounded ones still wait, and the share still lists."""
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "5"
    assert why in refused.json()["error"]
    assert all(thread.is_alive() for thread in waiting)  # refused while they wait: it queued behind nothing
    assert server.dav("PROPFIND", "/", headers={"Depth": "1"}, timeout=5).status_code == 207


def test_assignments_waiting_on_dead_swarms_are_bounded_and_the_rest_refused_at_once(tmp_path):
    config = make_test_config(tmp_path)
    config.torrent.metadata_timeout = 120  # the waiting ones outlast the test; stopping the server ends them
    server = RunningServer(config)
    bound = server.server.engine.wait_bounds.metadata_fetches
    dead = [f"{n:040x}" for n in range(1, bound + 2)]  # nobody seeds these
    movies = [server.api("POST", "/api/movies", json={"title": f"Dead {n}", "year": 2000 + n}).json()["id"]
              for n in range(len(dead))]
    waiting = [threading.Thread(target=requests.post, args=(f"{server.url}/api/movies/{movie}/assign",),
                                kwargs={"json": {"source": info_hash}, "timeout": 150})
               for movie, info_hash in zip(movies[:bound], dead)]
    try:
        for thread in waiting:
            thread.start()
        wait_until(lambda: all(server.server.engine.fetch_progress(h) is not None for h in dead[:bound]), 10,
                   "the first assignments to wait for metadata")
        refused = server.api("POST", f"/api/movies/{movies[-1]}/assign", json={"source": dead[-1]}, timeout=10)
        _assert_refused_while_they_wait(server, refused, "wait for metadata", waiting)
    finally:
        server.stop()  # wakes the waiting fetches
        for thread in waiting:
            thread.join(30)


def test_release_searches_waiting_on_a_hung_indexer_are_bounded_and_the_rest_refused_at_once(tmp_path):
    from momoshtrem.config import IndexerConfig

    torznab = FakeTorznab().start()
    config = make_test_config(tmp_path)
    config.search.timeout = 60  # the hung searches outlast the test; ending the hang ends them
    config.search.indexers = [IndexerConfig(name="hang", url=torznab.url("hang"), api_key="key")]
    server = RunningServer(config)
    bound = server.server.actions.upstream.limit
    movie = server.api("POST", "/api/movies", json={"title": "Heat", "year": 1995}).json()["id"]
    releases = f"{server.url}/api/movies/{movie}/releases"
    waiting = [threading.Thread(target=requests.get, args=(releases,), kwargs={"timeout": 150}) for _ in range(bound)]
    try:
        for thread in waiting:
            thread.start()
        wait_until(lambda: torznab.hung == bound, 10, "the first searches to wait on the indexer")
        refused = server.api("GET", f"/api/movies/{movie}/releases", timeout=10)
        _assert_refused_while_they_wait(server, refused, "wait on indexers", waiting)
        metrics = server.api("GET", "/metrics", timeout=5).text
        assert f"momoshtrem_internet_waits {float(bound)}" in metrics
        assert "momoshtrem_refused_internet_requests_total 1.0" in metrics
    finally:
        torznab.close()  # the hung indexer answers nothing now: the searches end
        for thread in waiting:
            thread.join(30)
        server.stop()
    assert server.server.actions.upstream.waiting == 0


def test_a_torrent_with_more_files_to_match_than_the_cap_is_refused_and_changes_nothing(server, torrent_factory):
    from momoshtrem.library.assign import MAX_FILES_TO_MATCH

    show = server.api("POST", "/api/shows", json={"title": "Endless", "year": 1999}).json()
    files = {f"Endless.S01E{n:04d}.mkv": 1 for n in range(1, MAX_FILES_TO_MATCH + 2)}
    huge = torrent_factory("Endless.S01", files, v1_only=True)
    refused = server.api("POST", f"/api/shows/{show['id']}/assign", json={"torrent": huge.b64})
    assert refused.status_code == 400, refused.text
    assert f"{MAX_FILES_TO_MATCH + 1} video and subtitle files" in refused.json()["error"]
    assert server.api("GET", f"/api/shows/{show['id']}").json()["seasons"] == []
    assert server.api("GET", "/api/torrents").json() == []
    # Other files do not count: a torrent of many small extras and a few episodes is matched.
    files = {**{f"Proofs/page{n:05d}.jpg": 1 for n in range(MAX_FILES_TO_MATCH + 1)},
             **{f"Endless.S01E{n:02d}.mkv": 1 for n in (1, 2)}}
    fine = torrent_factory("Endless.S01.Extras", files, v1_only=True)
    assigned = server.api("POST", f"/api/shows/{show['id']}/assign", json={"torrent": fine.b64})
    assert assigned.status_code == 200, assigned.text
    assert sorted(f["episodes"] for f in assigned.json()["matched"]) == [[1], [2]]
