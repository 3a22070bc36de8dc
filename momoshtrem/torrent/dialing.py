"""How the session dials peers: TCP first, uTP only for swarms that TCP cannot reach.

libtorrent dials every new peer over uTP first and tries TCP only after
`utp_connect_timeout` (3 s by default) without an answer, so each peer that
does not speak uTP (rtorrent seedboxes, clients with uTP off, NAT'd peers
forwarding only TCP) costs 3 s before its first byte: measured, 4.0 s to
assign a magnet and 4.0 s more for the first read, against 0.02 s each over
TCP. A shorter timeout still cost 1.05 s (250 ms and 500 ms alike), and
libtorrent cannot race the two transports as anacrolix/torrent does. So
outgoing connections use TCP, which every client accepts, and peers may still
connect to us over uTP.

A peer that answers only uTP would then never be reached. While some torrent
that is wanted (a metadata fetch, a waiting reader) knows peers but has been
connected to none for `STARVING_SECONDS`, uTP dialing is turned on for the whole session; libtorrent
retries the failed peers by itself, now over uTP. It goes off again once
no wanted torrent has starved for `HOLD_SECONDS`; connections already made stay.
"""

from __future__ import annotations

import logging

import libtorrent as lt

log = logging.getLogger(__name__)

STARVING_SECONDS = 1.5  # a wanted torrent without a peer this long turns uTP dialing on
HOLD_SECONDS = 30.0  # uTP dialing stays on this long after the last starving torrent


class UtpFallback:
    """Turns libtorrent's outgoing uTP on while a wanted torrent reaches no peer over TCP.

    Fed by the housekeeping thread once a second with the torrents that want
    data and have no peer; thread-safe only in that one caller.
    """

    def __init__(self, session: "lt.session", utp_enabled: bool) -> None:
        self._session = session
        self._enabled = utp_enabled
        self._starving_since: dict[str, float] = {}
        self._dialing_utp = False
        self._last_starving = 0.0

    def update(self, peerless: set[str], now: float) -> list[str]:
        """Record which wanted torrents have no peer now; returns those starving long enough to retry."""
        if not self._enabled:
            return []
        self._starving_since = {h: self._starving_since.get(h, now) for h in peerless}
        starving = [h for h, since in self._starving_since.items() if now - since >= STARVING_SECONDS]
        if starving:
            self._last_starving = now
            if not self._dialing_utp:
                log.info("no peer reached over TCP for %s: dialing peers over uTP too", ", ".join(starving))
                self._set_dialing_utp(True)
                return starving
        elif self._dialing_utp and now - self._last_starving >= HOLD_SECONDS:
            log.info("every wanted torrent has peers: dialing TCP only again")
            self._set_dialing_utp(False)
        return []

    def _set_dialing_utp(self, on: bool) -> None:
        self._dialing_utp = on
        self._session.apply_settings({"enable_outgoing_utp": on})


def offer_peers_again(handle: "lt.torrent_handle", endpoints: list[tuple[str, int]]) -> None:
    """Give known peers another try, now.

    libtorrent stops dialling a peer after three failed connections, whatever
    `max_failcount` says (measured: a seeder away for 5 s was never dialled
    again, and one back on its address stayed unused), and `connect_peer` of a
    peer it knows changes nothing. A peer announced by a tracker has one
    failure forgiven, so the peers are offered as a tracker's.
    """
    for endpoint in endpoints:
        handle.connect_peer(endpoint, lt.peer_info.tracker)
