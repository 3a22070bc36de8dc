"""libtorrent session settings from momoshtrem's config."""

from __future__ import annotations

import libtorrent as lt

from momoshtrem.config import TorrentConfig

ALERT_MASK = (
    lt.alert_category.error
    | lt.alert_category.status
    | lt.alert_category.storage
    | lt.alert_category.piece_progress
)


def session_settings(config: TorrentConfig) -> dict:
    """The settings pack for the one session of the process.

    Two traps shape it (see the team's libtorrent notes): with every piece at
    priority 0 a torrent counts as finished and drops its connections unless
    `close_redundant_connections` is off, and a dropped peer is retried only
    after `min_reconnect_time`. A short `tick_interval` lets deadlines act
    every 100 ms instead of every 500 ms.
    """
    return {
        "user_agent": "momoshtrem",
        "listen_interfaces": config.listen_interfaces,
        "enable_dht": config.enable_dht,
        "enable_lsd": config.enable_lsd,
        "enable_upnp": config.enable_upnp,
        "enable_natpmp": config.enable_natpmp,
        # Peers may connect over uTP; we dial TCP, and uTP only for a swarm TCP cannot reach (dialing.py).
        "enable_incoming_utp": config.enable_utp,
        "enable_outgoing_utp": False,
        "connections_limit": config.connections_limit,
        "download_rate_limit": config.download_rate_limit,
        "upload_rate_limit": config.upload_rate_limit,
        "tick_interval": config.tick_interval,
        "alert_mask": int(ALERT_MASK),
        "alert_queue_size": 10000,
        "close_redundant_connections": False,
        "min_reconnect_time": 1,
        "max_failcount": 50,
        # Few requests in flight per peer: a peer serves them in order, so a piece a player waits for
        # queues behind every block already asked for (and a seeder reads them into its send buffer
        # early, where a cancel no longer reaches them). 64 blocks is 1 MiB: 0.25 s at 4 MiB/s, and
        # still 10 MB/s from a peer 100 ms away.
        "request_queue_time": 1,
        "max_out_request_queue": 64,
        "allow_multiple_connections_per_ip": True,
        "auto_manage_startup": 0,
    }
