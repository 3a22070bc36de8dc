"""cheroot, made so that a connection costs no worker thread until its request line and headers have arrived.

cheroot hands every new connection to a worker at once, and a worker reads the
request with blocking calls: 64 sockets that sent nothing, or a few hundred that
sent their headers a byte at a time (slowloris), held every worker and the share
stopped answering for `socket_timeout`. Here the connection manager's selector
thread reads what a connection sends without blocking, and gives it to a worker
only once the header block is complete (or too big, so the worker's 414/413
answers it). A connection whose request does not complete within
`header_timeout` of its first byte, or of connecting, is closed. Between
requests a keep-alive connection waits for `socket_timeout`, as before.
"""

from __future__ import annotations

import io
import logging
import selectors
import socket
import sys
import time

from cheroot import wsgi
from cheroot.connections import ConnectionManager
from cheroot.makefile import MakeFile, StreamReader
from cheroot.server import HTTPConnection

from momoshtrem.clientwatch import SOCKET_KEY

log = logging.getLogger(__name__)

READ_AHEAD_CHUNK = 16 * 1024
HEADER_LIMIT_WHEN_UNSET = 64 * 1024  # cheroot's max_request_header_size of 0 means no limit; reading ahead needs one
_HEADER_ENDS = (b"\r\n\r\n", b"\n\n")


class _ReadAheadSocketIO(socket.SocketIO):
    """The socket's raw reader, handing out first the bytes the selector thread read for it."""

    def __init__(self, sock: socket.socket, mode: str) -> None:
        super().__init__(sock, mode)
        self.ahead = bytearray()

    def readinto(self, buffer) -> int:
        if not self.ahead:
            return super().readinto(buffer)
        count = min(len(buffer), len(self.ahead))
        buffer[:count] = self.ahead[:count]
        del self.ahead[:count]
        return count


class _ReadAheadReader(StreamReader):
    def __init__(self, sock: socket.socket, mode: str = "rb", bufsize: int = io.DEFAULT_BUFFER_SIZE) -> None:
        super(StreamReader, self).__init__(_ReadAheadSocketIO(sock, mode), bufsize)  # StreamReader's, less its raw
        self.bytes_read = 0


def _read_ahead_files(sock: socket.socket, mode: str, bufsize: int = io.DEFAULT_BUFFER_SIZE):
    return _ReadAheadReader(sock, mode, bufsize) if "r" in mode else MakeFile(sock, mode, bufsize)


class _Connection(HTTPConnection):
    """A connection that remembers since when a request has been on its way (None: idle between requests)."""

    def __init__(self, server, sock, makefile=MakeFile) -> None:
        super().__init__(server, sock, _read_ahead_files if makefile is MakeFile else makefile)
        self.request_since: float | None = time.monotonic()
        self.last_used = time.time()  # cheroot's idle clock, which it otherwise starts after a first request

    @property
    def ahead(self) -> bytearray:
        return self.rfile.raw.ahead

    def header_complete(self, new_from: int = 0) -> bool:
        """The header block has ended (or outgrown the limit); only bytes from `new_from` on are searched again."""
        start = max(new_from - 3, 0)
        return (any(self.ahead.find(end, start) >= 0 for end in _HEADER_ENDS)
                or len(self.ahead) > (self.server.max_request_header_size or HEADER_LIMIT_WHEN_UNSET))


class _Connections(ConnectionManager):
    """Watches connections until a whole request header has arrived; only then does a worker take one."""

    def put(self, conn: _Connection) -> None:
        """A worker is done with a request; the connection waits for the next one, idle."""
        conn.last_used = time.time()
        conn.request_since = None
        if conn.rfile.has_data() or conn.ahead:
            self.server.process_conn(conn)
        else:
            self.watch(conn)

    def watch(self, conn: _Connection) -> None:
        self._selector.register(conn.socket.fileno(), selectors.EVENT_READ, data=conn)

    def _expire(self, threshold: float) -> None:
        super()._expire(threshold)
        too_slow = time.monotonic() - self.server.header_timeout
        for sock_fd, conn in list(self._selector.connections):
            if conn is not self.server and conn.request_since is not None and conn.request_since < too_slow:
                log.debug("dropped a connection from %s: no complete request within %s s", conn.remote_addr,
                          self.server.header_timeout)
                self._selector.unregister(sock_fd)
                conn.close()


class _Gateway(wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway, with the request's socket in environ (see clientwatch.py)."""

    def get_environ(self) -> dict:
        environ = super().get_environ()
        environ[SOCKET_KEY] = self.req.conn.socket
        return environ


class HttpServer(wsgi.Server):
    """cheroot's WSGI server with the read-ahead connection manager, and its errors sent through logging."""

    ConnectionClass = _Connection

    def __init__(self, *args, header_timeout: float, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.gateway = _Gateway
        self.header_timeout = header_timeout

    def prepare(self) -> None:
        super().prepare()
        stock, self._connections = self._connections, _Connections(self)
        stock._selector.close()  # it watched only the listening socket, which the new manager watches now

    def process_conn(self, conn: _Connection) -> None:
        """Called by the selector thread for a new or readable connection, and by `put` for a buffered one."""
        if conn.rfile.has_data() or self._read_ahead(conn):
            super().process_conn(conn)

    def _read_ahead(self, conn: _Connection) -> bool:
        """Read what has arrived without blocking; True when a worker should take the connection now."""
        if conn.header_complete():
            return True
        blocking_timeout = conn.socket.gettimeout()
        conn.socket.settimeout(0)  # a socket with a timeout would wait for it, whatever the flags say
        try:
            data = conn.socket.recv(READ_AHEAD_CHUNK)
        except BlockingIOError:
            data = None
        except OSError:
            data = b""
        if data == b"":  # the client closed the connection, or it broke
            conn.close()
            return False
        conn.socket.settimeout(blocking_timeout)
        if data:
            if conn.request_since is None:
                conn.request_since = time.monotonic()
            new_from = len(conn.ahead)
            conn.ahead.extend(data)
            if conn.header_complete(new_from):
                return True
        self._connections.watch(conn)
        return False

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, RuntimeError) and "start_response called a second time" in str(error):
            # A read failed after the response had started (a player hung up, a piece never came): WsgiDAV
            # tries to send an error page, cheroot refuses and closes the connection. The cut is the only
            # honest end for a response under way, and the reader has logged why; no traceback needed.
            log.debug("a response was cut short after its first bytes")
            return
        log.log(level, "%s", msg, exc_info=traceback)
