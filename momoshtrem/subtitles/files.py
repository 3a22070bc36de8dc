"""Downloaded subtitle files under `subtitles.dir`: `movie-12/opensubtitles-1923552.en.srt`.

Files are written atomically, before their library record; `sweep` deletes
what no record names (a crash between file and record, a movie deleted with
its records) and temporary files. It touches only names this module makes, so
a `subtitles.dir` pointed at a folder with other files in it loses nothing.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from momoshtrem.fsutil import TEMPORARY_SUFFIX, write_atomically
from momoshtrem.library.models import ItemRef

log = logging.getLogger(__name__)

_ITEM_FOLDER = re.compile(r"(movie|episode)-\d+")
_OURS = re.compile(r"(movie|episode)-\d+/[a-z]+-\d+\.[A-Za-z-]+\.[a-z]+(" + re.escape(TEMPORARY_SUFFIX) + ")?")


class SubtitleFiles:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def name_for(item: ItemRef, provider: str, file_id: int, language: str, extension: str) -> str:
        """The stored path, relative to the root; unique per item and provider file."""
        return f"{item.kind}-{item.id}/{provider}-{file_id}.{language}{extension}"

    def path(self, stored_path: str) -> Path:
        if not _OURS.fullmatch(stored_path):
            raise ValueError(f"not a stored subtitle path: {stored_path!r}")
        return self.root / stored_path

    def write(self, stored_path: str, data: bytes) -> None:
        path = self.path(stored_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)

    def remove(self, stored_path: str) -> None:
        path = self.path(stored_path)
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass  # other subtitles of the item are still there

    def sweep(self, keep: set[str]) -> list[str]:
        """Delete our files that are not in `keep`; returns what went."""
        removed = []
        if not self.root.is_dir():
            return removed
        for path in sorted(self.root.glob("*-*/*")):
            relative = path.relative_to(self.root).as_posix()
            if _OURS.fullmatch(relative) and relative not in keep and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(relative)
        for folder in self.root.glob("*-*"):
            if _ITEM_FOLDER.fullmatch(folder.name) and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if removed:
            log.info("removed %d subtitle files no library record names", len(removed))
        return removed
