"""Cold start, cold seek and playback through the real server, from swarms on loopback, with the shipped config.

Run by hand:  .venv/bin/python bench/stream_bench.py [--trials 5] [--peerflix PATH] [--webtorrent DIR]

The server under test runs the product's own `config.yaml`, with only what
keeps it on loopback changed (listen addresses, DHT, LSD, UPnP, NAT-PMP,
public trackers; plus its port and a temporary data dir). Two swarms (see
`swarm.py`), each with a tracker and magnets that name the tracker and the peers:

- one TCP-only seeder at 4 MiB/s, no delay;
- six seeders behind delaying relays (one way 10-150 ms, 0.25-2 MiB/s,
  6 MiB/s in all), half of them also speaking uTP.

Files: a 60 s 720p H.264/AAC MP4 with moov at the end, and its MKV remux,
1 MiB pieces. Every trial is cold: a new server (or peer) process state and
data dir. Each operation is timed from the moment the file's URL answers:
`ffprobe`, `ffmpeg -ss 30 ... -frames:v 1`, and `mpv` playing 15 s of the MKV
from the start and 10 s of the MP4 from 40 s (time to its first frame, and
the number of times it stopped to buffer after that). A seek in a file that
plays, as a user skipping ahead does it: `mpv` plays each file from the
start and, two seconds after its first frame, seeks to 40 s (`mpv_seek.lua`),
timed from the seek to its first frame after it; its floor counts only the
requests made after the seek.

Clients, in the same run: momoshtrem (prioritized, played right after the
assignment while the probe store fetches in the background), momoshtrem with
`streaming.prioritize: false` and no probe store (plain sequential download:
the baseline, with the single seeder only), with `--store` also "stored probe"
(played once the probe store holds the file and its torrent has left the
session) and "no store" (`library.probe_store_size: 0`); peerflix when
`--peerflix` names it (`npm install --prefix /tmp/peerflix peerflix`), and
webtorrent 3 when `--webtorrent` names its package (`npm install
--ignore-scripts --prefix /tmp/webtorrent webtorrent@3`; run as
`webtorrent_serve.mjs` says). The floor of an operation is the pieces holding
the first 64 KiB of each of its requests that were missing when its first
request came (logged by the server; the last piece at its size), at the
swarm's combined rate, plus the nearest peer's round trip: a lower bound.

Then, with the file fully downloaded, it reads it whole through WebDAV with
curl and compares that with curl reading the same file from disk.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.swarm import HOSTAGE, ONE_TCP_SEEDER, REALISTIC, Swarm  # noqa: E402
from momoshtrem.config import Config, load_config  # noqa: E402
from momoshtrem.server import Server  # noqa: E402
from tests.helpers import MadeTorrent, Seeder, clip_torrents, free_port, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
MiB = 1024 * 1024
PIECE = MiB
URL = "{url}"  # where the file's URL goes in a command
FULL_READ = "full read"
MPV = ["mpv", "--no-config", "--vo=null", "--ao=null", "--really-quiet"]
SEEK_WHILE_PLAYING = [f"--script={BENCH / 'mpv_seek.lua'}"]


@dataclass(frozen=True)
class Operation:
    ext: str
    command: list[str]
    player: bool = False  # mpv: timed to its first frame (the first after its seek, if it seeks), stalls counted


OPERATIONS = {
    "ffprobe MP4": Operation(".mp4", ["ffprobe", "-v", "error", "-show_format", "-show_streams", URL]),
    "ffprobe MKV": Operation(".mkv", ["ffprobe", "-v", "error", "-show_format", "-show_streams", URL]),
    "seek 30 s MP4": Operation(".mp4", ["ffmpeg", "-v", "error", "-ss", "30", "-i", URL, "-frames:v", "1",
                                        "-f", "null", "-"]),
    "seek 30 s MKV": Operation(".mkv", ["ffmpeg", "-v", "error", "-ss", "30", "-i", URL, "-frames:v", "1",
                                        "-f", "null", "-"]),
    "mpv MKV from 0 s": Operation(".mkv", [*MPV, "--length=15", URL], player=True),
    "mpv MP4 from 40 s": Operation(".mp4", [*MPV, "--start=40", "--length=10", URL], player=True),
    # Playing from the start, two seconds after the first frame it seeks to 40 s (mpv_seek.lua).
    "mpv MKV seek to 40 s": Operation(".mkv", [*MPV, *SEEK_WHILE_PLAYING, "--script-opts=bench-seek-to=40",
                                               "--end=50", URL], player=True),
    "mpv MP4 seek to 40 s": Operation(".mp4", [*MPV, *SEEK_WHILE_PLAYING, "--script-opts=bench-seek-to=40",
                                               "--end=50", URL], player=True),
}
SWARMS = {"one TCP seeder": ONE_TCP_SEEDER, "realistic": REALISTIC, "hostage": HOSTAGE}
# The sequential baseline pulls the whole file through the realistic swarm's relays (Python, in this process) in
# every trial, and the trials after it ran slower (ffprobe MKV 0.58 s -> 0.72 s): there, peerflix is the baseline.
SEQUENTIAL_SWARMS = {"one TCP seeder"}


@dataclass
class Trial:
    seconds: float  # to the end of the command, or to mpv's first frame
    fetched: int | None = None  # payload bytes the client downloaded (momoshtrem only)
    floor: float | None = None
    stalls: int = 0
    assign: float | None = None  # seconds to assign the magnet (momoshtrem only)


def make_videos(work: Path) -> dict[str, MadeTorrent]:
    return clip_torrents(work, "Clip.2020", 60, "1280x720", PIECE, bitrate="5M", bufsize="2M")


def shipped_config(tmp: Path) -> Config:
    """The product's config.yaml; only what keeps it on loopback and in a temporary dir is changed."""
    config = load_config(ROOT / "config.yaml", environ={})
    torrent = config.torrent
    torrent.listen_interfaces = "127.0.0.1:0"
    torrent.enable_dht = torrent.enable_lsd = torrent.enable_upnp = torrent.enable_natpmp = False
    torrent.default_trackers = []
    config.server.port = 0
    config.library.database = str(tmp / "library.db")
    torrent.data_dir = str(tmp / "torrents")
    config.subtitles.dir = str(tmp / "subtitles")
    config.library.probe_store_dir = str(tmp / "probes")
    return config


