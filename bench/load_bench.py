"""Listing load while people watch: 50 clients PROPFIND and HEAD the library while 4 streams play.

Run by hand:  .venv/bin/python bench/load_bench.py [--runs 3] [--duration 60] [--clients 50]

Every run starts a fresh `momoshtrem serve` process (cold data dir, loopback
only) with a library of 60 movies and 2 shows of 3 seasons x 10 episodes.
Four of the movies (128 MiB each) come from one local seeder throttled to
6 MiB/s (TCP, 1 MiB pieces, limits applied on loopback), so each stream gets
about 1.5 MiB/s, a 1080p film's rate. Each run has two phases:
- baseline: the 4 streams alone (`--baseline` seconds, after each has its first MiB);
- load: the same streams while `--clients` threads each loop PROPFIND Depth 1 on a
  random folder and HEAD on a random file, for `--duration` seconds.
It prints per run and as the median of the runs: listing latency percentiles by
method, errors by status (any 5xx is a failure), each phase's stream throughput
and longest gap between two chunks (a gap over 2 s is a stall), the ratio of the
load phase to the baseline, and the server's memory (VmRSS, and VmHWM, its peak).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from urllib.parse import quote, unquote, urlparse
from xml.etree import ElementTree

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.helpers import MadeTorrent, Seeder, ServeProcess, make_torrent  # noqa: E402

MiB = 1024 * 1024
STREAM_SIZE = 128 * MiB
SEEDER_RATE = 6 * MiB
STREAMS = 4
STALL_SECONDS = 2.0
CHUNK = 256 * 1024


@dataclass
class Library:
    folders: list[str]  # share paths PROPFIND asks for
    files: list[str]  # share paths HEAD asks for
    streams: list[str]  # the 4 streamed films


@dataclass
class StreamLog:
    """(monotonic time, bytes) per chunk a player received."""

    chunks: list[tuple[float, int]] = field(default_factory=list)

    def window(self, start: float, end: float) -> tuple[float, float]:
        """MiB/s received in [start, end), and the longest gap between chunks (or the window's edges)."""
        times = [t for t, _ in self.chunks if start <= t < end]
        received = sum(n for t, n in self.chunks if start <= t < end)
        edges = [start, *times, end]
        gap = max(b - a for a, b in zip(edges, edges[1:]))
        return received / MiB / (end - start), gap


def make_content(work: Path) -> tuple[list[MadeTorrent], list[tuple[str, int, MadeTorrent]], list[MadeTorrent]]:
    """Films to stream, movies only listed, and two shows' season packs (small files: only listed)."""
    streamed = [make_torrent(work / f"stream{i}", f"Stream.{2000 + i}.mkv", {f"Stream.{2000 + i}.mkv": STREAM_SIZE},
                             piece_size=MiB, v1_only=True) for i in range(STREAMS)]
    listed = []
    for i in range(60 - STREAMS):
        name = f"Listed.Movie.{i}.{1950 + i}.mkv"
        listed.append((f"Listed Movie {i}", 1950 + i,
                       make_torrent(work / f"movie{i}", name, {name: 64 * 1024 + i}, v1_only=True)))
    packs = []
    for show in range(2):
        files = {f"Season {s:02d}/Show{show}.S{s:02d}E{e:02d}.mkv": 32 * 1024 + e
                 for s in range(1, 4) for e in range(1, 11)}
        packs.append(make_torrent(work / f"show{show}", f"Show{show}.Complete", files, v1_only=True))
    return streamed, listed, packs


def build_library(url: str, seeder: Seeder, streamed, listed, packs) -> Library:
    api = requests.Session()

    def assign(kind: str, title: str, year: int, body: dict) -> None:
        item = api.post(f"{url}/api/{kind}s", json={"title": title, "year": year}, timeout=30).json()
        api.post(f"{url}/api/{kind}s/{item['id']}/assign", json=body, timeout=60).raise_for_status()

    for i, made in enumerate(streamed):
        assign("movie", "Stream", 2000 + i, {"source": seeder.magnet(made)})
    for title, year, made in listed:
        assign("movie", title, year, {"torrent": made.b64})
    for show, made in enumerate(packs):
        assign("show", f"Show{show}", 2010 + show, {"torrent": made.b64})
    folders, files = walk_share(url)
    streams = [path for path in files if path.startswith("/Movies/Stream (")]
    assert len(streams) == STREAMS and len(files) == 60 + 2 * 30, (len(streams), len(files))
    return Library(folders, [path for path in files if path not in streams], streams)


def walk_share(url: str) -> tuple[list[str], list[str]]:
    """Every folder and file of the share, found the way a client finds them: PROPFIND Depth 1."""
    folders, files, queue = [], [], ["/"]
    while queue:
        folder = queue.pop()
        folders.append(folder)
        response = requests.request("PROPFIND", url + quote(folder), headers={"Depth": "1"}, timeout=30)
        for entry in ElementTree.fromstring(response.content).iter("{DAV:}response"):
            path = unquote(urlparse(entry.findtext("{DAV:}href")).path)
            if path.rstrip("/") == folder.rstrip("/"):
                continue
            if entry.find(".//{DAV:}collection") is not None:
                queue.append(path.rstrip("/"))
            elif not path.rsplit("/", 1)[-1].startswith("."):  # the root's marker files
                files.append(path)
    return folders, files


def play(url: str, log: StreamLog, stop: threading.Event) -> None:
    with requests.get(url, stream=True, timeout=60) as response:
        response.raise_for_status()
        for chunk in response.iter_content(CHUNK):
            log.chunks.append((time.monotonic(), len(chunk)))
            if stop.is_set():
                return


def list_forever(base: str, library: Library, stop: threading.Event, latencies: dict[str, list[float]],
                 statuses: Counter, seed: int) -> None:
    chooser = random.Random(seed)
    session = requests.Session()
    while not stop.is_set():
        if chooser.random() < 0.5:
            method, path, headers = "PROPFIND", chooser.choice(library.folders), {"Depth": "1"}
        else:
            method, path, headers = "HEAD", chooser.choice(library.files), {}
        started = time.monotonic()
        try:
            status = session.request(method, base + quote(path), headers=headers, timeout=30).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        latencies[method].append(time.monotonic() - started)
        statuses[f"{method} {status}"] += 1


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(args, seeder: Seeder, content) -> dict:
    work = Path(tempfile.mkdtemp(prefix="momoshtrem-load-"))
    server = ServeProcess(work, {"MOMOSHTREM_LIBRARY_DATABASE": str(work / "library.db"),
                                 "MOMOSHTREM_TORRENT_DATA_DIR": str(work / "torrents"),
                                 "MOMOSHTREM_SERVER_THREADS": "64"})
    try:
        library = build_library(server.url, seeder, *content)
        stop = threading.Event()
        logs = [StreamLog() for _ in library.streams]
        players = [threading.Thread(target=play, args=(server.url + quote(path), log, stop), daemon=True)
                   for path, log in zip(library.streams, logs)]
        for player in players:
            player.start()
        deadline = time.monotonic() + 60
        while any(sum(n for _, n in log.chunks) < MiB for log in logs):
            if time.monotonic() > deadline:
                raise SystemExit("a stream did not start within 60 s")
            time.sleep(0.1)
        baseline_start = time.monotonic()
        time.sleep(args.baseline)
        load_start = time.monotonic()
        latencies: dict[str, list[float]] = {"PROPFIND": [], "HEAD": []}
        statuses: Counter = Counter()
        listers = [threading.Thread(target=list_forever, args=(server.url, library, stop, latencies, statuses, i),
                                    daemon=True) for i in range(args.clients)]
        for lister in listers:
            lister.start()
        peak = {"VmRSS": 0, "VmHWM": 0}
        while time.monotonic() < load_start + args.duration:
            time.sleep(1)
            for key, value in memory_kib(server.process.pid).items():
                peak[key] = max(peak[key], value)
        load_end = time.monotonic()
        stop.set()
        for thread in listers + players:
            thread.join(timeout=30)
        return {
            "latencies": latencies, "statuses": statuses, "memory": peak,
            "baseline": [log.window(baseline_start, load_start) for log in logs],
            "load": [log.window(load_start, load_end) for log in logs],
            "requests_per_second": sum(len(v) for v in latencies.values()) / (load_end - load_start),
        }
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(number: str, result: dict) -> None:
    print(f"\nrun {number}: {result['requests_per_second']:.0f} listing requests/s")
    print(f"  {'method':<9} {'count':>7} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for method, values in result["latencies"].items():
        print(f"  {method:<9} {len(values):>7} " + " ".join(
            f"{percentile(values, q) * 1000:>6.1f}ms" for q in (0.5, 0.9, 0.99, 1.0)))
    print("  statuses: " + ", ".join(f"{key} x{count}" for key, count in sorted(result["statuses"].items())))
    for i, ((base_rate, base_gap), (rate, gap)) in enumerate(zip(result["baseline"], result["load"])):
        print(f"  stream {i}: baseline {base_rate:.2f} MiB/s (longest gap {base_gap:.2f} s), under load "
              f"{rate:.2f} MiB/s (longest gap {gap:.2f} s), ratio {rate / base_rate:.2f}")
    memory = result["memory"]
    print(f"  server memory: VmRSS {memory['VmRSS'] / 1024:.0f} MiB, peak VmHWM {memory['VmHWM'] / 1024:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of listing load")
    parser.add_argument("--baseline", type=float, default=15.0, help="seconds of streams alone first")
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()

    content_dir = Path(tempfile.mkdtemp(prefix="momoshtrem-load-content-"))
    seeder = Seeder(upload_rate=SEEDER_RATE, tick_interval=100)
    try:
        content = make_content(content_dir)
        for made in content[0]:
            seeder.seed(made)
        print(f"{args.runs} runs; each: {STREAMS} streams from a {SEEDER_RATE // MiB} MiB/s seeder, "
              f"{args.baseline:.0f} s alone then {args.duration:.0f} s with {args.clients} listing clients")
        results = []
        for number in range(1, args.runs + 1):
            results.append(run(args, seeder, content))
            report(str(number), results[-1])
    finally:
        seeder.close()
        shutil.rmtree(content_dir, ignore_errors=True)

    print(f"\nmedian of {len(results)} runs")
    for method in ("PROPFIND", "HEAD"):
        print(f"  {method:<9} " + " ".join(
            f"p{int(q * 100)} {median([percentile(r['latencies'][method], q) for r in results]) * 1000:.1f}ms"
            for q in (0.5, 0.9, 0.99)) + f"  max {max(max(r['latencies'][method]) for r in results) * 1000:.0f}ms")
    failed = sum(count for r in results for key, count in r["statuses"].items() if not key.split()[1].startswith("2"))
    server_errors = sum(count for r in results for key, count in r["statuses"].items() if key.split()[1][0] == "5")
    ratios = [load[0] / base[0] for r in results for base, load in zip(r["baseline"], r["load"])]
    gaps = [load[1] for r in results for load in r["load"]]
    base_gaps = [base[1] for r in results for base in r["baseline"]]
    print(f"  listing requests/s {median([r['requests_per_second'] for r in results]):.0f}; "
          f"not 2xx: {failed}, of which 5xx: {server_errors}")
    print(f"  stream throughput under load / baseline: median {median(ratios):.2f} (min {min(ratios):.2f})")
    print(f"  longest gap in a stream: baseline {max(base_gaps):.2f} s, under load {max(gaps):.2f} s "
          f"({sum(g > STALL_SECONDS for g in gaps)} stalls over {STALL_SECONDS:.0f} s)")
    print(f"  server memory: VmRSS median {median([r['memory']['VmRSS'] for r in results]) / 1024:.0f} MiB, "
          f"peak VmHWM {max(r['memory']['VmHWM'] for r in results) / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
