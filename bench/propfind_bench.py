"""PROPFIND Depth 1 of a season folder with 500 episodes, against a real server on loopback.

Run by hand:  .venv/bin/python bench/propfind_bench.py
Prints the median (and min/max) over several runs of: the root folder (the
baseline, two entries), the 500-episode season, and a HEAD of one episode,
plus the database queries one cold listing issues.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import libtorrent as lt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from momoshtrem.config import Config  # noqa: E402
from momoshtrem.library.assign import Assigner  # noqa: E402
from momoshtrem.server import Server  # noqa: E402
from momoshtrem.torrent.metainfo import parse_torrent  # noqa: E402

EPISODES = 500
RUNS = 21


def make_season_torrent(base: Path) -> bytes:
    root = base / "Big.Show.S01.1080p.WEB-DL"
    root.mkdir(parents=True)
    for n in range(1, EPISODES + 1):
        (root / f"Big.Show.S01E{n:03d}.1080p.WEB-DL.mkv").write_bytes(n.to_bytes(4, "big") * 256)
    creator = lt.create_torrent(lt.list_files(str(root)), 16384, lt.create_torrent.v1_only)
    lt.set_piece_hashes(creator, str(base))
    return lt.bencode(creator.generate())


def timed(session: requests.Session, method: str, url: str, headers: dict, expect: int) -> float:
    start = time.perf_counter()
    response = session.request(method, url, headers=headers)
    elapsed = time.perf_counter() - start
    assert response.status_code == expect, response.status_code
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = Config()
        config.server.port = 0
        config.library.database = f"{tmp}/library.db"
        server = Server(config)
        show = server.library.add_show("Big Show", 2020)
        report = Assigner(server.library).assign_show(show.id, parse_torrent(make_season_torrent(Path(tmp))))
        assert len(report.matched) == EPISODES
        server.start()
        session = requests.Session()
        season = server.url + quote("/TV Shows/Big Show (2020)/Season 01/")
        episode = server.url + quote("/TV Shows/Big Show (2020)/Season 01/Big Show - S01E250 - Episode 250.mkv")

        statements: list[str] = []
        server.library.db.connection().set_trace_callback(statements.append)
        server.trees.tree()  # the one rebuild after the writes above, on this thread so it is traced
        server.library.db.connection().set_trace_callback(None)

        cases = {
            "PROPFIND Depth 1 /  (baseline, 2 entries)": ("PROPFIND", server.url + "/", {"Depth": "1"}, 207),
            f"PROPFIND Depth 1 season ({EPISODES} episodes)": ("PROPFIND", season, {"Depth": "1"}, 207),
            "HEAD one episode": ("HEAD", episode, {}, 200),
        }
        results = {}
        for name, (method, url, headers, expect) in cases.items():
            timed(session, method, url, headers, expect)  # warm the connection
            results[name] = [timed(session, method, url, headers, expect) for _ in range(RUNS)]
        server.stop()

    baseline = statistics.median(next(iter(results.values())))
    print(f"{'case':48} {'median':>9} {'min':>9} {'max':>9} {'x baseline':>11}")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:48} {median * 1000:8.1f}ms {min(samples) * 1000:8.1f}ms {max(samples) * 1000:8.1f}ms "
              f"{median / baseline:10.1f}x")
    print(f"database statements for one tree build over {EPISODES} episodes: {len(statements)}")


if __name__ == "__main__":
    main()
