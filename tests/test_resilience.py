"""Crash safety and a full disk: SIGKILL mid-stream and mid-assignment, ENOSPC while downloading."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import libtorrent as lt
import pytest
import requests

from momoshtrem.torrent.background import background_reads
from momoshtrem.torrent.reader import ReadTimeout
from tests.helpers import (
    LOOPBACK_ENV, MadeTorrent, RunningServer, Seeder, ServeProcess, Tracker, deterministic_bytes, free_port,
    make_torrent,
    wait_until,
)

MiB = 1024 * 1024
PIECE = 64 * 1024


def film(base: Path, name: str, size: int) -> MadeTorrent:
    return make_torrent(base, name, {name: size}, piece_size=PIECE, v1_only=True)


def content_of(made: MadeTorrent) -> bytes:
    name = next(iter(made.files))
    return deterministic_bytes(f"{name}/{name}", made.files[name])


def add_movie(url: str, title: str, year: int) -> int:
    response = requests.post(url + "/api/movies", json={"title": title, "year": year}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def movie_url(url: str, title: str, year: int) -> str:
    return url + quote(f"/Movies/{title} ({year})/{title} ({year}).mkv")


def test_sigkill_mid_stream_and_mid_assignment_loses_nothing(tmp_path):
    env = {"MOMOSHTREM_LIBRARY_DATABASE": str(tmp_path / "library.db"),
           "MOMOSHTREM_TORRENT_DATA_DIR": str(tmp_path / "torrents"),
           "MOMOSHTREM_TORRENT_METADATA_TIMEOUT": "300"}
    short = film(tmp_path / "short", "Short.2001.mkv", 512 * 1024)
    long = film(tmp_path / "long", "Long.2002.mkv", 6 * MiB)
    nobody_seeds = film(tmp_path / "unseeded", "Unseeded.2003.mkv", 256 * 1024)
    seeder = Seeder(upload_rate=1 * MiB)
    server = ServeProcess(tmp_path, env)
    try:
        seeder.seed(short)
        seeder.seed(long)
        ids = {}
        for made, title, year in ((short, "Short", 2001), (long, "Long", 2002)):
            ids[title] = add_movie(server.url, title, year)
            assigned = requests.post(f"{server.url}/api/movies/{ids[title]}/assign",
                                     json={"source": seeder.magnet(made)}, timeout=60)
            assert assigned.status_code == 200, assigned.text
        ids["Unseeded"] = add_movie(server.url, "Unseeded", 2003)
        assert requests.get(movie_url(server.url, "Short", 2001), timeout=60).content == content_of(short)
        movies_before = without_probe_states(requests.get(server.url + "/api/movies", timeout=30).json())

        # Mid-stream: a player has read the first 2 MiB of the long film and keeps reading.
        player = requests.get(movie_url(server.url, "Long", 2002), stream=True, timeout=60)
        read = b""
        chunks = player.iter_content(64 * 1024)
        while len(read) < 2 * MiB:
            read += next(chunks)
        assert read == content_of(long)[:len(read)]
        # Mid-assignment: the metadata of a torrent nobody seeds is being fetched.
        magnet = f"magnet:?xt=urn:btih:{nobody_seeds.info_hash}&x.pe=127.0.0.1:{seeder.port}"
        pending = threading.Thread(target=lambda: _post_ignoring_errors(
            f"{server.url}/api/movies/{ids['Unseeded']}/assign", {"source": magnet}), daemon=True)
        pending.start()
        wait_until(lambda: f"fetching metadata for {nobody_seeds.info_hash}" in server.log(), 30,
                   "the assignment to wait for metadata")
        server.kill()
        player.close()
        pending.join(timeout=30)
    finally:
        seeder.close()  # no peer anywhere from now on
        server.stop()

    database = sqlite3.connect(tmp_path / "library.db")
    try:
        assert database.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = dict(database.execute("SELECT info_hash, metadata FROM torrents").fetchall())
    finally:
        database.close()
    assert set(stored) == {short.info_hash, long.info_hash}  # no half-made assignment
    for info_hash, metadata in stored.items():
        assert str(lt.torrent_info(bytes(metadata)).info_hashes().v1) == info_hash

    server = ServeProcess(tmp_path, env)
    try:
        assert without_probe_states(requests.get(server.url + "/api/movies", timeout=30).json()) == movies_before
        unseeded = requests.get(f"{server.url}/api/movies/{ids['Unseeded']}", timeout=30).json()
        assert unseeded["assignment"] is None
        # Served from what was on disk before the kill: there is no peer to download from.
        assert requests.get(movie_url(server.url, "Short", 2001), timeout=60).content == content_of(short)
        again = requests.get(movie_url(server.url, "Long", 2002), headers={"Range": f"bytes=0-{MiB - 1}"}, timeout=60)
        assert again.status_code == 206 and again.content == content_of(long)[:MiB]
        state = requests.get(f"{server.url}/api/torrents/{long.info_hash}", timeout=30).json()
        assert state["peers"] == 0 and state["downloaded_bytes"] >= MiB
        # The item the crash interrupted can be assigned now (from the .torrent, as the swarm is gone).
        assigned = requests.post(f"{server.url}/api/movies/{ids['Unseeded']}/assign",
                                 json={"torrent": nobody_seeds.b64}, timeout=60)
        assert assigned.status_code == 200, assigned.text
    finally:
        server.stop()


def _post_ignoring_errors(url: str, body: dict) -> None:
    try:
        requests.post(url, json=body, timeout=120)
    except requests.RequestException:
        pass  # the server was killed under it: that is the point


@contextmanager
def tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    """A real small disk (ENOSPC when full; remountable read-only or larger), unmounted afterwards."""
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs for the torrent data, grown later with a remount: a real ENOSPC, then space again."""
    with tmpfs(tmp_path / "small-disk", "1m") as mountpoint:
        yield mountpoint


