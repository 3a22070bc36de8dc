"""What the session reports about a torrent, for the API, the CLI, the status page and metrics."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import libtorrent as lt

from momoshtrem.torrent.active import ActiveTorrent


@dataclass
class TorrentState:
    """A torrent as the session sees it, for the API and the CLI."""

    info_hash: str
    in_session: bool
    state: str  # inactive, fetching_metadata, checking, downloading, finished, seeding, paused, idle, error
    progress: float = 0.0  # of the whole torrent, 0..1
    downloaded_bytes: int = 0  # verified bytes we have
    bytes_on_disk: int = 0  # real disk (or tmpfs) usage; storage is sparse
    peers: int = 0
    seeds: int = 0
    download_rate: int = 0
    upload_rate: int = 0
    paused: bool = False
    idle: bool = False
    readers: int = 0
    error: str | None = None


@dataclass
class PieceStates:
    """One moment of a torrent's pieces, for the status page's piece map."""

    have: bytes  # 1 per piece we have
    downloading: set[int]  # pieces with blocks requested or arrived
    priorities: list[int]  # libtorrent's piece priorities (0 = not wanted)


def active_state(torrent: ActiveTorrent) -> TorrentState:
    status = torrent.handle.status()
    return TorrentState(
        info_hash=torrent.info_hash,
        in_session=True,
        state=state_name(torrent, status),
        # libtorrent's own `progress` counts only wanted pieces: 93 % of a film barely started.
        progress=round(status.total_done / max(torrent.meta.total_size, 1), 4),
        downloaded_bytes=status.total_done,
        bytes_on_disk=disk_usage(torrent.save_path),
        peers=status.num_peers,
        seeds=status.num_seeds,
        download_rate=status.download_payload_rate,
        upload_rate=status.upload_payload_rate,
        paused=torrent.user_paused,
        idle=torrent.idle_paused,
        readers=torrent.open_readers,
        error=torrent.error,
    )


def piece_states(torrent: ActiveTorrent) -> PieceStates:
    handle = torrent.handle
    downloading = {int(entry["piece_index"]) for entry in handle.get_download_queue()}
    return PieceStates(bytes(torrent.have), downloading, list(handle.get_piece_priorities()))


def state_name(torrent: ActiveTorrent, status: "lt.torrent_status") -> str:
    if torrent.error:
        return "error"
    if torrent.user_paused:
        return "paused"
    if torrent.idle_paused:
        return "idle"
    states = lt.torrent_status.states
    return {
        states.checking_files: "checking",
        states.checking_resume_data: "checking",
        states.downloading: "downloading",
        states.finished: "finished",
        states.seeding: "seeding",
    }.get(status.state, "downloading")


def disk_usage(path: Path) -> int:
    """Bytes really allocated under `path` (sparse files count only what was written)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total
