"""Test helpers: real torrents made with libtorrent, and a real server on a free loopback port."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt
import requests

from momoshtrem.config import Config
from momoshtrem.server import Server


def deterministic_bytes(seed: str, size: int) -> bytes:
    """Reproducible content, distinct per seed, so byte checks can tell files apart."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest() * 64
        counter += 1
    return bytes(out[:size])


@dataclass
class MadeTorrent:
    data: bytes
    info_hash: str
    root: Path  # the directory holding the torrent's content (its save path)
    files: dict[str, int]  # path inside the torrent -> size

    @property
    def b64(self) -> str:
        return base64.b64encode(self.data).decode()


def make_torrent(base: Path, name: str, files: dict[str, int], *, v1_only: bool = False,
                 piece_size: int = 16384) -> MadeTorrent:
    """Write `files` (paths relative to the torrent root) under `base` and make a real .torrent of them.

    With one file whose path equals `name`, the torrent is single-file. By
    default libtorrent 2.1 makes hybrid v1+v2 torrents, which carry pad files:
    the share must never show those.
    """
    base.mkdir(parents=True, exist_ok=True)
    for rel, size in files.items():
        path = base / name / rel if list(files) != [name] else base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(deterministic_bytes(f"{name}/{rel}", size))
    flags = lt.create_torrent.v1_only if v1_only else 0
    creator = lt.create_torrent(lt.list_files(str(base / name)), piece_size, flags)
    lt.set_piece_hashes(creator, str(base))
    data = lt.bencode(creator.generate())
    info = lt.torrent_info(data)
    return MadeTorrent(data=data, info_hash=str(info.info_hashes().v1), root=base, files=files)


def make_test_config(tmp_path: Path) -> Config:
    config = Config()
    config.server.host = "127.0.0.1"
    config.server.port = 0
    config.server.threads = 16
    config.library.database = str(tmp_path / "library.db")
    config.torrent.data_dir = str(tmp_path / "torrents")
    return config


class RunningServer:
    """A real cheroot server in this process; `restart()` reopens the same database."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.server = Server(config)
        self.server.start()
        self.http = requests.Session()

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.url + path, timeout=30, **kwargs)

    def dav(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.url + path, timeout=30, **kwargs)

    def restart(self) -> None:
        self.http.close()  # an idle keep-alive connection would hold a worker through stop()
        self.server.stop()
        self.server = Server(self.config)
        self.server.start()

    def stop(self) -> None:
        self.http.close()
        self.server.stop()
