"""Numbers as people read them, for the CLI's tables and the status page."""

from __future__ import annotations


def human_bytes(count: float) -> str:
    """Binary units, as file managers and `ls -h` show sizes: 1536 -> '1.5 KiB'."""
    if count < 1024:
        return f"{count:.0f} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        count /= 1024
        if count < 1024 or unit == "TiB":
            break
    return f"{count:.1f} {unit}"
