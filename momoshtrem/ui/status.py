"""The status page's sections at /ui/status: what a user opens when a stream stutters.

Plain HTML that the page reloads every few seconds (no script): the library's
size, what readers went through, and every torrent in the session with its
state, peers, rates, bytes on disk and a piece map showing what is downloaded,
arriving, waited for and wanted, and where each reader is.
"""

from __future__ import annotations

from html import escape

from momoshtrem.humanize import human_bytes
from momoshtrem.library.store import Library
from momoshtrem.probestore.fetcher import ProbeFetcher
from momoshtrem.streaming.stream import Streams
from momoshtrem.torrent.reports import TorrentState
from momoshtrem.torrent.session import SessionManager
from momoshtrem.ui.piecemap import ReaderMark, legend_html, piece_runs, render_svg


class StatusSections:
    def __init__(self, library: Library, engine: SessionManager, streams: Streams,
                 probes: ProbeFetcher | None = None) -> None:
        self._library = library
        self._engine = engine
        self._streams = streams
        self._probes = probes

    def render(self) -> str:
        """The page's body: each section escapes what it shows."""
        return f"{self._library_section()}{self._probes_section()}{self._reads_section()}{self._torrents_section()}"

    def _probes_section(self) -> str:
        if self._probes is None:
            return ""
        counts = self._probes.counts(self._library.assigned_files())
        store = self._probes.store
        return "<section id=\"probes\"><h2>Probe store</h2>" + _figures([
            ("Stored", f"{counts['stored']} files ({human_bytes(store.usage())} of {human_bytes(store.cap_bytes)})"),
            ("Pending", str(counts["pending"])),
            ("Failed", str(counts["failed"])),
        ]) + "</section>"

    def _library_section(self) -> str:
        counts = self._library.counts()
        return "<section id=\"library\"><h2>Library</h2>" + _figures([
            ("Movies", f"{counts.movies} ({counts.movies_assigned} playable)"),
            ("Shows", str(counts.shows)),
            ("Episodes", f"{counts.episodes} ({counts.episodes_assigned} playable)"),
            ("Torrents", str(counts.torrents)),
        ]) + "</section>"

    def _reads_section(self) -> str:
        stats = self._engine.read_stats.snapshot()
        return "<section id=\"reads\"><h2>Reads since start</h2>" + _figures([
            ("Reads", str(stats["reads"])),
            ("Waited for a piece", f"{stats['blocked_reads']} ({stats['blocked_read_seconds']:.1f} s in all)"),
            ("Timed out", str(stats["read_timeouts"])),
            ("Failed", str(stats["read_errors"])),
            ("Seeks", str(stats["seeks"])),
            ("Data on disk", human_bytes(self._engine.cache_bytes())),
        ]) + "</section>"

    def _torrents_section(self) -> str:
        states = self._engine.states()
        if not states:
            body = ("<p class=\"muted\">No torrent is in the session: one joins when a file of it is read beyond what "
                    "the probe store holds (it stays, paused when idle, until removed), or while the store fetches "
                    "from it.</p>")
        else:
            body = "".join(self._torrent(state) for state in states)
        return f"<section id=\"torrents\"><h2>Torrents in the session</h2>{body}{legend_html()}</section>"

    def _torrent(self, state: TorrentState) -> str:
        torrent = self._engine.find(state.info_hash)
        name = torrent.meta.name if torrent is not None else "(fetching metadata)"
        error = f'<p class="error">{escape(state.error)}</p>' if state.error else ""
        figures = _figures([
            ("State", state.state),
            ("Progress", f"{state.progress * 100:.1f} %"),
            ("Peers", f"{state.peers} ({state.seeds} seeds)"),
            ("Download", human_bytes(state.download_rate) + "/s"),
            ("Upload", human_bytes(state.upload_rate) + "/s"),
            ("On disk", human_bytes(state.bytes_on_disk)),
            ("Readers", str(state.readers)),
        ])
        return (f'<article class="torrent" data-info-hash="{state.info_hash}"><h3>{escape(name)}</h3>'
                f'<p class="hash">{state.info_hash}</p>{error}{figures}{self.piece_map(state.info_hash)}</article>')

    def piece_map(self, info_hash: str) -> str:
        """The torrent's pieces as an SVG strip with its readers marked; empty when it is not in the session."""
        pieces = self._engine.piece_states(info_hash)
        if pieces is None:
            return ""
        views = self._streams.views(info_hash)
        deadlines = frozenset().union(*(view.deadline_pieces for view in views))
        marks = [ReaderMark(piece, f"{'container detection' if reader_id == 0 else f'reader {reader_id}'}: "
                                   f"{view.file_path}, piece {piece}")
                 for view in views for reader_id, piece in view.reader_pieces.items()]
        runs = piece_runs(pieces.have, pieces.downloading, deadlines, pieces.priorities)
        files = "".join(
            f"<li>{escape(view.file_path)}: readers {len(view.reader_pieces)}"
            f"{', waiting for pieces' if view.waiting else ''}</li>" for view in views)
        return render_svg(runs, len(pieces.have), marks) + (f"<ul class=\"streams\">{files}</ul>" if files else "")


def _figures(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in rows)
    return f'<table class="figures">{cells}</table>'

