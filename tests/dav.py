"""Reading WebDAV multistatus answers the way a client does: parsed XML, never substrings."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DAV = "{DAV:}"


@dataclass
class Entry:
    path: str  # decoded, without a trailing slash ('' for the root)
    href: str  # as sent
    is_collection: bool
    props: dict[str, str]


def parse_multistatus(body: bytes) -> dict[str, Entry]:
    root = ET.fromstring(body)
    assert root.tag == f"{DAV}multistatus"
    entries = {}
    for response in root.findall(f"{DAV}response"):
        href = response.findtext(f"{DAV}href")
        assert href is not None
        props: dict[str, str] = {}
        is_collection = False
        for propstat in response.findall(f"{DAV}propstat"):
            if "200" not in (propstat.findtext(f"{DAV}status") or ""):
                continue
            for prop in propstat.find(f"{DAV}prop"):
                name = prop.tag.replace(DAV, "")
                if name == "resourcetype":
                    is_collection = prop.find(f"{DAV}collection") is not None
                props[name] = prop.text or ""
        path = unquote(urlsplit(href).path).rstrip("/")
        entries[path] = Entry(path=path, href=href, is_collection=is_collection, props=props)
    return entries
