"""What the probe store keeps (pure), and the store's own rules on disk: atomic entries, its cap, its order."""

from __future__ import annotations

import os
import time

import pytest

from momoshtrem.probestore.plan import HEAD_BYTES, covered_until, merge, ranges_to_keep
from momoshtrem.probestore.store import ProbeStore, StoreFull
from momoshtrem.streaming.containers import ByteRange, ContainerIndex

MiB = 1024 * 1024
KiB = 1024
R = ByteRange


@pytest.mark.parametrize("size, index, expected", [
    # MP4 with moov at the end (the 38 MB file measured in plan.py): head, and the last MiB holding moov.
    (38_206_520, ContainerIndex("mp4", (R(38_154_274, 38_206_520),)),
     (R(0, 4 * MiB), R(37_093_376, 38_206_520))),  # the last MiB, from a 64 KiB boundary
    # MP4 with moov at the start: inside the head.
    (38_206_520, ContainerIndex("mp4", (R(40, 130_000),)),
     (R(0, 4 * MiB), R(37_093_376, 38_206_520))),
    # MKV whose Cues sit 1.5 MiB before the end: kept whole, apart from the tail.
    (100 * MiB, ContainerIndex("mkv", (R(4_000, 5_000), R(5_000, 9_000), R(100 * MiB - 3 * MiB, 100 * MiB - 2 * MiB - 1))),
     (R(0, 4 * MiB), R(97 * MiB, 98 * MiB), R(99 * MiB, 100 * MiB))),
    # No index (TS, AVI, a file that is not what its name says): 4 MiB at each end.
    (500 * MiB, None, (R(0, 4 * MiB), R(496 * MiB, 500 * MiB))),
    (500 * MiB, ContainerIndex("mkv"), (R(0, 4 * MiB), R(496 * MiB, 500 * MiB))),
    # A moov of 40 MiB (hostile, or a 10-hour recording) is not kept.
    (2000 * MiB, ContainerIndex("mp4", (R(1000 * MiB, 1040 * MiB),)), (R(0, 4 * MiB), R(1999 * MiB, 2000 * MiB))),
    # A small file: all of it, once.
    (3 * MiB, None, (R(0, 3 * MiB),)),
    (5 * MiB, ContainerIndex("mp4", (R(4 * MiB + 7, 5 * MiB),)), (R(0, 5 * MiB),)),
    (0, None, ()),
])
def test_ranges_to_keep(size, index, expected):
    kept = ranges_to_keep(size, index)
    assert kept == expected
    assert kept[0].start == 0 and kept[-1].end == size if size else kept == ()
    if size >= 64 * KiB:  # the moviehash's two blocks are always inside
        assert covered_until(kept, 0) >= 64 * KiB and covered_until(kept, size - 64 * KiB) == size


def test_merge_joins_touching_and_overlapping_ranges_and_drops_empty_ones():
    assert merge([R(10, 20), R(0, 10), R(15, 30), R(40, 40), R(50, 60)]) == (R(0, 30), R(50, 60))


def test_covered_until():
    ranges = (R(0, 100), R(200, 300))
    assert [covered_until(ranges, p) for p in (0, 99, 100, 150, 200, 299, 300)] == [100, 100, 100, 150, 300, 300, 300]


HASH = "ab" * 20


def chunks_of(data: bytes, ranges: tuple[ByteRange, ...]) -> list[tuple[ByteRange, bytes]]:
    return [(r, data[r.start:r.end]) for r in ranges]


def test_an_entry_serves_its_bytes_and_survives_a_reload(tmp_path):
    data = os.urandom(10 * MiB)
    ranges = ranges_to_keep(len(data), None)
    store = ProbeStore(tmp_path / "probes", cap_bytes=100 * MiB)
    store.load()
    probe = store.put(HASH, 3, len(data), chunks_of(data, ranges), moviehash="0123456789abcdef")

    again = ProbeStore(tmp_path / "probes", cap_bytes=100 * MiB)
    again.load()
    loaded = again.get(HASH, 3)
    assert loaded == probe and loaded.moviehash == "0123456789abcdef"
    with open(loaded.path, "rb") as handle:
        for position in (0, 12345, HEAD_BYTES - 1, len(data) - 1, len(data) - 4 * MiB):
            handle.seek(loaded.offset_in_entry(position))
            assert handle.read(1) == data[position:position + 1]
    with pytest.raises(ValueError):
        loaded.offset_in_entry(5 * MiB)  # not stored


def test_what_a_crash_leaves_and_entries_cut_short_are_removed_at_load(tmp_path):
    data = os.urandom(9 * MiB)
    store = ProbeStore(tmp_path, cap_bytes=100 * MiB)
    store.load()
    kept = store.put(HASH, 0, len(data), chunks_of(data, ranges_to_keep(len(data), None)), None)
    cut = store.put(HASH, 1, len(data), chunks_of(data, ranges_to_keep(len(data), None)), None)
    with open(cut.path, "r+b") as handle:
        handle.truncate(1000)
    leftover = kept.path.with_name("2.probe.tmp")
    leftover.write_bytes(b"half an entry")
    stray = tmp_path / HASH / "notes.txt"
    stray.write_text("not ours")

    reloaded = ProbeStore(tmp_path, cap_bytes=100 * MiB)
    reloaded.load()
    assert reloaded.keys() == {(HASH, 0)}
    assert sorted(p.name for p in (tmp_path / HASH).iterdir()) == ["0.probe"]


def test_the_least_recently_read_entry_makes_room_and_an_entry_over_the_cap_is_refused(tmp_path):
    data = os.urandom(9 * MiB)
    chunks = chunks_of(data, ranges_to_keep(len(data), None))  # 8 MiB kept
    store = ProbeStore(tmp_path, cap_bytes=17 * MiB)
    store.load()
    store.put("a" * 40, 0, len(data), chunks, None)
    time.sleep(0.01)  # distinct last-read times; not a synchronisation
    store.put("b" * 40, 0, len(data), chunks, None)
    store.get("a" * 40, 0)  # read since: "b" is now the least recently read
    store.put("c" * 40, 0, len(data), chunks, None)
    assert store.keys() == {("a" * 40, 0), ("c" * 40, 0)}
    assert store.usage() <= 17 * MiB
    assert not (tmp_path / ("b" * 40)).exists()

    with pytest.raises(StoreFull, match="library.probe_store_size"):
        ProbeStore(tmp_path / "small", cap_bytes=MiB).put("d" * 40, 0, len(data), chunks, None)
