"""`momoshtrem releases ...` and `assign ... --best | N`: indexer results in a table, and picking one to assign.

The last listing is kept in the user's cache directory, so `assign movie 3 2`
assigns the second release of the last `releases movie 3`, as a person reads
the table and picks a line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tabulate import tabulate

from momoshtrem.cli.client import ApiClient, ClientError
from momoshtrem.humanize import human_bytes


def listing_path() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "momoshtrem" / "last-releases.json"


def search(client: ApiClient, kind: str, item_id: int, season: int | None = None) -> dict:
    """Results best first; remembered as the last listing for the movie or show they would be assigned to."""
    if kind == "show":
        if season is None:
            raise ClientError("give the season: releases show ID --season N")
        found = client.call("GET", f"/api/shows/{item_id}/releases?season={season}")
        target = ("show", item_id)
    else:
        found = client.call("GET", f"/api/{kind}s/{item_id}/releases")
        target = ("show", found["show_id"]) if kind == "episode" else ("movie", item_id)
    _remember(client.base_url, target, found["results"])
    return found


def pick_source(client: ApiClient, kind: str, item_id: int, choice: str) -> str:
    """The source of the release `choice` names: "best" (a fresh search's first), or N of the last listing."""
    if choice == "best":
        if kind == "show":
            raise ClientError("for a show, list a season first (releases show ID --season N), then assign by number")
        results = search(client, kind, item_id)["results"]
        if not results:
            raise ClientError("the indexers found no release for this movie")
        return results[0]["source_url"]
    try:
        listing = json.loads(listing_path().read_text())
    except (OSError, ValueError):
        raise ClientError(f"no listing to pick from: run `momoshtrem releases {kind} {item_id}` first") from None
    if listing.get("server") != client.base_url or listing.get("assign_to") != [kind, item_id]:
        raise ClientError(f"the last listing was not for this {kind}: run `momoshtrem releases` for it first")
    number = int(choice)
    sources = listing.get("sources", [])
    if not 1 <= number <= len(sources):
        raise ClientError(f"the last listing has {len(sources)} releases; pick 1 to {len(sources)}")
    return sources[number - 1]


def render(found: dict) -> str:
    rows = [[n, r["score"], r["title"][:70], r["indexer"], human_bytes(r["size"]) if r["size"] else "",
             r["seeders"] if r["seeders"] is not None else "", " ".join(x for x in (r["resolution"], r["source"]) if x)]
            for n, r in enumerate(found["results"], 1)]
    text = (tabulate(rows, headers=["#", "score", "release", "indexer", "size", "seeders", "quality"])
            if rows else "no release found")
    for error in found["errors"]:
        text += f"\nindexer {error['indexer']}: {error['error']}"
    return text


def _remember(server: str, target: tuple[str, int], results: list[dict[str, Any]]) -> None:
    path = listing_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"server": server, "assign_to": list(target),
                                    "sources": [r["source_url"] for r in results]}))
    except OSError:
        pass  # a read-only home: the listing is shown, only `assign ... N` will not find it
