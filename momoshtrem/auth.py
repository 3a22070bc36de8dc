"""HTTP authentication for every route: Basic for the share's clients, Bearer for scripts.

Infuse, Finder and rclone all speak Basic and send the password with every
request, so a verified credential is remembered (as a keyed digest, never the
password) and a stream's requests do not each pay for scrypt. Unverified
attempts run one at a time, and an address that keeps failing for one user
name is refused without hashing for a while: a password guesser costs at most
one core for a moment, never the other users' streams, and never locks out
another user at the same address. Each attempt is counted before it is
hashed, so a flood of parallel guesses is cut off at the same number as a
sequential one. Nothing secret is logged, and user names are logged escaped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from momoshtrem.httputil import plain_response

log = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
FAILURES_BEFORE_COOLDOWN = 10
COOLDOWN_SECONDS = 60.0
REMEMBERED_CREDENTIALS = 1024
TRACKED_FAILURES = 10_000  # (address, user) pairs kept; expired ones are dropped beyond it


def hash_secret(secret: str) -> str:
    """`scrypt$N$r$p$salt$hash`, for `server.auth` and `server.api_token`."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)])


def verify_secret(secret: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, expected = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected_digest = base64.b64decode(expected)
        digest = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected_digest), maxmem=256 * 1024 * 1024)
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected_digest)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def parse_users(entries: Iterable[str]) -> dict[str, str]:
    """`server.auth` entries are `name:hash`; raises ValueError naming a malformed one (without its hash)."""
    users = {}
    for entry in entries:
        name, sep, encoded = entry.partition(":")
        if not sep or not name or not encoded.startswith("scrypt$"):
            raise ValueError(f"server.auth entry for '{name or '?'}' must be 'name:scrypt$...' "
                             "(make one with `momoshtrem hash-password`)")
        users[name] = encoded
    return users


@dataclass
class _Failures:
    count: int = 0
    since: float = 0.0


class AuthGate:
    """WSGI middleware in front of everything: no valid credential, 401."""

    def __init__(self, app: Callable, users: dict[str, str], api_token_hash: str = "") -> None:
        self._app = app
        self._users = users
        self._token_hash = api_token_hash
        self._key = os.urandom(32)  # keys the remembered-credential digests; new each start
        self._remembered: dict[bytes, str] = {}
        self._lock = threading.Lock()
        self._hashing = threading.Semaphore(1)
        self._failures: dict[tuple[str, str], _Failures] = {}  # (address, user name)
        self._dummy_hash = hash_secret(base64.b64encode(os.urandom(12)).decode())
        self.verifications = 0  # scrypt runs, for tests and metrics

    @property
    def enabled(self) -> bool:
        return bool(self._users or self._token_hash)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if not self.enabled:
            return self._app(environ, start_response)
        who = self._authenticate(environ)
        if who is None:
            return plain_response(start_response, "401 Unauthorized", "Authentication required.\n",
                                  [("WWW-Authenticate", 'Basic realm="momoshtrem", charset="UTF-8"')],
                                  method=environ.get("REQUEST_METHOD", "GET"))
        environ["REMOTE_USER"] = who
        return self._app(environ, start_response)

    def _authenticate(self, environ: dict) -> str | None:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                name, _, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            encoded = self._users.get(name)
        elif scheme == "bearer" and self._token_hash:
            name, password, encoded = "api-token", value.strip(), self._token_hash
        else:
            return None
        remembered = hmac.new(self._key, f"{scheme}\0{name}\0{password}".encode(), hashlib.sha256).digest()
        with self._lock:
            if remembered in self._remembered:
                return self._remembered[remembered]
        client = environ.get("REMOTE_ADDR", "?")
        attempt = (client, name)
        if not self._admit(attempt):
            log.warning("authentication refused for '%s' from %s: too many failures, cooling down",
                        loggable(name), client)
            return None
        with self._hashing:
            self.verifications += 1
            # An unknown user costs the same as a known one: timing does not tell which names exist.
            valid = verify_secret(password, encoded or self._dummy_hash) and encoded is not None
        if not valid:
            log.warning("authentication failed for '%s' from %s", loggable(name), client)
            return None
        self._succeeded(attempt)
        with self._lock:
            if len(self._remembered) >= REMEMBERED_CREDENTIALS:
                self._remembered.clear()
            self._remembered[remembered] = name
        return name

    def _admit(self, attempt: tuple[str, str]) -> bool:
        """Counts the attempt as a failure before it is hashed; False while (address, user) is cooling down."""
        now = time.monotonic()
        with self._lock:
            failures = self._failures.get(attempt)
            if failures is not None and now - failures.since > COOLDOWN_SECONDS:
                failures = None
            if failures is None:
                if len(self._failures) >= TRACKED_FAILURES:
                    self._failures = {k: f for k, f in self._failures.items() if now - f.since <= COOLDOWN_SECONDS}
                failures = self._failures[attempt] = _Failures(since=now)
            if failures.count >= FAILURES_BEFORE_COOLDOWN:
                return False
            failures.count += 1
            return True

    def _succeeded(self, attempt: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(attempt, None)


def loggable(name: str, limit: int = 64) -> str:
    """A user name as it may go into a log line: control characters escaped (no forged lines), bounded."""
    escaped = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in name)
    return escaped if len(escaped) <= limit else escaped[:limit] + "..."
