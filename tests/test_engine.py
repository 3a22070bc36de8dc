"""The torrent engine end to end: a real seeder on loopback, the real server, real HTTP clients."""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import pytest
import requests

from momoshtrem.streaming.stream import DETECTOR_ID
from tests.helpers import MadeTorrent, RunningServer, Seeder, Tracker, wait_until

MiB = 1024 * 1024
PIECE = 256 * 1024
MOVIE = "/Movies/Big Movie (2021)/Big Movie (2021).mkv"
SEASON = "/TV Shows/Show (2020)/Season 01"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content(made: MadeTorrent, name: str, rel: str) -> bytes:
    return (made.root / name / rel).read_bytes()


@pytest.fixture
def movie_torrent(torrent_factory) -> MadeTorrent:
    return torrent_factory("Big.Movie.2021.1080p", {"Big.Movie.2021.1080p.mkv": 12 * MiB + 12345,
                                                    "Big.Movie.2021.1080p.nfo": 500}, piece_size=PIECE)


@pytest.fixture
def show_torrent(torrent_factory) -> MadeTorrent:
    return torrent_factory("Show.S01.720p", {f"Show.S01E0{n}.mkv": 3 * MiB + n * 1000 for n in (1, 2, 3)},
                           piece_size=PIECE)


def assign_movie(server: RunningServer, body: dict) -> dict:
    movie = server.api("POST", "/api/movies", json={"title": "Big Movie", "year": 2021}).json()
    response = server.api("POST", f"/api/movies/{movie['id']}/assign", json=body)
    assert response.status_code == 200, response.text
    return movie


def assign_show(server: RunningServer, body: dict) -> dict:
    show = server.api("POST", "/api/shows", json={"title": "Show", "year": 2020}).json()
    response = server.api("POST", f"/api/shows/{show['id']}/assign", json=body)
    assert response.status_code == 200, response.text
    return show


def get(server: RunningServer, path: str, **headers) -> requests.Response:
    return requests.get(server.url + quote(path), headers=headers, timeout=60)


