"""The status page and /metrics, against a real server streaming from a real (throttled) seeder."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from momoshtrem.ui.piecemap import ReaderMark, piece_runs, render_svg
from tests.helpers import RunningServer, Seeder, deterministic_bytes, wait_until

MiB = 1024 * 1024
PIECE = 64 * 1024
FILM_SIZE = 4 * MiB


def test_piece_runs_merge_equal_neighbours_and_rank_states():
    have = [1, 1, 0, 0, 0, 0, 0, 1]
    runs = piece_runs(have, downloading={2}, deadlines={2, 3}, priorities=[0, 0, 7, 7, 1, 0, 0, 0])
    assert [(r.start, r.end, r.state) for r in runs] == [
        (0, 2, "have"), (2, 3, "downloading"), (3, 4, "deadline"), (4, 5, "wanted"), (5, 7, "none"), (7, 8, "have")]
    # Priorities may be shorter than the pieces (a torrent not yet in the session): the rest is not wanted.
    assert piece_runs([0, 0], set(), set(), []) == piece_runs([0, 0], set(), set(), [0, 0])


def test_piece_map_svg_draws_every_run_and_reader_even_among_thousands_of_pieces():
    pieces = 20_000
    have = [0] * pieces
    have[5000] = 1
    svg = render_svg(piece_runs(have, set(), set(), [1] * pieces), pieces, [ReaderMark(5000, "reader <1>")])
    assert svg.count("<rect") == 3  # wanted, the lone piece we have, wanted
    assert 'class="have" x="240.00" y="0" width="1.00"' in svg  # a lone piece still gets a pixel
    assert 'data-piece="5000"' in svg and "reader &lt;1&gt;" in svg  # labels are escaped


@pytest.fixture
def slow_seeder():
    running = Seeder(upload_rate=512 * 1024)
    yield running
    running.close()


@pytest.fixture
def streaming(config, slow_seeder, torrent_factory):
    """A server with one movie assigned from a throttled seeder: (server, url of the film, the made torrent)."""
    config.streaming.readahead_bytes = 512 * 1024
    config.streaming.header_priority_bytes = config.streaming.footer_priority_bytes = 256 * 1024
    made = torrent_factory("Film.2010.mkv", {"Film.2010.mkv": FILM_SIZE}, piece_size=PIECE, v1_only=True)
    running = RunningServer(config)
    slow_seeder.seed(made)
    movie = running.api("POST", "/api/movies", json={"title": "Film", "year": 2010}).json()
    assigned = running.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": slow_seeder.magnet(made)})
    assert assigned.status_code == 200, assigned.text
    yield running, running.url + quote("/Movies/Film (2010)/Film (2010).mkv"), made
    running.stop()


def scrape(server: RunningServer) -> dict[tuple[str, tuple], float]:
    response = server.http.get(server.url + "/metrics", timeout=30)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def test_metrics_move_when_a_stream_runs(streaming):
    server, url, made = streaming
    before = scrape(server)
    assert before[("momoshtrem_reads_total", ())] == 0
    assert before[("momoshtrem_torrents", (("state", "downloading"),))] == 0

    content = deterministic_bytes("Film.2010.mkv/Film.2010.mkv", FILM_SIZE)
    start = 3 * MiB
    response = requests.get(url, headers={"Range": f"bytes={start}-{start + 300_000}"}, timeout=60)
    assert response.status_code == 206 and response.content == content[start:start + 300_001]
    response = requests.get(url, headers={"Range": "bytes=0-99999"}, timeout=60)
    assert response.content == content[:100_000]
    head = requests.head(url, timeout=30)
    assert head.status_code == 200

    # A request is counted once its response is closed, which may be a moment after the client has it.
    head_counted = ("momoshtrem_http_requests_total", (("method", "HEAD"), ("status", "200")))
    wait_until(lambda: head_counted in scrape(server), 10, "the HEAD to be counted")
    after = scrape(server)
    assert after[("momoshtrem_http_requests_total", (("method", "GET"), ("status", "206")))] == 2
    assert after[("momoshtrem_http_requests_total", (("method", "HEAD"), ("status", "200")))] == 1
    assert after[("momoshtrem_http_response_bytes_total", (("method", "GET"),))] >= 400_001
    assert after[("momoshtrem_read_first_byte_seconds_count", ())] == 2
    assert after[("momoshtrem_read_first_byte_seconds_sum", ())] > 0
    assert after[("momoshtrem_reads_total", ())] >= 2
    assert after[("momoshtrem_blocked_reads_total", ())] >= 1  # a cold torrent: the first read waited
    assert after[("momoshtrem_blocked_read_seconds_total", ())] > 0
    assert after[("momoshtrem_seeks_total", ())] == 0  # each request is a new reader: no seek within one
    assert after[("momoshtrem_read_timeouts_total", ())] == 0
    assert sum(v for (name, _), v in after.items() if name == "momoshtrem_torrents") == 1
    assert after[("momoshtrem_cache_bytes", ())] >= 400_000
    assert after[("momoshtrem_peers", ())] == 1
    # The scrape before counted itself afterwards: /metrics requests are counted like any other.
    assert after[("momoshtrem_http_requests_total", (("method", "GET"), ("status", "200")))] >= 1


def test_metrics_count_a_seek_within_one_reader_and_a_read_timeout(config, seeder, torrent_factory):
    config.torrent.read_timeout = 1
    # Small windows, so the piece the last read wants is wanted by nothing before the swarm goes (with the
    # defaults an unthrottled seeder could deliver the whole file first, and the read would not time out).
    streaming = config.streaming
    streaming.header_priority_bytes = streaming.footer_priority_bytes = PIECE
    streaming.urgent_buffer_bytes = streaming.readahead_bytes = PIECE
    made = torrent_factory("Gone.1999.mkv", {"Gone.1999.mkv": 8 * MiB}, piece_size=PIECE, v1_only=True)
    running = RunningServer(config)
    try:
        seeder.seed(made)
        movie = running.api("POST", "/api/movies", json={"title": "Gone", "year": 1999}).json()
        assert running.api("POST", f"/api/movies/{movie['id']}/assign",
                           json={"source": seeder.magnet(made)}).status_code == 200
        reader = running.server.streams.open(made.info_hash, 0)
        try:
            assert len(reader.read(1000)) == 1000
            reader.seek(MiB)
            assert len(reader.read(1000)) == 1000
            seeder.stop_seeding(made)  # the swarm is gone: the next missing piece never comes
            reader.seek(4 * MiB)
            with pytest.raises(IOError, match="timed out"):
                reader.read(1000)
        finally:
            reader.close()
        after = scrape(running)
        assert after[("momoshtrem_seeks_total", ())] == 2
        assert after[("momoshtrem_read_timeouts_total", ())] == 1
    finally:
        running.stop()


CHROMIUM = shutil.which("chromium")


def chromium(*args: str) -> subprocess.CompletedProcess:
    """Debian's headless chromium, kept on loopback: every host name but 127.0.0.1 fails to resolve."""
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-domain-reliability", "--no-pings", "--metrics-recording-only",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--window-size=1100,900", *args],
        capture_output=True, text=True, timeout=120,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/install-test-tools installs it)")
