"""Parsing .torrent bytes and naming torrents by magnet or info-hash."""

from __future__ import annotations

import pytest

from momoshtrem.torrent.metainfo import MetainfoError, parse_torrent
from momoshtrem.torrent.sources import SourceError, parse_source


def test_parse_hybrid_torrent_marks_pad_files(torrent_factory):
    made = torrent_factory("Show", {"a.mkv": 100_000, "b.mkv": 50_000})
    meta = parse_torrent(made.data)
    assert meta.info_hash == made.info_hash
    assert meta.name == "Show"
    assert any(f.is_pad for f in meta.files), "libtorrent 2.1 hybrid torrents carry pad files"
    assert [(f.path, f.size) for f in meta.real_files()] == [("Show/a.mkv", 100_000), ("Show/b.mkv", 50_000)]
    assert meta.torrent_bytes == made.data


def test_parse_single_file_torrent(torrent_factory):
    made = torrent_factory("Movie.2010.mkv", {"Movie.2010.mkv": 40_000}, v1_only=True)
    meta = parse_torrent(made.data)
    assert [(f.path, f.size, f.offset) for f in meta.files] == [("Movie.2010.mkv", 40_000, 0)]


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty"),
        (b"hello", "not a .torrent"),
        (b"d4:infod4:name1:xee", "piece length"),
        (b"d4:info", "not a valid"),
    ],
)
def test_malformed_torrent_is_refused_with_a_reason(data, message):
    with pytest.raises(MetainfoError, match=message):
        parse_torrent(data)


HEX = "c9e15763f722f23e98a29decdfae341b98d53056"


@pytest.mark.parametrize(
    "text,info_hash",
    [
        (HEX, HEX),
        (HEX.upper(), HEX),
        (f"magnet:?xt=urn:btih:{HEX}&dn=Some+Name&x.pe=127.0.0.1:6881", HEX),
        ("magnet:?xt=urn:btih:ZHQVOY7XELZD5GFCTXWN7LRUDOMNKMCW", HEX),
        (f"  magnet:?dn=x&xt=urn:btih:{HEX.upper()}  ", HEX),
    ],
)
def test_sources_normalise_to_hex(text, info_hash):
    assert parse_source(text).info_hash == info_hash


def test_magnet_keeps_display_name():
    assert parse_source(f"magnet:?xt=urn:btih:{HEX}&dn=Some+Name").display_name == "Some Name"


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty"),
        ("abc123", "40 hex digits"),
        (HEX + "00", "40 hex digits"),
        ("magnet:?dn=nothing", "no 'xt=urn:btih:'"),
        ("magnet:?xt=urn:btih:xyz", "not an info-hash"),
        ("magnet:?xt=urn:btmh:1220" + "ab" * 32, "v2-only"),
    ],
)
def test_malformed_sources_are_refused(text, message):
    with pytest.raises(SourceError, match=message):
        parse_source(text)