class RangeLog:
    """Wraps the server's WSGI app to record, for each GET, when it came, the pieces holding the first 64 KiB of
    its range, and which of the file's pieces were missing then."""

    def __init__(self, app, missing: Callable[[], set[int] | None]) -> None:
        self.app = app
        self.missing = missing  # the pieces not downloaded yet; None: all of them (the torrent is not in the session)
        self.requests: list[tuple[float, set[int], set[int] | None]] = []  # (time.perf_counter(), pieces, missing)

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "GET" and "/Movies/" in environ.get("PATH_INFO", ""):
            spec = environ.get("HTTP_RANGE", "bytes=0-")
            first = spec.split("=", 1)[-1].split(",")[0].split("-")[0]
            start = int(first) if first else 0
            self.requests.append((time.perf_counter(), {start // PIECE, (start + 65535) // PIECE}, self.missing()))
        return self.app(environ, start_response)

    def pieces_missing(self, since: float) -> set[int]:
        """The pieces the requests made since then read that were missing when the first of them came (for a
        seek while playing, its first request follows the seek within milliseconds): a piece fetched ahead of its
        request counts, one the client had read before the seek does not."""
        after = [(pieces, missing) for at, pieces, missing in self.requests if at >= since]
        if not after:
            return set()
        missing = after[0][1]
        return {piece for pieces, _ in after for piece in pieces if missing is None or piece in missing}


def run_client(operation: Operation, url: str, workdir: Path) -> tuple[float, int, float]:
    """Runs the operation's command on `url`: (seconds, stalls, the perf_counter() at which the timing started)."""
    started = time.perf_counter()
    if not operation.player:
        subprocess.run([url if arg == URL else arg for arg in operation.command], check=True, capture_output=True,
                       timeout=300)
        return time.perf_counter() - started, 0, started
    log_file = workdir / "mpv.log"
    command = [url if arg == URL else arg for arg in operation.command]
    subprocess.run([*command[:-1], f"--log-file={log_file}", command[-1]], check=True, capture_output=True,
                   timeout=300)
    seconds, stalls, timed_from = player_figures(log_file.read_text(errors="replace"))
    return seconds, stalls, started + timed_from


def player_figures(log: str) -> tuple[float, int, float]:
    """mpv's time to its first frame (its log's clock starts with the process) and the buffering stops after it.

    When mpv_seek.lua sought, the time from its seek to the first frame after it, and the stops after that. The
    third figure is when the timing started, on the log's clock (0, or the seek).
    """
    def times(pattern: str) -> list[float]:
        return [float(m.group(1)) for m in re.finditer(r"^\[\s*([\d.]+)\]" + pattern, log, re.M)]

    frames = times(r"\[v\]\[cplayer\] first video frame after restart shown")
    seeks = times(r"\[\w\]\[mpv_seek\] bench: seeking")
    start = seeks[0] if seeks else 0.0
    shown = [t for t in frames if t > start]
    if not shown:
        raise RuntimeError("mpv never showed a frame" + (" after its seek" if seeks else ""))
    stalls = sum(1 for t in times(r"\[\w\]\[cplayer\] Enter buffering") if t > shown[0])
    return shown[0] - start, stalls, start


def momoshtrem_trial(made: MadeTorrent, swarm: Swarm, operation: Operation, client: str = "momoshtrem") -> Trial:
    """One cold trial of a momoshtrem client: "momoshtrem" plays right after the assignment, while the probe store
    fetches in the background; "stored probe" waits for the store first; "no store" and "sequential" have none."""
    with tempfile.TemporaryDirectory() as tmp:
        config = shipped_config(Path(tmp))
        config.streaming.prioritize = client != "sequential"
        if client in ("no store", "sequential"):
            config.library.probe_store_size = 0
        server = Server(config)

        def missing() -> set[int] | None:
            torrent = server.engine.find(made.info_hash)
            return None if torrent is None else {piece for piece, had in enumerate(torrent.have) if not had}

        log = RangeLog(server._httpd.wsgi_app, missing)
        server._httpd.wsgi_app = log
        server.start()
        try:
            movie = requests.post(server.url + "/api/movies", json={"title": "Clip", "year": 2020}).json()
            started = time.perf_counter()
            assigned = requests.post(f"{server.url}/api/movies/{movie['id']}/assign",
                                     json={"source": swarm.magnet(made)}, timeout=120)
            assign = time.perf_counter() - started
            assert assigned.ok, assigned.text
            stored = ()
            if client == "stored probe":
                wait_until(lambda: server.probes.status(made.info_hash, 0).state != "pending"
                           and server.engine.find(made.info_hash) is None, 120, "the probe to be stored")
                stored = server.probes.store.peek(made.info_hash, 0).ranges
            url = server.url + quote(f"/Movies/Clip (2020)/Clip (2020){operation.ext}")
            assert requests.head(url).status_code == 200  # the URL answers: the clock starts
            seconds, stalls, timed_from = run_client(operation, url, Path(tmp))
            torrent = server.engine.find(made.info_hash)
            fetched = torrent.handle.status().total_done if torrent else 0
            size = next(iter(made.files.values()))
            pieces = log.pieces_missing(since=timed_from)  # a seek while playing: the requests after the seek
            # A piece wholly in the probe store is never waited for.
            pieces = {p for p in pieces if p * PIECE < size
                      and not any(r.start <= p * PIECE and min((p + 1) * PIECE, size) <= r.end for r in stored)}
            floor = sum(min(PIECE, size - p * PIECE) for p in pieces) / swarm.rate + swarm.nearest_round_trip
        finally:
            server.stop()
    return Trial(seconds, fetched, floor, stalls, assign)


def node_peer_trial(client: str, script: str, made: MadeTorrent, swarm: Swarm, operation: Operation) -> Trial:
    """A streaming client from npm (peerflix, webtorrent) fetches the metadata and serves the file over HTTP; the
    clock starts when the file's URL answers."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        magnet = swarm.magnet(made)
        if client == "peerflix":
            peers = [arg for p in swarm.ports for arg in ("--peer", f"127.0.0.1:{p}")]
            args = [script, magnet, "--no-dht", "-q", "-h", "127.0.0.1", "-p", str(port), "-f", tmp, *peers]
            url = f"http://127.0.0.1:{port}/"
        else:
            args = ["--require", str(BENCH / "node_no_webrtc.cjs"), str(BENCH / "webtorrent_serve.mjs"), script,
                    magnet, tmp, str(port)]
            url = f"http://127.0.0.1:{port}/webtorrent/{made.info_hash}/{quote(next(iter(made.files)))}"
        process = subprocess.Popen(["node", "--require", str(BENCH / "node_loopback.cjs"), *args],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: _answers(url), 120, f"{client} to serve the file", interval=0.01)
            seconds, stalls, _ = run_client(operation, url, Path(tmp))
        finally:
            process.terminate()
            process.wait(timeout=10)
    return Trial(seconds, stalls=stalls)


def _answers(url: str) -> bool:
    try:
        return requests.head(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def measure_swarm(name: str, specs, videos: dict, work: Path, clients: list[str], operations: list[str],
                  trials: int, node_peers: dict[str, str]) -> None:
    swarm = Swarm(specs, list(videos.values()), work / name.replace(" ", "-"))
    try:
        # A seeder's very first peer gets one block per 200 ms for about half a second (measured; later peers,
        # each on a new connection, never do): one discarded trial, so no row pays for the seeder's start.
        momoshtrem_trial(videos[".mp4"], swarm, OPERATIONS["ffprobe MP4"])
        sizes = {ext: next(iter(m.files.values())) for ext, m in videos.items()}
        print(f"\n## {name}: {swarm.describe()}; {PIECE // MiB} MiB pieces; MP4 {sizes['.mp4'] / 1e6:.1f} MB "
              f"(moov at the end), MKV {sizes['.mkv'] / 1e6:.1f} MB; {trials} cold trials each\n")
        print(f"{'operation':20} {'client':12} {'median':>7} {'min':>6} {'max':>6} {'stalls':>6} {'MB got':>7} "
              f"{'floor':>6} {'x floor':>8}")
        assigns: list[float] = []
        for operation_name in operations:
            operation = OPERATIONS[operation_name]
            made = videos[operation.ext]
            results: dict[str, list[Trial]] = {client: [] for client in clients}
            for _ in range(trials):  # interleaved, so a slow spell of the machine hits every client alike
                for client in clients:
                    if client in node_peers:
                        results[client].append(node_peer_trial(client, node_peers[client], made, swarm, operation))
                    else:
                        results[client].append(momoshtrem_trial(made, swarm, operation, client))
            assigns += [t.assign for t in results.get("momoshtrem", []) if t.assign is not None]
            for client, runs in results.items():
                floor = statistics.median(t.floor for t in (runs if runs[0].floor is not None else results["momoshtrem"]))
                times = [t.seconds for t in runs]
                median = statistics.median(times)
                got = [t.fetched for t in runs if t.fetched is not None]
                got_text = f"{statistics.median(got) / 1e6:7.2f}" if got else f"{'-':>7}"
                print(f"{operation_name:20} {client:12} {median:6.2f}s {min(times):5.2f}s {max(times):5.2f}s "
                      f"{max(t.stalls for t in runs):6d} {got_text} {floor:5.2f}s "
                      f"{f'{median / floor:7.2f}x' if floor else '      -'}", flush=True)
        if assigns:
            print(f"\nassign by magnet (metadata from the swarm), momoshtrem: median {statistics.median(assigns):.3f} s "
                  f"({min(assigns):.3f}-{max(assigns):.3f}), {len(assigns)} trials")
    finally:
        swarm.close()


def curl_rate(url: str) -> float:
    """MB/s of one curl download to /dev/null."""
    out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url],
                         check=True, capture_output=True, text=True, timeout=120).stdout.split()
    return int(out[0]) / float(out[1]) / 1e6


def full_read(made: MadeTorrent, trials: int) -> None:
    """A downloaded file read whole through the share, against the same file read from disk."""
    fast = Seeder()  # unthrottled: the file is downloaded once before the clock runs
    fast.seed(made)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(shipped_config(Path(tmp)))
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
    parser.add_argument("--swarm", choices=list(SWARMS), action="append", help="only these swarms")
    parser.add_argument("--peerflix", default=shutil.which("peerflix"),
                        help="peerflix's script, compared in the same run (e.g. /tmp/peerflix/node_modules/.bin/peerflix)")
    parser.add_argument("--webtorrent", help="webtorrent's package directory, compared in the same run "
                                             "(e.g. /tmp/webtorrent/node_modules/webtorrent)")
    parser.add_argument("--no-sequential", action="store_true", help="leave out the sequential baseline")
    parser.add_argument("--store", action="store_true",
                        help="add the probe store's rows: 'stored probe' (waited for) and 'no store' (turned off)")
    args = parser.parse_args()
    operations = [o for o in args.only or OPERATIONS if o in OPERATIONS]
    node_peers = {name: path for name, path in (("peerflix", args.peerflix), ("webtorrent", args.webtorrent)) if path}
    with tempfile.TemporaryDirectory() as work:
        videos = make_videos(Path(work))
        for name in (args.swarm or SWARMS) if operations else ():
            sequential = not args.no_sequential and name in SEQUENTIAL_SWARMS
            clients = (["momoshtrem"] + (["stored probe", "no store"] if args.store else [])
                       + (["sequential"] if sequential else []) + list(node_peers))
            measure_swarm(name, SWARMS[name], videos, Path(work), clients, operations, args.trials, node_peers)
        if not args.only or FULL_READ in args.only:
            full_read(videos[".mp4"], args.trials)


if __name__ == "__main__":
    main()