def test_magnet_and_info_hash_assignments_stream_byte_exact(server, seeder, movie_torrent, show_torrent, tmp_path):
    seeder.seed(movie_torrent)
    tracker = Tracker(tmp_path / "tracker", [show_torrent.info_hash])
    try:
        seeder.seed(show_torrent, trackers=[tracker.announce_url])
        # A magnet with a peer hint, and a bare info-hash found through a (local) default tracker.
        assign_movie(server, {"source": seeder.magnet(movie_torrent)})
        server.server.engine.config.default_trackers = [tracker.announce_url]
        assign_show(server, {"source": show_torrent.info_hash.upper()})

        original = content(movie_torrent, "Big.Movie.2021.1080p", "Big.Movie.2021.1080p.mkv")
        full = get(server, MOVIE)
        assert full.status_code == 200
        assert full.headers["Content-Length"] == str(len(original))
        assert sha256(full.content) == sha256(original)

        size = len(original)
        for start, end in ((0, 99), (size // 2 - 1000, size // 2 + 70000), (size - 1, size - 1)):
            part = get(server, MOVIE, Range=f"bytes={start}-{end}")
            assert part.status_code == 206
            assert part.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
            assert part.content == original[start:end + 1]

        for n in (1, 2, 3):
            episode = get(server, f"{SEASON}/Show - S01E0{n} - Episode {n}.mkv")
            assert episode.status_code == 200
            assert sha256(episode.content) == sha256(content(show_torrent, "Show.S01.720p", f"Show.S01E0{n}.mkv"))
    finally:
        tracker.close()


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed (.ci/run installs it)")
def test_rclone_copy_and_check_agree_with_the_source(server, seeder, show_torrent, tmp_path):
    seeder.seed(show_torrent)
    assign_show(server, {"source": seeder.magnet(show_torrent)})
    expected = tmp_path / "expected"
    expected.mkdir()
    for n in (1, 2, 3):
        shutil.copy(show_torrent.root / "Show.S01.720p" / f"Show.S01E0{n}.mkv",
                    expected / f"Show - S01E0{n} - Episode {n}.mkv")
    copied = tmp_path / "copied"
    env = {"RCLONE_CONFIG": "/dev/null", "PATH": "/usr/bin:/bin"}
    remote = [f"--webdav-url={server.url}", f":webdav:{SEASON}"]
    result = subprocess.run(["rclone", "copy", *remote, str(copied)], capture_output=True, text=True, timeout=120,
                            env=env)
    assert result.returncode == 0, result.stderr
    result = subprocess.run(["rclone", "check", "--download", str(expected), *remote], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "0 differences found" in result.stderr
    assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in expected.iterdir())


@pytest.fixture
def lean_server(config):
    """Small header, footer and readahead windows, so what a read fetches is easy to bound."""
    config.streaming.header_priority_bytes = config.streaming.footer_priority_bytes = MiB
    config.streaming.urgent_buffer_bytes = MiB
    config.streaming.readahead_bytes = 2 * MiB
    running = RunningServer(config)
    yield running
    running.stop()


def test_only_what_is_read_is_downloaded(lean_server, seeder, torrent_factory):
    server = lean_server
    made = torrent_factory("Two.Files", {"Two.Files.S01E01.mkv": 16 * MiB, "Two.Files.S01E02.mkv": 16 * MiB},
                           piece_size=PIECE, v1_only=True)
    seeder.seed(made)
    assign_show(server, {"source": seeder.magnet(made)})
    engine = server.server.engine
    assert engine.find(made.info_hash) is None, "assigning must not add the torrent to the session"

    first = get(server, f"{SEASON}/Show - S01E01 - Episode 1.mkv", Range=f"bytes=0-{2 * MiB - 1}")
    assert first.content == content(made, "Two.Files", "Two.Files.S01E01.mkv")[:2 * MiB]

    torrent = engine.find(made.info_hash)
    second_file_pieces = range((16 * MiB) // PIECE, (32 * MiB) // PIECE)
    assert not any(torrent.handle.have_piece(p) for p in second_file_pieces)
    downloaded = torrent.handle.status().total_done
    assert 2 * MiB <= downloaded <= 8 * MiB, downloaded  # the read and a small readahead, of a 32 MiB torrent
    state = server.api("GET", f"/api/torrents/{made.info_hash}").json()
    # The readahead may still be arriving; it stays bounded.
    assert state["in_session"] and downloaded <= state["downloaded_bytes"] <= 8 * MiB
    assert state["bytes_on_disk"] < 12 * MiB


def test_idle_torrent_is_paused_and_resumed_by_the_next_read(tmp_path, config, seeder, movie_torrent):
    config.torrent.idle_timeout = 1.5
    server = RunningServer(config)
    try:
        seeder.seed(movie_torrent)
        assign_movie(server, {"source": seeder.magnet(movie_torrent)})
        original = content(movie_torrent, "Big.Movie.2021.1080p", "Big.Movie.2021.1080p.mkv")
        assert get(server, MOVIE, Range="bytes=0-1000").content == original[:1001]
        torrent = server.server.engine.find(movie_torrent.info_hash)
        wait_until(lambda: torrent.handle.status().paused, 15, "the idle torrent to pause")
        assert server.api("GET", f"/api/torrents/{movie_torrent.info_hash}").json()["state"] == "idle"
        had = torrent.handle.status().total_done
        tail = get(server, MOVIE, Range=f"bytes={len(original) - 5000}-")
        assert tail.content == original[-5000:]
        assert not torrent.handle.status().paused
        assert torrent.handle.status().total_done >= had  # nothing was thrown away by the pause
    finally:
        server.stop()


def test_a_vanished_swarm_times_out_and_the_server_keeps_serving(config, seeder, movie_torrent, show_torrent,
                                                                 capfd, caplog):
    caplog.set_level(logging.DEBUG, logger="momoshtrem.httpserver")
    config.torrent.read_timeout = 3
    server = RunningServer(config)
    try:
        seeder.seed(movie_torrent)
        seeder.seed(show_torrent)
        assign_movie(server, {"source": seeder.magnet(movie_torrent)})
        assign_show(server, {"source": seeder.magnet(show_torrent)})
        assert get(server, MOVIE, Range="bytes=0-99").status_code == 206  # the swarm works
        seeder.stop_seeding(movie_torrent)

        started = time.monotonic()
        with pytest.raises(requests.exceptions.RequestException):
            response = requests.get(server.url + quote(MOVIE), timeout=30, stream=True)
            response.raise_for_status()
            for _ in response.iter_content(1 << 20):
                pass  # the body ends early: the connection is aborted, never a hang
        assert time.monotonic() - started < 3 + 10
        # The cut is logged once through logging, not as a cheroot traceback on stderr.
        wait_until(lambda: "cut short after its first bytes" in caplog.text, 10, "the cut to be logged")
        assert "start_response called a second time" not in capfd.readouterr().err
        head = requests.head(server.url + quote(f"{SEASON}/Show - S01E02 - Episode 2.mkv"), timeout=10)
        assert head.status_code == 200
        episode = get(server, f"{SEASON}/Show - S01E02 - Episode 2.mkv", Range="bytes=0-999")
        assert episode.content == content(show_torrent, "Show.S01.720p", "Show.S01E02.mkv")[:1000]

        seeder.seed(movie_torrent)  # the peer returns: the stream resumes, as a player retrying would see
        original = content(movie_torrent, "Big.Movie.2021.1080p", "Big.Movie.2021.1080p.mkv")
        wanted = original[5 * MiB:6 * MiB + 1]
        wait_until(lambda: get(server, MOVIE, Range=f"bytes={5 * MiB}-{6 * MiB}").content == wanted, 60,
                   "the stream to resume after the peer returned", interval=0.5)
    finally:
        server.stop()


def test_concurrent_gets_of_one_file_and_of_two_files_of_one_torrent(server, seeder, show_torrent):
    seeder.seed(show_torrent)
    assign_show(server, {"source": seeder.magnet(show_torrent)})
    jobs = [(1, "bytes=0-"), (1, f"bytes={MiB}-"), (2, "bytes=0-"), (3, f"bytes={2 * MiB}-{3 * MiB}")]
    results: dict[int, bytes] = {}

    def fetch(index: int, episode: int, byte_range: str) -> None:
        results[index] = get(server, f"{SEASON}/Show - S01E0{episode} - Episode {episode}.mkv", Range=byte_range).content

    threads = [threading.Thread(target=fetch, args=(i, *job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for index, (episode, byte_range) in enumerate(jobs):
        original = content(show_torrent, "Show.S01.720p", f"Show.S01E0{episode}.mkv")
        start, _, end = byte_range[len("bytes="):].partition("-")
        assert results[index] == original[int(start): int(end) + 1 if end else None], (episode, byte_range)


def test_restart_keeps_library_and_metadata_and_serves_downloaded_data_without_peers(config, movie_torrent):
    seeder = Seeder()
    server = RunningServer(config)
    try:
        seeder.seed(movie_torrent)
        assign_movie(server, {"source": seeder.magnet(movie_torrent)})
        original = content(movie_torrent, "Big.Movie.2021.1080p", "Big.Movie.2021.1080p.mkv")
        assert sha256(get(server, MOVIE).content) == sha256(original)
        listing_before = server.api("GET", "/api/movies").json()
    finally:
        seeder.close()  # no peer anywhere from now on
    server.restart()
    try:
        assert server.api("GET", "/api/movies").json() == listing_before
        torrent_info = server.api("GET", f"/api/torrents/{movie_torrent.info_hash}").json()
        assert torrent_info["name"] == "Big.Movie.2021.1080p" and not torrent_info["in_session"]
        # The stored metadata answers a second assignment by magnet at once, without the (gone) swarm.
        movie_id = listing_before[0]["id"]
        again = server.api("POST", f"/api/movies/{movie_id}/assign", json={"source": movie_torrent.info_hash})
        assert again.status_code == 200
        data = get(server, MOVIE).content
        assert sha256(data) == sha256(original)
        assert server.server.engine.find(movie_torrent.info_hash).handle.status().num_peers == 0
    finally:
        server.stop()


def test_memory_storage_keeps_data_under_the_tmpfs_path_only(tmp_path, config, seeder, movie_torrent):
    shm = Path("/dev/shm")
    memory_dir = (shm if shm.is_dir() else tmp_path) / f"momoshtrem-test-{tmp_path.name}"
    config.torrent.storage = "memory"
    config.torrent.memory_dir = str(memory_dir)
    server = RunningServer(config)
    try:
        seeder.seed(movie_torrent)
        assign_movie(server, {"source": seeder.magnet(movie_torrent)})
        original = content(movie_torrent, "Big.Movie.2021.1080p", "Big.Movie.2021.1080p.mkv")
        assert get(server, MOVIE, Range="bytes=0-999999").content == original[:1000000]
        stored = memory_dir / movie_torrent.info_hash / "Big.Movie.2021.1080p" / "Big.Movie.2021.1080p.mkv"
        assert stored.exists() and stored.stat().st_blocks > 0
        data_dir = Path(config.torrent.data_dir)
        assert not data_dir.exists() or not any(p.is_file() for p in data_dir.rglob("*"))
    finally:
        server.stop()
        shutil.rmtree(memory_dir, ignore_errors=True)


def test_cache_size_evicts_the_least_recently_read_torrent(config, seeder, movie_torrent, show_torrent):
    config.torrent.cache_size = 4 * MiB
    server = RunningServer(config)
    try:
        seeder.seed(movie_torrent)
        seeder.seed(show_torrent)
        assign_movie(server, {"source": seeder.magnet(movie_torrent)})
        assign_show(server, {"source": seeder.magnet(show_torrent)})
        assert len(get(server, MOVIE, Range=f"bytes=0-{3 * MiB - 1}").content) == 3 * MiB
        episode = f"{SEASON}/Show - S01E01 - Episode 1.mkv"
        assert len(get(server, episode, Range=f"bytes=0-{3 * MiB - 1}").content) == 3 * MiB
        engine = server.server.engine
        evicted = engine.housekeeper.evict_over_cache_size()
        assert evicted == [movie_torrent.info_hash]
        assert engine.find(movie_torrent.info_hash) is None
        assert not (engine.storage_root / movie_torrent.info_hash).exists()
        assert engine.find(show_torrent.info_hash) is not None
        # Evicted data comes back from the swarm when read again.
        original = content(movie_torrent, "Big.Movie.2021.1080p", "Big.Movie.2021.1080p.mkv")
        assert get(server, MOVIE, Range="bytes=0-99").content == original[:100]
    finally:
        server.stop()


def test_pause_resume_and_remove_through_the_api(server, seeder, movie_torrent):
    seeder.seed(movie_torrent)
    assign_movie(server, {"source": seeder.magnet(movie_torrent)})
    assert get(server, MOVIE, Range="bytes=0-99").status_code == 206
    info_hash = movie_torrent.info_hash
    paused = server.api("POST", f"/api/torrents/{info_hash}/pause").json()
    assert paused["state"] == "paused" and paused["paused"]
    refused = get(server, MOVIE, Range="bytes=0-99")
    assert refused.status_code == 503 and "paused" in refused.text
    resumed = server.api("POST", f"/api/torrents/{info_hash}/resume").json()
    assert resumed["paused"] is False and resumed["state"] == "idle"  # until the next read wakes it
    assert get(server, MOVIE, Range="bytes=0-99").status_code == 206
    removed = server.api("DELETE", f"/api/torrents/{info_hash}").json()
    assert removed == {"info_hash": info_hash, "removed_assignments": 1}
    assert server.api("GET", "/api/torrents").json() == []
    assert server.api("GET", "/api/movies").json()[0]["assignment"] is None
    assert not (server.server.engine.storage_root / info_hash).exists()
    assert server.api("POST", f"/api/torrents/{info_hash}/pause").status_code == 404


def test_stopping_the_server_wakes_a_blocked_reader_at_once(config, seeder, movie_torrent):
    config.torrent.read_timeout = 120
    server = RunningServer(config)
    stopped = False
    try:
        seeder.seed(movie_torrent)
        assign_movie(server, {"source": seeder.magnet(movie_torrent)})
        seeder.stop_seeding(movie_torrent)  # every read now waits for pieces nobody has
        outcome: dict[str, object] = {}

        def blocked_get() -> None:
            try:
                outcome["response"] = requests.get(server.url + quote(MOVIE), timeout=60).status_code
            except requests.RequestException as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=blocked_get)
        thread.start()
        torrent_added = lambda: (t := server.server.engine.find(movie_torrent.info_hash)) is not None and t.active_reads
        wait_until(torrent_added, 30, "the GET to wait for pieces")
        started = time.monotonic()
        server.stop()
        stopped = True
        assert time.monotonic() - started < 10
        thread.join(timeout=30)
        # Nothing was sent yet, so the failure can still be a clear status; never a 200.
        assert not thread.is_alive() and outcome.get("response") == 503, outcome
    finally:
        if not stopped:
            server.stop()


def test_a_player_that_seeks_on_while_reads_wait_is_never_refused_by_the_reads_it_hung_up(config, seeder,
                                                                                         movie_torrent):
    """ffmpeg and mpv hang up the connection they read before a seek. A read left waiting for that client held
    a worker and a place among the torrent's waiting reads until the read timeout (so a few seeks in a slow swarm
    got a 503), and whenever the newer reader had its bytes, its wait steered the swarm to pieces nobody reads."""
    config.server.threads = 8  # at most 2 reads of one torrent wait for pieces
    config.torrent.read_timeout = 120
    server = RunningServer(config)
    try:
        seeder.seed(movie_torrent)
        assign_movie(server, {"source": seeder.magnet(movie_torrent)})
        seeder.stop_seeding(movie_torrent)  # every read waits for pieces nobody has
        engine = server.server.engine
        host, port = server.url.removeprefix("http://").split(":")

        def read_at(offset: int) -> socket.socket:
            client = socket.create_connection((host, int(port)), timeout=30)
            client.sendall(f"GET {quote(MOVIE)} HTTP/1.1\r\nHost: {host}\r\nRange: bytes={offset}-\r\n\r\n".encode())
            return client

        def readers_in_the_plan() -> int:  # the container's detector, which waits on its own, left out
            views = server.server.streams.views(movie_torrent.info_hash)
            return sum(1 for view in views for reader in view.reader_pieces if reader != DETECTOR_ID)

        def reads_waiting(count: int) -> Callable[[], bool]:
            def check() -> bool:
                torrent = engine.find(movie_torrent.info_hash)
                return torrent is not None and torrent.active_reads == count and readers_in_the_plan() == count
            return check

        playing = read_at(8 * MiB)
        wait_until(reads_waiting(1), 30, "the first read to wait for pieces")
        for seek in range(1, 4):  # the player seeks: a new read, then the old connection hung up
            seeking = read_at((8 + seek) * MiB)
            wait_until(reads_waiting(2), 10, f"seek {seek} to wait beside the read before it")
            playing.close()
            wait_until(reads_waiting(1), 10, "the read whose client hung up to end and leave the plan")
            playing = seeking
        playing.close()
        wait_until(reads_waiting(0), 10, "the last read to end")
        stats = engine.read_stats
        assert stats.abandoned_reads == 4 and stats.refused_reads == stats.read_timeouts == stats.read_errors == 0
        assert server.dav("PROPFIND", "/Movies/", headers={"Depth": "1"}).status_code == 207
        metrics = server.api("GET", "/metrics").text
        assert "momoshtrem_abandoned_reads_total 4.0" in metrics
        assert 'momoshtrem_http_requests_total{method="GET",status="499"} 4.0' in metrics, metrics
    finally:
        server.stop()


def test_a_seeder_back_on_its_address_after_a_long_absence_serves_the_waiting_reader(config, movie_torrent):
    """Gone for 40 s while a reader waited (libtorrent stops dialling a peer after three failures), then back."""
    config.torrent.read_timeout = 120
    server = RunningServer(config)
    first = Seeder(upload_rate=256 * 1024)  # slow: the read at 8 MiB cannot have been fetched before it leaves
    port = first.port
    try:
        first.seed(movie_torrent)
        assign_movie(server, {"source": first.magnet(movie_torrent)})
        assert get(server, MOVIE, Range="bytes=0-99").status_code == 206
        first.session = None  # the seeder process is gone: its port refuses connections
        original = content(movie_torrent, "Big.Movie.2021.1080p", "Big.Movie.2021.1080p.mkv")
        outcome: dict[str, object] = {}

        def waiting_read() -> None:
            response = requests.get(server.url + quote(MOVIE), headers={"Range": f"bytes={8 * MiB}-{8 * MiB + 999}"},
                                    timeout=150)
            outcome["content"], outcome["at"] = response.content, time.monotonic()

        reader = threading.Thread(target=waiting_read)
        reader.start()
        absence = time.monotonic() + 40
        while time.monotonic() < absence:
            assert reader.is_alive()  # still waiting
            reader.join(timeout=1)
        back = Seeder(listen_interfaces=f"127.0.0.1:{port}")
        try:
            assert back.port == port
            back.seed(movie_torrent)
            returned = time.monotonic()
            reader.join(timeout=60)
            assert outcome.get("content") == original[8 * MiB:8 * MiB + 1000]
            assert outcome["at"] - returned < 15, f"served {outcome['at'] - returned:.1f} s after the seeder returned"
        finally:
            back.close()
    finally:
        server.stop()


def test_readers_of_a_dead_swarm_beyond_the_bound_get_a_quick_503_while_listings_answer(config, seeder,
                                                                                        movie_torrent):
    config.server.threads = 8  # at most 4 reads wait on swarms (2 on one torrent); the rest always answer
    config.torrent.read_timeout = 8
    server = RunningServer(config)
    try:
        seeder.seed(movie_torrent)
        assign_movie(server, {"source": seeder.magnet(movie_torrent)})
        seeder.stop_seeding(movie_torrent)  # every read of a missing piece now waits the whole read_timeout
        answers: list[tuple[int, float, str | None]] = []

        def read_at(offset: int) -> None:
            started = time.monotonic()
            try:
                response = requests.get(server.url + quote(MOVIE), headers={"Range": f"bytes={offset}-{offset + 99}"},
                                        timeout=60)
                answers.append((response.status_code, time.monotonic() - started, response.headers.get("Retry-After")))
            except requests.RequestException:
                answers.append((0, time.monotonic() - started, None))

        readers = [threading.Thread(target=read_at, args=(n * MiB,)) for n in range(1, 7)]
        for reader in readers:
            reader.start()
        wait_until(lambda: len([a for a in answers if a[0] == 503]) >= 4, 10, "the reads beyond the bound to be refused")
        started = time.monotonic()
        listing = server.dav("PROPFIND", "/Movies/", headers={"Depth": "1"})
        assert listing.status_code == 207 and time.monotonic() - started < 5
        for reader in readers:
            reader.join(timeout=60)
        refused = [a for a in answers if a[0] == 503]
        assert len(refused) == 4 and all(seconds < 5 and retry == "5" for _, seconds, retry in refused), answers
        assert server.server.engine.read_stats.refused_reads == 4
    finally:
        server.stop()
