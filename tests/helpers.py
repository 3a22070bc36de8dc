"""Test helpers: real torrents made with libtorrent, and a real server on a free loopback port."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

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
    files: dict[str, int]  # path inside the torrent (the torrent's name first for folders) -> size

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
    return torrent_of(base, name, piece_size, v1_only)


def torrent_of(base: Path, name: str, piece_size: int = 16384, v1_only: bool = False) -> MadeTorrent:
    """A real .torrent of the file or folder `base / name`, as it is on disk."""
    flags = lt.create_torrent.v1_only if v1_only else 0
    creator = lt.create_torrent(lt.list_files(str(base / name)), piece_size, flags)
    lt.set_piece_hashes(creator, str(base))
    data = lt.bencode(creator.generate())
    info = lt.torrent_info(data)
    layout = info.layout()
    files = {layout.file_path(i): layout.file_size(i) for i in range(layout.num_files())
             if not layout.file_flags(i) & lt.file_storage.flag_pad_file}
    return MadeTorrent(data=data, info_hash=str(info.info_hashes().v1), root=base, files=files)


def encode_clip(path: Path, seconds: int, size: str = "1280x720", bitrate: str = "6M", bufsize: str = "3M") -> Path:
    """A real H.264/AAC clip in the container its name says (an MP4 keeps moov at the end: no faststart).

    Noisy frames, so the encoder spends the whole bitrate (6M: ~0.75 MB a second) and the file has a head, a
    middle and an end.
    """
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}:rate=30,"
         "noise=alls=12:allf=t", "-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:v", "libx264", "-preset",
         "ultrafast", "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bufsize, "-g", "60", "-c:a", "aac",
         "-shortest", str(path)], check=True, timeout=300)
    return path


def clip_torrents(work: Path, name: str, seconds: int, size: str, piece_size: int,
                  **encoding: str) -> dict[str, "MadeTorrent"]:
    """An MP4 clip (`encode_clip`) and its MKV remux, as single-file torrents by extension."""
    source = encode_clip(work / "source.mp4", seconds, size, **encoding)
    remux = work / "source.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c", "copy", str(remux)], check=True, timeout=120)
    made = {}
    for ext, path in ((".mp4", source), (".mkv", remux)):
        folder = work / ext.strip(".")
        folder.mkdir()
        path.rename(folder / f"{name}{ext}")
        made[ext] = torrent_of(folder, f"{name}{ext}", piece_size=piece_size, v1_only=True)
    return made


def make_test_config(tmp_path: Path) -> Config:
    config = Config()
    config.server.host = "127.0.0.1"
    config.server.port = 0
    config.server.threads = 16
    config.library.database = str(tmp_path / "library.db")
    config.torrent.data_dir = str(tmp_path / "torrents")
    config.torrent.memory_dir = str(tmp_path / "shm")
    config.torrent.metadata_timeout = 3
    config.torrent.read_timeout = 30
    # The probe store fetches every assigned file's header and end in the background: tests of other parts
    # would see torrents join and leave the session on their own. test_probe_store.py turns it on.
    config.library.probe_store_dir = str(tmp_path / "probes")
    config.library.probe_store_size = 0
    loopback_only(config)
    return config


def loopback_only(config: Config) -> None:
    """No traffic beyond 127.0.0.1: no DHT, LSD, UPnP, NAT-PMP, public trackers; TCP only (uTP stalls on loopback)."""
    torrent = config.torrent
    torrent.listen_interfaces = "127.0.0.1:0"
    torrent.enable_dht = torrent.enable_lsd = torrent.enable_upnp = torrent.enable_natpmp = False
    torrent.enable_utp = False
    torrent.default_trackers = []


LOOPBACK_ENV = {
    "MOMOSHTREM_TORRENT_LISTEN_INTERFACES": "127.0.0.1:0",
    "MOMOSHTREM_TORRENT_ENABLE_DHT": "false",
    "MOMOSHTREM_TORRENT_ENABLE_LSD": "false",
    "MOMOSHTREM_TORRENT_ENABLE_UPNP": "false",
    "MOMOSHTREM_TORRENT_ENABLE_NATPMP": "false",
    "MOMOSHTREM_TORRENT_ENABLE_UTP": "false",
    "MOMOSHTREM_TORRENT_DEFAULT_TRACKERS": "[]",
}


class Seeder:
    """A real libtorrent seeder on 127.0.0.1, TCP only: the swarm the tests stream from."""

    def __init__(self, upload_rate: int = 0, **settings_overrides) -> None:
        settings = {
            "listen_interfaces": "127.0.0.1:0",
            "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
            "enable_incoming_utp": False, "enable_outgoing_utp": False,
            "allow_multiple_connections_per_ip": True,
            "close_redundant_connections": False,
            "upload_rate_limit": upload_rate,
            "ignore_limits_on_local_network": upload_rate == 0,
            "alert_mask": 0,
            **settings_overrides,
        }
        self.session = lt.session(settings)
        self.handles: dict[str, lt.torrent_handle] = {}

    @property
    def port(self) -> int:
        return self.session.listen_port()

    def seed(self, made: "MadeTorrent", trackers: list[str] | None = None) -> None:
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(made.data)
        params.save_path = str(made.root)
        params.flags |= lt.torrent_flags.seed_mode
        params.flags &= ~lt.torrent_flags.auto_managed
        params.flags &= ~lt.torrent_flags.paused
        if trackers:
            params.trackers = trackers
        self.handles[made.info_hash] = self.session.add_torrent(params)

    def magnet(self, made: "MadeTorrent") -> str:
        return f"magnet:?xt=urn:btih:{made.info_hash}&dn=test&x.pe=127.0.0.1:{self.port}"

    def stop_seeding(self, made: "MadeTorrent") -> None:
        self.session.remove_torrent(self.handles.pop(made.info_hash))

    def close(self) -> None:
        self.session.pause()


class Tracker:
    """Debian's opentracker on 127.0.0.1; it tracks only the info-hashes in its whitelist."""

    def __init__(self, workdir: Path, info_hashes: list[str]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "whitelist.txt").write_text("".join(f"{h}\n" for h in info_hashes))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        # opentracker chroots into -d, so the whitelist path is relative to it.
        self.process = subprocess.Popen(
            ["opentracker", "-i", "127.0.0.1", "-p", str(self.port), "-P", str(self.port),
             "-d", str(workdir), "-w", "/whitelist.txt"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(self._listening, 10, "opentracker to listen")

    @property
    def announce_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/announce"

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Wait for a condition with a deadline; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        return requests.get(url + "/api/health", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


class ServeProcess:
    """`momoshtrem serve` as a real process on a free loopback port, its output in `log_path`."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        environment = {**os.environ, **LOOPBACK_ENV, **env, "MOMOSHTREM_SERVER_PORT": str(self.port)}
        with open(self.log_path, "w") as log_file:
            self.process = subprocess.Popen([sys.executable, "-m", "momoshtrem", "serve"], cwd=workdir,
                                            env=environment, stdout=log_file, stderr=subprocess.STDOUT)
        wait_until(lambda: healthy(self.url) or self.process.poll() is not None, 60, "the server to answer")
        assert self.process.poll() is None, self.log()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no shutdown, no resume data saved, nothing flushed by us
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


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
        return self.http.request(method, self.url + path, **{"timeout": 30, **kwargs})

    def dav(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, self.url + path, **{"timeout": 30, **kwargs})

    def restart(self) -> None:
        self.http.close()  # an idle keep-alive connection would hold a worker through stop()
        self.server.stop()
        self.server = Server(self.config)
        self.server.start()

    def stop(self) -> None:
        self.http.close()
        self.server.stop()
