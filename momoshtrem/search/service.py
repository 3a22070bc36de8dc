"""Searching every configured indexer for a library item, in parallel, and ranking what they found for it.

An indexer that is down, slow, refuses the key or answers garbage costs the
others nothing: it is reported beside the results. The whole search takes at
most about twice `search.timeout` (capabilities once, then the search).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

from momoshtrem.library.errors import Unavailable
from momoshtrem.search.links import hide_key
from momoshtrem.search.ranking import Ranked, Release, Wanted, rank
from momoshtrem.search.torznab import IndexerError, IndexerSettings, TorznabClient, query_for

log = logging.getLogger(__name__)


@dataclass
class SearchOutcome:
    results: list[Ranked] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)  # {"indexer", "error"}

    def to_json(self) -> dict:
        return {"results": [_ranked_json(r) for r in self.results], "errors": self.errors}


class ReleaseSearch:
    def __init__(self, indexers: list[IndexerSettings], timeout: float, preferred_resolution: str) -> None:
        self.indexers = indexers
        self.timeout = timeout
        self.preferred_resolution = preferred_resolution
        self._clients = [TorznabClient(settings, timeout) for settings in indexers]

    def find(self, wanted: Wanted, tmdb_id: int | None) -> SearchOutcome:
        if not self._clients:
            raise Unavailable("no indexer is configured: add Jackett or Prowlarr under search.indexers")
        pool = ThreadPoolExecutor(max_workers=len(self._clients), thread_name_prefix="torznab")
        futures = {pool.submit(self._search_one, client, wanted, tmdb_id): client for client in self._clients}
        done, _ = wait(futures, timeout=2 * self.timeout + 1)
        pool.shutdown(wait=False)  # a hung indexer's thread ends at its own timeout; nobody waits for it
        outcome = SearchOutcome()
        found: list[Release] = []
        for future, client in futures.items():
            name = client.settings.name
            if future not in done:
                outcome.errors.append({"indexer": name, "error": f"no answer within {2 * self.timeout:g} s"})
                continue
            try:
                found.extend(future.result())
            except IndexerError as exc:
                log.warning("indexer %s: %s", name, exc)
                outcome.errors.append({"indexer": name, "error": str(exc)})
        outcome.results = rank(found, wanted, self.preferred_resolution)
        return outcome

    @staticmethod
    def _search_one(client: TorznabClient, wanted: Wanted, tmdb_id: int | None) -> list[Release]:
        query = query_for(client.capabilities(), "movie" if wanted.kind == "movie" else "show", wanted.title,
                          wanted.year, tmdb_id, wanted.season, wanted.episode)
        return [_with_key_hidden(r, client.settings) for r in client.search(query)]


def _with_key_hidden(release: Release, settings: IndexerSettings) -> Release:
    return replace(release, source_url=hide_key(release.source_url, settings))


def _ranked_json(ranked: Ranked) -> dict:
    r = ranked.release
    return {"title": r.title, "indexer": r.indexer, "size": r.size, "seeders": r.seeders, "peers": r.peers,
            "resolution": ranked.resolution, "source": ranked.source, "info_hash": r.info_hash,
            "source_url": r.source_url, "score": ranked.score, "why": ranked.why}
