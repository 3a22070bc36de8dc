"""Floods against the share: does a well-behaved client still get its listings while someone misbehaves?

Run by hand:  .venv/bin/python bench/flood_bench.py [--duration 20] [--source DIR] [--rows silent,slowloris]

Each row starts a fresh `momoshtrem serve` process with the shipped config.yaml
(only loopback switches changed: listen address, DHT, LSD, UPnP, NAT-PMP, the
public trackers) and a library of 20 movies, one of them assigned to a torrent
nobody seeds. Then, for `--duration` seconds, a flood runs while a probe client
(one keep-alive connection, like a player's) sends PROPFIND Depth 1 of
/Movies/ and HEAD of a film every 100 ms. Each row prints the probe's latency
percentiles and failures (a timeout of 10 s or any 5xx), what the flood itself
got, and the server's memory growth (VmRSS peak minus VmRSS before the flood).

Floods: 100 silent sockets; 300 slowloris sockets (headers a byte a second,
reopened when closed); 100 GETs of the dead torrent's film; 200 assignments of
dead magnets; 4 PROPFINDs that send 400 MB bodies. The last row times the
assignment of show torrents with 10,000 files (all episodes; 500 episodes among
9,500 other files) and with 1,000 episodes. `--baseline DIR` runs each row first with another checkout's
server, in the same run (`git worktree add /tmp/before <commit>`); `--source DIR` replaces this one.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.serve import ShippedServer  # noqa: E402
from tests.helpers import MadeTorrent, make_torrent  # noqa: E402

MiB = 1024 * 1024
PROBE_INTERVAL = 0.1
PROBE_TIMEOUT = 10.0


def build_library(url: str, dead: MadeTorrent) -> str:
    """20 movies (one with a torrent nobody seeds); the dead film's share path."""
    api = requests.Session()
    for n in range(20):
        movie = api.post(f"{url}/api/movies", json={"title": f"Movie {n}", "year": 1990 + n}, timeout=30).json()
        if n == 0:
            api.post(f"{url}/api/movies/{movie['id']}/assign", json={"torrent": dead.b64},
                     timeout=60).raise_for_status()
    return "/Movies/Movie 0 (1990)/Movie 0 (1990).mkv"


class Probe(threading.Thread):
    """A well-behaved client: PROPFIND and HEAD every 100 ms on one keep-alive connection."""

    def __init__(self, url: str, film: str) -> None:
        super().__init__(daemon=True)
        self.url, self.film = url, film
        self.latencies: list[float] = []
        self.failures: Counter = Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        http = requests.Session()
        while not self.stop.is_set():
            for method, path, headers in (("PROPFIND", "/Movies/", {"Depth": "1"}), ("HEAD", self.film, {})):
                started = time.monotonic()
                try:
                    answer = http.request(method, self.url + quote(path), headers=headers, timeout=PROBE_TIMEOUT)
                    if answer.status_code >= 500:
                        self.failures[str(answer.status_code)] += 1
                    else:
                        self.latencies.append(time.monotonic() - started)
                except requests.RequestException as exc:
                    self.failures[type(exc).__name__] += 1
                    http = requests.Session()
            self.stop.wait(PROBE_INTERVAL)


# -- floods: each runs until `stop` is set and returns what the flooding clients got ----------------------

def flood_none(url: str, film: str, stop: threading.Event) -> str:
    stop.wait()
    return "no flood: the probe alone"


def flood_silent(url: str, film: str, stop: threading.Event, count: int = 100) -> str:
    sockets = [socket.create_connection(_address(url)) for _ in range(count)]
    stop.wait()
    closed = sum(_closed(s) for s in sockets)
    for s in sockets:
        s.close()
    return f"{closed} of {count} closed by the server"


def flood_slowloris(url: str, film: str, stop: threading.Event, count: int = 300) -> str:
    sockets: list[socket.socket] = []
    reopened = 0
    while not stop.is_set():
        while len(sockets) < count:
            try:
                s = socket.create_connection(_address(url), timeout=5)
                s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                sockets.append(s)
            except OSError:
                break
        for s in list(sockets):
            try:
                s.sendall(b"a")
            except OSError:
                sockets.remove(s)
                s.close()
                reopened += 1
        stop.wait(1.0)
    for s in sockets:
        s.close()
    return f"{reopened} sockets dropped by the server (and reopened)"


def flood_dead_gets(url: str, film: str, stop: threading.Event, count: int = 100) -> str:
    return _concurrent(count, stop, lambda http: http.get(url + quote(film), headers={"Range": "bytes=0-"},
                                                          timeout=600, stream=True))


def flood_dead_magnets(url: str, film: str, stop: threading.Event, count: int = 200) -> str:
    ids = [requests.post(f"{url}/api/movies", json={"title": f"Dead {n}", "year": 1900 + n % 100}, timeout=30)
           .json()["id"] for n in range(count)]
    magnets = iter(f"magnet:?xt=urn:btih:{n + 1:040x}" for n in range(count))
    targets = iter(ids)
    return _concurrent(count, stop, lambda http: http.post(f"{url}/api/movies/{next(targets)}/assign",
                                                           json={"source": next(magnets)}, timeout=600))


class _DeclaredBody:
    """A body of `size` bytes with its Content-Length declared (a generator would be sent chunked: a 411)."""

    def __init__(self, size: int, stop: threading.Event) -> None:
        self.left, self.stop = size, stop

    def __len__(self) -> int:
        return self.left

    def read(self, wanted: int = -1) -> bytes:
        count = min(self.left, MiB if wanted is None or wanted < 0 else wanted)
        if self.stop.is_set() or count <= 0:
            return b""
        self.left -= count
        return b"<" * count


