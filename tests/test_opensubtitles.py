"""Subtitles from OpenSubtitles: the real client against a local server with the API's response shapes.

Search, download, UTF-8 conversion, storage, the share's tree, deletion, the
moviehash of a torrent's file, automatic languages, the CLI, and every error
path (unknown item or language, bad key or password, quota, rate limit,
timeout, files that are not subtitles): each leaves nothing on disk or in the
library.
"""

from __future__ import annotations

import codecs
import logging
from pathlib import Path
from urllib.parse import quote

import pytest

from momoshtrem.cli.main import main
from momoshtrem.library.models import ItemRef
from momoshtrem.subtitles.files import SubtitleFiles
from momoshtrem.subtitles.moviehash import BLOCK, moviehash
from momoshtrem.subtitles.opensubtitles import (OpenSubtitlesClient, SearchQuery, SubtitleResult, USER_AGENT,
                                                search_params)
from momoshtrem.subtitles.ranking import best_first
from momoshtrem.subtitles.text import InvalidSubtitle, to_utf8
from tests.fake_opensubtitles import API_KEY, PASSWORD, TOKEN, USERNAME, FakeOpenSubtitles, FakeSubtitle
from tests.helpers import RunningServer, deterministic_bytes, wait_until
from tests.test_subtitles import propfind_names

FRENCH = ("1\r\n00:00:01,000 --> 00:00:03,500\r\nOù est-ce que tu vas ? Très bien, ça va.\r\n\r\n"
          "2\r\n00:00:04,000 --> 00:00:06,000\r\nC'était l'été, déjà. Noël approche : « Voilà ! »\r\n")
RUSSIAN = ("1\n00:00:01,000 --> 00:00:03,000\nПривет, как дела? Всё хорошо.\n\n"
           "2\n00:00:04,000 --> 00:00:06,000\nГде ты был вчера вечером?\n")
ENGLISH = "1\n00:00:01,000 --> 00:00:02,000\nHello there.\n\n2\n00:00:03,000 --> 00:00:04,000\nGeneral Kenobi.\n"
TMDB_ID = 27205
VIDEO_SIZE = 300_000


# -- pure parts -------------------------------------------------------------------------------


def test_search_parameters_are_sorted_and_lower_case_as_the_api_wants():
    assert search_params(SearchQuery(("fr", "EN"), "movie", tmdb_id=27205, title="Inception", year=2010)) == [
        ("languages", "en,fr"), ("tmdb_id", "27205"), ("type", "movie")]
    assert search_params(SearchQuery(("en",), "movie", title="The Thing", year=1982, moviehash="8E245D9679D31E12")) == [
        ("languages", "en"), ("moviehash", "8e245d9679d31e12"), ("query", "the thing"), ("type", "movie"),
        ("year", "1982")]
    assert search_params(SearchQuery(("en",), "episode", tmdb_id=1396, title="Breaking Bad", year=2008,
                                     season=1, episode=2)) == [
        ("episode_number", "2"), ("languages", "en"), ("parent_tmdb_id", "1396"), ("season_number", "1"),
        ("type", "episode")]
    assert search_params(SearchQuery(("en",), "episode", title="Show", year=2020, season=3, episode=10)) == [
        ("episode_number", "10"), ("languages", "en"), ("query", "show"), ("season_number", "3"), ("type", "episode")]


def result(file_id: int, **flags) -> SubtitleResult:
    values = dict(file_name=f"{file_id}.srt", language="en", release="", hearing_impaired=False,
                  foreign_parts_only=False, moviehash_match=False, machine_translated=False, from_trusted=False,
                  download_count=0, uploader=None)
    return SubtitleResult(file_id=file_id, **{**values, **flags})


def test_ranking_puts_the_release_match_first_and_plain_human_subtitles_before_the_rest():
    ranked = best_first([
        result(1, download_count=9000, hearing_impaired=True),
        result(2, download_count=10),
        result(3, download_count=5, moviehash_match=True, hearing_impaired=True),
        result(4, download_count=99999, machine_translated=True),
        result(5, download_count=50),
        result(6, download_count=1, foreign_parts_only=True),
        result(7, download_count=1, from_trusted=True),
    ])
    assert [r.file_id for r in ranked] == [3, 7, 5, 2, 1, 6, 4]  # a full HI subtitle beats a forced-only one


