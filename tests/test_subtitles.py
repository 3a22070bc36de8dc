"""Subtitles of a torrent beside its videos: language and variant from the name, matching, sidecar names, bytes."""

from __future__ import annotations

import struct
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import pytest

from momoshtrem.subtitles.detect import VideoRef, describe, match_subtitles, sidecar_names
from momoshtrem.subtitles.moviehash import BLOCK, moviehash, moviehash_of_file
from momoshtrem.torrent.metainfo import TorrentFile
from tests.helpers import deterministic_bytes


@pytest.mark.parametrize("path, language, variant", [
    ("Movie.2010.en.srt", "en", None),
    ("Movie.2010.eng.srt", "en", None),
    ("Movie.2010.English.srt", "en", None),
    ("Movie.2010/Subs/English.srt", "en", None),
    ("Show.S01/Subs/Show.S01E02/2_English.srt", "en", None),
    ("Show.S01/Subs/Show.S01E02/3_Spanish.srt", "es", None),
    ("Movie.2010.fre.ass", "fr", None),
    ("Movie.2010.ger.srt", "de", None),
    ("Movie.2010.pt-BR.srt", "pt", None),
    ("Movie.2010.Hindi.srt", "hi", None),
    ("Show.S01E02.en.forced.srt", "en", "forced"),
    ("Movie.2010.English.Forced.srt", "en", "forced"),
    ("Show.S01E02.SDH.eng.srt", "en", "sdh"),
    ("Show.S01E02.English.HI.srt", "en", "sdh"),  # HI beside a language is hearing impaired, not Hindi
    ("Movie.2010.1080p.BluRay.x264-GRP.srt", "und", None),
])
def test_language_and_variant_come_from_the_name(path, language, variant):
    assert describe(path) == (language, variant)


def test_sidecar_names_keep_the_video_name_and_never_collide():
    names = sidecar_names("Movie (2010)", [("en", None, ".srt"), ("en", None, ".srt"), ("en", "forced", ".srt"),
                                          ("en", "sdh", ".srt"), ("fr", None, ".ass"), ("en", None, ".srt"),
                                          ("und", None, ".srt")])
    assert names == ["Movie (2010).en.srt", "Movie (2010).en.2.srt", "Movie (2010).en.forced.srt",
                     "Movie (2010).en.sdh.srt", "Movie (2010).fr.ass", "Movie (2010).en.3.srt", "Movie (2010).und.srt"]


def files(*paths: str) -> list[TorrentFile]:
    return [TorrentFile(index, path, 1000, index * 1000, is_pad=False) for index, path in enumerate(paths)]


def test_subtitles_find_their_video_by_name_episode_folder_or_as_the_only_video():
    torrent = files("Show.S01/Show.S01E01.1080p.mkv", "Show.S01/Show.S01E02.1080p.mkv",
                    "Show.S01/Show.S01E01.1080p.en.srt",          # same base name
                    "Show.S01/Other.Group.S01E02.fre.srt",        # same episode
                    "Show.S01/Subs/Show.S01E01.1080p/2_English.srt",  # the Subs/<video>/ folder
                    "Show.S01/Random.srt")                        # two videos, no clue: left out
    videos = [VideoRef(0, torrent[0].path, 1, 1), VideoRef(1, torrent[1].path, 1, 2)]
    matched = match_subtitles(torrent, videos)
    assert {video: [s.file_path.rsplit("/", 1)[1] for s in subs] for video, subs in matched.items()} == {
        0: ["Show.S01E01.1080p.en.srt", "2_English.srt"], 1: ["Other.Group.S01E02.fre.srt"]}
    movie = files("M/M.2010.mkv", "M/Subs/French.srt", "M/M.2010.nfo")
    assert [s.language for s in match_subtitles(movie, [VideoRef(0, movie[0].path)])[0]] == ["fr"]


def test_moviehash_of_generated_files_matches_the_arithmetic():
    # All bytes 0x01: every 64-bit word is 0x0101010101010101, 8192 words at each end.
    size = 300_000
    expected = (size + 2 * 8192 * 0x0101010101010101) % 2**64
    assert moviehash(size, b"\x01" * BLOCK, b"\x01" * BLOCK) == f"{expected:016x}"
    # Words numbered 0..8191 at the head and 8192..16383 at the tail: sum 0..16383 plus the size.
    head = b"".join(struct.pack("<Q", n) for n in range(8192))
    tail = b"".join(struct.pack("<Q", n) for n in range(8192, 16384))
    assert moviehash(2 * BLOCK, head, tail) == f"{(2 * BLOCK + 16383 * 16384 // 2):016x}"
    # Overflow wraps at 64 bits.
    assert moviehash(BLOCK, b"\xff" * BLOCK, b"\xff" * BLOCK) == f"{(BLOCK - 2 * 8192) % 2**64:016x}"
    with pytest.raises(ValueError):
        moviehash(1000, b"", b"")


