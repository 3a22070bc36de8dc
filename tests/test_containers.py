"""The MP4 and MKV analyzers on crafted bytes, on real ffmpeg output, and on arbitrary bytes."""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from momoshtrem.streaming.containers import ByteRange, analyze_mkv, analyze_mp4


def reader(data: bytes, calls: list | None = None):
    def read(offset: int, length: int) -> bytes:
        if calls is not None:
            calls.append((offset, length))
        return data[offset: offset + length]
    return read


def atom(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(timescale: int, duration: int, version: int = 0) -> bytes:
    if version == 1:
        body = bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", 0, 0, timescale, duration)
    else:
        body = bytes(4) + struct.pack(">IIII", 0, 0, timescale, duration)
    return atom(b"mvhd", body + bytes(80))


FTYP = atom(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41")


def test_moov_first():
    moov = atom(b"moov", mvhd(1000, 60_000) + atom(b"trak", bytes(100)))
    data = FTYP + moov + atom(b"mdat", bytes(5000))
    index = analyze_mp4(reader(data), len(data))
    assert index.ranges == (ByteRange(len(FTYP), len(FTYP) + len(moov)),)
    assert index.duration_seconds == 60.0


def test_moov_last_is_found_without_reading_mdat():
    moov = atom(b"moov", mvhd(600, 36_000))
    mdat = atom(b"mdat", bytes(1_000_000))
    data = FTYP + atom(b"free", bytes(8)) + mdat + moov
    calls: list = []
    index = analyze_mp4(reader(data, calls), len(data))
    assert index.ranges == (ByteRange(len(data) - len(moov), len(data)),)
    assert index.duration_seconds == 60.0
    assert sum(length for _, length in calls) < 200  # atom headers only


def test_64_bit_sizes_and_version_1_mvhd():
    moov = atom(b"moov", mvhd(1000, 90_000, version=1))
    payload = bytes(3000)
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload)) + payload
    data = FTYP + mdat + moov
    index = analyze_mp4(reader(data), len(data))
    assert index.ranges == (ByteRange(len(FTYP) + len(mdat), len(data)),)
    assert index.duration_seconds == 90.0


def test_size_zero_runs_to_the_end():
    moov = atom(b"moov", mvhd(1000, 1000))
    data = FTYP + moov[:0] + struct.pack(">I4s", 0, b"moov") + moov[8:]
    index = analyze_mp4(reader(data), len(data))
    assert index.ranges == (ByteRange(len(FTYP), len(data)),)


@pytest.mark.parametrize("data", [
    b"",
    b"\x00\x00",
    FTYP[:10],
    FTYP + atom(b"mdat", bytes(100))[:12],          # mdat claims more than the file holds
    FTYP + struct.pack(">I4s", 3, b"free"),          # an atom smaller than its header
    b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(100),   # not an MP4
    b"\x1a\x45\xdf\xa3" + bytes(100),                # an MKV
])
def test_truncated_hostile_and_foreign_input_gives_no_result(data):
    assert analyze_mp4(reader(data), len(data)) is None


def test_no_moov_is_no_result():
    data = FTYP + atom(b"mdat", bytes(100))
    assert analyze_mp4(reader(data), len(data)) is None


# -- MKV ---------------------------------------------------------------------------


def vint_size(n: int) -> bytes:
    return bytes([0x08]) + n.to_bytes(4, "big")  # 5-byte length