@pytest.mark.parametrize("text, data, language, encoding", [
    (FRENCH, FRENCH.encode("cp1252"), "fr", "cp1252"),  # alone, charset_normalizer reads this one as cp1257
    (RUSSIAN, RUSSIAN.encode("cp1251"), "ru", "cp1251"),
    (RUSSIAN, RUSSIAN.encode("cp1251"), None, "cp1251"),  # no language hint: charset_normalizer alone
    (FRENCH, codecs.BOM_UTF8 + FRENCH.encode("utf-8"), "fr", "utf-8-sig"),
    (FRENCH, FRENCH.encode("utf-16"), "fr", "utf-16"),
    (FRENCH, FRENCH.encode("utf-8"), "fr", "utf-8"),
])
def test_legacy_encodings_become_utf8(text, data, language, encoding):
    converted, found = to_utf8(data, ".srt", language)
    assert converted.decode("utf-8") == text and not converted.startswith(codecs.BOM_UTF8)
    assert found == encoding


@pytest.mark.parametrize("data, extension, reason", [
    (b"", ".srt", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8, ".srt", "binary data"),
    (b"just some words, no timings at all\n", ".srt", "no cues"),
    (ENGLISH.encode(), ".idx", "not a text subtitle format"),
    (b"WEBVTT\n\n00:01.000 --> 00:04.000\nHi\n", ".vtt", None),
    (b"[Script Info]\nTitle: x\n[Events]\nDialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,Hi\n", ".ass", None),
    (b"{1}{50}Hi|there\n", ".sub", None),
])
def test_files_that_are_not_subtitles_of_their_format_are_refused(data, extension, reason):
    if reason is None:
        assert to_utf8(data, extension, "en")[0] == data
        return
    with pytest.raises(InvalidSubtitle, match=reason):
        to_utf8(data, extension, "en")


def test_sweep_removes_only_unrecorded_files_of_its_own_naming(tmp_path):
    files = SubtitleFiles(tmp_path)
    kept = files.name_for(ItemRef("movie", 1), "opensubtitles", 10, "en", ".srt")
    stray = files.name_for(ItemRef("movie", 1), "opensubtitles", 11, "fr", ".srt")
    orphan = files.name_for(ItemRef("episode", 7), "opensubtitles", 12, "pt-BR", ".srt")
    for name in (kept, stray, orphan):
        files.write(name, b"x")
    (tmp_path / "movie-1" / "opensubtitles-13.de.srt.tmp").write_bytes(b"half")
    (tmp_path / "notes.txt").write_text("the user's")
    (tmp_path / "my-stuff").mkdir()
    (tmp_path / "my-stuff" / "keep.srt").write_text("the user's too")
    assert sorted(files.sweep({kept})) == sorted([stray, orphan, "movie-1/opensubtitles-13.de.srt.tmp"])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        kept, "my-stuff/keep.srt", "notes.txt"]
    assert not (tmp_path / "episode-7").exists()
    with pytest.raises(ValueError):
        files.path("../../etc/passwd")


# -- against the fake API -----------------------------------------------------------------------


def catalogue(video_hash: str | None = None) -> list[FakeSubtitle]:
    return [
        FakeSubtitle(101, "fr", "Inception.2010.BluRay.FR.srt", FRENCH.encode("cp1252"), tmdb_id=TMDB_ID),
        FakeSubtitle(201, "en", "Inception.2010.720p.srt", codecs.BOM_UTF8 + ENGLISH.encode(), tmdb_id=TMDB_ID,
                     download_count=500),
        FakeSubtitle(202, "en", "Inception.2010.720p.HI.srt", ENGLISH.encode(), tmdb_id=TMDB_ID,
                     download_count=5000, hearing_impaired=True),
        FakeSubtitle(203, "en", "Inception.2010.1080p.GRP.srt", ENGLISH.replace("Hello", "Hi").encode(),
                     tmdb_id=TMDB_ID, download_count=10, moviehash=video_hash),
        FakeSubtitle(301, "ru", "Inception.2010.RUS.srt", RUSSIAN.encode("cp1251"), tmdb_id=TMDB_ID),
        FakeSubtitle(401, "en", "Show.S01E02.WEB.srt", ENGLISH.encode(), query="show", season=1, episode=2),
        FakeSubtitle(901, "en", "binary.srt", bytes(range(256)) * 40, searchable=False),
        FakeSubtitle(902, "en", "huge.srt", ENGLISH.encode() * 120_000, searchable=False),
        FakeSubtitle(903, "en", "vobsub.idx", b"# VobSub index file, v7\n", searchable=False),
    ]


