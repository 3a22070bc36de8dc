"""The share as its clients use it: rclone for real, Finder and Infuse as faithful replays.

Every multistatus answer is parsed as XML. The torrents come from a real
seeder on 127.0.0.1, so every byte a test reads went through the swarm.
"""

from __future__ import annotations

import email.utils
import os
import shutil
import subprocess
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.dav import parse_multistatus
from tests.helpers import MadeTorrent, RunningServer, Seeder, make_torrent, wait_until

MOVIE_DIR = "/Movies/Heat (1995)"
MOVIE_FILE = f"{MOVIE_DIR}/Heat (1995).mkv"
SEASON_DIR = "/TV Shows/Show (2020)/Season 01"
EPISODE_FILE = f"{SEASON_DIR}/Show - S01E01 - Episode 1.mp4"
MOVIE_SIZE = 3_000_000
RCLONE_ENV = {"RCLONE_CONFIG": "/dev/null", "PATH": "/usr/bin:/bin"}
FINDER_PROPS = (b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
                b"<D:getlastmodified/><D:getcontentlength/><D:creationdate/><D:resourcetype/>"
                b"</D:prop></D:propfind>")
needs_rclone = pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed (.ci/run installs it)")


@pytest.fixture
def shared(server: RunningServer, seeder: Seeder, torrent_factory) -> dict[str, MadeTorrent]:
    """A movie and a 2-episode show, assigned by magnet from a real local seeder."""
    movie = server.api("POST", "/api/movies", json={"title": "Heat", "year": 1995}).json()
    movie_torrent = torrent_factory("Heat.1995.1080p", {"Heat.1995.1080p.mkv": MOVIE_SIZE}, v1_only=True)
    seeder.seed(movie_torrent)
    assert server.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(movie_torrent)}).ok
    show = server.api("POST", "/api/shows", json={"title": "Show", "year": 2020}).json()
    show_torrent = torrent_factory("Show.S01", {"Show.S01E01.mp4": 400_000, "Show.S01E02.mkv": 500_000}, v1_only=True)
    seeder.seed(show_torrent)
    assert server.api("POST", f"/api/shows/{show['id']}/assign", json={"source": seeder.magnet(show_torrent)}).ok
    return {"movie": movie_torrent, "show": show_torrent}


def source_bytes(made: MadeTorrent, name: str) -> bytes:
    path = made.root / name if name in made.files else made.root / next(iter(made.files)).split("/")[0] / name
    return path.read_bytes()


def torrents_in_session(server: RunningServer) -> int:
    return len(server.server.engine.session.get_torrents())


def propfind(server: RunningServer, path: str, depth: str, body: bytes | None = None, **headers) -> dict:
    response = server.dav("PROPFIND", quote(path), data=body,
                          headers={"Depth": depth, **({"Content-Type": "application/xml"} if body else {}), **headers})
    assert response.status_code == 207, response.text
    return parse_multistatus(response.content)


# -- HTTP details ---------------------------------------------------------------------------


def test_ranges_answer_206_with_exact_bytes_and_a_length(server, shared):
    url = server.url + quote(MOVIE_FILE)
    data = source_bytes(shared["movie"], "Heat.1995.1080p.mkv")
    for spec, start, end in (("bytes=0-99", 0, 99), ("bytes=1000000-", 1_000_000, MOVIE_SIZE - 1),
                             ("bytes=-500", MOVIE_SIZE - 500, MOVIE_SIZE - 1),
                             ("bytes=2999990-4000000", 2_999_990, MOVIE_SIZE - 1)):
        response = requests.get(url, headers={"Range": spec}, timeout=60)
        assert response.status_code == 206, spec
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{MOVIE_SIZE}"
        assert int(response.headers["Content-Length"]) == end - start + 1
        assert "chunked" not in response.headers.get("Transfer-Encoding", "")
        assert response.content == data[start:end + 1], spec