def flood_big_bodies(url: str, film: str, stop: threading.Event, count: int = 4, size: int = 400 * MiB) -> str:
    return _concurrent(count, stop, lambda http: http.request(
        "PROPFIND", url + "/", data=_DeclaredBody(size, stop), headers={"Depth": "1"}, timeout=600))


FLOODS = {"none": flood_none, "silent": flood_silent, "slowloris": flood_slowloris, "dead-gets": flood_dead_gets,
          "dead-magnets": flood_dead_magnets, "big-bodies": flood_big_bodies}


def _concurrent(count: int, stop: threading.Event, request) -> str:
    """`count` clients each send one request; returns how they were answered by the time `stop` came (and 5 s)."""
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def client() -> None:
        started = time.monotonic()
        try:
            answer = request(requests.Session())
            outcome = f"{answer.status_code} in {time.monotonic() - started:.0f} s"
            answer.close()
        except requests.RequestException as exc:
            outcome = type(exc).__name__
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    stop.wait()
    deadline = time.monotonic() + 5
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    with lock:
        answered = sum(outcomes.values())
        summary = ", ".join(f"{n} x {what}" for what, n in sorted(outcomes.items()))
    return f"{summary or 'none answered'}; {count - answered} still waiting"


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def _closed(s: socket.socket) -> bool:
    s.settimeout(0.01)
    try:
        return s.recv(1 << 16) == b""
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        return True


# -- rows --------------------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def flood_row(name: str, work: Path, source: Path, dead: MadeTorrent, duration: float, label: str = "") -> None:
    server = ShippedServer(work, source)
    try:
        film = build_library(server.url, dead)
        probe = Probe(server.url, film)
        probe.start()
        time.sleep(2)  # the probe's own latency before the flood; part of the measurement, not a sync
        rss_before = server.memory_kib("VmRSS")
        stop = threading.Event()
        result: list[str] = []
        flood = threading.Thread(target=lambda: result.append(FLOODS[name](server.url, film, stop)), daemon=True)
        flood.start()
        peak, ends = rss_before, time.monotonic() + duration
        while time.monotonic() < ends:
            peak = max(peak, server.memory_kib("VmRSS"))
            time.sleep(0.5)
        stop.set()
        flood.join(60)
        probe.stop.set()
        probe.join(PROBE_TIMEOUT * 2 + 1)
        lat = probe.latencies
        failures = ", ".join(f"{n} {what}" for what, n in probe.failures.items()) or "none"
        print(f"{label}{name:13s} probe p50 {percentile(lat, .5) * 1000:7.0f} ms  p99 {percentile(lat, .99) * 1000:7.0f} ms"
              f"  max {max(lat, default=float('nan')) * 1000:7.0f} ms  ({len(lat)} answered, failures: {failures})"
              f"  RSS +{(peak - rss_before) / 1024:.0f} MiB  | flood: {result[0] if result else 'no result'}",
              flush=True)
    finally:
        server.stop()


def big_torrent_row(work: Path, source: Path, label: str = "") -> None:
    """Seconds to assign a show torrent of 10,000 files (all episodes, or 500 among 9,500 others) and of 1,000."""
    server = ShippedServer(work, source)
    try:
        shapes = {
            "10,000 episodes": {f"Huge.S{1 + n // 1000:02d}E{n % 1000 + 1:03d}.mkv": 1 for n in range(10_000)},
            "1,000 episodes (the cap)": {f"Huge.S{1 + n // 100:02d}E{n % 100 + 1:02d}.mkv": 1 for n in range(1_000)},
            "500 episodes + 9,500 others": {
                **{f"Huge.S{1 + n // 100:02d}E{n % 100 + 1:02d}.mkv": 1 for n in range(500)},
                **{f"Scans/page{n:05d}.jpg": 1 for n in range(9_500)}},
        }
        for shape, files in shapes.items():
            made = make_torrent(work / shape.replace(" ", "_").replace(",", ""), "Huge.Complete", files,
                                v1_only=True)
            show = requests.post(f"{server.url}/api/shows", json={"title": f"Huge {shape}"}, timeout=30).json()
            started = time.monotonic()
            answer = requests.post(f"{server.url}/api/shows/{show['id']}/assign", json={"torrent": made.b64},
                                   timeout=1800)
            print(f"{label}assign {shape:28s} {time.monotonic() - started:7.1f} s  -> {answer.status_code}"
                  f" {answer.json().get('error', '')[:90]}", flush=True)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds each flood lasts")
    parser.add_argument("--source", type=Path, default=ROOT, help="the checkout whose server runs")
    parser.add_argument("--baseline", type=Path, help="another checkout, run before each row in the same run")
    parser.add_argument("--rows", default=",".join([*FLOODS, "big-torrent"]))
    args = parser.parse_args()
    rows = args.rows.split(",")
    print(f"server from {args.source.resolve()}" + (f", baseline from {args.baseline.resolve()}" if args.baseline
                                                     else "") +
          f"; floods of {args.duration:.0f} s; probe every {PROBE_INTERVAL * 1000:.0f} ms", flush=True)
    runs = [("baseline  ", args.baseline), ("this      ", args.source)] if args.baseline else [("", args.source)]
    with tempfile.TemporaryDirectory(prefix="flood-") as tmp:
        work = Path(tmp)
        dead = make_torrent(work / "dead", "Dead.Film.1990.mkv", {"Dead.Film.1990.mkv": 64 * MiB},
                            piece_size=MiB, v1_only=True)
        for number, name in enumerate(rows):
            for run, (label, source) in enumerate(runs):
                row_dir = work / f"row{number}-{run}"
                row_dir.mkdir()
                if name == "big-torrent":
                    big_torrent_row(row_dir, source, label)
                else:
                    flood_row(name, row_dir, source, dead, args.duration, label)


if __name__ == "__main__":
    main()