VIDEO = deterministic_bytes("Inception.2010.1080p/Inception.2010.1080p.mkv", VIDEO_SIZE)
VIDEO_HASH = moviehash(VIDEO_SIZE, VIDEO[:BLOCK], VIDEO[-BLOCK:])


@pytest.fixture
def opensubtitles():
    fake = FakeOpenSubtitles(subtitles=catalogue(VIDEO_HASH))
    yield fake
    fake.close()


def configure(config, fake: FakeOpenSubtitles, tmp_path: Path) -> None:
    config.opensubtitles.api_key = API_KEY
    config.opensubtitles.base_url = fake.base_url
    config.opensubtitles.timeout = 2.0
    config.subtitles.dir = str(tmp_path / "subtitles")


@pytest.fixture
def subs_server(config, opensubtitles, tmp_path):
    configure(config, opensubtitles, tmp_path)
    running = RunningServer(config)
    yield running
    running.stop()


def add_inception(server, seeder, torrent_factory) -> int:
    """The movie (with its TMDB id) assigned to a seeded torrent that carries an English subtitle."""
    made = torrent_factory("Inception.2010.1080p", {"Inception.2010.1080p.mkv": VIDEO_SIZE,
                                                    "Inception.2010.1080p.en.srt": 2_000})
    seeder.seed(made)
    movie = server.server.library.add_movie("Inception", 2010, TMDB_ID)
    assigned = server.api("POST", f"/api/movies/{movie.id}/assign", json={"source": seeder.magnet(made)})
    assert assigned.status_code == 200, assigned.text
    return movie.id


def stored_files(config) -> list[str]:
    root = Path(config.subtitles.dir)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def downloaded(server, movie_id: int) -> list[dict]:
    return server.api("GET", f"/api/movies/{movie_id}/subtitles").json()["downloaded"]


FOLDER = "/Movies/Inception (2010)"


def test_search_download_show_and_delete(subs_server, opensubtitles, seeder, torrent_factory, config):
    movie_id = add_inception(subs_server, seeder, torrent_factory)

    found = subs_server.api("GET", f"/api/movies/{movie_id}/subtitles/search?languages=fr,en")
    assert found.status_code == 200, found.text
    assert found.json()["moviehash"] is None  # nothing of the film is downloaded yet
    assert [r["file_id"] for r in found.json()["results"]] == [201, 101, 203, 202]
    (search,) = opensubtitles.api_requests("/subtitles")
    assert search.params == {"languages": "en,fr", "tmdb_id": str(TMDB_ID), "type": "movie"}
    assert search.headers["Api-Key"] == API_KEY and search.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("momoshtrem v")

    response = subs_server.api("POST", f"/api/movies/{movie_id}/subtitles", json={"language": "fr"})
    assert response.status_code == 201, response.text
    record = response.json()
    expected = FRENCH.encode("utf-8")
    assert (record["language"], record["variant"], record["provider_file_id"], record["size"]) == (
        "fr", None, 101, len(expected))
    assert stored_files(config) == [f"movie-{movie_id}/opensubtitles-101.fr.srt"]
    assert (Path(config.subtitles.dir) / record["stored_path"]).read_bytes() == expected

    assert propfind_names(subs_server, FOLDER) == {
        "Inception (2010).mkv", "Inception (2010).en.srt", "Inception (2010).fr.srt"}
    got = subs_server.dav("GET", quote(f"{FOLDER}/Inception (2010).fr.srt"))
    assert got.status_code == 200 and got.content == expected
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8"
    ranged = subs_server.dav("GET", quote(f"{FOLDER}/Inception (2010).fr.srt"), headers={"Range": "bytes=2-5"})
    assert ranged.status_code == 206 and ranged.content == expected[2:6]

    listing = subs_server.api("GET", f"/api/movies/{movie_id}/subtitles").json()
    assert [(s["language"], s["file_path"]) for s in listing["torrent"]] == [
        ("en", "Inception.2010.1080p/Inception.2010.1080p.en.srt")]
    assert [s["id"] for s in listing["downloaded"]] == [record["id"]]

    # The same file again is refused before a download of the quota is spent.
    quota = opensubtitles.remaining
    again = subs_server.api("POST", f"/api/movies/{movie_id}/subtitles", json={"language": "fr", "file_id": 101})
    assert again.status_code == 409 and opensubtitles.remaining == quota

    # A Russian file in cp1251, chosen by id, and kept over a restart.
    russian = subs_server.api("POST", f"/api/movies/{movie_id}/subtitles", json={"language": "ru", "file_id": 301})
    assert russian.status_code == 201, russian.text
    subs_server.restart()
    assert subs_server.dav("GET", quote(f"{FOLDER}/Inception (2010).ru.srt")).content == RUSSIAN.encode("utf-8")

    assert subs_server.api("DELETE", f"/api/subtitles/{record['id']}").status_code == 204
    assert stored_files(config) == [f"movie-{movie_id}/opensubtitles-301.ru.srt"]
    assert "Inception (2010).fr.srt" not in propfind_names(subs_server, FOLDER)
    gone = subs_server.api("DELETE", f"/api/subtitles/{record['id']}")
    assert gone.status_code == 404 and "no downloaded subtitle" in gone.json()["error"]

    # Deleting the movie deletes its subtitles' records and files.
    assert subs_server.api("DELETE", f"/api/movies/{movie_id}").status_code == 204
    assert stored_files(config) == []


