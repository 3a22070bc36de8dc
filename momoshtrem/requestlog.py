"""What every request came to, told when the server closes its response: a debug line, and the metrics.

`momoshtrem.requests` at DEBUG: method, path, Range, status, bytes sent,
duration and User-Agent. The record is made when the server closes the
response, so the byte count and the duration cover the whole body. No query
string and no header but Range and User-Agent: nothing secret reaches the log.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from momoshtrem.httputil import request_path

log = logging.getLogger("momoshtrem.requests")

# Set in the WSGI environ by the share when a GET reads a file's content: only those count as reads
# (time to first byte), not a listing, a page or a scrape.
FILE_READ_KEY = "momoshtrem.file_read"


@dataclass(frozen=True)
class CompletedRequest:
    method: str
    path: str
    range: str
    status: str  # the code, e.g. "206"; "-" when the app never started a response
    sent: int  # body bytes
    seconds: float  # until the response was closed
    first_byte_seconds: float | None  # until the first body byte; None without a body
    user_agent: str
    file_read: bool  # a GET of a file's content


Observer = Callable[[CompletedRequest], None]


class RequestLog:
    def __init__(self, app: Callable, observers: Iterable[Observer] = ()) -> None:
        self._app = app
        self._observers = list(observers)

    def add_observer(self, observe: Observer) -> None:
        self._observers.append(observe)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        logging_on = log.isEnabledFor(logging.DEBUG)
        if not logging_on and not self._observers:
            return self._app(environ, start_response)
        started = time.monotonic()
        status = ["-"]

        def recording_start_response(line: str, headers: list, exc_info=None):
            status[0] = line.split(" ", 1)[0]
            return start_response(line, headers, exc_info)

        def report(sent: int, first_byte_at: float | None) -> None:
            record = CompletedRequest(
                method=environ.get("REQUEST_METHOD", "-"), path=request_path(environ),
                range=environ.get("HTTP_RANGE", "-"), status=status[0], sent=sent,
                seconds=time.monotonic() - started,
                first_byte_seconds=None if first_byte_at is None else first_byte_at - started,
                user_agent=environ.get("HTTP_USER_AGENT", "-"), file_read=bool(environ.get(FILE_READ_KEY)),
            )
            if logging_on:
                log.debug('%s %s range=%s -> %s %d bytes %.0f ms "%s"', record.method, record.path, record.range,
                          record.status, record.sent, record.seconds * 1000, record.user_agent)
            for observe in self._observers:
                try:
                    observe(record)
                except Exception:
                    log.exception("a request observer failed")

        return _CountedBody(self._app(environ, recording_start_response), report)


class _CountedBody:
    """The response body, passed through; reports the bytes sent and the first byte's time when closed."""

    def __init__(self, body: Iterable[bytes], report: Callable[[int, float | None], None]) -> None:
        self._body = body
        self._report = report
        self._sent = 0
        self._first_byte_at: float | None = None

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            if chunk and self._first_byte_at is None:
                self._first_byte_at = time.monotonic()
            self._sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._report(self._sent, self._first_byte_at)