def test_a_full_disk_fails_reads_clearly_keeps_listing_and_recovers_when_space_returns(
        config, seeder, tmp_path, small_disk, caplog):
    config.torrent.data_dir = str(small_disk)
    made = film(tmp_path / "content", "Big.2004.mkv", 3 * MiB)
    running = RunningServer(config)
    try:
        seeder.seed(made)
        movie = add_movie(running.url, "Big", 2004)
        assert running.api("POST", f"/api/movies/{movie}/assign", json={"source": seeder.magnet(made)}).status_code == 200
        url = movie_url(running.url, "Big", 2004)

        # Reading the whole file fills the disk: the stream breaks off short of the file.
        try:
            body = requests.get(url, timeout=60).content
        except requests.RequestException:
            body = b""
        assert len(body) < 3 * MiB
        torrent = running.server.engine.find(made.info_hash)
        wait_until(lambda: torrent.error is not None, 30, "the torrent to stop on the disk error")
        assert "No space left on device" in torrent.error
        refused = requests.get(url, headers={"Range": "bytes=2500000-2500099"}, timeout=30)
        assert refused.status_code == 503 and "No space left on device" in refused.text
        listing = running.dav("PROPFIND", "/Movies/Big (2004)", headers={"Depth": "1"})
        assert listing.status_code == 207 and "Big (2004).mkv" in listing.text
        state = running.api("GET", f"/api/torrents/{made.info_hash}").json()
        assert state["state"] == "error" and "No space left on device" in state["error"]

        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        whole = requests.get(url, timeout=60)
        assert whole.status_code == 200 and whole.content == content_of(made)
    finally:
        running.stop()


@pytest.fixture
def library_disk(tmp_path):
    """A tmpfs for the library database: filled up, or remounted read-only (root bypasses file modes)."""
    with tmpfs(tmp_path / "library-disk", "16m") as mountpoint:
        yield mountpoint