def test_the_moviehash_comes_from_the_torrent_once_both_ends_are_downloaded(subs_server, opensubtitles, seeder,
                                                                           torrent_factory):
    movie_id = add_inception(subs_server, seeder, torrent_factory)
    video = quote(f"{FOLDER}/Inception (2010).mkv")
    head = subs_server.dav("GET", video, headers={"Range": f"bytes=0-{BLOCK - 1}"})
    assert head.status_code == 206 and head.content == VIDEO[:BLOCK]
    search = subs_server.api("GET", f"/api/movies/{movie_id}/subtitles/search?languages=en").json()
    assert search["moviehash"] is None  # the last 64 KiB are not there yet

    tail = subs_server.dav("GET", video, headers={"Range": f"bytes=-{BLOCK}"})
    assert tail.status_code == 206 and tail.content == VIDEO[-BLOCK:]
    search = subs_server.api("GET", f"/api/movies/{movie_id}/subtitles/search?languages=en").json()
    assert search["moviehash"] == VIDEO_HASH
    assert opensubtitles.api_requests("/subtitles")[-1].params["moviehash"] == VIDEO_HASH
    assert [(r["file_id"], r["moviehash_match"]) for r in search["results"]] == [
        (203, True), (201, False), (202, False)]

    best = subs_server.api("POST", f"/api/movies/{movie_id}/subtitles", json={"language": "en"})
    assert best.status_code == 201 and best.json()["provider_file_id"] == 203
    # The torrent's own English subtitle keeps its name; the download gets the next one.
    assert subs_server.dav("GET", quote(f"{FOLDER}/Inception (2010).en.2.srt")).content == \
        ENGLISH.replace("Hello", "Hi").encode()


def test_episodes_are_searched_by_show_title_season_and_episode(subs_server, opensubtitles, seeder,
                                                               torrent_factory, config):
    made = torrent_factory("Show.S01.WEB", {"Show.S01E01.WEB.mkv": 70_000, "Show.S01E02.WEB.mkv": 70_000})
    seeder.seed(made)
    show = subs_server.api("POST", "/api/shows", json={"title": "Show", "year": 2020}).json()
    assert subs_server.api("POST", f"/api/shows/{show['id']}/assign",
                           json={"source": seeder.magnet(made)}).status_code == 200
    episodes = subs_server.api("GET", f"/api/shows/{show['id']}").json()["seasons"][0]["episodes"]
    second = next(e for e in episodes if e["number"] == 2)

    response = subs_server.api("POST", f"/api/episodes/{second['id']}/subtitles", json={"language": "en"})
    assert response.status_code == 201, response.text
    assert opensubtitles.api_requests("/subtitles")[-1].params == {
        "episode_number": "2", "languages": "en", "query": "show", "season_number": "1", "type": "episode"}
    season = propfind_names(subs_server, "/TV Shows/Show (2020)/Season 01")
    assert "Show - S01E02 - Episode 2.en.srt" in season and len(season) == 3
    first = next(e for e in episodes if e["number"] == 1)
    none = subs_server.api("POST", f"/api/episodes/{first['id']}/subtitles", json={"language": "en"})
    assert none.status_code == 404 and "no 'en' subtitle" in none.json()["error"]
    assert stored_files(config) == [f"episode-{second['id']}/opensubtitles-401.en.srt"]


