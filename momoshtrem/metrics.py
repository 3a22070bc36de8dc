"""Prometheus metrics at /metrics: requests as they complete, and the torrent engine read at scrape time.

A registry per server (not prometheus_client's global one), so several
servers in one process (the tests) each count their own. The engine's
figures are read when Prometheus scrapes, so nothing on the read path pays
for metrics beyond the engine's own counters.
"""

from __future__ import annotations

from typing import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from momoshtrem.probestore.fetcher import ProbeFetcher
from momoshtrem.requestlog import CompletedRequest
from momoshtrem.torrent.session import SessionManager
from momoshtrem.worker_shares import UpstreamWaits

# Methods a client of the share or the API sends; anything else is counted as "other", so a
# stranger's made-up methods cannot grow the label set without bound.
KNOWN_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PROPFIND", "PROPPATCH",
                           "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "PATCH"})
TORRENT_STATES = ("fetching_metadata", "checking", "downloading", "finished", "seeding", "paused", "idle", "error")
# Time to first byte: a warm read is milliseconds, a cold start a second or two, a stall the read timeout.
FIRST_BYTE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class Metrics:
    def __init__(self, engine: SessionManager, probes: ProbeFetcher | None = None,
                 assigned_files: Callable[[], set[tuple[str, int]]] | None = None,
                 upstream: UpstreamWaits | None = None) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter("momoshtrem_http_requests", "HTTP requests answered, by method and status",
                                 ["method", "status"], registry=self.registry)
        self._sent = Counter("momoshtrem_http_response_bytes", "Response body bytes sent, by method",
                             ["method"], registry=self.registry)
        self._first_byte = Histogram("momoshtrem_read_first_byte_seconds",
                                     "Time from a file read's arrival to the first byte of its content",
                                     buckets=FIRST_BYTE_BUCKETS, registry=self.registry)
        self.registry.register(_EngineCollector(engine))
        if probes is not None and assigned_files is not None:
            self.registry.register(_ProbeStoreCollector(probes, assigned_files))
        if upstream is not None:
            self.registry.register(_UpstreamCollector(upstream))
        self.app: Callable = make_wsgi_app(self.registry)

    def observe(self, request: CompletedRequest) -> None:
        method = request.method if request.method in KNOWN_METHODS else "other"
        self._requests.labels(method, request.status).inc()
        self._sent.labels(method).inc(request.sent)
        if request.file_read and request.first_byte_seconds is not None and request.status in ("200", "206"):
            self._first_byte.observe(request.first_byte_seconds)


class _EngineCollector(Collector):
    """The session's read counters, torrents by state, rates and cache size, read on every scrape."""

    def __init__(self, engine: SessionManager) -> None:
        self._engine = engine

    def collect(self) -> Iterable[Metric]:
        stats = self._engine.read_stats.snapshot()
        for name, help_text in (
            ("reads", "Reads served from torrent data"),
            ("blocked_reads", "Reads that waited for a piece to arrive"),
            ("blocked_read_seconds", "Time reads spent waiting for pieces"),
            ("read_timeouts", "Reads that gave up after torrent.read_timeout"),
            ("read_errors", "Reads that failed otherwise (torrent error, cancelled)"),
            ("abandoned_reads", "Reads that waited for pieces until their client hung up (a player's seek)"),
            ("seeks", "Reads that jumped away from where the reader's last read ended"),
            ("refused_reads", "GETs answered 503 because too many reads already waited for pieces"),
        ):
            yield CounterMetricFamily(f"momoshtrem_{name}", help_text, value=stats[name])

        states = self._engine.states()
        by_state = GaugeMetricFamily("momoshtrem_torrents", "Torrents in the session, by state", labels=["state"])
        for state in TORRENT_STATES:
            by_state.add_metric([state], sum(1 for s in states if s.state == state))
        yield by_state
        yield GaugeMetricFamily("momoshtrem_download_rate_bytes", "Payload download rate, bytes per second",
                                value=sum(s.download_rate for s in states))
        yield GaugeMetricFamily("momoshtrem_upload_rate_bytes", "Payload upload rate, bytes per second",
                                value=sum(s.upload_rate for s in states))
        yield GaugeMetricFamily("momoshtrem_peers", "Connected peers", value=sum(s.peers for s in states))
        yield GaugeMetricFamily("momoshtrem_open_readers", "Open file readers (streams being served)",
                                value=sum(s.readers for s in states))
        yield GaugeMetricFamily("momoshtrem_cache_bytes", "Downloaded data on disk, bytes",
                                value=self._engine.cache_bytes())


class _ProbeStoreCollector(Collector):
    """The assigned files by probe state, and the store's size, read on every scrape."""

    def __init__(self, probes: ProbeFetcher, assigned_files: Callable[[], set[tuple[str, int]]]) -> None:
        self._probes = probes
        self._assigned_files = assigned_files

    def collect(self) -> Iterable[Metric]:
        files = GaugeMetricFamily("momoshtrem_probe_store_files", "Assigned videos by probe state", labels=["state"])
        for state, count in self._probes.counts(self._assigned_files()).items():
            files.add_metric([state], count)
        yield files
        yield GaugeMetricFamily("momoshtrem_probe_store_bytes", "Bytes the probe store holds on disk",
                                value=self._probes.store.usage())


class _UpstreamCollector(Collector):
    """Requests waiting on indexers, TMDB or OpenSubtitles now, and those refused for want of a worker share."""

    def __init__(self, upstream: UpstreamWaits) -> None:
        self._upstream = upstream

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("momoshtrem_internet_waits", "Requests waiting on indexers, TMDB or OpenSubtitles",
                                value=self._upstream.waiting)
        yield CounterMetricFamily("momoshtrem_refused_internet_requests",
                                  "Requests answered 503 because too many already waited on the internet",
                                  value=self._upstream.refused)
