"""The probe store end to end: real seeder, real server, ffprobe through the share with no swarm left."""

from __future__ import annotations

import json
import re
import socket
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from momoshtrem.cli.main import main
from momoshtrem.clientwatch import client_keeps_reading
from momoshtrem.humanize import human_bytes
from momoshtrem.probestore.plan import HEAD_BYTES
from momoshtrem.subtitles.moviehash import moviehash_of_file
from tests.fake_opensubtitles import FakeOpenSubtitles
from tests.helpers import MadeTorrent, RunningServer, clip_torrents, wait_until
from tests.test_opensubtitles import TMDB_ID, VIDEO_HASH, VIDEO_SIZE, catalogue
from tests.test_opensubtitles import configure as configure_opensubtitles

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg is not installed (.ci/run installs it)")

PIECE = 256 * 1024
MiB = 1024 * 1024
DURATION = 20


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, MadeTorrent]:
    """A 20 s 640x360 MP4 with moov at the end (~15 MB, well past the stored head), and its MKV remux."""
    return clip_torrents(tmp_path_factory.mktemp("probe-videos"), "Probe.Clip.2021", DURATION, "640x360", PIECE)


def store_on(config, size: int = 2 * 1024**3) -> None:
    config.library.probe_store_size = size


@pytest.fixture
def store_server(config):
    store_on(config)
    running = RunningServer(config)
    yield running
    running.stop()


def assign(server: RunningServer, seeder, made: MadeTorrent) -> tuple[int, str]:
    """The movie's id and its file's share URL."""
    movie = server.api("POST", "/api/movies", json={"title": "Probe Clip", "year": 2021}).json()
    seeder.seed(made)
    response = server.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(made)})
    assert response.status_code == 200, response.text
    ext = Path(next(iter(made.files))).suffix
    return movie["id"], server.url + quote(f"/Movies/Probe Clip (2021)/Probe Clip (2021){ext}")


def probe_record(server: RunningServer, movie_id: int) -> dict:
    return server.api("GET", f"/api/movies/{movie_id}").json()["assignment"]["probe"]


def wait_stored(server: RunningServer, movie_id: int) -> dict:
    wait_until(lambda: probe_record(server, movie_id)["state"] != "pending", 60, "the probe to be fetched")
    record = probe_record(server, movie_id)
    assert record["state"] == "stored", record
    return record


def ffprobe(url: str) -> dict:
    run = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", url],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def content(made: MadeTorrent) -> bytes:
    name = next(iter(made.files))
    return (made.root / name).read_bytes()


def in_session(server: RunningServer, made: MadeTorrent) -> bool:
    return server.server.engine.find(made.info_hash) is not None


def assert_probes_without_swarm(server: RunningServer, made: MadeTorrent, url: str) -> None:
    info = ffprobe(url)
    assert float(info["format"]["duration"]) == pytest.approx(DURATION, abs=0.5)
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}
    assert not in_session(server, made)


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_a_stored_probe_answers_ffprobe_with_no_seeder_even_after_eviction_and_restart(
        store_server, seeder, videos, ext):
    made = videos[ext]
    movie_id, url = assign(store_server, seeder, made)
    record = wait_stored(store_server, movie_id)
    size = len(content(made))
    assert HEAD_BYTES < record["bytes"] < size / 2, record
    wait_until(lambda: not in_session(store_server, made), 10, "the fetch to leave the session as it found it")
    seeder.stop_seeding(made)
    old_base = store_server.url

    assert_probes_without_swarm(store_server, made, url)

    store_server.server.engine.remove(made.info_hash)  # what the cache's eviction does: the data is gone
    assert_probes_without_swarm(store_server, made, url)

    store_server.restart()  # on another port
    assert probe_record(store_server, movie_id)["state"] == "stored"
    assert_probes_without_swarm(store_server, made, store_server.url + url[len(old_base):])


def test_a_read_past_the_stored_bytes_waits_for_the_swarm_and_is_byte_exact(store_server, seeder, videos):
    made = videos[".mp4"]
    movie_id, url = assign(store_server, seeder, made)
    wait_stored(store_server, movie_id)
    data = content(made)

    start, end = HEAD_BYTES - 1000, HEAD_BYTES + 600_000  # from the store into bytes only the swarm has
    ranged = store_server.dav("GET", url[len(store_server.url):], headers={"Range": f"bytes={start}-{end}"})
    assert ranged.status_code == 206 and ranged.content == data[start:end + 1]
    assert in_session(store_server, made)

    whole = requests.get(url, timeout=60)  # open-ended: the client reads on, so the swarm serves the rest
    assert whole.status_code == 200 and whole.content == data


