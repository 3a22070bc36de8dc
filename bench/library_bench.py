"""Large libraries: listing, API and memory at 500 to 8,000 movies and 2,000 to 8,000 episodes.

Run by hand:  .venv/bin/python bench/library_bench.py [--sizes 500,2000,8000] [--episodes 2000,8000]
                                                      [--source DIR] [--trials 7] [--clients 20]

Each size gets a fresh database, filled through the library's own store (no
hashing: the `.torrent` dictionaries are written directly, with any piece
hashes; listing never reads data), then a `momoshtrem serve` process on the
shipped config.yaml (only the loopback switches changed) reading it. Measured,
medians of `--trials`:
- PROPFIND Depth 1 of /Movies/ (or of a season folder for episodes): the first
  after the server starts (cold) and the next ones (warm), and the answer's size;
- a write that changes the share (unassign and assign again one movie through the
  API), the first HEAD of another film after it, and the first PROPFIND of /Movies/;
- `GET /api/movies` and `GET /api/torrents` (their first page), and
  `momoshtrem movie list` (every page);
- `--clients` threads listing /Movies/ for 10 s: requests/s, p50, p99; the
  server's VmHWM after it.
It prints one table per size and the growth exponent between sizes (1.0:
linear). `--baseline DIR` measures another checkout's server before each size,
in the same run (`git worktree add /tmp/before <commit>`); `--source DIR`
replaces this one.
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # after PYTHONPATH: `--source` decides which momoshtrem builds and serves

from bench.serve import ShippedServer  # noqa: E402

PIECE = 4 * 1024 * 1024


# -- building (runs in a child process, with the checkout under test on its path) ---------------------------

def torrent_bytes(name: str, files: list[tuple[str, int]]) -> bytes:
    import libtorrent as lt

    pieces = max(1, sum(size for _, size in files) // PIECE + 1)
    info: dict = {b"name": name.encode(), b"piece length": PIECE, b"pieces": os.urandom(20) * pieces}
    if len(files) == 1:
        info[b"length"] = files[0][1]
    else:
        info[b"files"] = [{b"length": size, b"path": [part.encode() for part in path.split("/")]}
                          for path, size in files]
    return lt.bencode({b"info": info})


def build(database: str, movies: int, episodes: int) -> None:
    from momoshtrem.library.db import Database
    from momoshtrem.library.store import EpisodeAssignment, Library
    from momoshtrem.torrent.metainfo import parse_torrent

    library = Library(Database(database))
    for n in range(movies):
        name = f"Movie.Number.{n:05d}.{1950 + n % 70}.1080p.BluRay.x264.mkv"
        meta = parse_torrent(torrent_bytes(name, [(name, 2_000_000_000 + n)]))
        movie = library.add_movie(f"Movie Number {n:05d}", 1950 + n % 70)
        library.assign_movie(movie.id, meta, EpisodeAssignment(0, 0, 0, name, 2_000_000_000 + n, "1080p", "BluRay"))
    for show_number in range(episodes // 100):  # shows of 5 seasons x 20 episodes
        show = library.add_show(f"Show Number {show_number:03d}", 2000 + show_number % 20)
        for season in range(1, 6):
            files = [(f"S{season:02d}/Show.{show_number:03d}.S{season:02d}E{e:02d}.mkv", 500_000_000 + e)
                     for e in range(1, 21)]
            meta = parse_torrent(torrent_bytes(f"Show.{show_number:03d}.S{season:02d}", files))
            wanted = [EpisodeAssignment(season, e, e - 1, f"Show.{show_number:03d}.S{season:02d}/{path}",
                                        size, "720p", "WEB-DL") for e, (path, size) in enumerate(files, 1)]
            library.assign_episodes(show.id, meta, wanted, create_missing=True)
    library.db.close()


# -- measuring -------------------------------------------------------------------------------------------

def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def propfind(http: requests.Session, url: str) -> requests.Response:
    answer = http.request("PROPFIND", url, headers={"Depth": "1"}, timeout=120)
    assert answer.status_code == 207, answer.status_code
    return answer


def load(url: str, clients: int, seconds: float) -> tuple[float, float, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        http = requests.Session()
        while time.monotonic() < stop:
            took, _ = timed(lambda: propfind(http, url))
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    return len(ordered) / seconds, ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(.99 * len(ordered)))]


def measure(label: str, work: Path, source: Path, movies: int, episodes: int, trials: int, clients: int) -> dict:
    database = work / "library.db"
    env = {**os.environ, "PYTHONPATH": str(source)}
    subprocess.run([sys.executable, __file__, "--build", str(database), "--movies", str(movies),
                    "--episodes", str(episodes)], check=True, env=env)
    server = ShippedServer(work, source, {"MOMOSHTREM_LIBRARY_DATABASE": str(database)})
    figures: dict = {}
    try:
        http = requests.Session()
        folder = (f"{server.url}/Movies/" if movies else
                  f"{server.url}/TV%20Shows/Show%20Number%20000%20(2000)/Season%2001/")
        listing = server.url + ("/Movies/" if movies else "/TV%20Shows/")
        figures["PROPFIND cold"], first = timed(lambda: propfind(http, listing))
        figures["PROPFIND"] = median(timed(lambda: propfind(http, listing))[0] for _ in range(trials))
        figures["answer KB"] = len(first.content) / 1000
        if movies:
            movie_id = 1
            writes, heads, reads = [], [], []
            for _ in range(trials):
                meta_torrent = base64.b64encode(torrent_bytes("Movie.Number.00000.1950.1080p.BluRay.x264.mkv", [(
                    "Movie.Number.00000.1950.1080p.BluRay.x264.mkv", 2_000_000_000)])).decode()
                took, _ = timed(lambda: http.delete(f"{server.url}/api/movies/{movie_id}/assign", timeout=120))
                took2, answer = timed(lambda: http.post(f"{server.url}/api/movies/{movie_id}/assign",
                                                        json={"torrent": meta_torrent}, timeout=120))
                assert answer.status_code == 200, answer.text
                writes.append((took + took2) / 2)
                heads.append(timed(lambda: http.head(server.url + "/Movies/Movie%20Number%2000001%20(1951)/"
                                                     "Movie%20Number%2000001%20(1951).mkv", timeout=120))[0])
                reads.append(timed(lambda: propfind(http, listing))[0])
            figures["write (share changes)"] = median(writes)
            figures["first HEAD after it"] = median(heads)
            figures["first PROPFIND after it"] = median(reads)
        else:
            figures["season PROPFIND"] = median(timed(lambda: propfind(http, folder))[0] for _ in range(trials))
        for name, path in (("GET /api/movies", "/api/movies"), ("GET /api/torrents", "/api/torrents")):
            figures[name] = median(timed(lambda: http.get(server.url + path, timeout=120))[0] for _ in range(trials))
        figures["movie list (CLI)"] = median(timed(lambda: subprocess.run(
            [sys.executable, "-m", "momoshtrem", "movie", "list", "--server", server.url], env=server.env,
            stdout=subprocess.DEVNULL, check=True))[0] for _ in range(3))
        rate, p50, p99 = load(listing, clients, 10.0)
        figures[f"{clients} clients req/s"], figures["p50 ms"], figures["p99 ms"] = rate, p50, p99
        figures["VmHWM MiB"] = server.memory_kib("VmHWM") / 1024
    finally:
        server.stop()
    print(f"\n{label}:", flush=True)
    for name, value in figures.items():
        print(f"  {name:26s} {value:10.1f}", flush=True)
    return figures


def growth(sizes: list[int], results: list[dict]) -> None:
    for (n1, a), (n2, b) in zip(zip(sizes, results), list(zip(sizes, results))[1:]):
        print(f"\ngrowth exponent {n1} -> {n2} (1.0 is linear):")
        for name in a:
            if a[name] > 0 and b.get(name, 0) > 0 and "req/s" not in name:
                print(f"  {name:26s} {math.log(b[name] / a[name]) / math.log(n2 / n1):6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,2000,8000", help="movie counts")
    parser.add_argument("--episodes", default="2000,8000", help="episode counts (multiples of 100)")
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--source", type=Path, default=ROOT)
    parser.add_argument("--baseline", type=Path, help="another checkout, measured before each size in the same run")
    parser.add_argument("--build", help=argparse.SUPPRESS)
    parser.add_argument("--movies", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(args.build, args.movies, int(args.episodes))
        return
    print(f"server from {args.source.resolve()}" + (f", baseline from {args.baseline.resolve()}" if args.baseline
                                                     else ""), flush=True)
    with tempfile.TemporaryDirectory(prefix="library-bench-") as tmp:
        for kind, counts in (("movies", args.sizes), ("episodes", args.episodes)):
            sizes = [int(n) for n in counts.split(",") if n]
            results = []
            for size in sizes:
                movies, episodes = (size, 0) if kind == "movies" else (0, size)
                if args.baseline:
                    work = Path(tmp) / f"baseline-{kind}{size}"
                    work.mkdir()
                    measure(f"baseline, {size} {kind}", work, args.baseline, movies, episodes, args.trials,
                            args.clients)
                work = Path(tmp) / f"{kind}{size}"
                work.mkdir()
                results.append(measure(f"{size} {kind}", work, args.source, movies, episodes, args.trials,
                                       args.clients))
            growth(sizes, results)


if __name__ == "__main__":
    main()
