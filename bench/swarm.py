"""Swarms on 127.0.0.1 for the benchmarks: throttled seeders, each behind a relay that delays its traffic.

A real swarm has several peers at different distances and speeds, some of
them without uTP. Here each seeder is a libtorrent session with its own upload
limit and transports; when it has a one-way delay, it sits behind a
`DelayRelay` on one port for TCP and UDP, and announces that port to the
tracker (opentracker, as in the tests), so clients only ever reach it through
the relay. The relay delays each direction by the same amount and keeps the
byte order. Its own loopback sockets ack at once, so the round trip shows
where BitTorrent feels it: between a request and its block.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import MadeTorrent, Seeder, Tracker

MiB = 1024 * 1024


@dataclass(frozen=True)
class PeerSpec:
    delay_ms: float  # one way; 0: no relay
    rate: int  # upload limit, bytes/s
    utp: bool  # also accepts uTP (every peer accepts TCP)


# One TCP seeder with no delay: the single-seeder table.
ONE_TCP_SEEDER = (PeerSpec(0, 4 * MiB, False),)
# Six seeders, 6 MiB/s in all, the near ones fast, half of them also speaking uTP: a swarm like users meet.
REALISTIC = (
    PeerSpec(10, 2 * MiB, True),
    PeerSpec(25, 3 * MiB // 2, False),
    PeerSpec(50, 1 * MiB, True),
    PeerSpec(80, 3 * MiB // 4, False),
    PeerSpec(120, MiB // 2, True),
    PeerSpec(150, MiB // 4, False),
)

# A fast near seeder and a very slow one (a congested home uplink): does a piece a player waits for sit with the
# slow peer? Its blocks take half a second each from there, against 4 ms from the fast one.
HOSTAGE = (
    PeerSpec(10, 4 * MiB, False),
    PeerSpec(10, 32 * 1024, False),
)


class DelayRelay:
    """Forwards 127.0.0.1:port (TCP and UDP) to a target port, each direction `delay` seconds late."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), name="delay-relay", daemon=True)
        self._thread.start()
        started.wait(10)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._listen())
        started.set()
        self.loop.run_forever()

    async def _listen(self) -> None:
        for _ in range(20):  # a port free for both TCP and UDP
            server = await asyncio.start_server(self._on_tcp, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            try:
                await self.loop.create_datagram_endpoint(lambda: _UdpFront(self), local_addr=("127.0.0.1", port))
            except OSError:
                server.close()
                continue
            self.port = port
            return
        raise RuntimeError("no port free for both TCP and UDP")

    async def _on_tcp(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(self._pump(client_reader, target_writer), self._pump(target_reader, client_writer),
                                 return_exceptions=True)
        except asyncio.CancelledError:  # the relay is closing: a handler that ends quietly
            client_writer.close()
            target_writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy reader to writer, each chunk `delay` after it was read, in order."""
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            try:
                while True:
                    due, data = await queue.get()
                    if data is None:
                        break
                    wait = due - self.loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        delivering = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(65536):
                queue.put_nowait((self.loop.time() + self.delay, data))
        except (ConnectionError, OSError):
            pass
        queue.put_nowait((0.0, None))
        await delivering

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shut_down(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)

    async def _shut_down(self) -> None:
        tasks = [t for t in asyncio.all_tasks(self.loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _UdpFront(asyncio.DatagramProtocol):
    """The relay's UDP side: one upstream socket per client address, so replies find their way back."""

    def __init__(self, relay: DelayRelay) -> None:
        self.relay = relay
        self.transport: asyncio.DatagramTransport | None = None
        self.upstreams: dict[tuple, asyncio.DatagramTransport] = {}

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, client: tuple) -> None:
        self.relay.loop.call_later(self.relay.delay, self._forward, data, client)

    def _forward(self, data: bytes, client: tuple) -> None:
        upstream = self.upstreams.get(client)
        if upstream is None:
            asyncio.ensure_future(self._open_upstream(data, client))
        else:
            upstream.sendto(data)

    async def _open_upstream(self, first: bytes, client: tuple) -> None:
        front = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, _address: tuple) -> None:
                front.relay.loop.call_later(front.relay.delay, front.transport.sendto, data, client)

        if client not in self.upstreams:
            transport, _ = await self.relay.loop.create_datagram_endpoint(
                Back, remote_addr=("127.0.0.1", self.relay.target_port))
            self.upstreams[client] = transport
        self.upstreams[client].sendto(first)


class Swarm:
    """Seeders of the given specs for the given torrents, a tracker, and magnets that name both."""

    def __init__(self, specs: tuple[PeerSpec, ...], torrents: list[MadeTorrent], workdir: Path) -> None:
        self.specs = specs
        self.tracker = Tracker(workdir / "tracker", [t.info_hash for t in torrents])
        self.seeders: list[Seeder] = []
        self.relays: list[DelayRelay] = []
        self.ports: list[int] = []  # where clients reach each seeder
        for spec in specs:
            # A 100 ms tick spreads the seeder's quota like a real link; with libtorrent's default 500 ms it
            # sends in bursts, and every figure jumps by half a second at random.
            # Seeds drop their links to each other, as libtorrent's default does: kept (the tests' seeder keeps
            # them), they took every unchoke slot, and a new leecher waited for the next unchoke round.
            seeder = Seeder(upload_rate=spec.rate, tick_interval=100, close_redundant_connections=True,
                            enable_incoming_utp=spec.utp, enable_outgoing_utp=spec.utp)
            port = seeder.port
            if spec.delay_ms:
                relay = DelayRelay(seeder.port, spec.delay_ms / 1000)
                self.relays.append(relay)
                port = relay.port
                seeder.session.apply_settings({"announce_port": port})
            self.seeders.append(seeder)
            self.ports.append(port)
            for made in torrents:
                seeder.seed(made, trackers=[self.tracker.announce_url])

    @property
    def rate(self) -> int:
        return sum(spec.rate for spec in self.specs)

    @property
    def nearest_round_trip(self) -> float:
        return 2 * min(spec.delay_ms for spec in self.specs) / 1000

    def magnet(self, made: MadeTorrent) -> str:
        peers = "".join(f"&x.pe=127.0.0.1:{port}" for port in self.ports)
        return f"magnet:?xt=urn:btih:{made.info_hash}&dn=bench&tr={self.tracker.announce_url}{peers}"

    def describe(self) -> str:
        return ", ".join(f"{s.rate / MiB:g} MiB/s {'TCP+uTP' if s.utp else 'TCP'} {s.delay_ms:g} ms"
                         for s in self.specs)

    def close(self) -> None:
        for seeder in self.seeders:
            seeder.close()
        for relay in self.relays:
            relay.close()
        self.tracker.close()
