"""Names clients look for that a video library never has, and the marker files the root serves.

macOS Finder asks for `._<name>` (AppleDouble) beside every file, `.DS_Store`
in every folder, and a handful of volume-level names; Windows asks for
`desktop.ini` and `Thumbs.db`. They are answered 404 before the library or a
torrent is consulted. Pure: names in, verdicts out.
"""

from __future__ import annotations

import posixpath

_PROBE_NAMES = frozenset(name.casefold() for name in (
    ".DS_Store", ".localized", ".hidden", ".Spotlight-V100", ".Trashes", ".fseventsd", ".TemporaryItems",
    ".VolumeIcon.icns", ".com.apple.timemachine.donotpresent", ".metadata_never_index_unless_rootfs",
    ".metadata_direct_scope_only", ".apdisk", "mach_kernel", "Backups.backupdb", "desktop.ini", "Thumbs.db",
    "Icon\r",
))

# Served empty at the root: Spotlight does not index the share and Quick Look draws no thumbnails,
# either of which would read every video and start downloads.
ROOT_MARKERS = (".metadata_never_index", ".ql_disablethumbnails")


def is_client_probe(path: str) -> bool:
    """A name no library item can have; a root marker is not a probe at the root."""
    name = posixpath.basename(path.rstrip("/"))
    if not name:
        return False
    if name.startswith("._"):
        return True
    if name in ROOT_MARKERS:
        return path.strip("/") != name
    return name.casefold() in _PROBE_NAMES
