"""Whether the client of a response under way is still there, and still reads it.

`client_hung_up` is for a read that waits for pieces: ffmpeg and mpv hang up
the connection they read before a seek, and a read left waiting for that
client would hold a worker until the read timeout and keep asking the swarm
for pieces nobody reads.

A GET served from the probe store reaches the end of the stored bytes long
before a player that only probed has read that far: ffprobe reads 100 KB of
an open-ended `bytes=0-` and hangs up, while the server has already pushed
megabytes into the socket buffers. Going on would add the torrent to the
session and ask the swarm for pieces nobody wants. So at that point the
server waits until what it sent has left its send queue (the client reads
on) or the client has hung up (it has not: the swarm is left alone).
"""

from __future__ import annotations

import fcntl
import logging
import select
import socket
import struct
import termios
import time

log = logging.getLogger(__name__)

SOCKET_KEY = "momoshtrem.socket"  # the environ key under which the server passes the request's socket
POLL_SECONDS = 0.02
_HUNG_UP = select.POLLHUP | select.POLLERR | getattr(select, "POLLRDHUP", 0x2000)
_SEND_QUEUE = getattr(termios, "TIOCOUTQ", None)  # Linux; elsewhere only a hang-up is seen


def client_hung_up(sock: socket.socket | None) -> bool:
    """True once the client closed its end (or the socket is gone); never blocks."""
    if sock is None:
        return False
    try:
        return _hung_up(_watch(sock.fileno()))
    except (OSError, ValueError):  # a closed socket
        return True


def client_keeps_reading(sock: socket.socket | None, timeout: float) -> bool:
    """True once every byte sent has been taken by the client; False if it hangs up or stalls for `timeout`."""
    if sock is None:
        return True  # a server without the socket in environ: behave as before
    try:
        fd = sock.fileno()
        poller = _watch(fd)
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            if _hung_up(poller):
                log.debug("the client hung up before taking what was sent")
                return False
            unsent = _unsent_bytes(fd)
            if unsent == 0:
                return True
            if not waited:
                waited = True
                log.debug("waiting for the client to take %d bytes before going on", unsent)
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            poller.poll(min(left, POLL_SECONDS) * 1000)
    except (OSError, ValueError):  # a closed socket
        return False


def _watch(fd: int) -> select.poll:
    poller = select.poll()
    poller.register(fd, _HUNG_UP)
    return poller


def _hung_up(poller: select.poll) -> bool:
    return any(events & _HUNG_UP for _, events in poller.poll(0))


def _unsent_bytes(fd: int) -> int:
    """Bytes in the socket's send queue the peer has not acknowledged (Linux SIOCOUTQ)."""
    if _SEND_QUEUE is None:
        return 0
    return struct.unpack("I", fcntl.ioctl(fd, _SEND_QUEUE, b"\0\0\0\0"))[0]
