"""The command line: `serve` as a real process, and the client commands against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from momoshtrem.cli.main import main
from tests.helpers import LOOPBACK_ENV, free_port, healthy, wait_until

REPO = Path(__file__).resolve().parent.parent


def cli(capsys, server, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*args, "--server", server.url])
    out, err = capsys.readouterr()
    return code, out, err


def test_movie_commands(capsys, server, torrent_factory):
    code, out, _ = cli(capsys, server, "movie", "add", "Heat", "--year", "1995")
    assert code == 0 and "added Heat (1995) with id 1" in out
    code, out, _ = cli(capsys, server, "movie", "list")
    assert code == 0 and "Heat" in out and "1995" in out and "id" in out.splitlines()[0]

    made = torrent_factory("Heat.1995.1080p.BluRay", {"Heat.1995.1080p.BluRay.mkv": 50_000})
    torrent_path = made.root / "heat.torrent"
    torrent_path.write_bytes(made.data)
    code, out, _ = cli(capsys, server, "assign", "movie", "1", str(torrent_path))
    assert code == 0 and "Heat.1995.1080p.BluRay.mkv" in out and made.info_hash in out

    code, out, _ = cli(capsys, server, "movie", "list", "--json")
    movies = json.loads(out)
    assert movies[0]["assignment"]["info_hash"] == made.info_hash

    code, out, _ = cli(capsys, server, "ls", "-R")
    assert code == 0
    assert "/Movies/Heat (1995)/Heat (1995).mkv" in out and "50,000" in out

    code, out, _ = cli(capsys, server, "ls", "/Movies", "--json")
    assert json.loads(out) == [{"path": "/Movies/Heat (1995)/", "size": 0, "folder": True}]

    assert cli(capsys, server, "unassign", "movie", "1")[0] == 0
    assert cli(capsys, server, "movie", "rm", "1")[0] == 0
    assert json.loads(cli(capsys, server, "movie", "list", "--json")[1]) == []


def test_show_commands(capsys, server, torrent_factory):
    assert cli(capsys, server, "show", "add", "Show", "--year", "2020")[0] == 0
    made = torrent_factory("Show.S01", {"Show.S01E01.mkv": 1000, "Show.S01E02.mkv": 1000, "x.nfo": 5})
    path = made.root / "show.torrent"
    path.write_bytes(made.data)
    code, out, _ = cli(capsys, server, "assign", "show", "1", str(path))
    assert code == 0 and "S01E01" in out and "S01E02" in out and "not_video" in out
    code, out, _ = cli(capsys, server, "show", "get", "1")
    assert code == 0 and "Show (2020)" in out and "S01E02" in out
    code, out, _ = cli(capsys, server, "show", "list", "--json")
    assert json.loads(out)[0]["assigned_episodes"] == 2
    episode_id = json.loads(cli(capsys, server, "show", "get", "1", "--json")[1])["seasons"][0]["episodes"][0]["id"]
    assert cli(capsys, server, "unassign", "episode", str(episode_id))[0] == 0
    assert cli(capsys, server, "show", "rm", "1")[0] == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["movie", "get", "42"], "no movie with id 42"),
        (["movie", "add"], "give a TITLE"),
        (["assign", "movie", "1", "/nonexistent.torrent"], "cannot read /nonexistent.torrent"),
        (["assign", "movie", "1", "abc"], "cannot read abc"),
        (["show", "add", "X", "--tmdb", "5", "--seasons", "a,b"], "--seasons"),
        (["ls", "/Nowhere"], "no such folder"),
    ],
)
def test_failures_exit_non_zero_with_one_line(capsys, server, args, message):
    code, out, err = cli(capsys, server, *args)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_unreachable_server(capsys):
    code = main(["movie", "list", "--server", "http://127.0.0.1:9"])
    _, err = capsys.readouterr()
    assert code == 1 and "cannot reach a momoshtrem server" in err


def test_serve_runs_with_shipped_config_and_environment_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {**os.environ, **LOOPBACK_ENV, "MOMOSHTREM_SERVER_PORT": str(port), "MOMOSHTREM_LOGGING_LEVEL": "debug"}
    process = subprocess.Popen(
        [sys.executable, "-m", "momoshtrem", "serve", "-c", str(REPO / "config.yaml")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: healthy(url) or process.poll() is not None, 30, "the server to answer")
        assert process.poll() is None
        assert (tmp_path / "data" / "library.db").exists()  # the default ./data, relative to where it started
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert "serving on" in process.stdout.read()


def test_serve_with_a_bad_config_fails_naming_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  prot: 1\n")
    result = subprocess.run([sys.executable, "-m", "momoshtrem", "serve", "-c", str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "server.prot" in result.stderr


def test_torrent_commands_and_magnet_assignment(capsys, server, seeder, torrent_factory):
    made = torrent_factory("Heat.1995.720p", {"Heat.1995.720p.mkv": 300_000}, piece_size=65536)
    seeder.seed(made)
    assert cli(capsys, server, "movie", "add", "Heat", "--year", "1995")[0] == 0
    code, out, _ = cli(capsys, server, "assign", "movie", "1", seeder.magnet(made))
    assert code == 0 and made.info_hash in out

    code, out, _ = cli(capsys, server, "torrents")
    assert code == 0 and made.info_hash in out and "inactive" in out
    assert requests.get(server.url + "/Movies/Heat%20(1995)/Heat%20(1995).mkv", timeout=30).status_code == 200
    code, out, _ = cli(capsys, server, "torrents", "get", made.info_hash, "--json")
    assert json.loads(out)["in_session"] is True
    code, out, _ = cli(capsys, server, "torrents", "pause", made.info_hash)
    assert code == 0 and "paused" in out

    code, _, err = cli(capsys, server, "torrents", "rm", made.info_hash)  # no terminal to confirm on
    assert code == 1 and "--yes" in err
    code, out, _ = cli(capsys, server, "torrents", "rm", made.info_hash, "--yes")
    assert code == 0 and "1 assignments" in out
    assert json.loads(cli(capsys, server, "torrents", "--json")[1]) == []


def test_magnet_without_peers_shows_progress_then_fails(capsys, server):
    magnet = "magnet:?xt=urn:btih:" + "b" * 40
    assert cli(capsys, server, "show", "add", "Nobody", "--year", "2001")[0] == 0
    code, out, err = cli(capsys, server, "assign", "show", "1", magnet)
    assert code == 1 and out == ""
    assert "fetching metadata" in err and "0 peers" in err
    assert err.strip().splitlines()[-1].startswith("error: no metadata for " + "b" * 40)
    assert json.loads(cli(capsys, server, "torrents", "--json")[1]) == []
