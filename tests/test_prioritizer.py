"""The prioritizer's plans, on piece arithmetic alone."""

from __future__ import annotations

import pytest

from momoshtrem.streaming.containers import ByteRange, ContainerIndex
from momoshtrem.streaming.prioritizer import (
    HIGH, LOW, TOP, PiecePlan, Prioritizer, ReadWindow, StreamingSettings,
)
from momoshtrem.torrent.pieces import FileSpan

MiB = 1024 * 1024
PIECE = MiB
SETTINGS = StreamingSettings(header_priority_bytes=10 * MiB, footer_priority_bytes=5 * MiB,
                             urgent_buffer_bytes=2 * MiB, readahead_bytes=16 * MiB, readahead_seconds=30)


def prioritizer(size: int, offset: int = 0, settings: StreamingSettings = SETTINGS) -> Prioritizer:
    return Prioritizer(FileSpan(offset=offset, size=size, piece_length=PIECE), settings)


def test_file_span_arithmetic_for_a_file_that_starts_and_ends_mid_piece():
    span = FileSpan(offset=PIECE // 2, size=3 * PIECE, piece_length=PIECE)
    assert span.pieces == range(0, 4)
    assert span.piece_at(0) == 0 and span.piece_at(PIECE // 2) == 1
    assert span.pieces_for(3 * PIECE - 1, 10) == range(3, 4)  # clipped to the file
    assert span.pieces_for(3 * PIECE, 10) == range(0)
    assert span.pieces_for(10, 0) == range(0)
    assert span.piece_end(0) == PIECE // 2 and span.piece_end(1) == PIECE + PIECE // 2
    assert span.piece_end(3) == 3 * PIECE  # the file ends mid-piece
    assert span.piece_start(0) == 0 and span.piece_start(1) == PIECE // 2  # the file starts mid-piece 0


def test_small_file_is_wanted_whole():
    plan = prioritizer(12 * MiB).base_plan()
    assert set(plan.priorities) == set(range(12))
    assert set(plan.deadlines) == {0}


def test_large_file_gets_header_and_footer_on_open():
    plan = prioritizer(100 * MiB).base_plan()
    assert {p for p, prio in plan.priorities.items()} == set(range(0, 10)) | set(range(95, 100))
    # Only the first and the last piece come first (deadlines); the rest of header and footer after them.
    assert plan.priorities[0] == TOP and plan.priorities[99] == TOP and plan.priorities[5] == LOW
    assert set(plan.deadlines) == {0, 99}
    assert 50 not in plan.priorities


@pytest.mark.parametrize("header, footer", [(0, 0), (0, 5 * MiB), (10 * MiB, 0), (1, 1)])
def test_header_and_footer_settings_of_zero_still_wait_for_the_first_and_last_piece(header, footer):
    settings = StreamingSettings(header_priority_bytes=header, footer_priority_bytes=footer,
                                 urgent_buffer_bytes=2 * MiB, readahead_bytes=16 * MiB, readahead_seconds=30)
    p = prioritizer(100 * MiB, settings=settings)
    assert set(p.base_plan().deadlines) == {0, 99}
    assert p.plan([ReadWindow(0, 65536)]).waiting


def test_known_index_replaces_the_guessed_footer_with_its_exact_range():
    p = prioritizer(100 * MiB)
    p.index = ContainerIndex("mp4", (ByteRange(90 * MiB + 10, 92 * MiB),), duration_seconds=None)
    plan = p.base_plan()
    assert {90, 91} <= set(plan.deadlines) and 99 not in plan.priorities and 95 not in plan.priorities
    assert plan.priorities[90] == TOP


def test_window_has_now_urgent_and_a_readahead_ladder():
    plan = prioritizer(100 * MiB).window_plan(ReadWindow(position=40 * MiB + 100, length=256 * 1024))
    assert plan.priorities[40] == TOP
    assert plan.priorities[41] == TOP and plan.priorities[42] == TOP  # the 2 MiB urgent window
    ahead = [plan.priorities[p] for p in range(43, 43 + 16)]
    assert ahead[0] == HIGH and ahead == sorted(ahead, reverse=True) and ahead[-1] >= 1
    assert plan.deadlines == {}  # only what a player waits for gets deadlines (see plan())
    assert 39 not in plan.priorities and 59 not in plan.priorities  # behind the reader, and past the window


def have_all_but(*missing: int):
    return lambda piece: piece not in missing


def test_seek_detection_ignores_moves_within_a_piece():
    p = prioritizer(100 * MiB)
    assert not p.is_seek(None, 0)
    assert not p.is_seek(10 * MiB, 10 * MiB)
    assert not p.is_seek(10 * MiB, 10 * MiB + PIECE - 1)
    assert p.is_seek(10 * MiB, 10 * MiB + PIECE + 1)
    assert p.is_seek(10 * MiB, 2 * MiB)


def test_on_open_a_player_waits_for_the_first_and_last_piece_and_their_continuation():
    p = prioritizer(100 * MiB)
    plan = p.plan([ReadWindow(0, 65536)])  # cold: nothing there
    assert set(plan.deadlines) == {0, 99} and plan.priorities == {0: TOP, 99: TOP, 1: LOW}


def test_a_matroska_player_waits_for_the_first_piece_alone_and_the_index_comes_after_it():
    # ffmpeg and mpv read an MKV's Cues only at their first seek (strace, see probestore/plan.py): a probe or a
    # play from the start that waited for the last piece too paid a piece it never reads.
    p = Prioritizer(FileSpan(offset=0, size=100 * MiB, piece_length=PIECE), SETTINGS, index_before_play=False)
    cold = p.plan([ReadWindow(0, 65536)])
    assert set(cold.deadlines) == {0} and cold.priorities == {0: TOP, 1: LOW}
    # With the first piece in, the index joins a wait at the lowest priority, for a seek that may follow.
    reading_on = p.plan([ReadWindow(PIECE, 65536)], have=have_all_but(*range(1, 100)))
    assert set(reading_on.deadlines) == {1} and reading_on.priorities == {1: TOP, 2: LOW, 99: LOW}
    flowing = p.plan([ReadWindow(0, 65536)], have=have_all_but(99, 50))
    assert not flowing.waiting and flowing.priorities[99] == HIGH
    p.index = ContainerIndex("mkv", (ByteRange(96 * MiB, 96 * MiB + 4096),), duration_seconds=None)
    assert p.plan([ReadWindow(0, 65536)]).priorities == {0: TOP, 1: LOW}
    assert p.plan([ReadWindow(0, 65536)], have=have_all_but(96)).priorities[96] == HIGH
    seek = p.plan([ReadWindow(96 * MiB, 4096)], have=have_all_but(96))  # ffmpeg's seek reads the Cues itself
    assert set(seek.deadlines) == {96}


def test_pieces_the_probe_store_holds_leave_the_base_but_not_a_readers_window():
    p = prioritizer(100 * MiB)
    stored = lambda piece: piece in (0, 1, 99)  # noqa: E731
    cold_seek = p.plan([ReadWindow(50 * MiB, 65536)], stored=stored)
    assert set(cold_seek.deadlines) == {50}
    flowing = p.plan([ReadWindow(50 * MiB, 65536)], have=have_all_but(2, 99), stored=stored)
    assert 0 not in flowing.priorities and 99 not in flowing.priorities and flowing.priorities[2] == LOW
    assert set(p.plan([ReadWindow(0, 65536)], stored=stored).deadlines) == {0}  # a reader of the torrent's data


def test_while_nobody_waits_the_plan_flows_without_deadlines():
    p = prioritizer(100 * MiB)
    plan = p.plan([ReadWindow(20 * MiB, 65536)], have=have_all_but(30, 31, 50))
    assert not plan.waiting and plan.deadlines == {}
    assert plan.priorities[20] == TOP and plan.priorities[22] == TOP and plan.priorities[5] == LOW
    assert 30 in plan.priorities and 50 not in plan.priorities


def test_a_read_that_waits_narrows_the_plan_to_its_pieces():
    p = prioritizer(100 * MiB)
    plan = p.plan([ReadWindow(20 * MiB, 2 * MiB)], have=have_all_but(21, 22, 23, 40))
    # Not the urgent window, not the readahead: only the continuation (22), lowest and without a deadline.
    assert plan.priorities == {21: TOP, 22: LOW} and set(plan.deadlines) == {21}
    assert plan.waiting


def test_the_continuation_is_the_first_missing_piece_after_the_waited_read_within_the_readahead():
    p = prioritizer(100 * MiB)
    window = [ReadWindow(20 * MiB, 65536)]
    assert p.plan(window, have=have_all_but(20, 24, 60)).priorities == {20: TOP, 24: LOW}
    assert p.plan(window, have=have_all_but(20, 60)).priorities == {20: TOP}  # 60 is past the readahead
    at_the_end = p.plan([ReadWindow(99 * MiB, 65536)], have=have_all_but(99))
    assert at_the_end.priorities == {99: TOP}  # nothing after the file's last piece


def test_a_wait_for_the_base_alone_has_no_continuation():
    p = prioritizer(100 * MiB)
    plan = p.plan([ReadWindow(50 * MiB, 65536)], have=have_all_but(99, 51))  # the reader has its piece
    assert plan.priorities == {99: TOP} and plan.waiting


def test_seek_moves_the_window_and_old_deadlines_go():
    p = prioritizer(100 * MiB)
    before = p.plan([ReadWindow(20 * MiB, 65536)], have=have_all_but(20, 70))
    after = p.plan([ReadWindow(70 * MiB, 65536)], have=have_all_but(20, 70))
    assert set(before.deadlines) == {20} and set(after.deadlines) == {70}


def test_the_newest_waiting_reader_is_served_first_and_the_older_one_after_it():
    p = prioritizer(100 * MiB)
    readers = [ReadWindow(1 * MiB, 65536), ReadWindow(60 * MiB, 65536)]  # oldest first
    assert set(p.plan(readers, have=have_all_but(1, 60)).deadlines) == {60}
    assert set(p.plan(readers, have=have_all_but(1)).deadlines) == {1}
    assert set(p.plan(readers[:1], have=have_all_but(1, 60)).deadlines) == {1}  # the newest closed


def test_the_index_is_waited_for_with_the_newest_read():
    p = prioritizer(100 * MiB)
    p.index = ContainerIndex("mp4", (ByteRange(90 * MiB + 10, 92 * MiB),), duration_seconds=None)
    plan = p.plan([ReadWindow(50 * MiB, 65536)], have=have_all_but(50, 91))
    assert set(plan.deadlines) == {50, 91} and plan.deadlines[91] < plan.deadlines[50]


def test_several_readers_share_one_plan_as_the_union_of_their_windows():
    p = prioritizer(100 * MiB)
    everything = have_all_but()
    plan = p.plan([ReadWindow(0, 65536), ReadWindow(80 * MiB, 65536), ReadWindow(50 * MiB, 65536)], have=everything)
    for piece in (0, 80, 50, 81, 51, 1):
        assert plan.priorities[piece] == TOP
    single = p.plan([ReadWindow(50 * MiB, 65536)], have=everything)
    assert set(single.priorities) < set(plan.priorities)


def test_a_closed_probe_leaves_the_base_in_place():
    p = prioritizer(100 * MiB)
    after_probe = p.plan([], keep_base=True, have=have_all_but())
    assert after_probe.priorities == p.base_plan().priorities
    assert p.plan([], keep_base=False).priorities == {}


@pytest.mark.parametrize("duration,expected", [
    (None, 16 * MiB),              # unknown bitrate: the byte bound
    (3000.0, 2 * MiB),             # 100 MiB over 50 min: 30 s is ~1 MiB, raised to the urgent floor
    (300.0, 10 * MiB),             # 30 s of a 300 s file
    (10.0, 16 * MiB),              # 30 s would be the whole file: capped
])
def test_readahead_is_seconds_of_playback_within_byte_bounds(duration, expected):
    p = prioritizer(100 * MiB)
    p.index = ContainerIndex("mkv", (), duration) if duration else None
    assert p.readahead_bytes() == expected


def test_plan_merge_keeps_highest_priority_and_earliest_deadline():
    a, b = PiecePlan(), PiecePlan()
    a.want(1, 3, 500)
    b.want(1, 7, 900)
    b.want(2, 1)
    a.merge(b)
    assert a.priorities == {1: 7, 2: 1} and a.deadlines == {1: 500}
