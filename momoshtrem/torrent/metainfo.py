"""Torrent metadata as plain records, parsed once from `.torrent` bytes.

Everything above this module (matching, assignment, the tree) works on these
records and never on libtorrent objects, so it can be tested without a session.
"""

from __future__ import annotations

from dataclasses import dataclass

import libtorrent as lt

MAX_TORRENT_BYTES = 20 * 1024 * 1024


class MetainfoError(ValueError):
    """The bytes are not a usable torrent."""


@dataclass(frozen=True)
class TorrentFile:
    index: int
    path: str  # inside the torrent, '/'-separated, the torrent's name first for multi-file torrents
    size: int
    offset: int  # byte offset of the file within the torrent's concatenated data
    is_pad: bool


@dataclass(frozen=True)
class TorrentMeta:
    info_hash: str  # v1 info-hash, 40 lower-case hex digits
    name: str
    piece_length: int
    total_size: int
    files: tuple[TorrentFile, ...]
    torrent_bytes: bytes  # the bencoded torrent, enough to add it to a session without the swarm
    source: str | None = None  # the magnet it was fetched by: its peer hints and trackers help later adds

    def real_files(self) -> list[TorrentFile]:
        """Files a user could mean: pad files (BEP 47 alignment filler) never count."""
        return [f for f in self.files if not f.is_pad and f.size > 0]


def parse_torrent(data: bytes) -> TorrentMeta:
    """Parse `.torrent` bytes; raise MetainfoError with a reason a user can act on."""
    if not data:
        raise MetainfoError("the .torrent file is empty")
    if len(data) > MAX_TORRENT_BYTES:
        raise MetainfoError(f"the .torrent file is larger than {MAX_TORRENT_BYTES} bytes")
    if data[:1] != b"d":
        raise MetainfoError("not a .torrent file (it is not a bencoded dictionary)")
    try:
        info = lt.torrent_info(data)
    except RuntimeError as exc:
        raise MetainfoError(f"not a valid .torrent file: {exc}") from exc
    return meta_from_torrent_info(info, data)


def meta_from_torrent_info(info: "lt.torrent_info", torrent_bytes: bytes) -> TorrentMeta:
    hashes = info.info_hashes()
    if not hashes.has_v1():
        raise MetainfoError("v2-only torrents are not supported: the torrent has no v1 info-hash")
    storage = info.layout()
    pad_flag = lt.file_storage.flag_pad_file
    files = tuple(
        TorrentFile(
            index=i,
            path=storage.file_path(i).replace("\\", "/"),
            size=storage.file_size(i),
            offset=storage.file_offset(i),
            is_pad=bool(storage.file_flags(i) & pad_flag),
        )
        for i in range(storage.num_files())
    )
    return TorrentMeta(
        info_hash=str(hashes.v1).lower(),
        name=info.name(),
        piece_length=info.piece_length(),
        total_size=info.total_size(),
        files=files,
        torrent_bytes=torrent_bytes,
    )
