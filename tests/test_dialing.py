"""Connecting to peers with the product's default uTP setting: TCP-only, dual-stack and uTP-only seeders.

The other tests turn uTP off for determinism; these keep `torrent.enable_utp`
at its default, as users run it. A peer that does not answer uTP must cost no
more than a round trip (libtorrent's own default waits `utp_connect_timeout`,
3 s, before it tries TCP), and a peer that answers only uTP must still be
reached.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import libtorrent as lt
import pytest

from momoshtrem.config import Config
from momoshtrem.torrent.dialing import HOLD_SECONDS, STARVING_SECONDS, UtpFallback
from tests.helpers import MadeTorrent, RunningServer, Seeder, make_test_config

MiB = 1024 * 1024
MOVIE = "/Movies/Clip (2020)/Clip (2020).mkv"
# Far below libtorrent's 3 s uTP connect timeout, which the old default paid once for the metadata and
# again for the first read; far above the ~20 ms both take over TCP on loopback, even on a loaded machine.
TCP_BOUND = 2.0
# A uTP-only peer is dialled over uTP only once TCP has reached no peer for a moment (see torrent/dialing.py).
UTP_ONLY_BOUND = 15.0

TCP_ONLY = {"enable_incoming_utp": False, "enable_outgoing_utp": False}
DUAL_STACK = {"enable_incoming_utp": True, "enable_outgoing_utp": True}
UTP_ONLY = {"enable_incoming_utp": True, "enable_outgoing_utp": True,
            "enable_incoming_tcp": False, "enable_outgoing_tcp": False}


@pytest.fixture
def default_utp_config(tmp_path: Path) -> Config:
    config = make_test_config(tmp_path)
    config.torrent.enable_utp = Config().torrent.enable_utp  # the product's default, not the tests' TCP only
    assert config.torrent.enable_utp
    return config


@pytest.fixture
def clip(torrent_factory) -> MadeTorrent:
    return torrent_factory("Clip.2020.mkv", {"Clip.2020.mkv": 4 * MiB}, piece_size=MiB, v1_only=True)


@contextmanager
def seeding(made: MadeTorrent, transports: dict) -> Iterator[Seeder]:
    seeder = Seeder(**transports)
    seeder.seed(made)
    try:
        yield seeder
    finally:
        seeder.close()


def assign_and_read(config: Config, seeder: Seeder, made: MadeTorrent) -> tuple[float, float]:
    """Seconds to assign by magnet (metadata from the peer), then to GET the file's first 64 KiB."""
    server = RunningServer(config)
    try:
        movie = server.api("POST", "/api/movies", json={"title": "Clip", "year": 2020}).json()
        started = time.monotonic()
        response = server.api("POST", f"/api/movies/{movie['id']}/assign", json={"source": seeder.magnet(made)})
        assigned = time.monotonic() - started
        assert response.status_code == 200, response.text
        started = time.monotonic()
        response = server.dav("GET", quote(MOVIE), headers={"Range": "bytes=0-65535"})
        first_bytes = time.monotonic() - started
        assert response.status_code == 206, response.text
        expected = (made.root / "Clip.2020.mkv").read_bytes()[:65536]
        assert response.content == expected
        return assigned, first_bytes
    finally:
        server.stop()


@pytest.mark.parametrize("transports", [TCP_ONLY, DUAL_STACK], ids=["tcp-only seeder", "dual-stack seeder"])
def test_a_seeder_is_reached_within_a_round_trip_or_two(default_utp_config, clip, transports) -> None:
    with seeding(clip, transports) as seeder:
        assigned, first_bytes = assign_and_read(default_utp_config, seeder, clip)
        assert assigned < TCP_BOUND, f"assigning took {assigned:.2f} s"
        assert first_bytes < TCP_BOUND, f"the first 64 KiB took {first_bytes:.2f} s"


def test_a_seeder_that_answers_only_utp_is_still_reached(default_utp_config, clip) -> None:
    default_utp_config.torrent.metadata_timeout = 30
    with seeding(clip, UTP_ONLY) as seeder:
        assigned, first_bytes = assign_and_read(default_utp_config, seeder, clip)
        assert assigned < UTP_ONLY_BOUND, f"assigning took {assigned:.2f} s"
        assert first_bytes < UTP_ONLY_BOUND, f"the first 64 KiB took {first_bytes:.2f} s"


@pytest.fixture
def session() -> Iterator[lt.session]:
    running = lt.session({"listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
                          "enable_upnp": False, "enable_natpmp": False, "enable_outgoing_utp": False})
    yield running
    running.pause()


def dialing_utp(session: lt.session) -> bool:
    return session.get_settings()["enable_outgoing_utp"]


def test_utp_dialing_goes_on_while_a_wanted_torrent_starves_and_off_after_the_hold(session) -> None:
    fallback = UtpFallback(session, utp_enabled=True)
    assert fallback.update({"a"}, now=100.0) == []
    assert not dialing_utp(session)
    assert fallback.update({"a", "b"}, now=100.0 + STARVING_SECONDS) == ["a"]  # b has starved only just now
    assert dialing_utp(session)
    assert fallback.update(set(), now=110.0) == []
    assert dialing_utp(session), "uTP dialing stays on for the hold, so the peers it found are not lost to churn"
    fallback.update(set(), now=100.0 + STARVING_SECONDS + HOLD_SECONDS)
    assert not dialing_utp(session)


def test_a_torrent_that_found_a_peer_starts_its_wait_afresh(session) -> None:
    fallback = UtpFallback(session, utp_enabled=True)
    fallback.update({"a"}, now=0.0)
    fallback.update(set(), now=1.0)
    assert fallback.update({"a"}, now=2.0) == []
    assert not dialing_utp(session)


def test_with_utp_off_nothing_is_ever_dialled_over_utp(session) -> None:
    fallback = UtpFallback(session, utp_enabled=False)
    fallback.update({"a"}, now=0.0)
    assert fallback.update({"a"}, now=1000.0) == []
    assert not dialing_utp(session)