def test_moviehash_of_a_file_reads_its_two_ends(tmp_path):
    path = tmp_path / "video.mkv"
    content = deterministic_bytes("hash", 1_000_003)
    path.write_bytes(content)
    assert moviehash_of_file(str(path)) == moviehash(len(content), content[:BLOCK], content[-BLOCK:])


def propfind_names(server, path: str) -> set[str]:
    response = server.dav("PROPFIND", quote(path), headers={"Depth": "1"})
    assert response.status_code == 207
    hrefs = [e.text for e in ElementTree.fromstring(response.content).iter("{DAV:}href")]
    return {unquote(h.rstrip("/").rsplit("/", 1)[1]) for h in hrefs if unquote(h.rstrip("/")) != path}


def seed_and_assign(server, seeder, made, kind: str, title: str, year: int) -> int:
    """Seed `made`, add a movie or show, assign it by magnet; the item's id."""
    seeder.seed(made)
    item = server.api("POST", f"/api/{kind}s", json={"title": title, "year": year}).json()
    assigned = server.api("POST", f"/api/{kind}s/{item['id']}/assign", json={"source": seeder.magnet(made)})
    assert assigned.status_code == 200, assigned.text
    return item["id"]


def test_a_movie_torrent_carries_subtitles_in_every_naming_style(server, seeder, torrent_factory):
    names = {
        "Movie.2010.1080p.mkv": 200_000,
        "Movie.2010.1080p.en.srt": 3_001,
        "Movie.2010.1080p.eng.srt": 3_002,
        "Movie.2010.1080p.English.forced.srt": 3_003,
        "Movie.2010.1080p.SDH.eng.srt": 3_004,
        "Subs/French.srt": 3_005,
        "Subs/2_German.ass": 3_006,
        "Movie.2010.1080p.nfo": 500,
    }
    movie_id = seed_and_assign(server, seeder, torrent_factory("Movie.2010.1080p", names), "movie", "Movie", 2010)
    listed = server.api("GET", f"/api/movies/{movie_id}").json()["assignment"]["subtitles"]
    assert sorted((s["language"], s["variant"] or "") for s in listed) == [
        ("de", ""), ("en", ""), ("en", ""), ("en", "forced"), ("en", "sdh"), ("fr", "")]

    folder = "/Movies/Movie (2010)"
    expected = {
        "Movie (2010).en.forced.srt": "Movie.2010.1080p.English.forced.srt",
        "Movie (2010).en.sdh.srt": "Movie.2010.1080p.SDH.eng.srt",
        "Movie (2010).en.srt": "Movie.2010.1080p.en.srt",
        "Movie (2010).en.2.srt": "Movie.2010.1080p.eng.srt",
        "Movie (2010).de.ass": "Subs/2_German.ass",
        "Movie (2010).fr.srt": "Subs/French.srt",
    }
    assert propfind_names(server, folder) == {"Movie (2010).mkv", *expected}
    for share_name, torrent_path in expected.items():
        response = server.dav("GET", quote(f"{folder}/{share_name}"))
        assert response.status_code == 200, share_name
        assert response.content == deterministic_bytes(f"Movie.2010.1080p/{torrent_path}", names[torrent_path])
        assert response.headers["Content-Type"].startswith("text/plain")


def test_a_season_pack_gives_each_episode_its_subtitles(server, seeder, torrent_factory):
    names = {
        "Show.S01E01.720p.mkv": 100_000,
        "Show.S01E02.720p.mkv": 100_000,
        "Show.S01E01.720p.en.srt": 2_001,
        "Subs/Show.S01E02.720p/2_English.srt": 2_002,
        "Subs/Show.S01E02.720p/3_Spanish.srt": 2_003,
        "Show.S01E02.WEB.fre.vtt": 2_004,
    }
    seed_and_assign(server, seeder, torrent_factory("Show.S01.720p", names), "show", "Show", 2020)
    season = "/TV Shows/Show (2020)/Season 01"
    listed = propfind_names(server, season)
    subtitles = sorted(name for name in listed if not name.endswith(".mkv"))
    assert len(listed) == 6 and len(subtitles) == 4
    first, second = sorted(name[: -len(".mkv")] for name in listed if name.endswith(".mkv"))
    assert subtitles == sorted([f"{first}.en.srt", f"{second}.en.srt", f"{second}.es.srt", f"{second}.fr.vtt"])
    vtt = server.dav("GET", quote(f"{season}/{second}.fr.vtt"))
    assert vtt.headers["Content-Type"].startswith("text/vtt")
    assert vtt.content == deterministic_bytes("Show.S01.720p/Show.S01E02.WEB.fre.vtt", 2_004)
