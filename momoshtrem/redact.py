"""Keep secrets out of logs, including the logs of the libraries we call.

urllib3 logs every request line at debug level, query string included, and
TMDB's v3 key travels in the query string. A filter on the loggers that print
URLs replaces every registered secret before any handler sees the record.
"""

from __future__ import annotations

import logging
import threading

_URL_LOGGERS = ("urllib3.connectionpool", "requests")
MASK = "***"


class _SecretFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        with self._lock:
            self._secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if not secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in secrets:
            redacted = redacted.replace(secret, MASK)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_filter = _SecretFilter()
for _name in _URL_LOGGERS:
    logging.getLogger(_name).addFilter(_filter)


def redact_in_logs(secret: str) -> None:
    """From now on, `secret` shows as *** in anything the URL-logging libraries log."""
    if secret:
        _filter.add(secret)