def test_unsatisfiable_range_is_416_with_the_size(server, shared):
    response = requests.get(server.url + quote(MOVIE_FILE), headers={"Range": f"bytes={MOVIE_SIZE}-"}, timeout=30)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{MOVIE_SIZE}"


def test_multi_range_is_answered_with_its_first_range(server, shared):
    response = requests.get(server.url + quote(MOVIE_FILE), headers={"Range": "bytes=10-19, 5000-5009"}, timeout=60)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 10-19/{MOVIE_SIZE}"
    assert response.content == source_bytes(shared["movie"], "Heat.1995.1080p.mkv")[10:20]


def test_head_has_length_type_ranges_and_starts_nothing(server, shared):
    response = requests.head(server.url + quote(MOVIE_FILE), timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(MOVIE_SIZE)
    assert response.headers["Content-Type"] == "video/x-matroska"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert torrents_in_session(server) == 0


def test_if_range_and_conditional_gets(server, shared):
    url = server.url + quote(MOVIE_FILE)
    head = requests.head(url, timeout=30)
    etag, modified = head.headers["ETag"], head.headers["Last-Modified"]
    assert requests.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}, timeout=60).status_code == 206
    stale = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": '"not-the-etag"'}, timeout=60)
    assert stale.status_code == 200 and len(stale.content) == MOVIE_SIZE  # changed: the whole file
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    assert requests.get(url, headers={"If-Modified-Since": modified}, timeout=30).status_code == 304
    later = email.utils.format_datetime(email.utils.parsedate_to_datetime(modified).replace(year=1999), usegmt=True)
    assert requests.get(url, headers={"If-Modified-Since": later, "Range": "bytes=0-0"}, timeout=60).status_code == 206


def test_folders_are_unmistakably_collections(server, shared):
    for path in ("/", "/Movies", SEASON_DIR):
        entry = propfind(server, path, "0")[path.rstrip("/")]
        assert entry.is_collection
        assert entry.props["getcontentlength"] == "0" and entry.props["iscollection"] == "1"
    season = propfind(server, SEASON_DIR, "1")
    episode = season[EPISODE_FILE]
    assert not episode.is_collection and "iscollection" not in episode.props
    assert episode.props["getcontenttype"] == "video/mp4" and episode.props["getcontentlength"] == "400000"


def test_request_log_says_what_the_player_asked_for(server, shared, caplog):
    caplog.set_level("DEBUG", logger="momoshtrem.requests")
    requests.get(server.url + quote(MOVIE_FILE), headers={"Range": "bytes=0-99", "User-Agent": "Infuse/7.0"},
                 timeout=60)

    def logged() -> bool:  # written when the server closes the response, maybe after the client has it
        lines = [r.getMessage() for r in caplog.records if r.name == "momoshtrem.requests"]
        return any(line.startswith(f"GET {MOVIE_FILE} range=bytes=0-99 -> 206 100 bytes") and '"Infuse/7.0"' in line
                   for line in lines)

    wait_until(logged, 10, "the request's log line")


# -- Finder -----------------------------------------------------------------------------------


