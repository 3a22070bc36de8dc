// The webtorrent baseline of stream_bench.py: what `webtorrent download MAGNET --out DIR --port PORT` does
// (webtorrent-cli 6: the whole torrent wanted, its files served over HTTP once the metadata is in), with DHT,
// LSD, UPnP and NAT-PMP off so that nothing leaves loopback (the CLI has no switch for them), and uTP off:
// webtorrent dials a new peer over uTP first and tries TCP only after three failed attempts (42 s measured
// against a TCP-only seeder), so with uTP on it would play from the uTP peers alone. Off, it is the stronger
// baseline.
//   node --require node_loopback.cjs --require node_no_webrtc.cjs webtorrent_serve.mjs WEBTORRENT_DIR MAGNET OUT PORT
// serves the torrent's files at http://127.0.0.1:PORT/webtorrent/<info-hash>/<path> once the metadata is in.
import path from "node:path";
import { pathToFileURL } from "node:url";

const [moduleDir, magnet, out, port] = process.argv.slice(2);
const { default: WebTorrent } = await import(pathToFileURL(path.join(moduleDir, "index.js")).href);

const client = new WebTorrent({ dht: false, lsd: false, natUpnp: false, natPmp: false, utp: false });
client.on("error", (err) => { console.error(err); process.exit(1); });
client.add(magnet, { path: out });
const server = client.createServer({}, "node").server;
server.listen(Number(port), "127.0.0.1");
