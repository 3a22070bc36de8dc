"""What a user may name a torrent by: a magnet URI or a bare info-hash.

Pure validation and normalisation (base32 magnets become 40-hex), so a
malformed source is refused with a clear message before anything is stored or
any network is touched.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit


class SourceError(ValueError):
    """The text is not a magnet URI or an info-hash we can use."""


@dataclass(frozen=True)
class MagnetSource:
    info_hash: str  # 40 lower-case hex
    uri: str  # as given; libtorrent parses trackers and peer hints from it
    display_name: str | None = None


_HEX40 = re.compile(r"^[0-9a-fA-F]{40}$")
_BASE32 = re.compile(r"^[A-Za-z2-7]{32}$")


def parse_source(text: str) -> MagnetSource:
    """Accept `magnet:?xt=urn:btih:<hex or base32>...` or a bare 40-hex info-hash.

    The magnet is rebuilt in one canonical spelling (scheme in lower case, no
    fragment, exactly one `xt=urn:btih:` topic, hex), because libtorrent parses
    the stored URI again: its info-hash must be the one checked here. A magnet
    naming two different btih hashes is refused: libtorrent would take the last,
    and a user cannot tell which torrent they meant.
    """
    if not isinstance(text, str) or not text.strip():
        raise SourceError("the source is empty: give a magnet URI or a 40-hex info-hash")
    text = text.strip()
    if not text.lower().startswith("magnet:"):
        info_hash = normalise_info_hash(text)
        return MagnetSource(info_hash=info_hash, uri=f"magnet:?xt=urn:btih:{info_hash}")
    pairs = parse_qsl(urlsplit(text).query, keep_blank_values=True)
    topics = [value for key, value in pairs if key == "xt"]
    hashes = {normalise_info_hash(t[len("urn:btih:"):]) for t in topics if t.lower().startswith("urn:btih:")}
    if not hashes:
        if any(t.lower().startswith("urn:btmh:") for t in topics):
            raise SourceError("v2-only magnets (urn:btmh) are not supported: the magnet needs a urn:btih info-hash")
        raise SourceError("the magnet URI has no 'xt=urn:btih:' info-hash")
    if len(hashes) > 1:
        raise SourceError(f"the magnet names {len(hashes)} different info-hashes; give a magnet for one torrent")
    info_hash = hashes.pop()
    rest = [(key, value) for key, value in pairs if key != "xt"]
    uri = f"magnet:?xt=urn:btih:{info_hash}" + "".join(f"&{quote(key, safe='.')}={quote(value, safe=':/')}" for key, value in rest)
    names = [value for key, value in rest if key == "dn"]
    return MagnetSource(info_hash=info_hash, uri=uri, display_name=names[0] if names else None)


def normalise_info_hash(text: str) -> str:
    """40-hex or 32-character base32 (BEP 9) to 40 lower-case hex."""
    text = text.strip()
    if _HEX40.match(text):
        return text.lower()
    if _BASE32.match(text):
        try:
            return binascii.hexlify(base64.b32decode(text.upper())).decode()
        except binascii.Error as exc:
            raise SourceError(f"'{text}' is not valid base32") from exc
    raise SourceError(
        f"'{_shorten(text)}' is not an info-hash: expected 40 hex digits (or 32 base32 characters), got {len(text)} characters"
    )


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