def element(element_id: int, payload: bytes) -> bytes:
    return element_id.to_bytes((element_id.bit_length() + 7) // 8, "big") + vint_size(len(payload)) + payload


def seek(target: int, position: int) -> bytes:
    return element(0x4DBB, element(0x53AB, target.to_bytes(4, "big")) + element(0x53AC, position.to_bytes(4, "big")))


def make_mkv(with_seek_head: bool = True, duration_ms: float = 60_000.0) -> tuple[bytes, dict]:
    ebml = element(0x1A45DFA3, element(0x4282, b"matroska"))
    info = element(0x1549A966, element(0x2AD7B1, (1_000_000).to_bytes(3, "big")) +
                   element(0x4489, struct.pack(">d", duration_ms)))
    tracks = element(0x1654AE6B, bytes(50))
    clusters = element(0x1F43B675, bytes(20_000))
    cues = element(0x1C53BB6B, bytes(300))
    seek_head_size = len(element(0x114D9B74, seek(0x1549A966, 0) + seek(0x1654AE6B, 0) + seek(0x1C53BB6B, 0)))
    head = seek_head_size if with_seek_head else 0
    info_at = head
    tracks_at = info_at + len(info)
    cues_at = tracks_at + len(tracks) + len(clusters)
    seek_head = element(0x114D9B74, seek(0x1549A966, info_at) + seek(0x1654AE6B, tracks_at) + seek(0x1C53BB6B, cues_at))
    body = (seek_head if with_seek_head else b"") + info + tracks + clusters + cues
    segment_header = (0x18538067).to_bytes(4, "big") + vint_size(len(body))
    data = ebml + segment_header + body
    segment_data = len(ebml) + len(segment_header)
    where = {
        "info": ByteRange(segment_data + info_at, segment_data + info_at + len(info)),
        "tracks": ByteRange(segment_data + tracks_at, segment_data + tracks_at + len(tracks)),
        "cues": ByteRange(segment_data + cues_at, segment_data + cues_at + len(cues)),
    }
    return data, where


def test_mkv_seek_head_gives_exact_ranges_and_duration():
    data, where = make_mkv()
    index = analyze_mkv(reader(data), len(data))
    assert index.format == "mkv"
    assert index.ranges == (where["info"], where["tracks"], where["cues"])
    assert index.duration_seconds == pytest.approx(60.0)


def test_mkv_without_seek_head_is_recognised_with_no_ranges():
    data, _ = make_mkv(with_seek_head=False)
    index = analyze_mkv(reader(data), len(data))
    assert index is not None and index.ranges == () and index.duration_seconds is None


@pytest.mark.parametrize("cut", [4, 12, 40, 90])
def test_truncated_mkv_never_raises(cut):
    data, _ = make_mkv()
    result = analyze_mkv(reader(data[:cut]), cut)
    assert result is None or result.format == "mkv"


@pytest.mark.parametrize("data", [b"", b"\x1a\x45", FTYP + bytes(100), b"\x1a\x45\xdf\xa3\x00\x00\x00"])
def test_not_mkv_or_broken_header(data):
    result = analyze_mkv(reader(data), len(data))
    assert result is None or result.ranges == ()


@given(st.binary(max_size=2048))
@settings(max_examples=400, deadline=None)
def test_analyzers_never_raise_on_arbitrary_bytes(data):
    calls: list = []
    for analyze in (analyze_mp4, analyze_mkv):
        result = analyze(reader(data, calls), len(data))
        assert result is None or all(0 <= r.start <= r.end <= len(data) for r in result.ranges)
    assert len(calls) <= 200  # bounded work, whatever the input


@given(st.binary(max_size=512), st.integers(min_value=0, max_value=2**40))
@settings(max_examples=200, deadline=None)
def test_analyzers_never_raise_when_the_claimed_size_lies(data, claimed):
    for analyze in (analyze_mp4, analyze_mkv):
        analyze(reader(data), claimed)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (.ci/run installs it)")
def test_real_ffmpeg_files(tmp_path):
    mp4 = tmp_path / "moov_last.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=4:size=160x120:rate=25",
                    "-c:v", "libx264", "-preset", "ultrafast", str(mp4)], check=True, timeout=120)
    mkv = tmp_path / "remux.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(mp4), "-c", "copy", str(mkv)], check=True, timeout=120)
    data = mp4.read_bytes()
    index = analyze_mp4(reader(data), len(data))
    assert index.ranges[0].end == len(data) and data[index.ranges[0].start + 4: index.ranges[0].start + 8] == b"moov"
    assert index.duration_seconds == pytest.approx(4.0, abs=0.1)
    data = mkv.read_bytes()
    index = analyze_mkv(reader(data), len(data))
    cues = index.ranges[-1]
    assert data[cues.start: cues.start + 4] == b"\x1c\x53\xbb\x6b" and cues.end <= len(data)
    assert index.duration_seconds == pytest.approx(4.0, abs=0.1)
