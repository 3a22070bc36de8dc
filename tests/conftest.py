"""Shared fixtures; the helpers behind them live in tests/helpers.py."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from momoshtrem.config import Config
from tests.helpers import MadeTorrent, RunningServer, Seeder, make_test_config, make_torrent


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_test_config(tmp_path)


@pytest.fixture
def server(config: Config) -> Iterator[RunningServer]:
    running = RunningServer(config)
    yield running
    running.stop()


@pytest.fixture
def torrent_factory(tmp_path: Path) -> Callable[..., MadeTorrent]:
    counter = iter(range(1_000_000))

    def factory(name: str, files: dict[str, int], **kwargs) -> MadeTorrent:
        return make_torrent(tmp_path / f"content{next(counter)}", name, files, **kwargs)

    return factory


@pytest.fixture
def seeder() -> Iterator[Seeder]:
    running = Seeder()
    yield running
    running.close()
