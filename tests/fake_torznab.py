"""A local stand-in for Torznab indexers (Jackett, Prowlarr), answering with their real shapes.

One server holds several indexers, each under its own path (`/<name>/api`):
- `good`: a caps document like Jackett's aggregate indexer, and RSS results with
  `<size>`, `<link>`, `<enclosure>` and `torznab:attr` seeders, peers, infohash,
  magneturl and category; its download links (`/good/dl/<n>?apikey=...`) answer
  a `.torrent` or a 302 to a magnet, as Jackett does for magnet-only sites;
- `badkey`: `<error code="100" description="Invalid API Key"/>`, whatever is asked;
- `hang`: accepts the request and never answers (until the test ends);
- `malformed`: a feed cut off in the middle;
- `bomb`: the billion-laughs entity bomb.
Only the internet service is replaced: the real Torznab client talks HTTP to it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

from http.server import BaseHTTPRequestHandler

from tests.loopback_http import LoopbackServer

API_KEY = "k3y0123456789abcdef0123456789ab"

CAPS = b"""<?xml version="1.0" encoding="UTF-8"?>
<caps>
  <server title="Jackett" />
  <limits default="100" max="100" />
  <searching>
    <search available="yes" supportedParams="q" />
    <tv-search available="yes" supportedParams="q,season,ep,imdbid,tvdbid,tmdbid" />
    <movie-search available="yes" supportedParams="q,imdbid,tmdbid" />
    <music-search available="no" supportedParams="q" />
    <audio-search available="no" supportedParams="q" />
    <book-search available="no" supportedParams="q" />
  </searching>
  <categories>
    <category id="2000" name="Movies"><subcat id="2040" name="Movies/HD" /></category>
    <category id="5000" name="TV"><subcat id="5040" name="TV/HD" /></category>
  </categories>
</caps>"""

BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><item><title>&lol9;</title></item></channel></rss>"""


@dataclass
class Item:
    """One release as the indexer lists it. `torrent` (bytes) is served at its download link; `magnet` goes in
    `torznab:attr magneturl` unless `magnet_by_redirect`, when the download link answers a 302 to it."""

    title: str
    seeders: int
    size: int = 2_000_000_000
    magnet: str | None = None
    info_hash: str | None = None
    torrent: bytes | None = None
    magnet_by_redirect: bool = False
    category: int = 2040


@dataclass
class FakeTorznab:
    items: list[Item] = field(default_factory=list)
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    stop_hanging: threading.Event = field(default_factory=threading.Event)
    hung: int = 0  # requests to `hang` that are waiting now
    server: LoopbackServer | None = None

    def start(self) -> "FakeTorznab":
        fake = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                indexer, _, rest = parts.path.strip("/").partition("/")
                if indexer == "hang":
                    with lock:
                        fake.hung += 1
                    fake.stop_hanging.wait(60)
                    with lock:
                        fake.hung -= 1
                    return
                if query.get("apikey") != [API_KEY] or indexer == "badkey":
                    return self._send(200, b'<?xml version="1.0" encoding="UTF-8"?>\n'
                                           b'<error code="100" description="Invalid API Key" />')
                if rest.startswith("dl/"):
                    return self._download(int(rest[3:]))
                fake.queries.append({"indexer": [indexer], **query})
                if indexer == "malformed":
                    return self._send(200, b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>Cut')
                if indexer == "bomb":
                    return self._send(200, BOMB)
                if query.get("t") == ["caps"]:
                    return self._send(200, CAPS)
                return self._send(200, fake.feed(f"http://{self.headers['Host']}/{indexer}"))

            def _download(self, number: int) -> None:
                item = fake.items[number]
                if item.magnet_by_redirect:
                    self.send_response(302)
                    self.send_header("Location", item.magnet)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if item.torrent is None:
                    return self._send(200, b"<!DOCTYPE html><html><body>Please log in</body></html>", "text/html")
                self._send(200, item.torrent, "application/x-bittorrent")

            def _send(self, status: int, body: bytes, content_type: str = "application/rss+xml") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = LoopbackServer(Handler)
        return self

    def url(self, indexer: str) -> str:
        return f"{self.server.root}/{indexer}/api"

    def feed(self, base: str) -> bytes:
        entries = []
        for number, item in enumerate(self.items):
            link = f"{base}/dl/{number}?apikey={API_KEY}"
            attrs = [("category", str(item.category)), ("seeders", str(item.seeders)),
                     ("peers", str(item.seeders + 3))]
            if item.info_hash:
                attrs.append(("infohash", item.info_hash))
            if item.magnet and not item.magnet_by_redirect:
                attrs.append(("magneturl", item.magnet))
            attr_xml = "".join(f"<torznab:attr name={quoteattr(n)} value={quoteattr(v)} />" for n, v in attrs)
            entries.append(
                f"<item><title>{escape(item.title)}</title><guid>{base}/details/{number}</guid>"
                f"<jackettindexer id=\"localtracker\">Local Tracker</jackettindexer><type>public</type>"
                f"<pubDate>Mon, 01 Dec 2025 10:00:00 +0000</pubDate><size>{item.size}</size><grabs>12</grabs>"
                f"<description /><link>{link}</link><category>{item.category}</category>"
                f"<enclosure url=\"{link}\" length=\"{item.size}\" type=\"application/x-bittorrent\" />"
                f"{attr_xml}</item>")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
                'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:torznab="http://torznab.com/schemas/2015/feed">'
                f'<channel><atom:link href="{base}/api" rel="self" type="application/rss+xml" />'
                f'<title>AggregateSearch</title><description>AggregateSearch</description>'
                f'{"".join(entries)}</channel></rss>').encode()

    def close(self) -> None:
        self.stop_hanging.set()
        if self.server is not None:
            self.server.close()