def assert_nothing_stored(server, config, movie_id: int) -> None:
    assert stored_files(config) == []
    assert downloaded(server, movie_id) == []


def test_bad_requests_and_bad_files_leave_nothing_behind(subs_server, opensubtitles, seeder, torrent_factory,
                                                        config):
    movie_id = add_inception(subs_server, seeder, torrent_factory)
    post = lambda body, item=f"movies/{movie_id}": subs_server.api("POST", f"/api/{item}/subtitles", json=body)

    unknown = post({"language": "en"}, item="movies/999")
    assert unknown.status_code == 404 and "no movie with id 999" in unknown.json()["error"]
    assert subs_server.api("GET", "/api/episodes/999/subtitles/search?languages=en").status_code == 404
    for code in ("xx", "english", "eng"):
        response = post({"language": code})
        assert response.status_code == 400 and "not an ISO 639-1 language code" in response.json()["error"]
    assert post({}).status_code == 400
    assert post({"language": "en", "file_id": "12"}).status_code == 400
    assert post({"language": "en", "file_id": 201, "variant": "loud"}).status_code == 400
    assert opensubtitles.api_requests("/download") == []  # no quota spent on any of these

    for file_id, reason in ((901, "binary data"), (902, "larger than 5 MiB"), (903, "not a text subtitle")):
        response = post({"language": "en", "file_id": file_id})
        assert response.status_code == 502 and reason in response.json()["error"], response.text
    assert_nothing_stored(subs_server, config, movie_id)


def test_quota_rate_limit_timeout_and_refused_key_are_clear_errors(subs_server, opensubtitles, seeder,
                                                                  torrent_factory, config):
    movie_id = add_inception(subs_server, seeder, torrent_factory)
    search_path = f"/api/movies/{movie_id}/subtitles/search?languages=en"

    opensubtitles.remaining = 0
    spent = subs_server.api("POST", f"/api/movies/{movie_id}/subtitles", json={"language": "en", "file_id": 201})
    assert spent.status_code == 429
    assert "download quota is spent" in spent.json()["error"] and "2026-11-22 04:07:58 UTC" in spent.json()["error"]
    opensubtitles.remaining = 20

    opensubtitles.throttled = [0.3]  # a short Retry-After: waited out, then the search goes through
    before = len(opensubtitles.api_requests("/subtitles"))
    assert subs_server.api("GET", search_path).status_code == 200
    assert len(opensubtitles.api_requests("/subtitles")) == before + 2

    opensubtitles.throttled = [60]  # a long one is the user's to wait
    limited = subs_server.api("GET", search_path)
    assert limited.status_code == 429 and "try again in 60 s" in limited.json()["error"]

    opensubtitles.delay = 3.0  # past the 2 s timeout
    slow = subs_server.api("GET", search_path)
    assert slow.status_code == 503 and "did not answer the search within 2 s" in slow.json()["error"]
    opensubtitles.delay = 0.0

    subs_server.server.subtitles.client = OpenSubtitlesClient("wrong-key", opensubtitles.base_url, timeout=2)
    refused = subs_server.api("POST", f"/api/movies/{movie_id}/subtitles", json={"language": "en"})
    assert refused.status_code == 503 and "refused the configured API key" in refused.json()["error"]
    assert_nothing_stored(subs_server, config, movie_id)


def test_without_an_api_key_opensubtitles_is_unavailable_but_torrent_subtitles_list(server, seeder,
                                                                                   torrent_factory):
    movie_id = add_inception(server, seeder, torrent_factory)
    response = server.api("GET", f"/api/movies/{movie_id}/subtitles/search?languages=en")
    assert response.status_code == 503 and "opensubtitles.api_key" in response.json()["error"]
    assert len(server.api("GET", f"/api/movies/{movie_id}/subtitles").json()["torrent"]) == 1


