"""momoshtrem: a movie and TV library served over WebDAV, streamed on demand from BitTorrent swarms."""

__version__ = "0.1.0"
