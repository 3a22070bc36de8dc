"""Which search result to take when the user names only a language. Pure.

A file made for this exact release (the moviehash matched) is timed right;
after that, a human translation beats a machine one, a trusted uploader an
unknown one, and the full subtitle beats the forced-only and the
hearing-impaired one (those are chosen by name). The crowd's choice, the
download count, settles the rest.
"""

from __future__ import annotations

from typing import Sequence

from momoshtrem.subtitles.opensubtitles import SubtitleResult


def best_first(results: Sequence[SubtitleResult]) -> list[SubtitleResult]:
    return sorted(results, key=lambda r: (
        not r.moviehash_match,
        r.machine_translated,
        not r.from_trusted,
        r.foreign_parts_only,
        r.hearing_impaired,
        -r.download_count,
        r.file_id,
    ))


def variant_of(result: SubtitleResult) -> str | None:
    """The share's name part for a result: `forced`, `sdh`, or nothing."""
    if result.foreign_parts_only:
        return "forced"
    if result.hearing_impaired:
        return "sdh"
    return None