def test_a_library_that_cannot_be_written_answers_writes_with_503_and_recovers(tmp_path, library_disk):
    env = {"MOMOSHTREM_LIBRARY_DATABASE": str(library_disk / "library.db"),
           "MOMOSHTREM_TORRENT_DATA_DIR": str(tmp_path / "torrents")}
    server = ServeProcess(tmp_path, env)
    filler = library_disk / "filler"
    try:
        add_movie(server.url, "Kept", 2001)
        with open(filler, "wb") as fill:  # the disk under the library fills up
            try:
                while True:
                    fill.write(b"\0" * 65536)
                    fill.flush()
            except OSError:
                pass
        refused = [requests.post(server.url + "/api/movies", json={"title": f"Lost {n}", "year": 2002},
                                 timeout=30) for n in range(40)]  # until SQLite needs a page it has no room for
        assert {r.status_code for r in refused} <= {201, 503} and refused[-1].status_code == 503, refused[-1].text
        assert "cannot be written" in refused[-1].json()["error"]
        assert requests.get(server.url + "/api/movies", timeout=30).status_code == 200
        filler.unlink()
        assert requests.post(server.url + "/api/movies", json={"title": "Back", "year": 2003},
                             timeout=30).status_code == 201
    finally:
        server.stop()
    assert "Traceback" not in server.log()


