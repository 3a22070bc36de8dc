"""The WebDAV share against a real server: product.md's layout, its properties, and bad input."""

from __future__ import annotations

import email.utils
import re
import shutil
import subprocess
import unicodedata
from datetime import datetime
from urllib.parse import quote

import pytest

from tests.dav import parse_multistatus

MOVIE_DIR = "/Movies/Amélie- Le Fabuleux-Destin (2001)"
MOVIE_FILE = f"{MOVIE_DIR}/Amélie- Le Fabuleux-Destin (2001).mkv"
SHOW_DIR = "/TV Shows/Show (2020)"
SEASON_DIR = f"{SHOW_DIR}/Season 01"
EPISODES = {
    f"{SEASON_DIR}/Show - S01E01 - Episode 1.mkv": 100_000,
    f"{SEASON_DIR}/Show - S01E02 - Episode 2.mp4": 110_000,
    f"{SEASON_DIR}/Show - S01E03 - Episode 3.avi": 120_000,
}
CONTENT_TYPES = {".mkv": "video/x-matroska", ".mp4": "video/mp4", ".avi": "video/x-msvideo"}


@pytest.fixture
def library(server, torrent_factory):
    """A movie with an awkward title and a 3-episode show, assigned from real .torrent files."""
    movie = server.api("POST", "/api/movies", json={"title": "Amélie: Le Fabuleux/Destin", "year": 2001}).json()
    movie_torrent = torrent_factory("Amelie.2001.1080p.BluRay", {
        "Amelie.2001.1080p.BluRay.mkv": 300_000, "Amelie.sample.mkv": 20_000,
    })
    assert server.api("POST", f"/api/movies/{movie['id']}/assign", json={"torrent": movie_torrent.b64}).ok
    show = server.api("POST", "/api/shows", json={"title": "Show", "year": 2020}).json()
    show_torrent = torrent_factory("Show.S01.WEB", {
        "Show.S01E01.mkv": 100_000, "Show.S01E02.mp4": 110_000, "Show.S01E03.avi": 120_000, "show.nfo": 10,
    })
    assert server.api("POST", f"/api/shows/{show['id']}/assign", json={"torrent": show_torrent.b64}).ok
    return {"movie": movie_torrent, "show": show_torrent}


def propfind(server, path: str, depth: str = "1", body: bytes | None = None):
    headers = {"Depth": depth}
    if body is not None:
        headers["Content-Type"] = "application/xml"
    return server.dav("PROPFIND", quote(path), headers=headers, data=body)


def listing(server, path: str) -> dict:
    response = propfind(server, path)
    assert response.status_code == 207, response.text
    return parse_multistatus(response.content)


