"""Release names from the wild, matched to episodes or refused with a reason."""

from __future__ import annotations

import pytest

from momoshtrem.library import matching
from momoshtrem.library.matching import HIGH, LOW, MEDIUM
from momoshtrem.torrent.metainfo import TorrentFile

# (path inside the torrent, torrent name, expected season, expected episodes, confidence)
EPISODES = [
    ("Show.Name.S01E02.1080p.WEB-DL.x265-GROUP.mkv", "", 1, (2,), HIGH),
    ("Show.Name.S01E02.720p.HDTV.x264-GRP.mkv", "", 1, (2,), HIGH),
    ("show.name.s03e10.hdtv.avi", "", 3, (10,), HIGH),
    ("Show.Name.S10E12.1080p.mkv", "", 10, (12,), HIGH),
    ("Show.Name.S1E4.mkv", "", 1, (4,), HIGH),
    ("Show.S01.E04.mkv", "", 1, (4,), HIGH),
    ("Show Name - S02E05 - The Title.mkv", "", 2, (5,), HIGH),
    ("Show.Name.S01E05.PROPER.REPACK.1080p.mkv", "", 1, (5,), HIGH),
    ("The.Office.US.S02E03.720p.mkv", "", 2, (3,), HIGH),
    ("Doctor.Who.2005.S01E02.mkv", "", 1, (2,), HIGH),
    ("Show.2024.S01E03.1080p.mkv", "", 1, (3,), HIGH),
    ("Show.Name.S02E18.2160p.UHD.BluRay.x265.mkv", "", 2, (18,), HIGH),
    # ranges and multi-episode files
    ("Show.Name.S01E01-E03.720p.mkv", "", 1, (1, 2, 3), HIGH),
    ("Show.Name.S01E01E02.mkv", "", 1, (1, 2), HIGH),
    ("Show.Name.S01E01E02E03.mkv", "", 1, (1, 2, 3), HIGH),
    ("Show.Name.S01E09-10.mkv", "", 1, (9, 10), HIGH),
    # NxNN
    ("Show.Name.1x02.HDTV.avi", "", 1, (2,), HIGH),
    ("Show.Name.2x05.Title.avi", "", 2, (5,), HIGH),
    ("Show Name/Season 03/03x07 - Title.mkv", "Show Name", 3, (7,), HIGH),
    # spelled out
    ("Show Name Season 1 Episode 2.mp4", "", 1, (2,), HIGH),
    ("Show Name Season 2/Episode 7.mkv", "", 2, (7,), MEDIUM),
    # season folders
    ("Show/Season 1/Ep02.mkv", "Show", 1, (2,), MEDIUM),
    ("Show/Season 2/E05.mkv", "Show", 2, (5,), MEDIUM),
    ("Show/S02/E05.mkv", "Show", 2, (5,), MEDIUM),
    ("Show/S03/Episode 11.mkv", "Show", 3, (11,), MEDIUM),
    ("Show.Name.S02.1080p/02.mkv", "Show.Name.S02.1080p", 2, (2,), MEDIUM),
    ("Show.Name.Complete/Season 2/Show.Name.2x05.mkv", "Show.Name.Complete", 2, (5,), HIGH),
    ("Show.Name.S04.1080p.WEB/Show.Name.E06.mkv", "Show.Name.S04.1080p.WEB", 4, (6,), MEDIUM),
    # season from the torrent name when the file names carry only the episode
    ("Ep 03.mkv", "Show.Name.S05.720p", 5, (3,), MEDIUM),
    # anime style
    ("[SubsPlease] Frieren - 02 [1080p].mkv", "", 1, (2,), LOW),
    ("[Erai-raws] Show - 12 [1080p][Multiple Subtitle].mkv", "", 1, (12,), LOW),
    ("[Group] Some Anime - 05v2 [720p].mkv", "", 1, (5,), LOW),
    ("Show Name - 104 - Title.mkv", "", 1, (4,), MEDIUM),
    # specials
    ("Show.S00E01.Special.mkv", "", 0, (1,), HIGH),
    ("Show.Name.S00E03.Christmas.Special.1080p.mkv", "", 0, (3,), HIGH),
    # a show whose title is a word we treat as an extra elsewhere
    ("Extras.S01E01.mkv", "", 1, (1,), HIGH),
    ("Extras/Extras.S01E02.mkv", "Extras", 1, (2,), HIGH),
    # other containers
    ("Show.Name.S01E07.mp4", "", 1, (7,), HIGH),
    ("Show.Name.S01E08.m2ts", "", 1, (8,), HIGH),
]

# Names that are no episode: the year case above all.
NOT_EPISODES = [
    "Show.Name.2024.1080p.WEB.mkv",
    "Movie.Title.2019.2160p.UHD.BluRay.mkv",
    "1917.2019.1080p.mkv",
    "Show.Name.S03.Special.mkv",
    "Making.Something.Up.mkv",
]


@pytest.mark.parametrize("path,torrent_name,season,episodes,confidence", EPISODES)
def test_release_names_match_episodes(path, torrent_name, season, episodes, confidence):
    match = matching.guess_episode(path, torrent_name)
    assert match is not None, path
    assert (match.season, match.episodes, match.confidence) == (season, episodes, confidence)