def test_status_page_in_chromium_shows_the_streaming_torrent_and_its_piece_map(streaming, tmp_path):
    server, url, made = streaming
    # A player reading: the response stays open after its first bytes, so its reader is on the map.
    player = requests.get(url, headers={"Range": f"bytes={MiB}-"}, stream=True, timeout=60)
    try:
        first = next(player.iter_content(64 * 1024))
        assert first
        wait_until(lambda: server.server.engine.piece_states(made.info_hash).have.count(1) >= 1, 30,
                   "a downloaded piece")
        page = chromium("--dump-dom", server.url + "/ui/status")
        assert page.returncode == 0, page.stderr[-2000:]
        dom = page.stdout
        screenshot = Path(tmp_path) / "status.png"
        shot = chromium(f"--screenshot={screenshot}", server.url + "/ui/status")
        assert shot.returncode == 0, shot.stderr[-2000:]
    finally:
        player.close()

    assert "<h3>Film.2010.mkv</h3>" in dom and f'data-info-hash="{made.info_hash}"' in dom
    assert "<th>State</th><td>downloading</td>" in dom
    assert f'data-pieces="{FILM_SIZE // PIECE}"' in dom
    assert 'class="have"' in dom
    # The player's reader is marked where it reads: at or past the piece its request started in.
    readers = [int(piece) for piece in re.findall(r'<polygon class="reader"[^>]* data-piece="(\d+)"', dom)]
    assert len(readers) == 1 and readers[0] >= MiB // PIECE
    assert "Film.2010.mkv: readers 1" in dom
    progress = float(re.search(r"<th>Progress</th><td>([\d.]+) %</td>", dom).group(1))
    assert 0 < progress < 60  # of the whole film, not of the pieces wanted so far
    assert "<th>Movies</th><td>1 (1 playable)</td>" in dom
    png = screenshot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000  # a drawn page, not a blank one


def test_status_page_answers_without_torrents_and_refuses_writes(server):
    page = server.http.get(server.url + "/ui/status", timeout=30)
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "No torrent is in the session" in page.text and '<meta http-equiv="refresh"' in page.text
    moved = server.http.get(server.url + "/ui", allow_redirects=False, timeout=30)
    assert moved.status_code == 301 and moved.headers["Location"] == "/ui/"
    assert server.http.post(server.url + "/ui/status", timeout=30).status_code == 405
    assert server.http.get(server.url + "/ui/nothing", timeout=30).status_code == 404
