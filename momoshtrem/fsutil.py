"""Writing files so a crash or a full disk never leaves half of one behind."""

from __future__ import annotations

import os
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"


def write_atomically(path: Path, data: bytes) -> None:
    """The whole file at `path`, or (on any error) no change and no temporary file left."""
    temporary = path.with_suffix(path.suffix + TEMPORARY_SUFFIX)
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
