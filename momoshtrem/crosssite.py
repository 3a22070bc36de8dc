"""Requests a web page on another site makes a browser send: refused before they reach any app.

Two attacks, both through a visitor's browser while the server sits on the
same machine or network:

- **Cross-site writes.** A page anywhere can make the browser POST a form or a
  `no-cors` fetch (multipart or text/plain needs no preflight) to
  `http://127.0.0.1:4444/api/...`, with the visitor's Basic credentials if
  the browser has them. Every state-changing request whose `Sec-Fetch-Site` or
  `Origin` says it comes from another origin is refused. Requests without
  either header (the CLI, curl, rclone, Infuse) are not browsers' and pass.
- **DNS rebinding.** A page's own name re-pointed at 127.0.0.1 makes its
  requests same-origin, with `Host: attacker.example`. Without authentication
  (with it, the page has no credentials to send), a request must name this
  server: an IP literal, `localhost`, or a name in `server.allowed_hosts`,
  as Transmission's RPC host whitelist does.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Callable, Iterable

from momoshtrem.auth import loggable
from momoshtrem.httputil import plain_response

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND"})
SAME_ORIGIN_FETCH_SITES = frozenset({"same-origin", "none"})  # "none": typed in the address bar, a bookmark


class CrossSiteGuard:
    def __init__(self, app: Callable, allowed_hosts: Iterable[str], check_host: bool) -> None:
        self._app = app
        self._allowed_hosts = {name.lower().rstrip(".") for name in allowed_hosts}
        self._check_host = check_host
        self._warned: set[str] = set()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        host_header = environ.get("HTTP_HOST", "")
        if self._check_host and host_header and not self.names_this_server(host_header):
            self._warn_once(host_header)
            return plain_response(
                start_response, "421 Misdirected Request",
                "This server does not answer to that host name. Use its IP address, or add the name to "
                "server.allowed_hosts.\n", method=method)
        if method not in SAFE_METHODS and self._from_another_site(environ, host_header):
            log.warning("refused a cross-site %s %s", method, environ.get("PATH_INFO", ""))
            return plain_response(start_response, "403 Forbidden",
                                  "Cross-site requests may not change anything here.\n", method=method)
        return self._app(environ, start_response)

    def _warn_once(self, host_header: str) -> None:
        """A player set up with the server's name (Infuse with `nas.local`) is refused: say how to let it in."""
        name = loggable(_host_name(host_header))
        if name not in self._warned and len(self._warned) < 100:
            self._warned.add(name)
            log.warning("refused requests for host name '%s': without server.auth only IP addresses, localhost and "
                        "server.allowed_hosts are answered; add it there if it is this server's name", name)

    def names_this_server(self, host_header: str) -> bool:
        name = _host_name(host_header)
        if name == "localhost" or name.endswith(".localhost") or name in self._allowed_hosts:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    @staticmethod
    def _from_another_site(environ: dict, host_header: str) -> bool:
        fetch_site = environ.get("HTTP_SEC_FETCH_SITE")
        if fetch_site is not None:
            return fetch_site.strip().lower() not in SAME_ORIGIN_FETCH_SITES
        origin = environ.get("HTTP_ORIGIN")
        if origin is None:
            return False  # not sent by a browser's cross-origin request
        scheme = environ.get("wsgi.url_scheme", "http")
        return origin.strip().lower() != f"{scheme}://{host_header.strip().lower()}"


def _host_name(host_header: str) -> str:
    """The name in a Host header, without its port; IPv6 literals lose their brackets."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")
