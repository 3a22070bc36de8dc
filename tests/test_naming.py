"""The share's names: product.md's layout, made safe for every client."""

from __future__ import annotations

import unicodedata

import pytest

from momoshtrem.library import naming


@pytest.mark.parametrize(
    "title,expected",
    [
        ("AC/DC: Live | Loud", "AC-DC- Live - Loud"),
        ('What "If"?', "What 'If'"),
        ("<Star*>", "Star"),
        ("Back\\slash", "Back-slash"),
        ("  spaced   out  ", "spaced out"),
        ("...", "_"),
        ("..", "_"),
        ("Trailing dot.", "Trailing dot"),
        ("Tab\there", "Tab here"),
    ],
)
def test_safe_name(title, expected):
    assert naming.safe_name(title) == expected


def test_unicode_is_nfc():
    decomposed = unicodedata.normalize("NFD", "Amélie")
    assert naming.safe_name(decomposed) == unicodedata.normalize("NFC", "Amélie")


def test_movie_and_episode_names():
    assert naming.movie_folder("The Matrix", 1999) == "The Matrix (1999)"
    assert naming.movie_file("The Matrix", 1999, ".mkv") == "The Matrix (1999).mkv"
    assert naming.movie_folder("Untitled", None) == "Untitled"
    assert naming.season_folder(1) == "Season 01"
    assert naming.season_folder(0) == "Season 00"
    assert naming.episode_file("Show", 1, [2], "Pilot: Part 1", ".mp4") == "Show - S01E02 - Pilot- Part 1.mp4"
    assert naming.episode_file("Show", 1, [3], None, ".mkv") == "Show - S01E03 - Episode 3.mkv"
    assert naming.episode_file("Show", 1, [3], "  ", ".mkv") == "Show - S01E03 - Episode 3.mkv"
    assert naming.episode_file("Show", 2, [2, 1], "One", ".mkv") == "Show - S02E01-E02 - One.mkv"
    assert naming.episode_file("Show", 1, [100], "Hundred", ".mkv") == "Show - S01E100 - Hundred.mkv"