def test_a_logged_in_user_downloads_with_the_token_and_secrets_stay_out_of_logs(
        config, opensubtitles, seeder, torrent_factory, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    configure(config, opensubtitles, tmp_path)
    config.opensubtitles.username, config.opensubtitles.password = USERNAME, PASSWORD
    server = RunningServer(config)
    try:
        movie_id = add_inception(server, seeder, torrent_factory)
        for file_id in (201, 101):
            language = "en" if file_id == 201 else "fr"
            response = server.api("POST", f"/api/movies/{movie_id}/subtitles",
                                  json={"language": language, "file_id": file_id})
            assert response.status_code == 201, response.text
        assert len(opensubtitles.api_requests("/login")) == 1  # the token is kept
        assert [r.headers.get("Authorization") for r in opensubtitles.api_requests("/download")] == [
            f"Bearer {TOKEN}"] * 2
        assert not [r for r in opensubtitles.requests if r.path.startswith("/download/") and "Api-Key" in r.headers]

        server.server.subtitles.client = OpenSubtitlesClient(API_KEY, opensubtitles.base_url, USERNAME, "not-the-password-7731",
                                                             timeout=2)
        refused = server.api("POST", f"/api/movies/{movie_id}/subtitles", json={"language": "ru"})
        assert refused.status_code == 503 and "refused the configured username or password" in refused.json()["error"]
    finally:
        server.stop()
    for secret in (API_KEY, PASSWORD, TOKEN):
        assert secret not in caplog.text


def test_auto_languages_fetch_what_the_torrent_lacks_after_assignment(config, opensubtitles, seeder,
                                                                     torrent_factory, tmp_path):
    configure(config, opensubtitles, tmp_path)
    config.subtitles.auto_languages = ["en", "fr"]
    server = RunningServer(config)
    try:
        movie_id = add_inception(server, seeder, torrent_factory)  # its torrent has English already
        wait_until(lambda: downloaded(server, movie_id), timeout=20, what="the automatic French download")
        assert [(s["language"], s["provider_file_id"]) for s in downloaded(server, movie_id)] == [("fr", 101)]
        assert [r.body for r in opensubtitles.api_requests("/download")] == [{"file_id": 101}]
        assert "Inception (2010).fr.srt" in propfind_names(server, FOLDER)
    finally:
        server.stop()


def test_a_crash_between_file_and_record_leaves_nothing_after_a_restart(subs_server, opensubtitles, seeder,
                                                                       torrent_factory, config):
    movie_id = add_inception(subs_server, seeder, torrent_factory)
    assert subs_server.api("POST", f"/api/movies/{movie_id}/subtitles", json={"language": "fr"}).status_code == 201
    root = Path(config.subtitles.dir)
    (root / f"movie-{movie_id}" / "opensubtitles-201.en.srt").write_bytes(b"written, never recorded")
    (root / f"movie-{movie_id}" / "opensubtitles-202.en.srt.tmp").write_bytes(b"half written")
    subs_server.restart()
    assert stored_files(config) == [f"movie-{movie_id}/opensubtitles-101.fr.srt"]


def test_subs_commands(capsys, subs_server, opensubtitles, seeder, torrent_factory):
    movie_id = add_inception(subs_server, seeder, torrent_factory)

    def cli(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*args, "--server", subs_server.url])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = cli("subs", "search", "movie", str(movie_id), "--lang", "fr,en")
    assert code == 0 and "moviehash: not yet" in out and "Inception.2010.BluRay.FR" in out
    assert [line.split()[0] for line in out.splitlines() if line.split()[0].isdigit()] == ["201", "101", "203", "202"]
    code, out, _ = cli("subs", "get", "movie", str(movie_id), "en", "--file-id", "202", "--variant", "sdh")
    assert code == 0 and "downloaded subtitle 1: en sdh" in out
    code, out, _ = cli("subs", "list", "movie", str(movie_id))
    assert code == 0 and "opensubtitles" in out and "torrent" in out and "sdh" in out
    assert "Inception (2010).en.sdh.srt" in propfind_names(subs_server, FOLDER)
    code, out, err = cli("subs", "get", "movie", str(movie_id), "xx")
    assert code == 1 and "not an ISO 639-1 language code" in err
    code, out, _ = cli("subs", "rm", "1")
    assert code == 0 and out.strip() == "deleted subtitle 1"
    code, out, err = cli("subs", "rm", "1")
    assert code == 1 and "no downloaded subtitle with id 1" in err


def test_the_api_key_never_follows_a_redirect_to_another_host(subs_server, opensubtitles, seeder, torrent_factory):
    movie_id = add_inception(subs_server, seeder, torrent_factory)
    elsewhere = FakeOpenSubtitles(subtitles=catalogue(VIDEO_HASH))  # another port: another origin
    try:
        opensubtitles.redirect_to = elsewhere.root
        answer = subs_server.api("GET", f"/api/movies/{movie_id}/subtitles/search?languages=en")
        assert answer.status_code == 503 and "another host" in answer.json()["error"]
        assert elsewhere.requests == []
    finally:
        elsewhere.close()
