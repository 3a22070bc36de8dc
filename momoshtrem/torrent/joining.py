"""How a torrent joins the session from its stored metadata: paused, wanting nothing, with every peer we know."""

from __future__ import annotations

from pathlib import Path

import libtorrent as lt

from momoshtrem.torrent.metadata_fetch import merge_trackers
from momoshtrem.torrent.metainfo import TorrentMeta


def join_params(meta: TorrentMeta, resumed: "lt.add_torrent_params", save_path: Path, magnet: str | None,
                default_trackers: list[str]) -> "lt.add_torrent_params":
    """`resumed` (the saved state, or empty parameters) completed with the metadata, the magnet's peers and
    trackers, and the flags that keep it from downloading until a reader asks."""
    params = resumed
    params.ti = lt.torrent_info(meta.torrent_bytes)
    params.save_path = str(save_path)
    if magnet:
        hints = lt.parse_magnet_uri(magnet)
        params.peers = list(params.peers) + list(hints.peers)
        params.trackers = merge_trackers(params.trackers, hints.trackers)
    params.trackers = merge_trackers(params.trackers, default_trackers)
    # Nothing downloads until a reader asks for it. Added running with nothing wanted, a torrent is
    # "finished" and became interested in its peer only up to 0.7 s after the first deadline
    # (measured); added paused and resumed after the first read's priorities are set, within 3 ms.
    params.piece_priorities = [0] * params.ti.num_pieces()
    params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.upload_mode
                      | lt.torrent_flags.sequential_download)
    params.flags |= lt.torrent_flags.paused
    return params


def peer_hints(magnet: str | None) -> list[tuple[str, int]]:
    """The peers a magnet names (`x.pe`): offered again when a waiting torrent finds no swarm."""
    return list(lt.parse_magnet_uri(magnet).peers) if magnet else []