def assert_http_date(text: str) -> int:
    parsed = email.utils.parsedate_to_datetime(text)
    assert parsed.year >= 2000, text
    assert re.match(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$", text), text
    return int(parsed.timestamp())


def test_tree_has_exactly_the_product_layout(server, library):
    root = listing(server, "/")
    assert sorted(root) == ["", "/.metadata_never_index", "/.ql_disablethumbnails", "/Movies", "/TV Shows"]
    assert all(e.is_collection for p, e in root.items() if not p.startswith("/."))

    assert sorted(listing(server, "/Movies")) == ["/Movies", MOVIE_DIR]
    movie_dir = listing(server, MOVIE_DIR)
    assert sorted(movie_dir) == sorted([MOVIE_DIR, MOVIE_FILE])
    movie = movie_dir[MOVIE_FILE]
    assert not movie.is_collection
    assert int(movie.props["getcontentlength"]) == 300_000
    assert movie.props["getcontenttype"] == "video/x-matroska"

    assert sorted(listing(server, "/TV Shows")) == ["/TV Shows", SHOW_DIR]
    assert sorted(listing(server, SHOW_DIR)) == [SHOW_DIR, SEASON_DIR]
    season = listing(server, SEASON_DIR)
    assert sorted(season) == sorted([SEASON_DIR, *EPISODES])
    for path, size in EPISODES.items():
        entry = season[path]
        assert int(entry.props["getcontentlength"]) == size
        assert entry.props["getcontenttype"] == CONTENT_TYPES[path[-4:]]
        assert entry.props["getetag"].strip('"')
        assert_http_date(entry.props["getlastmodified"])
        datetime.fromisoformat(entry.props["creationdate"].replace("Z", "+00:00"))
    assert not any(".pad" in p or "nfo" in p or "sample" in p for p in season)


def test_hrefs_are_percent_encoded_nfc(server, library):
    movies = listing(server, "/Movies")
    href = movies[MOVIE_DIR].href
    assert " " not in href and "é" not in href
    assert quote(unicodedata.normalize("NFC", "Amélie")) in href
    # macOS sends decomposed (NFD) names; they reach the same folder.
    nfd = unicodedata.normalize("NFD", MOVIE_DIR)
    assert propfind(server, nfd, depth="0").status_code == 207


def test_head_answers_from_the_library(server, library):
    response = server.dav("HEAD", quote(MOVIE_FILE))
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "300000"
    assert response.headers["Content-Type"] == "video/x-matroska"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"].strip('"')
    assert_http_date(response.headers["Last-Modified"])


def test_etags_and_dates_are_stable_across_restarts(server, library):
    def snapshot():
        entries = {**listing(server, SEASON_DIR), **listing(server, MOVIE_DIR)}
        return {p: (e.props.get("getetag"), e.props.get("getlastmodified"), e.props.get("creationdate"))
                for p, e in entries.items()}

    before = snapshot()
    head_before = server.dav("HEAD", quote(MOVIE_FILE)).headers["ETag"]
    server.restart()
    assert snapshot() == before
    assert server.dav("HEAD", quote(MOVIE_FILE)).headers["ETag"] == head_before
    assert len({etag for etag, _, _ in before.values() if etag}) == 4  # distinct per file


def test_get_of_an_unknown_file_is_404(server, library):
    assert server.dav("GET", quote(MOVIE_FILE) + "x").status_code == 404


@pytest.mark.parametrize(
    "raw_path",
    ["/Movies/../Movies/", "/Movies/%2e%2e/", "/Movies%2FAm%C3%A9lie", "/..%2F..%2Fetc%2Fpasswd", "/TV%20Shows/%5C"],
)
def test_paths_that_escape_the_share_are_refused(server, library, raw_path):
    # curl sends the path as written, which requests would normalise away.
    for method in ("GET", "PROPFIND"):
        result = subprocess.run(
            ["curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", "-X", method,
             "-H", "Depth: 1", server.url + raw_path],
            capture_output=True, text=True, timeout=30,
        )
        assert result.stdout == "400", (method, raw_path, result.stdout)
    assert server.api("GET", "/api/health").status_code == 200


@pytest.mark.parametrize("method", ["PUT", "DELETE", "MKCOL", "MOVE", "COPY", "PROPPATCH", "LOCK", "UNLOCK", "POST"])
def test_write_methods_are_refused(server, library, method):
    response = server.dav(method, quote(MOVIE_FILE), data=b"x",
                          headers={"Destination": server.url + "/Movies/copy.mkv"})
    assert response.status_code == 405
    assert "PUT" not in response.headers.get("Allow", "PUT")
    assert sorted(listing(server, MOVIE_DIR)) == sorted([MOVIE_DIR, MOVIE_FILE])


def test_options_says_read_only_class_1(server):
    response = server.dav("OPTIONS", "/")
    assert response.status_code == 200
    assert response.headers["DAV"] == "1"


@pytest.mark.parametrize("depth", ["infinity", None])
def test_infinite_depth_is_refused(server, library, depth):
    headers = {"Depth": depth} if depth else {}
    response = server.dav("PROPFIND", "/", headers=headers)
    assert response.status_code == 403
    assert "propfind-finite-depth" in response.text


def test_malformed_propfind_body_is_a_400(server, library):
    response = propfind(server, "/", body=b"<propfind xmlns='DAV:'><prop>")
    assert response.status_code == 400
    assert listing(server, "/")  # still serving


def test_finder_style_propfind_with_a_property_list(server, library):
    body = (b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>'
            b"<D:getlastmodified/><D:getcontentlength/><D:creationdate/><D:resourcetype/>"
            b"</D:prop></D:propfind>")
    response = propfind(server, MOVIE_DIR, body=body)
    assert response.status_code == 207
    entry = parse_multistatus(response.content)[MOVIE_FILE]
    assert int(entry.props["getcontentlength"]) == 300_000
    assert set(entry.props) == {"getlastmodified", "getcontentlength", "creationdate", "resourcetype"}


def test_unknown_paths_are_404(server, library):
    assert propfind(server, "/Movies/Nothing (1900)").status_code == 404
    assert server.dav("HEAD", quote("/TV Shows/Show (2020)/Season 09/x.mkv")).status_code == 404


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed (.ci/run installs it)")
def test_rclone_lists_the_same_tree(server, library):
    result = subprocess.run(
        ["rclone", "lsf", "-R", "--format", "ps", "--webdav-url", server.url, ":webdav:"],
        capture_output=True, text=True, timeout=60, env={"RCLONE_CONFIG": "/dev/null", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    listed = {line.rsplit(";", 1)[0]: line.rsplit(";", 1)[1] for line in result.stdout.splitlines()}
    expected_files = {MOVIE_FILE: 300_000, **EPISODES, "/.metadata_never_index": 0, "/.ql_disablethumbnails": 0}
    for path, size in expected_files.items():
        assert listed[path.lstrip("/")] == str(size)
    folders = {p for p in listed if p.endswith("/")}
    assert folders == {"Movies/", "TV Shows/", MOVIE_DIR[1:] + "/", SHOW_DIR[1:] + "/", SEASON_DIR[1:] + "/"}
    assert len(listed) == len(expected_files) + len(folders)