def test_a_read_only_library_stops_the_start_with_one_line(tmp_path, library_disk):
    env = {"MOMOSHTREM_LIBRARY_DATABASE": str(library_disk / "library.db"),
           "MOMOSHTREM_TORRENT_DATA_DIR": str(tmp_path / "torrents")}
    server = ServeProcess(tmp_path, env)
    add_movie(server.url, "Kept", 2001)
    server.stop()
    subprocess.run(["mount", "-o", "remount,ro", str(library_disk)], check=True)
    env["MOMOSHTREM_SERVER_PORT"] = str(free_port())
    started = subprocess.run([sys.executable, "-m", "momoshtrem", "serve"], cwd=tmp_path, timeout=60,
                             env={**os.environ, **LOOPBACK_ENV, **env}, capture_output=True, text=True)
    assert started.returncode == 1
    assert "Traceback" not in started.stderr, started.stderr
    assert started.stderr.strip().splitlines()[-1].startswith("error: cannot start:"), started.stderr


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_data_lost_behind_the_server_is_downloaded_again(server, seeder, tmp_path, caplog, damage):
    made = film(tmp_path / "content", "Lost.2005.mkv", 2 * MiB)
    seeder.seed(made)
    movie = add_movie(server.url, "Lost", 2005)
    assert server.api("POST", f"/api/movies/{movie}/assign", json={"source": seeder.magnet(made)}).status_code == 200
    url = movie_url(server.url, "Lost", 2005)
    assert requests.get(url, timeout=60).content == content_of(made)  # all of it on disk now

    torrent = server.server.engine.find(made.info_hash)
    on_disk = torrent.save_path / "Lost.2005.mkv"
    if damage == "delete":
        on_disk.unlink()
    else:
        os.truncate(on_disk, MiB // 2)

    whole = requests.get(url, timeout=60)
    assert whole.status_code == 200 and whole.content == content_of(made)
    tail = requests.get(url, headers={"Range": f"bytes={2 * MiB - 100}-"}, timeout=60)
    assert tail.status_code == 206 and tail.content == content_of(made)[-100:]
    assert "checking its files again" in caplog.text


def seeding_corrupt_data(seeder: Seeder, base: Path) -> MadeTorrent:
    """A film whose only seeder's disk went bad under its first piece after it checked its data."""
    made = film(base, "Bad.2006.mkv", 1 * MiB)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(made.data)
    params.save_path = str(made.root)
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
    handle = seeder.session.add_torrent(params)  # checked, not seed mode: it serves what its disk holds
    wait_until(lambda: handle.status().is_seeding, 30, "the seeder to check its data")
    with open(made.root / "Bad.2006.mkv", "r+b") as data:
        data.write(b"\0" * PIECE)
    return made


def test_corrupt_pieces_are_never_served_and_the_log_says_why_the_read_fails(config, seeder, tmp_path, caplog):
    config.torrent.read_timeout = 3
    made = seeding_corrupt_data(seeder, tmp_path / "content")
    running = RunningServer(config)
    try:
        movie = add_movie(running.url, "Bad", 2006)
        assert running.api("POST", f"/api/movies/{movie}/assign", json={"source": seeder.magnet(made)}).status_code == 200
        answer = requests.get(movie_url(running.url, "Bad", 2006), headers={"Range": "bytes=0-99"}, timeout=30)
        assert answer.status_code in (503, 504), answer.status_code  # nothing was sent, never the corrupt bytes
        wait_until(lambda: "arrived corrupt" in caplog.text and "timed out" in caplog.text, 30,
                   "the corrupt piece and the timeout to be logged")
        timeout_lines = [r.getMessage() for r in caplog.records if "timed out" in r.getMessage()]
        assert any("arrived corrupt" in line for line in timeout_lines), timeout_lines
    finally:
        running.stop()


def test_a_background_fetch_of_corrupt_pieces_fails_saying_so(config, seeder, tmp_path):
    """The probe store's fetches: the failure is the probe's error in the API, the CLI and the status page."""
    made = seeding_corrupt_data(seeder, tmp_path / "content")
    running = RunningServer(config)
    try:
        movie = add_movie(running.url, "Bad", 2006)
        assert running.api("POST", f"/api/movies/{movie}/assign", json={"source": seeder.magnet(made)}).status_code == 200
        engine = running.server.engine
        with background_reads(engine, made.info_hash) as reads:
            with pytest.raises(ReadTimeout, match=r"piece 0 did not arrive in time .*arrived corrupt"):
                reads.fetch(0, [(0, 100)], piece_timeout=3, pause_while=lambda: False)
            assert not reads.torrent.have[0]
    finally:
        running.stop()


def test_a_starving_reader_asks_the_tracker_again_now_not_at_its_interval(config, torrent_factory, tmp_path):
    """Nobody seeds yet: the first announce found no peer. A seeder announcing at the same moment is missed, and
    trackers ask for the next announce in tens of minutes (libtorrent also keeps a minimum of its own), so the
    starving reader's refresh must re-announce at once, or the reader times out with a seeder in the swarm."""
    made = torrent_factory("Late.Seeder.2020.mkv", {"Late.Seeder.2020.mkv": 200_000}, v1_only=True)
    tracker = Tracker(tmp_path / "tracker", [made.info_hash])
    config.torrent.default_trackers = [tracker.announce_url]
    server = RunningServer(config)
    try:
        movie = server.api("POST", "/api/movies", json={"title": "Late Seeder", "year": 2020}).json()
        assert server.api("POST", f"/api/movies/{movie['id']}/assign", json={"torrent": made.b64}).ok
        reader = threading.Thread(target=lambda: requests.get(
            server.url + quote("/Movies/Late Seeder (2020)/Late Seeder (2020).mkv"), timeout=60), daemon=True)
        reader.start()

        def announce_times() -> list[int]:
            torrent = server.server.engine.find(made.info_hash)
            if torrent is None:
                return []
            return [info["min_announce"] for entry in torrent.handle.trackers() for endpoint in entry["endpoints"]
                    for info in endpoint["info_hashes"] if info["start_sent"]]

        wait_until(lambda: bool(announce_times()), 20, "the first announce")
        first = announce_times()
        wait_until(lambda: announce_times() != first, 15, "an announce again while the reader starves")
    finally:
        server.stop()
        tracker.close()


def without_probe_states(movies: list[dict]) -> list[dict]:
    """The records less the probe store's progress, which moves on in the background (see test_probe_store.py)."""
    for movie in movies:
        if movie["assignment"]:
            movie["assignment"].pop("probe")
    return movies