def test_finder_connect_and_browse_replay(server, shared):
    """The requests WebDAVFS sends on "Connect to Server" and opening a folder, in order."""
    finder = {"User-Agent": "WebDAVFS/3.0.0 (03008000) Darwin/22.1.0 (arm64)"}
    options = server.dav("OPTIONS", "/", headers=finder)
    assert options.status_code == 200 and options.headers["DAV"].split(",")[0].strip() == "1"
    assert "LOCK" not in options.headers.get("Allow", "")  # class 1: Finder mounts it read-only

    root = propfind(server, "/", "0", FINDER_PROPS, **finder)
    assert root[""].is_collection
    for probe in ("/._.", "/.DS_Store", "/.localized", "/.hidden", "/.Spotlight-V100", "/mach_kernel",
                  "/Backups.backupdb", "/Movies/._Heat (1995)", "/Movies/.DS_Store"):
        for method in ("PROPFIND", "HEAD", "GET"):
            response = server.dav(method, quote(probe), headers={"Depth": "0", **finder})
            assert response.status_code == 404, (method, probe)
    listing = propfind(server, "/", "1", FINDER_PROPS, **finder)
    assert {"/.metadata_never_index", "/.ql_disablethumbnails", "/Movies", "/TV Shows"} <= set(listing)
    for marker in ("/.metadata_never_index", "/.ql_disablethumbnails"):
        assert listing[marker].props["getcontentlength"] == "0"
        response = server.dav("GET", marker, headers=finder)
        assert response.status_code == 200 and response.content == b""
    movies = propfind(server, "/Movies", "1", FINDER_PROPS, **finder)
    assert movies[MOVIE_DIR].is_collection
    movie = propfind(server, MOVIE_DIR, "1", FINDER_PROPS, **finder)[MOVIE_FILE]
    assert movie.props["getcontentlength"] == str(MOVIE_SIZE)
    email.utils.parsedate_to_datetime(movie.props["getlastmodified"])
    assert server.dav("PROPFIND", quote(f"{MOVIE_DIR}/._Heat (1995).mkv"), headers={"Depth": "0"}).status_code == 404
    assert torrents_in_session(server) == 0


# -- Infuse -----------------------------------------------------------------------------------


def test_infuse_browse_and_play_replay(server, shared):
    """Depth-1 browsing, HEAD, then Infuse's play pattern from a cold torrent: start, end, main read, two at once."""
    infuse = {"User-Agent": "Infuse/7.6.4"}
    for path in ("/", "/Movies", MOVIE_DIR):
        for entry in propfind(server, path, "1", **infuse).values():
            assert entry.props["getlastmodified"] and ("getcontenttype" in entry.props or entry.is_collection)
    assert server.dav("HEAD", quote(MOVIE_FILE), headers=infuse).status_code == 200
    assert torrents_in_session(server) == 0

    url = server.url + quote(MOVIE_FILE)
    data = source_bytes(shared["movie"], "Heat.1995.1080p.mkv")

    def ranged(start: int, end: int) -> bytes:
        response = requests.get(url, headers={"Range": f"bytes={start}-{end}", **infuse}, timeout=60)
        assert response.status_code == 206
        return response.content

    assert ranged(0, 65535) == data[:65536]  # container header
    assert ranged(MOVIE_SIZE - 131072, MOVIE_SIZE - 1) == data[-131072:]  # index at the end
    results: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda: results.__setitem__("main", ranged(65536, MOVIE_SIZE - 1))),
               threading.Thread(target=lambda: results.__setitem__("second", ranged(1_500_000, 1_600_000)))]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=120)
    assert results["main"] == data[65536:]
    assert results["second"] == data[1_500_000:1_600_001]


def test_library_scan_replay_adds_no_torrent_and_downloads_nothing(server, tmp_path):
    """Infuse's scanner over 200 items: PROPFIND of every folder, HEAD of every file."""
    for n in range(200):
        movie = server.api("POST", "/api/movies", json={"title": f"Film {n}", "year": 1950 + n % 70}).json()
        made = make_torrent(tmp_path / f"m{n}", f"Film.{n}.mkv", {f"Film.{n}.mkv": 1000 + n})
        assert server.api("POST", f"/api/movies/{movie['id']}/assign", json={"torrent": made.b64}).ok
    heads = 0
    folders = ["/"]
    while folders:
        folder = folders.pop()
        for path, entry in propfind(server, folder, "1").items():
            if path == folder.rstrip("/"):
                continue
            if entry.is_collection:
                folders.append(path)
            elif not path.rsplit("/", 1)[-1].startswith("."):
                assert server.dav("HEAD", quote(path)).status_code == 200
                heads += 1
    assert heads == 200
    assert torrents_in_session(server) == 0
    assert not any(Path(server.config.torrent.data_dir).rglob("*.mkv"))


# -- rclone -----------------------------------------------------------------------------------