@pytest.mark.parametrize("path", NOT_EPISODES)
def test_years_and_titles_are_not_episodes(path):
    assert matching.guess_episode(path, "") is None


def test_the_table_covers_at_least_forty_names():
    assert len(EPISODES) + len(NOT_EPISODES) >= 40


def _file(index: int, path: str, size: int = 1000) -> TorrentFile:
    return TorrentFile(index=index, path=path, size=size, offset=0, is_pad=False)


@pytest.mark.parametrize(
    "path,reason",
    [
        ("Show.S01E01.sample.mkv", matching.SAMPLE),
        ("Sample/show.s01e01.mkv", matching.SAMPLE),
        ("Show/Samples/show.s01e01.mkv", matching.SAMPLE),
        ("sample-show.s01e01.mkv", matching.SAMPLE),
        ("Show.S01E01.Trailer.mkv", matching.EXTRA),
        ("Show/Featurettes/Making of.mkv", matching.EXTRA),
        ("Show/Extras/Interview.mkv", matching.EXTRA),
        ("Show/Behind the Scenes/Part 1.mkv", matching.EXTRA),
        ("Show/Deleted Scenes/Scene 1.mkv", matching.EXTRA),
        ("Show/Bonus/Gag reel.mkv", matching.EXTRA),
        ("Show/Show.S01E01.nfo", matching.NOT_VIDEO),
        ("Show/Show.S01E01.srt", matching.NOT_VIDEO),
        ("Show/cover.jpg", matching.NOT_VIDEO),
    ],
)
def test_samples_extras_and_non_videos_are_skipped(path, reason):
    assert matching.skip_reason(_file(0, path), "Show") == reason


def test_sampler_in_a_title_is_not_a_sample():
    assert matching.skip_reason(_file(0, "The.Sampler.S01E01.mkv"), "") is None


def test_show_report_gives_every_file_a_verdict_and_keeps_the_largest_duplicate():
    files = [
        _file(0, "Pack/Show.S01E01.720p.mkv", 700),
        _file(1, "Pack/Show.S01E01.1080p.mkv", 1400),
        _file(2, "Pack/Show.S01E02.mkv", 900),
        _file(3, "Pack/Show.S01E02.sample.mkv", 10),
        _file(4, "Pack/info.nfo", 1),
        _file(5, "Pack/Show.Name.2024.mkv", 800),
    ]
    verdicts = {v.file.index: v for v in matching.classify_show_files(files, "Pack")}
    assert verdicts[0].reason == matching.DUPLICATE
    assert verdicts[1].match.episodes == (1,)
    assert verdicts[2].match.episodes == (2,)
    assert verdicts[3].reason == matching.SAMPLE
    assert verdicts[4].reason == matching.NOT_VIDEO
    assert verdicts[5].reason == matching.COULD_NOT_IDENTIFY


def test_movie_is_the_largest_non_sample_video():
    files = [
        _file(0, "Movie/Movie.2010.1080p.sample.mkv", 5000),
        _file(1, "Movie/Movie.2010.1080p.mkv", 4000),
        _file(2, "Movie/Extras/Trailer.mkv", 4500),
        _file(3, "Movie/Movie.2010.nfo", 10),
        _file(4, "Movie/Other.Cut.mkv", 3000),
    ]
    chosen, skipped = matching.pick_movie_file(files, "Movie")
    assert chosen is not None and chosen.index == 1
    reasons = {v.file.index: v.reason for v in skipped}
    assert reasons == {0: matching.SAMPLE, 2: matching.EXTRA, 3: matching.NOT_VIDEO, 4: matching.SMALLER_THAN_MAIN}


def test_movie_torrent_without_video_has_no_choice():
    chosen, skipped = matching.pick_movie_file([_file(0, "Album/track.flac")], "Album")
    assert chosen is None and skipped[0].reason == matching.NOT_VIDEO


@pytest.mark.parametrize(
    "path,torrent_name,resolution,source",
    [
        ("Movie.2019.2160p.UHD.BluRay.x265.mkv", "", "2160p", "BluRay"),
        ("Movie.2019.4K.WEBRip.mkv", "", "2160p", "WEBRip"),
        ("Movie.2019.1080p.AMZN.WEB-DL.mkv", "", "1080p", "WEB-DL"),
        ("Movie.2019.720p.BluRay.mkv", "", "720p", "BluRay"),
        ("Movie.2019.DVDRip.avi", "", None, "DVDRip"),
        ("Show.S01E01.HDTV.480p.mkv", "", "480p", "HDTV"),
        ("Pack/E01.mkv", "Show.S01.1080p.WEB-DL", "1080p", "WEB-DL"),
        ("Pack/E01.720p.mkv", "Show.S01.1080p.BluRay", "720p", "BluRay"),
        ("Pack/E01.mkv", "Show", None, None),
    ],
)
def test_quality_from_file_name_then_torrent_name(path, torrent_name, resolution, source):
    assert matching.quality(path, torrent_name) == matching.Quality(resolution, source)
