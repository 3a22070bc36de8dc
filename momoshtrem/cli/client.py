"""The CLI's HTTP client of a running server: the REST API, and PROPFIND for `ls`."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests

DEFAULT_URL = "http://127.0.0.1:4444"
_DAV = "{DAV:}"
_INFO_HASH = re.compile(r"^[0-9a-fA-F]{40}$|^[A-Za-z2-7]{32}$")


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

    def call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self.session.request(method, self.base_url + path, json=body, timeout=self.timeout)
        except requests.ConnectionError:
            raise ClientError(f"cannot reach a momoshtrem server at {self.base_url} (is `momoshtrem serve` running?)") from None
        except requests.Timeout:
            raise ClientError(f"the server at {self.base_url} did not answer within {self.timeout:.0f} s") from None
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

    def assign(self, kind: str, item_id: int, source: str) -> Any:
        """SOURCE is a .torrent path, a magnet URI or an info-hash."""
        if source.startswith("magnet:") or _INFO_HASH.match(source):
            body = {"source": source}
        else:
            path = Path(source)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ClientError(f"cannot read {source}: {exc.strerror}") from None
            body = {"torrent": base64.b64encode(data).decode()}
        return self.call("POST", f"/api/{kind}s/{item_id}/assign", body)

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