@needs_rclone
def test_rclone_cat_at_offsets(server, shared):
    data = source_bytes(shared["movie"], "Heat.1995.1080p.mkv")
    for offset, count in ((0, 1000), (1_234_567, 65536), (MOVIE_SIZE - 777, 777), (2_000_000, 1)):
        result = subprocess.run(
            ["rclone", "cat", "--offset", str(offset), "--count", str(count), "--webdav-url", server.url,
             f":webdav:{MOVIE_FILE}"],
            capture_output=True, timeout=120, env=RCLONE_ENV)
        assert result.returncode == 0, result.stderr
        assert result.stdout == data[offset:offset + count], offset


@needs_rclone
def test_rclone_copy_of_a_show_folder_checks_against_the_source(server, shared, tmp_path):
    copied = tmp_path / "copied"
    remote = ["--webdav-url", server.url, f":webdav:{SEASON_DIR}"]
    result = subprocess.run(["rclone", "copy", *remote, str(copied)], capture_output=True, text=True,
                            timeout=120, env=RCLONE_ENV)
    assert result.returncode == 0, result.stderr
    result = subprocess.run(["rclone", "check", "--download", str(copied), *remote], capture_output=True, text=True,
                            timeout=120, env=RCLONE_ENV)
    assert result.returncode == 0, result.stderr
    show = shared["show"]
    assert (copied / "Show - S01E01 - Episode 1.mp4").read_bytes() == source_bytes(show, "Show.S01E01.mp4")
    assert (copied / "Show - S01E02 - Episode 2.mkv").read_bytes() == source_bytes(show, "Show.S01E02.mkv")


def fuse_unavailable() -> str | None:
    if shutil.which("rclone") is None or shutil.which("fusermount3") is None:
        return "rclone or fuse3 is not installed (.ci/run installs both)"
    if not os.path.exists("/dev/fuse") or not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "this machine has no usable /dev/fuse"
    return None


@pytest.mark.skipif(fuse_unavailable() is not None, reason=fuse_unavailable() or "")
@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg is not installed (.ci/run installs it)")
def test_rclone_mount_then_ffprobe_through_it(server, seeder, tmp_path):
    video = tmp_path / "video" / "Clip.2020.mp4"
    video.parent.mkdir()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=5:size=320x240:rate=25",
                    "-c:v", "libx264", "-preset", "ultrafast", str(video)], check=True, timeout=120)
    from tests.helpers import torrent_of
    made = torrent_of(video.parent, video.name, v1_only=True)
    seeder.seed(made)
    movie = server.api("POST", "/api/movies", json={"title": "Clip", "year": 2020}).json()
    assert server.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(made)}).ok

    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    mount = subprocess.Popen(
        ["rclone", "mount", "--webdav-url", server.url, ":webdav:", str(mountpoint), "--read-only",
         "--vfs-cache-mode", "off", "--dir-cache-time", "1s"],
        env=RCLONE_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    mounted_file = mountpoint / "Movies" / "Clip (2020)" / "Clip (2020).mp4"
    try:
        wait_until(lambda: mount.poll() is not None or mounted_file.exists(), 30, "the rclone mount to show the file")
        if mount.poll() is not None:
            output = mount.stdout.read().decode(errors="replace")
            pytest.fail(f"rclone mount exited with {mount.returncode}: {output}")
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
                                "-of", "csv=p=0", str(mounted_file)], capture_output=True, text=True, timeout=120)
        assert probe.returncode == 0, probe.stderr
        assert probe.stdout.strip() == "h264,320,240"
        assert mounted_file.stat().st_size == video.stat().st_size
    finally:
        subprocess.run(["fusermount3", "-u", str(mountpoint)], capture_output=True, timeout=30)
        try:
            mount.wait(timeout=30)
        finally:
            if mount.poll() is None:
                mount.kill()
    assert mount.returncode == 0, "rclone mount did not exit cleanly after the unmount"
    assert not os.path.ismount(mountpoint)
