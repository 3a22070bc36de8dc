"""A torrent's piece map as an SVG image. Pure: pieces in, markup out.

One bar, one column per piece, coloured by what the piece is doing: have it,
blocks arriving, a deadline set (a player waits or soon will), wanted by
priority, not wanted. Below the bar, a marker at each reader's position. Runs
of pieces in the same state are drawn as one rectangle, so a torrent of
thousands of pieces stays a small image, and a lone piece gets at least a
pixel so a stall is visible.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Iterable, Sequence

STATES = ("have", "downloading", "deadline", "wanted", "none")  # strongest first
COLOURS = {"have": "#2e7d32", "downloading": "#f9a825", "deadline": "#c62828", "wanted": "#90caf9",
           "none": "#e0e0e0"}
LABELS = {"have": "downloaded", "downloading": "downloading", "deadline": "deadline (a player waits)",
          "wanted": "priority (wanted)", "none": "not wanted"}
WIDTH = 960
BAR_HEIGHT = 28
MARKER_HEIGHT = 18


@dataclass(frozen=True)
class ReaderMark:
    piece: int
    label: str


@dataclass(frozen=True)
class Run:
    start: int  # first piece
    end: int  # one past the last piece
    state: str


def piece_state(have: bool, downloading: bool, deadline: bool, priority: int) -> str:
    if have:
        return "have"
    if downloading:
        return "downloading"
    if deadline:
        return "deadline"
    return "wanted" if priority > 0 else "none"


def piece_runs(have: Sequence[int], downloading: set[int], deadlines: set[int] | frozenset[int],
               priorities: Sequence[int]) -> list[Run]:
    runs: list[Run] = []
    for piece in range(len(have)):
        priority = priorities[piece] if piece < len(priorities) else 0
        state = piece_state(bool(have[piece]), piece in downloading, piece in deadlines, priority)
        if runs and runs[-1].state == state and runs[-1].end == piece:
            runs[-1] = Run(runs[-1].start, piece + 1, state)
        else:
            runs.append(Run(piece, piece + 1, state))
    return runs


def render_svg(runs: Sequence[Run], num_pieces: int, readers: Iterable[ReaderMark] = ()) -> str:
    scale = WIDTH / max(num_pieces, 1)
    height = BAR_HEIGHT + MARKER_HEIGHT
    parts = [f'<svg class="piece-map" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" role="img" data-pieces="{num_pieces}">']
    for run in runs:
        x = run.start * scale
        width = max((run.end - run.start) * scale, 1.0)
        count = run.end - run.start
        title = f"piece {run.start}" if count == 1 else f"pieces {run.start}-{run.end - 1}"
        parts.append(f'<rect class="{run.state}" x="{x:.2f}" y="0" width="{width:.2f}" height="{BAR_HEIGHT}" '
                     f'fill="{COLOURS[run.state]}" data-count="{count}"><title>{title}: {LABELS[run.state]}</title></rect>')
    for mark in readers:
        x = (mark.piece + 0.5) * scale
        top = BAR_HEIGHT + 2
        parts.append(f'<polygon class="reader" points="{x:.2f},{top} {x - 6:.2f},{height} {x + 6:.2f},{height}" '
                     f'fill="#1a237e" data-piece="{mark.piece}"><title>{escape(mark.label)}</title></polygon>')
    parts.append("</svg>")
    return "".join(parts)


def legend_html() -> str:
    items = (f'<span class="legend-item"><span class="swatch" style="background:{COLOURS[state]}"></span>'
             f"{LABELS[state]}</span>" for state in STATES)
    return '<p class="legend">' + "".join(items) + '<span class="legend-item">&#9650; a reader</span></p>'
