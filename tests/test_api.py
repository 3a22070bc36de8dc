"""The REST API against a real server: every route, and every bad input answered 4xx with nothing changed."""

from __future__ import annotations

import base64
import threading

import pytest
import requests


def add_movie(server, title="The Matrix", year=1999) -> dict:
    response = server.api("POST", "/api/movies", json={"title": title, "year": year})
    assert response.status_code == 201, response.text
    return response.json()


def add_show(server, title="Show", year=2020) -> dict:
    response = server.api("POST", "/api/shows", json={"title": title, "year": year})
    assert response.status_code == 201, response.text
    return response.json()


def library_state(server) -> tuple:
    """Everything the API shows of the library, to prove a failed request changed nothing."""
    shows = server.api("GET", "/api/shows").json()
    return (
        server.api("GET", "/api/movies").json(),
        shows,
        [server.api("GET", f"/api/shows/{s['id']}").json() for s in shows],
        server.api("GET", "/api/torrents").json(),
    )


def test_health(server):
    response = server.api("GET", "/api/health")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["status"] == "ok"


def test_movie_lifecycle(server, torrent_factory):
    movie = add_movie(server)
    assert movie == {"id": movie["id"], "title": "The Matrix", "year": 1999, "tmdb_id": None, "assignment": None}
    assert server.api("GET", "/api/movies").json() == [movie]

    made = torrent_factory("The.Matrix.1999.1080p.BluRay.x264",
                           {"The.Matrix.1999.1080p.BluRay.x264.mkv": 300_000, "Sample/sample.mkv": 400_000,
                            "The.Matrix.1999.nfo": 100})
    response = server.api("POST", f"/api/movies/{movie['id']}/assign", json={"torrent": made.b64})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["info_hash"] == made.info_hash
    assert report["assignment"]["file_path"].endswith("The.Matrix.1999.1080p.BluRay.x264.mkv")
    assert report["assignment"]["resolution"] == "1080p" and report["assignment"]["source"] == "BluRay"
    assert {f["reason"] for f in report["unmatched"]} == {"sample", "not_video"}
    assert not any(".pad" in f["path"] for f in report["matched"] + report["unmatched"])

    got = server.api("GET", f"/api/movies/{movie['id']}").json()
    assert got["assignment"]["info_hash"] == made.info_hash
    torrents = server.api("GET", "/api/torrents").json()
    assert [t["info_hash"] for t in torrents] == [made.info_hash]
    assert server.api("GET", f"/api/torrents/{made.info_hash.upper()}").json()["name"] == made.root.joinpath(
        "The.Matrix.1999.1080p.BluRay.x264").name

    assert server.api("DELETE", f"/api/movies/{movie['id']}/assign").status_code == 204
    assert server.api("GET", f"/api/movies/{movie['id']}").json()["assignment"] is None
    assert server.api("DELETE", f"/api/movies/{movie['id']}/assign").status_code == 404
    assert server.api("DELETE", f"/api/movies/{movie['id']}").status_code == 204
    assert server.api("GET", f"/api/movies/{movie['id']}").status_code == 404


def test_assign_by_multipart_upload(server, torrent_factory):
    movie = add_movie(server)
    made = torrent_factory("M.mkv", {"M.mkv": 50_000}, v1_only=True)
    response = server.api("POST", f"/api/movies/{movie['id']}/assign",
                          files={"torrent": ("m.torrent", made.data, "application/x-bittorrent")})
    assert response.status_code == 200, response.text
    assert response.json()["assignment"]["file_index"] == 0


def test_show_lifecycle_and_report(server, torrent_factory):
    show = add_show(server)
    assert show["seasons"] == []
    made = torrent_factory("Show.S01.720p.HDTV", {
        "Show.S01E01.mkv": 100_000, "Show.S01E02.mkv": 110_000, "Show.S01E03.mkv": 120_000,
        "Show.S01E03.sample.mkv": 5_000, "Subs/Show.S01E01.srt": 500,
    })
    response = server.api("POST", f"/api/shows/{show['id']}/assign", json={"torrent": made.b64})
    assert response.status_code == 200, response.text
    report = response.json()
    assert sorted((f["season"], f["episodes"], f["confidence"]) for f in report["matched"]) == [
        (1, [1], "high"), (1, [2], "high"), (1, [3], "high")
    ]
    assert sorted(f["reason"] for f in report["unmatched"]) == ["not_video", "sample"]
    assert "assignment" not in report

    full = server.api("GET", f"/api/shows/{show['id']}").json()
    episodes = full["seasons"][0]["episodes"]
    assert [(e["number"], e["assignment"]["resolution"], e["assignment"]["source"]) for e in episodes] == [
        (1, "720p", "HDTV"), (2, "720p", "HDTV"), (3, "720p", "HDTV")
    ]
    listed = server.api("GET", "/api/shows").json()
    assert listed == [{"id": show["id"], "title": "Show", "year": 2020, "tmdb_id": None,
                       "seasons": 1, "episodes": 3, "assigned_episodes": 3}]

    assert server.api("DELETE", f"/api/episodes/{episodes[0]['id']}/assign").status_code == 204
    assert server.api("GET", "/api/shows").json()[0]["assigned_episodes"] == 2
    assert server.api("DELETE", f"/api/shows/{show['id']}").status_code == 204
    assert server.api("GET", "/api/shows").json() == []
    assert server.api("DELETE", f"/api/episodes/{episodes[1]['id']}/assign").status_code == 404