def test_after_eviction_a_seek_asks_the_swarm_for_none_of_the_stored_pieces(store_server, seeder, videos):
    # The torrent's data is gone (the cache evicted it) but the store keeps its head and index: a play from the
    # middle must not wait for (or download) those pieces again; the container is read from the store.
    made = videos[".mp4"]
    movie_id, url = assign(store_server, seeder, made)
    wait_stored(store_server, movie_id)
    wait_until(lambda: not in_session(store_server, made), 10, "the fetch to leave the session")
    store_server.server.engine.remove(made.info_hash)
    data = content(made)
    probe = store_server.server.probes.store.peek(made.info_hash, 0)
    stored_pieces = [p for p in range(len(data) // PIECE)
                     if any(r.start <= p * PIECE and (p + 1) * PIECE <= r.end for r in probe.ranges)]
    assert 0 in stored_pieces and stored_pieces[-1] > len(data) // PIECE // 2  # the head and the moov at the end

    start = len(data) // 2
    ranged = store_server.dav("GET", url[len(store_server.url):], headers={"Range": f"bytes={start}-{start + 99_999}"})
    assert ranged.status_code == 206 and ranged.content == data[start:start + 100_000]
    torrent = store_server.server.engine.find(made.info_hash)
    stream = store_server.server.streams.stream(made.info_hash, 0)
    wait_until(lambda: stream.index is not None, 10, "the container to be read from the store")
    assert stream.index.format == "mp4"
    assert [p for p in stored_pieces if torrent.have[p]] == []


def test_a_client_that_hangs_up_inside_the_stored_bytes_adds_no_torrent(store_server, seeder, videos):
    made = videos[".mkv"]
    movie_id, url = assign(store_server, seeder, made)
    wait_stored(store_server, movie_id)
    wait_until(lambda: not in_session(store_server, made), 10, "the fetch to leave the session")
    finished = threading.Event()
    store_server.server.app.add_observer(lambda record: record.file_read and finished.set())

    # Like ffprobe or a library scanner: an open-ended range, a little read, then the connection closed.
    with requests.get(url, headers={"Range": "bytes=0-"}, stream=True, timeout=30) as response:
        assert response.status_code == 206
        assert response.raw.read(100_000) == content(made)[:100_000]
    assert finished.wait(30), "the server never finished the response"
    assert not in_session(store_server, made)

    scanned = [store_server.dav("GET", url[len(store_server.url):], headers={"Range": "bytes=0-262143"})
               for _ in range(3)]
    assert all(r.status_code == 206 and r.content == content(made)[:262144] for r in scanned)
    assert not in_session(store_server, made)


def test_the_client_watch_tells_a_reader_from_a_client_that_hung_up_with_bytes_untaken():
    """At the end of the stored bytes the server goes on to the swarm only for a client that takes what it sent."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        for hang_up in (True, False):
            client = socket.create_connection(listener.getsockname())
            server_side, _ = listener.accept()
            with client, server_side:
                server_side.setblocking(False)
                sent = 0
                try:
                    while True:  # until both buffers are full: bytes the client has not taken
                        sent += server_side.send(b"x" * 65536)
                except BlockingIOError:
                    pass
                server_side.setblocking(True)
                answer: list[bool] = []
                watcher = threading.Thread(target=lambda: answer.append(client_keeps_reading(server_side, 30)))
                watcher.start()
                if hang_up:
                    client.close()
                else:
                    taken = 0
                    while taken < sent:
                        taken += len(client.recv(1 << 20))
                watcher.join(30)
                assert answer == [not hang_up]


def test_the_cli_and_status_page_show_it_and_unassigning_removes_the_entry(store_server, seeder, videos, capsys):
    made = videos[".mkv"]
    movie_id, _ = assign(store_server, seeder, made)
    record = wait_stored(store_server, movie_id)
    assert main(["movie", "list", "--server", store_server.url]) == 0
    assert f"stored ({human_bytes(record['bytes'])})" in capsys.readouterr().out
    status = store_server.api("GET", "/ui/status").text
    assert re.search(r"<th>Stored</th><td>1 files \(", status) and "<th>Pending</th><td>0</td>" in status
    page = store_server.api("GET", f"/ui/movies/{movie_id}").text
    assert f"<th>Probe</th><td>stored ({human_bytes(record['bytes'])}): players start from local bytes" in page
    metrics = store_server.api("GET", "/metrics").text
    assert 'momoshtrem_probe_store_files{state="stored"} 1.0' in metrics
    assert re.search(r"^momoshtrem_probe_store_bytes [1-9]", metrics, re.M)
    store = store_server.server.probes.store
    assert store.keys() == {(made.info_hash, 0)}
    assert store_server.api("DELETE", f"/api/movies/{movie_id}/assign").status_code == 204
    wait_until(lambda: not store.keys(), 10, "the entry to go with its assignment")
    assert not any(Path(store.root).rglob("*.probe"))


def test_a_file_named_mp4_that_is_not_one_keeps_both_ends(store_server, seeder, torrent_factory):
    made = torrent_factory("Fake.2021.mp4", {"Fake.2021.mp4": 12 * MiB}, piece_size=PIECE)  # hashed bytes, no atoms
    movie = store_server.api("POST", "/api/movies", json={"title": "Fake", "year": 2021}).json()
    seeder.seed(made)
    assigned = store_server.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(made)})
    assert assigned.status_code == 200, assigned.text
    assert wait_stored(store_server, movie["id"])["bytes"] == 8 * MiB  # the first and last 4 MiB: no index to go by
    ranged = store_server.dav("GET", quote("/Movies/Fake (2021)/Fake (2021).mp4"), headers={"Range": "bytes=-1000"})
    assert ranged.status_code == 206 and ranged.content == content(made)[-1000:]


def test_a_store_too_small_leaves_assignment_and_playing_working(config, seeder, videos):
    store_on(config, size=100_000)
    made = videos[".mp4"]
    running = RunningServer(config)
    try:
        movie_id, url = assign(running, seeder, made)
        wait_until(lambda: probe_record(running, movie_id)["state"] == "failed", 60, "the probe to fail")
        assert "library.probe_store_size" in probe_record(running, movie_id)["error"]
        assert ffprobe(url)["format"]["format_name"].startswith("mov")  # from the swarm, as without a store
    finally:
        running.stop()


def test_a_store_that_cannot_be_written_says_why_and_assignment_works(config, seeder, videos, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    store_on(config)
    config.library.probe_store_dir = str(blocker / "probes")
    running = RunningServer(config)
    try:
        movie_id, url = assign(running, seeder, videos[".mkv"])
        record = probe_record(running, movie_id)
        assert record["state"] == "failed" and "cannot be used" in record["error"], record
        assert ffprobe(url)["format"]["format_name"].startswith("matroska")
    finally:
        running.stop()


def test_the_moviehash_is_known_without_playing(config, seeder, videos, tmp_path):
    made = videos[".mkv"]
    fake = FakeOpenSubtitles(subtitles=[])
    configure_opensubtitles(config, fake, tmp_path)
    store_on(config)
    running = RunningServer(config)
    try:
        movie_id, _ = assign(running, seeder, made)
        wait_stored(running, movie_id)
        found = running.api("GET", f"/api/movies/{movie_id}/subtitles/search?languages=en")
        assert found.status_code == 200, found.text
        expected = moviehash_of_file(str(made.root / next(iter(made.files))))
        assert found.json()["moviehash"] == expected
        (search,) = fake.api_requests("/subtitles")
        assert search.params["moviehash"] == expected
    finally:
        running.stop()
        fake.close()


def test_automatic_subtitles_wait_for_the_stored_moviehash_and_take_the_exact_release(config, seeder, torrent_factory,
                                                                                      tmp_path):
    # English results: 201 (500 downloads) wins on popularity; 203 (10 downloads) was made for this very file.
    fake = FakeOpenSubtitles(subtitles=catalogue(VIDEO_HASH))
    configure_opensubtitles(config, fake, tmp_path)
    config.subtitles.auto_languages = ["en"]
    store_on(config)
    running = RunningServer(config)
    try:
        made = torrent_factory("Inception.2010.1080p", {"Inception.2010.1080p.mkv": VIDEO_SIZE})  # no subtitle in it
        seeder.seed(made)
        movie = running.server.library.add_movie("Inception", 2010, TMDB_ID)
        assigned = running.api("POST", f"/api/movies/{movie.id}/assign", json={"source": seeder.magnet(made)})
        assert assigned.status_code == 200, assigned.text
        listing = lambda: running.api("GET", f"/api/movies/{movie.id}/subtitles").json()["downloaded"]  # noqa: E731
        wait_until(listing, 60, "the automatic English download")
        assert [(s["language"], s["provider_file_id"]) for s in listing()] == [("en", 203)]
        (search,) = fake.api_requests("/subtitles")
        assert search.params["moviehash"] == VIDEO_HASH
    finally:
        running.stop()
        fake.close()
