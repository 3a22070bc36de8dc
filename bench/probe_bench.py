"""The probe store, measured as users run the server: `momoshtrem serve` with the shipped config.yaml.

Run by hand:  .venv/bin/python bench/probe_bench.py [--files 200] [--trials 5]

A library of `--files` movies (a 20 s 720p MKV, 12 MB, each a torrent of its
own under another name) is assigned by magnet from one loopback seeder, and
the store fills in the background (the time it takes is reported). Then the
seeder is gone, and:

- cold `ffprobe -show_format -show_streams` of a file nobody has read, with no
  seeder at all, `--trials` files;
- a library scan: the first 256 KiB of every file (`Range: bytes=0-262143`,
  one client, in library order), with the files/s, the bytes the server
  downloaded and the torrents it added to its session.

Baseline in the same run: the same server with `library.probe_store_size: 0`
(no store) and the seeder at 4 MiB/s (the stream benchmark's single seeder):
the cold ffprobe, and the scan over `--baseline-files` files; and ffprobe of
the file on local disk, the floor.

Last, a stream that plays while a library is prefetched: curl reading a
38 MB film whole from a 4 MiB/s seeder, alone and while the server fills the
store for `--files` new assignments from another seeder, `--trials` each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serve import ShippedServer  # noqa: E402
from tests.helpers import MadeTorrent, Seeder, encode_clip, torrent_of, wait_until  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
PIECE = MiB
SWARM_RATE = 4 * MiB
SCAN_BYTES = 256 * 1024


def make_video(work: Path, seconds: int, ext: str) -> Path:
    return encode_clip(work / f"source{ext}", seconds, bitrate="5M", bufsize="2M")


def library_of(source: Path, count: int, work: Path, prefix: str) -> list[MadeTorrent]:
    """`count` torrents of the same bytes under other names (hard links: no disk, distinct info-hashes)."""
    made = []
    for n in range(count):
        folder = work / f"{prefix}{n:04d}"
        folder.mkdir(parents=True)
        name = f"{prefix.capitalize()}.{n:04d}.2001{source.suffix}"
        os.link(source, folder / name)
        made.append(torrent_of(folder, name, PIECE, v1_only=True))
    return made


def title(made: MadeTorrent) -> str:
    return next(iter(made.files)).rsplit(".", 2)[0].replace(".", " ")


def assign_all(server: ShippedServer, seeder: Seeder, library: list[MadeTorrent]) -> list[int]:
    ids = []
    with requests.Session() as http:
        for made in library:
            seeder.seed(made)
            movie = http.post(server.url + "/api/movies", json={"title": title(made), "year": 2001}).json()
            answer = http.post(f"{server.url}/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(made)},
                               timeout=120)
            assert answer.ok, answer.text
            ids.append(movie["id"])
    return ids


def probe_states(server: ShippedServer) -> dict[str, int]:
    counts: dict[str, int] = {}
    offset = 0
    while True:
        page = requests.get(f"{server.url}/api/movies?limit=1000&offset={offset}", timeout=30).json()
        for movie in page:
            state = (movie["assignment"] or {}).get("probe") or {"state": "off"}
            counts[state["state"]] = counts.get(state["state"], 0) + 1
        if len(page) < 1000:
            return counts
        offset += 1000


def shipped_server(work: Path, env: dict[str, str] | None = None) -> ShippedServer:
    work.mkdir(parents=True, exist_ok=True)
    return ShippedServer(work, ROOT, env)


def url_of(server: ShippedServer, made: MadeTorrent) -> str:
    ext = Path(next(iter(made.files))).suffix
    return server.url + quote(f"/Movies/{title(made)} (2001)/{title(made)} (2001){ext}")


def torrents_in_session(server: ShippedServer) -> tuple[int, int]:
    """(torrents in the session, bytes of torrent data on disk)."""
    torrents = requests.get(f"{server.url}/api/torrents?limit=1000", timeout=30).json()
    return sum(1 for t in torrents if t["in_session"]), sum(t["bytes_on_disk"] for t in torrents)


def timed_ffprobe(target: str) -> float:
    started = time.perf_counter()
    subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", target], check=True,
                   capture_output=True, timeout=300)
    return time.perf_counter() - started


def scan(server: ShippedServer, library: list[MadeTorrent]) -> float:
    """Files per second reading the first 256 KiB of each, in order, on one keep-alive connection."""
    started = time.perf_counter()
    with requests.Session() as http:
        for made in library:
            answer = http.get(url_of(server, made), headers={"Range": f"bytes=0-{SCAN_BYTES - 1}"}, timeout=300)
            assert answer.status_code == 206 and len(answer.content) == SCAN_BYTES, answer.status_code
    return len(library) / (time.perf_counter() - started)


def spread(values: list[float], unit: str = "s", digits: int = 3) -> str:
    return (f"{statistics.median(values):.{digits}f} {unit} (range {min(values):.{digits}f}-{max(values):.{digits}f}, "
            f"{len(values)} trials)")


def with_store(work: Path, source: Path, files: int, trials: int) -> None:
    library = library_of(source, files, work / "library", "film")
    seeder = Seeder()
    server = shipped_server(work / "store")
    try:
        started = time.perf_counter()
        assign_all(server, seeder, library)
        assigned = time.perf_counter() - started
        wait_until(lambda: probe_states(server).get("pending", 0) == 0, 3600, "the store to fill", interval=1)
        filled = time.perf_counter() - started
        states = probe_states(server)
        store_bytes = sum(p.stat().st_size for p in (work / "store" / "data" / "probes").rglob("*.probe"))
        print(f"\n## with the probe store (shipped config): {files} files of {source.stat().st_size / 1e6:.1f} MB")
        print(f"assigned in {assigned:.1f} s; store filled {filled:.1f} s after the first assignment: {states}, "
              f"{store_bytes / files / MiB:.2f} MiB a file")
        wait_until(lambda: torrents_in_session(server)[0] == 0, 120, "the fetches to leave the session", interval=0.5)
        seeder.close()
        _, on_disk_before = torrents_in_session(server)
        probes = [timed_ffprobe(url_of(server, made)) for made in library[:trials]]
        print(f"cold ffprobe, no seeder at all: {spread([t * 1000 for t in probes], 'ms', 1)}")
        rate = scan(server, library)
        in_session, on_disk = torrents_in_session(server)
        print(f"scan of {files} files (first 256 KiB each): {rate:.0f} files/s, {in_session} torrents added to the "
              f"session, {(on_disk - on_disk_before) / 1e6:.1f} MB downloaded")
    finally:
        server.stop()
        seeder.close()


def without_store(work: Path, source: Path, files: int, trials: int) -> None:
    library = library_of(source, max(files, trials), work / "baseline", "plain")
    seeder = Seeder(upload_rate=SWARM_RATE)
    server = shipped_server(work / "nostore", env={"MOMOSHTREM_LIBRARY_PROBE_STORE_SIZE": "0"})
    try:
        assign_all(server, seeder, library)
        probes = [timed_ffprobe(url_of(server, made)) for made in library[:trials]]
        print(f"\n## baseline: no probe store, one seeder at {SWARM_RATE // MiB} MiB/s")
        print(f"cold ffprobe from the swarm: {spread([t * 1000 for t in probes], 'ms', 1)}")
        rest = library[trials:trials + files] if len(library) >= trials + files else library[:files]
        rate = scan(server, rest)
        in_session, on_disk = torrents_in_session(server)
        print(f"scan of {len(rest)} files (first 256 KiB each): {rate:.1f} files/s, {in_session} torrents in the "
              f"session, {on_disk / 1e6:.1f} MB downloaded in all (the ffprobes' included)")
        local = [timed_ffprobe(str(source)) for _ in range(trials)]
        print(f"floor, ffprobe of the file on local disk: {spread([t * 1000 for t in local], 'ms', 1)}")
    finally:
        server.stop()
        seeder.close()


def stream_while_prefetching(work: Path, film: Path, small: Path, files: int, trials: int) -> None:
    """curl's rate reading a film whole from a 4 MiB/s seeder, alone and while a library's probes are fetched."""
    rates: dict[str, list[float]] = {"alone": [], "while prefetching": []}
    for trial in range(trials):
        for case in rates:
            folder = work / f"stream-{trial}-{case.replace(' ', '-')}"
            films = library_of(film, 1, folder / "film", "feature")
            library = library_of(small, files, folder / "library", "extra") if case != "alone" else []
            slow, fast = Seeder(upload_rate=SWARM_RATE), Seeder()
            server = shipped_server(folder / "server")
            try:
                assign_all(server, slow, films)
                # The film's own probe is stored first in both cases, so both read the same bytes from the swarm.
                wait_until(lambda: probe_states(server).get("stored", 0) == 1, 300, "the film's probe", interval=0.2)
                filling = threading.Thread(target=assign_all, args=(server, fast, library))
                filling.start()
                if library:  # the store is busy before the stream starts
                    wait_until(lambda: probe_states(server).get("stored", 0) >= 3, 300, "prefetching", interval=0.2)
                out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                                      url_of(server, films[0])], check=True, capture_output=True, text=True,
                                     timeout=600).stdout.split()
                rates[case].append(int(out[0]) / float(out[1]) / 1e6)
                filling.join()
            finally:
                server.stop()
                slow.close()
                fast.close()
    print(f"\n## a stream while {files} assignments are prefetched: curl reading {film.stat().st_size / 1e6:.0f} MB "
          f"from a {SWARM_RATE // MiB} MiB/s seeder")
    for case, values in rates.items():
        print(f"{case:18} {spread(values, 'MB/s', 2)}")
    print(f"ratio {statistics.median(rates['while prefetching']) / statistics.median(rates['alone']):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--baseline-files", type=int, default=20)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--no-stream", action="store_true", help="leave out the stream-while-prefetching rows")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        small = make_video(work, 20, ".mkv")
        without_store(work, small, args.baseline_files, args.trials)
        with_store(work, small, args.files, args.trials)
        if not args.no_stream:
            film = make_video(work, 60, ".mp4")
            stream_while_prefetching(work, film, small, args.files, max(3, args.trials // 2))


if __name__ == "__main__":
    main()
