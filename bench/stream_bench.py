"""Cold start and cold seek through the real server, from a throttled swarm on loopback.

Run by hand:  .venv/bin/python bench/stream_bench.py [--trials 5]

Builds a seeder throttled to 4 MiB/s (TCP only, 1 MiB pieces, limits applied on
loopback, a 100 ms tick so the rate is smooth), a 60 s 720p H.264/AAC MP4 with moov at the end and its MKV remux,
and for every trial a fresh momoshtrem server with a cold data dir. Measures
`ffprobe` and `ffmpeg -ss 30 ... -frames:v 1` on each file, from the moment
the URL answers, and the bytes downloaded, with prioritisation on and off
(sequential download, no deadlines). The floor of an operation is the bytes of
the pieces holding the first 64 KiB of each of its requests, divided by the
seeder's rate: a lower bound (an MKV seek reads on from the cluster start).

Then, with the file fully downloaded, it reads it whole through WebDAV with
curl and compares that with curl reading the same file from disk.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from momoshtrem.server import Server  # noqa: E402
from tests.helpers import Seeder, make_test_config, torrent_of  # noqa: E402

MiB = 1024 * 1024
PIECE = MiB
RATE = 4 * MiB
URL = "{url}"  # where the file's URL goes in a command
FULL_READ = "full read"
OPERATIONS = {
    "ffprobe MP4": (".mp4", ["ffprobe", "-v", "error", "-show_format", "-show_streams", URL]),
    "ffprobe MKV": (".mkv", ["ffprobe", "-v", "error", "-show_format", "-show_streams", URL]),
    "seek 30 s MP4": (".mp4", ["ffmpeg", "-v", "error", "-ss", "30", "-i", URL, "-frames:v", "1", "-f", "null", "-"]),
    "seek 30 s MKV": (".mkv", ["ffmpeg", "-v", "error", "-ss", "30", "-i", URL, "-frames:v", "1", "-f", "null", "-"]),
}


def make_videos(work: Path) -> dict:
    source = work / "mp4" / "Clip.2020.mp4"
    source.parent.mkdir()
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=60:size=1280x720:rate=30,noise=alls=12:allf=t",
         "-f", "lavfi", "-i", "sine=duration=60", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "5M",
         "-maxrate", "5M", "-bufsize", "2M", "-g", "60", "-c:a", "aac", "-shortest", str(source)],
        check=True)
    remux = work / "mkv" / "Clip.2020.mkv"
    remux.parent.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c", "copy", str(remux)], check=True)
    return {".mp4": torrent_of(source.parent, source.name, PIECE, True),
            ".mkv": torrent_of(remux.parent, remux.name, PIECE, True)}


class RangeLog:
    """Wraps the server's WSGI app to record where each GET's range starts."""

    def __init__(self, app) -> None:
        self.app = app
        self.starts: list[int] = []

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and "/Movies/" in environ.get("PATH_INFO", ""):
            spec = environ.get("HTTP_RANGE", "bytes=0-")
            first = spec.split("=", 1)[-1].split(",")[0].split("-")[0]
            self.starts.append(int(first) if first else 0)
        return self.app(environ, start_response)


def trial(videos: dict, seeder: Seeder, operation: str, prioritize: bool) -> tuple[float, int, float]:
    ext, command = OPERATIONS[operation]
    made = videos[ext]
    with tempfile.TemporaryDirectory() as tmp:
        config = make_test_config(Path(tmp))
        config.streaming.prioritize = prioritize
        config.torrent.read_timeout = 120
        server = Server(config)
        log = RangeLog(server._httpd.wsgi_app)
        server._httpd.wsgi_app = log
        server.start()
        try:
            movie = requests.post(server.url + "/api/movies", json={"title": "Clip", "year": 2020}).json()
            magnet = seeder.magnet(made)
            assert requests.post(f"{server.url}/api/movies/{movie['id']}/assign", json={"source": magnet}).ok
            url = server.url + quote(f"/Movies/Clip (2020)/Clip (2020){ext}")
            assert requests.head(url).status_code == 200  # the URL answers: the clock starts
            started = time.perf_counter()
            subprocess.run([url if arg == URL else arg for arg in command], check=True, capture_output=True, timeout=300)
            elapsed = time.perf_counter() - started
            torrent = server.engine.find(made.info_hash)
            fetched = torrent.handle.status().total_done  # payload counters restart when a torrent is paused
            pieces = {(start + 0) // PIECE for start in log.starts} | {(start + 65535) // PIECE for start in log.starts}
            pieces = {p for p in pieces if p * PIECE < next(iter(made.files.values()))}
            floor = len(pieces) * PIECE / RATE
        finally:
            server.stop()
    return elapsed, fetched, floor


def curl_rate(url: str) -> float:
    """MB/s of one curl download to /dev/null."""
    out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url],
                         check=True, capture_output=True, text=True, timeout=120).stdout.split()
    return int(out[0]) / float(out[1]) / 1e6


def full_read(made, trials: int) -> None:
    """A downloaded file read whole through the share, against the same file read from disk."""
    fast = Seeder()  # unthrottled: the file is downloaded once before the clock runs
    fast.seed(made)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(make_test_config(Path(tmp)))
        server.start()
        try:
            movie = requests.post(server.url + "/api/movies", json={"title": "Full", "year": 2021}).json()
            requests.post(f"{server.url}/api/movies/{movie['id']}/assign", json={"source": fast.magnet(made)})
            url = server.url + quote("/Movies/Full (2021)/Full (2021).mp4")
            curl_rate(url)  # downloads it
            torrent = server.engine.find(made.info_hash)
            assert all(torrent.have), "the file is not complete after a full read"
            on_disk = "file://" + str(torrent.save_path / next(iter(made.files)))
            share = [curl_rate(url) for _ in range(trials)]
            disk = [curl_rate(on_disk) for _ in range(trials)]
        finally:
            server.stop()
            fast.close()
    print(f"\nfull read of a downloaded file ({next(iter(made.files.values())) / 1e6:.1f} MB), curl, median of {trials}:")
    print(f"  through WebDAV  {statistics.median(share):7.0f} MB/s  (min {min(share):.0f}, max {max(share):.0f})")
    print(f"  from disk       {statistics.median(disk):7.0f} MB/s  (min {min(disk):.0f}, max {max(disk):.0f})")
    print(f"  ratio           {statistics.median(share) / statistics.median(disk):7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--only", choices=[*OPERATIONS, FULL_READ], action="append",
                        help="measure only these operations")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        videos = make_videos(Path(work))
        # A 100 ms tick spreads the seeder's quota like a real 4 MiB/s link; with libtorrent's default
        # 500 ms it sends in bursts, and every figure jumps by half a second at random.
        seeder = Seeder(upload_rate=RATE, tick_interval=100)
        for made in videos.values():
            seeder.seed(made)
        # A seeder's very first peer gets one block per 200 ms for about half a second (measured; later peers,
        # each on a new connection, never do): one discarded trial, so no row pays for the seeder's start.
        trial(videos, seeder, next(iter(OPERATIONS)), True)
        sizes = {ext: next(iter(m.files.values())) for ext, m in videos.items()}
        print(f"swarm: 1 seeder at {RATE // MiB} MiB/s, {PIECE // MiB} MiB pieces; "
              f"MP4 {sizes['.mp4'] / 1e6:.1f} MB (moov at the end), MKV {sizes['.mkv'] / 1e6:.1f} MB; "
              f"{args.trials} cold trials each\n")
        print(f"{'operation':15} {'mode':11} {'median':>8} {'min':>7} {'max':>7} {'MB fetched':>11} "
              f"{'floor':>7} {'x floor':>8} {'x sequential':>13}")
        for operation in [o for o in args.only or OPERATIONS if o in OPERATIONS]:
            results = {}
            for prioritize in (True, False):
                runs = [trial(videos, seeder, operation, prioritize) for _ in range(args.trials)]
                results[prioritize] = runs
            sequential_median = statistics.median(r[0] for r in results[False])
            for prioritize, runs in results.items():
                times = [r[0] for r in runs]
                median = statistics.median(times)
                floor = statistics.median(r[2] for r in runs)
                fetched = statistics.median(r[1] for r in runs) / 1e6
                mode = "prioritized" if prioritize else "sequential"
                print(f"{operation:15} {mode:11} {median:7.2f}s {min(times):6.2f}s {max(times):6.2f}s "
                      f"{fetched:10.2f} {floor:6.2f}s {median / floor:7.2f}x {median / sequential_median:12.2f}x")
        seeder.close()
        if not args.only or FULL_READ in args.only:
            full_read(videos[".mp4"], args.trials)


if __name__ == "__main__":
    main()
