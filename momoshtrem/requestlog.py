"""One debug line per request, so a user can see what their player asked for.

`momoshtrem.requests` at DEBUG: method, path, Range, status, bytes sent,
duration and User-Agent. The line is written when the server closes the
response, so the byte count and the duration cover the whole body. No query
string and no header but Range and User-Agent: nothing secret reaches the log.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Iterator

from momoshtrem.httputil import request_path

log = logging.getLogger("momoshtrem.requests")


class RequestLog:
    def __init__(self, app: Callable) -> None:
        self._app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not log.isEnabledFor(logging.DEBUG):
            return self._app(environ, start_response)
        started = time.monotonic()
        status = ["-"]

        def recording_start_response(line: str, headers: list, exc_info=None):
            status[0] = line.split(" ", 1)[0]
            return start_response(line, headers, exc_info)

        def report(sent: int) -> None:
            log.debug('%s %s range=%s -> %s %d bytes %.0f ms "%s"', environ.get("REQUEST_METHOD", "-"),
                      request_path(environ), environ.get("HTTP_RANGE", "-"), status[0], sent,
                      (time.monotonic() - started) * 1000, environ.get("HTTP_USER_AGENT", "-"))

        return _CountedBody(self._app(environ, recording_start_response), report)


class _CountedBody:
    """The response body, passed through; reports the bytes sent when the server closes it."""

    def __init__(self, body: Iterable[bytes], report: Callable[[int], None]) -> None:
        self._body = body
        self._report = report
        self._sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self._sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._report(self._sent)
