"""The BitTorrent side: metadata records now, the shared libtorrent session later."""