@pytest.mark.parametrize(
    "method,path,body,status,message",
    [
        ("POST", "/api/movies", {"title": ""}, 400, "title"),
        ("POST", "/api/movies", {"title": "X", "year": "1999"}, 400, "year"),
        ("POST", "/api/movies", {"title": "X", "year": 99999}, 400, "year"),
        ("POST", "/api/movies", {"title": "X", "yaer": 1999}, 400, "unknown field 'yaer'"),
        ("POST", "/api/movies", ["not", "an", "object"], 400, "JSON object"),
        ("POST", "/api/movies", {"tmdb_id": 603}, 503, "TMDB is not configured"),
        ("POST", "/api/shows", {"title": "X", "seasons": [1]}, 400, "tmdb_id"),
        ("GET", "/api/movies/999", None, 404, "no movie with id 999"),
        ("DELETE", "/api/movies/999", None, 404, "no movie"),
        ("GET", "/api/shows/999", None, 404, "no show"),
        ("DELETE", "/api/shows/999", None, 404, "no show"),
        ("DELETE", "/api/episodes/999/assign", None, 404, "no episode"),
        ("POST", "/api/movies/999/assign", {"torrent": "ZA=="}, 404, "no movie"),
        ("GET", "/api/torrents/abc", None, 400, "40 hex"),
        ("GET", "/api/torrents/" + "a" * 40, None, 404, "no torrent"),
        ("GET", "/api/nothing-here", None, 404, ""),
        ("PUT", "/api/movies", {}, 405, ""),
    ],
)
def test_bad_requests_get_clear_errors(server, method, path, body, status, message):
    before = library_state(server)
    response = server.api(method, path, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert library_state(server) == before


def test_malformed_json_body(server):
    response = server.api("POST", "/api/movies", data=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in response.json()["error"]
    response = server.api("POST", "/api/movies", data=b"title=x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400 and "Content-Type: application/json" in response.json()["error"]


def test_duplicate_title_and_year_is_a_conflict(server):
    add_movie(server)
    before = library_state(server)
    response = server.api("POST", "/api/movies", json={"title": "the matrix", "year": 1999})
    assert response.status_code == 409
    assert library_state(server) == before


@pytest.mark.parametrize(
    "body,status,message",
    [
        ({"torrent": "!!!not base64!!!"}, 400, "base64"),
        ({"torrent": base64.b64encode(b"garbage").decode()}, 400, "not a .torrent"),
        ({"torrent": base64.b64encode(b"d4:infod4:name1:xee").decode()}, 400, "piece length"),
        ({"torrent": 12}, 400, "base64"),
        ({"source": "magnet:?dn=nothing"}, 400, "urn:btih"),
        ({"source": "abc"}, 400, "40 hex"),
        ({"source": "a" * 40}, 504, "no metadata for aaaa"),
        ({}, 400, "exactly one"),
        ({"source": "a" * 40, "torrent": "ZA=="}, 400, "exactly one"),
    ],
)
def test_bad_assign_bodies_change_nothing(server, body, status, message):
    movie = add_movie(server)
    before = library_state(server)
    response = server.api("POST", f"/api/movies/{movie['id']}/assign", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert library_state(server) == before


def test_torrent_without_video_is_refused_with_the_report(server, torrent_factory):
    movie = add_movie(server)
    show = add_show(server)
    made = torrent_factory("Album", {"01.flac": 3000, "cover.jpg": 100})
    before = library_state(server)
    for kind, item in (("movies", movie), ("shows", show)):
        response = server.api("POST", f"/api/{kind}/{item['id']}/assign", json={"torrent": made.b64})
        assert response.status_code == 400
        data = response.json()
        assert "Album" in data["error"]
        assert sorted(f["reason"] for f in data["unmatched"]) == ["not_video", "not_video"]
    assert library_state(server) == before


def test_multipart_without_the_field_and_oversized_uploads(server, config):
    movie = add_movie(server)
    response = server.api("POST", f"/api/movies/{movie['id']}/assign", files={"other": ("x", b"d", "text/plain")})
    assert response.status_code == 400 and "'torrent'" in response.json()["error"]
    big = b"d" + b"0" * (config.server.max_upload_bytes + 10)
    response = server.api("POST", f"/api/movies/{movie['id']}/assign", files={"torrent": ("x.torrent", big)})
    assert response.status_code == 413


def test_concurrent_adds_do_not_lose_writes(server):
    errors: list[str] = []

    def add(n: int) -> None:
        response = requests.post(server.url + "/api/movies", json={"title": f"Movie {n}", "year": 2000}, timeout=30)
        if response.status_code != 201:
            errors.append(response.text)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(server.api("GET", "/api/movies").json()) == 20
