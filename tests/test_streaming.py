"""Format-aware streaming end to end: ffprobe and ffmpeg seeks on cold torrents through the real server."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.helpers import MadeTorrent, RunningServer, clip_torrents, wait_until

pytestmark = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg is not installed (.ci/run installs it)")

MiB = 1024 * 1024
PIECE = 256 * 1024


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, MadeTorrent]:
    """A 30 s 720p H.264/AAC MP4 with moov at the end (no faststart), and its MKV remux, as torrents."""
    return clip_torrents(tmp_path_factory.mktemp("videos"), "Clip.2020", 30, "1280x720", PIECE)


@pytest.fixture
def lean_server(config):
    config.streaming.header_priority_bytes = MiB
    config.streaming.footer_priority_bytes = MiB
    config.streaming.urgent_buffer_bytes = MiB
    config.streaming.readahead_bytes = 2 * MiB
    running = RunningServer(config)
    yield running
    running.stop()


def assign(server: RunningServer, seeder, made: MadeTorrent) -> str:
    movie = server.api("POST", "/api/movies", json={"title": "Clip", "year": 2020}).json()
    seeder.seed(made)
    response = server.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(made)})
    assert response.status_code == 200, response.text
    ext = Path(next(iter(made.files))).suffix
    return server.url + quote(f"/Movies/Clip (2020)/Clip (2020){ext}")


def downloaded(server: RunningServer, made: MadeTorrent) -> int:
    torrent = server.server.engine.find(made.info_hash)
    return torrent.handle.status().total_done if torrent else 0


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_cold_probe_and_seek_fetch_far_less_than_the_file(lean_server, seeder, videos, ext):
    made = videos[ext]
    size = next(iter(made.files.values()))
    url = assign(lean_server, seeder, made)

    probe = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", url],
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    info = json.loads(probe.stdout)
    assert float(info["format"]["duration"]) == pytest.approx(30, abs=0.5)
    assert {s["codec_name"] for s in info["streams"]} == {"h264", "aac"}
    after_probe = downloaded(lean_server, made)
    # Sequential download would need the whole file before an MP4 with moov at the end probes at all.
    assert after_probe < size * 0.5, (after_probe, size)

    if ext == ".mp4":
        stream = lean_server.server.streams.stream(made.info_hash, 0)
        wait_until(lambda: stream.index is not None, 30, "the container index to be detected")
        assert stream.index.format == "mp4" and stream.index.ranges[0].end == size

    seek = subprocess.run(["ffmpeg", "-v", "error", "-ss", "20", "-i", url, "-frames:v", "1", "-f", "null", "-"],
                          capture_output=True, text=True, timeout=120)
    assert seek.returncode == 0, seek.stderr
    assert downloaded(lean_server, made) < size * 0.75
