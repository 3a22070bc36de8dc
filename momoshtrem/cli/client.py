"""The CLI's HTTP client of a running server: the REST API, and PROPFIND for `ls`."""

from __future__ import annotations

import base64
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

import requests

from momoshtrem.torrent.sources import SourceError, parse_source

DEFAULT_URL = "http://127.0.0.1:4444"
PAGE_SIZE = 1000  # the API's largest page
_DAV = "{DAV:}"


class Progress(Protocol):
    def update(self, state: dict) -> None: ...

    def close(self) -> None: ...


class ClientError(Exception):
    """One line for the user: what failed and why."""


@dataclass
class DavEntry:
    path: str
    is_folder: bool
    size: int


class ApiClient:
    def __init__(self, base_url: str, timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def all_pages(self, path: str) -> list:
        """Every item of a list route, following its pages (the `Link: rel="next"` header) to the end."""
        items: list = []
        next_path: str | None = f"{path}?limit={PAGE_SIZE}"
        while next_path is not None:
            response = self._request("GET", next_path)
            items += self._answer("GET", path, response)
            link = response.links.get("next", {}).get("url")
            next_path = link if link and link.startswith(path + "?") else None
        return items

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self._answer(method, path, self._request(method, path, body))

    def _request(self, method: str, path: str, body: Any = None) -> requests.Response:
        try:
            return self.session.request(method, self.base_url + path, json=body, timeout=self.timeout)
        except requests.ConnectionError:
            raise ClientError(f"cannot reach a momoshtrem server at {self.base_url} (is `momoshtrem serve` running?)") from None
        except requests.Timeout:
            raise ClientError(f"the server at {self.base_url} did not answer within {self.timeout:.0f} s") from None

    @staticmethod
    def _answer(method: str, path: str, response: requests.Response) -> Any:
        if response.status_code == 204:
            return None
        try:
            data = response.json()
        except ValueError:
            raise ClientError(f"{method} {path}: HTTP {response.status_code} without a JSON answer") from None
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise ClientError(message or f"{method} {path}: HTTP {response.status_code}")
        return data

    def assign(self, kind: str, item_id: int, source: str, progress: Progress | None = None) -> Any:
        """SOURCE is a .torrent path, a magnet URI, an info-hash or an http(s) link to a .torrent.

        A magnet or info-hash may wait for metadata from the swarm: `progress`
        then gets the server's state (elapsed, peers) about twice a second.
        """
        info_hash = _hash_of(source)
        if source.lower().startswith(("http://", "https://")):
            body = {"source": source}  # the server fetches the link (an indexer's download link)
        elif source.startswith("magnet:") or info_hash:  # a malformed magnet still goes to the server, which says why
            body = {"source": source}
            if progress is not None and info_hash:
                try:
                    return self._call_with_progress(f"/api/{kind}s/{item_id}/assign", body, info_hash, progress)
                finally:
                    progress.close()
        else:
            path = Path(source)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ClientError(f"cannot read {source}: {exc.strerror}") from None
            body = {"torrent": base64.b64encode(data).decode()}
        return self.call("POST", f"/api/{kind}s/{item_id}/assign", body)

    def _call_with_progress(self, path: str, body: Any, info_hash: str, progress: Progress) -> Any:
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def call() -> None:
            try:
                outcome["result"] = self.call("POST", path, body)
            except ClientError as exc:
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=call, daemon=True).start()
        poller = ApiClient(self.base_url, timeout=5)
        while not done.wait(0.5):
            try:
                state = poller.call("GET", f"/api/torrents/{info_hash}")
            except ClientError:
                continue  # not fetching (yet), or stored already
            if state.get("state") == "fetching_metadata":
                progress.update(state)
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def list_dir(self, path: str) -> list[DavEntry]:
        """The members of a folder of the share, by PROPFIND Depth 1."""
        url = self.base_url + quote("/" + path.strip("/") + ("/" if path.strip("/") else ""))
        try:
            response = self.session.request("PROPFIND", url, headers={"Depth": "1"}, timeout=self.timeout)
        except requests.RequestException:
            raise ClientError(f"cannot reach a momoshtrem server at {self.base_url}") from None
        if response.status_code == 404:
            raise ClientError(f"no such folder in the share: /{path.strip('/')}")
        if response.status_code != 207:
            raise ClientError(f"PROPFIND {path}: HTTP {response.status_code}")
        entries = []
        for node in ET.fromstring(response.content).findall(f"{_DAV}response"):
            href = unquote(urlsplit(node.findtext(f"{_DAV}href", "")).path)
            props = node.find(f"{_DAV}propstat/{_DAV}prop")
            is_folder = props is not None and props.find(f"{_DAV}resourcetype/{_DAV}collection") is not None
            size = int(props.findtext(f"{_DAV}getcontentlength") or 0) if props is not None else 0
            if href.rstrip("/") != unquote(urlsplit(url).path).rstrip("/"):
                entries.append(DavEntry(href.rstrip("/"), is_folder, size))
        return entries


def _hash_of(source: str) -> str | None:
    """The info-hash a magnet or bare hash names, normalised as the server will (None if malformed)."""
    try:
        return parse_source(source).info_hash
    except SourceError:
        return None
