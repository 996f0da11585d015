"""Simulated browser clients of a running desk: probes, slow readers, garbage senders.

A :class:`SimClient` is what the SharedWorker does, minus drawing: it
authenticates on ``/ws``, subscribes groups, reads every frame and heals
sequence gaps with a ``snapshotRequest``. It keeps the history the report
needs: every healthy frame (a snapshot, or a delta whose ``seq`` follows the
last one) with its server build time and its arrival time, gaps seen and
healed, duplicates ignored. :meth:`SimClient.throttle` stops (or slows) its
reads for a while: a slow client, whose session must conflate.

A :class:`GarbageClient` authenticates, then sends undecodable, oversized
and unknown frames until the desk closes it (1008).

Everything runs as tasks on the desk's own loop (in process).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import capnp

import schemas
from sim.harness.frame_ring import FrameRing
from transport.edge.client import client_message as edge_client_message

CONNECT_TIMEOUT_S = 10.0
"""Longest wait for the socket, the auth ack and the subscribe ack, seconds (default of
:meth:`SimClient.start`; not part of any recovery: a loaded 2-core machine needed over 5 s
for a first subscribe to a desk still encoding 20,000 contracts)."""


HEALTHY_KEPT_NS = 60_000_000_000
"""How long a client keeps its healthy frames, ns: the look-back of :meth:`SimClient.watch` (a fault's
``ready_ns`` is at most its ``duration_ms`` plus a restart's 5 s wait before its end) and of
:meth:`SimClient.recovery` for a fault nobody watched. Older frames are dropped: at ~450 frames a second
over three probes, ten minutes of them were ~50 MB of an hour's soak (~170 bytes a frame, as tuples: they are
kept in a :class:`sim.harness.frame_ring.FrameRing` now, 26 bytes a frame)."""

@dataclass
class GroupSeq:
    """A client's view of one group's sequence: the last seq taken and whether a gap awaits its snapshot."""

    last: int = -1
    gap_open: bool = False


@dataclass
class ClientStats:
    """What a client saw.

    Attributes:
        frames: group frames received.
        snapshots: snapshot frames received.
        bytes: bytes of every server message received.
        seq_gaps: deltas whose seq skipped ahead (each asks for a snapshot).
        seq_gaps_healed: gaps closed by a snapshot.
        duplicates: deltas whose seq was not ahead (ignored).
        errors: ``ErrorCode`` name → count of ``error`` messages received.
        close_code: the socket's close code once closed, else None.
    """

    frames: int = 0
    snapshots: int = 0
    bytes: int = 0
    seq_gaps: int = 0
    seq_gaps_healed: int = 0
    duplicates: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    close_code: int | None = None


def client_message(message_id: int, **member: Any) -> bytes:
    """Return a ClientMessage with one union member set and an envelope from ``sim``, as bytes."""
    return edge_client_message(message_id, source="sim", **member)


class SimClient:
    """One simulated browser connection (loop thread).

    Args:
        name: client name in the report and in ``session:<name>`` targets.
        url: ``ws://host:port/ws``.
        token: a JWT the desk accepts.
        groups: groups to subscribe.
        recorder: a :class:`sim.tape.TapeWriter` to write every message to, or None.

    Attributes:
        session_path: the desk's session actor for this socket (from the auth ack).
        healthy: ``(arrival ns, built ns, group, fresh ns)`` of every healthy frame
            of the last :data:`HEALTHY_KEPT_NS`, UNIX ns; the last is the earliest
            gateway receipt among a delta's rows, the latest among a periodic
            snapshot's (the next in sequence: the group's flush of a new tick), 0
            for a snapshot sent on demand.
        stats: :class:`ClientStats`.
    """

    def __init__(self, name: str, url: str, token: str, groups: Iterable[str], recorder: Any = None) -> None:
        self.name = name
        self.url = url
        self.token = token
        self.groups = list(dict.fromkeys(groups))
        self.recorder = recorder
        self.session_path = ""
        self.healthy = FrameRing()
        """(arrival, built, group, fresh) of each in-order frame, UNIX ns, the last :data:`HEALTHY_KEPT_NS`."""
        self._watches: dict[tuple[int, frozenset[str] | None], tuple[int, int, str, int] | None] = {}
        """(ready ns, groups or None: any) → the first healthy frame built at or after it, None until it comes."""
        self._waiting: list[tuple[int, frozenset[str] | None]] = []
        """The watches whose frame has not come yet."""
        self.stats = ClientStats()
        self.seqs: dict[str, GroupSeq] = {}
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task | None = None
        self._reading = asyncio.Event()
        self._reading.set()
        self._read_interval_s = 0.0
        self._next_id = 0
        self._acked: asyncio.Future | None = None
        self.connected = asyncio.Event()
        """Set while the socket is open and authenticated (cleared by :meth:`disconnect`)."""

    async def send(self, **member: Any) -> None:
        """Send one ClientMessage (ignored once closed)."""
        if self._ws is not None and not self._ws.closed:
            self._next_id += 1
            await self._ws.send_bytes(client_message(self._next_id, **member))

    async def start(self, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """Connect, authenticate, subscribe and start reading, within ``timeout_s`` seconds.

        Raises:
            ConnectionError: the desk refused or did not answer in time.
        """
        self._http = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(timeout_s):
                self._ws = await self._http.ws_connect(self.url, max_msg_size=64 * 1024 * 1024)
                await self.send(auth={"token": self.token})
                ack = await self._ws.receive()
                self.session_path = self._ack_detail(ack, "auth")
                loop = asyncio.get_running_loop()
                self._acked = loop.create_future()
                self._reader = asyncio.create_task(self._read(), name=f"sim-client-{self.name}")
                if self.groups:
                    await self.send(subscribe={"groups": self.groups})
                    await self._acked
                self.connected.set()
        except (TimeoutError, aiohttp.ClientError) as exc:
            await self.close()
            raise ConnectionError(f"client {self.name}: {type(exc).__name__}: {exc}") from None

    def _ack_detail(self, msg: aiohttp.WSMessage, of: str) -> str:
        if msg.type != aiohttp.WSMsgType.BINARY:
            raise ConnectionError(f"client {self.name}: socket closed before the {of} ack ({msg.type.name})")
        with schemas.stream.ServerMessage.from_bytes(msg.data) as message:
            if message.which() != "ack":
                raise ConnectionError(f"client {self.name}: expected the {of} ack, got {message.which()}")
            return message.ack.detail

    def throttle(self, duration_s: float, read_interval_ms: float = 0.0) -> None:
        """Stop reading (``read_interval_ms`` 0) or read one message per interval, for ``duration_s``."""
        self._read_interval_s = read_interval_ms / 1000
        if read_interval_ms <= 0:
            self._reading.clear()
        asyncio.get_running_loop().call_later(duration_s, self._unthrottle)

    def _unthrottle(self) -> None:
        self._read_interval_s = 0.0
        self._reading.set()

    async def _read(self) -> None:
        ws = self._ws
        try:
            while True:
                await self._reading.wait()
                if self._read_interval_s:
                    await asyncio.sleep(self._read_interval_s)
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.BINARY:
                    break
                self._take(msg.data)
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self.stats.close_code = ws.close_code if ws.close_code is not None else -1

    def _take(self, data: bytes) -> None:
        now_ns = time.time_ns()
        self.stats.bytes += len(data)
        if self.recorder is not None:
            self.recorder.write_frame(self.name, now_ns, data)
        try:
            with schemas.stream.ServerMessage.from_bytes(
                    data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                    nesting_limit=schemas.NESTING_LIMIT) as message:
                member = message.which()
                if member == "groupFrame":
                    frame = message.groupFrame
                    kind = str(frame.kind)
                    received = frame.rows.gatewayRecvTsNs
                    fresh_ns = (min(received) if kind == "delta" else max(received)) if len(received) else 0
                    self._frame(now_ns, frame.group, frame.seq, kind, frame.builtTsNs, fresh_ns)
                elif member == "error":
                    code = str(message.error.code)
                    self.stats.errors[code] = self.stats.errors.get(code, 0) + 1
                elif member == "ack" and message.ack.of == "subscribe":
                    if self._acked is not None and not self._acked.done():
                        self._acked.set_result(message.ack.detail)
        except (capnp.KjException, ValueError):
            self.stats.errors["undecodable"] = self.stats.errors.get("undecodable", 0) + 1

    def _frame(self, now_ns: int, group: str, seq: int, kind: str, built_ns: int, fresh_ns: int = 0) -> None:
        """Take one group frame; ``fresh_ns``: a delta's earliest, a snapshot's latest row receipt (UNIX ns)."""
        stats = self.stats
        stats.frames += 1
        state = self.seqs.setdefault(group, GroupSeq())
        if kind == "snapshot":
            stats.snapshots += 1
            if state.gap_open or seq != state.last + 1:
                fresh_ns = 0  # on demand (attach, restart, gap): owed whatever the market did
            if state.gap_open:
                stats.seq_gaps_healed += 1
                state.gap_open = False
            state.last = seq
        elif seq == state.last + 1:
            state.last = seq
        elif seq <= state.last:
            stats.duplicates += 1
            return
        else:
            stats.seq_gaps += 1
            if not state.gap_open:
                state.gap_open = True
                asyncio.get_running_loop().create_task(self.send(snapshotRequest={"group": group}))
            return
        if not state.gap_open:
            self.healthy.append(now_ns, built_ns, group, fresh_ns)
            self.healthy.drop_arrived_before(now_ns - HEALTHY_KEPT_NS)   # a soak ran an hour at ~450 a second
            if self._waiting:
                self._resolve((now_ns, built_ns, group, fresh_ns))

    def _resolve(self, frame: tuple[int, int, str, int]) -> None:
        """Give ``frame`` to every waiting watch it answers (the first healthy frame built at or after it)."""
        _, built_ns, group, _ = frame
        still = []
        for key in self._waiting:
            ready_ns, wanted = key
            if built_ns >= ready_ns and (wanted is None or group in wanted):
                self._watches[key] = frame
            else:
                still.append(key)
        self._waiting = still

    def watch(self, ready_ns: int, groups: Iterable[str] | None = None) -> None:
        """Remember the first healthy frame built at or after ``ready_ns`` (UNIX ns) of ``groups`` (None or
        empty: any), for a :meth:`recovery` asked later than :data:`HEALTHY_KEPT_NS` after it.

        The harness judges every fault at the end of its run; an hour's soak would otherwise keep every frame
        of the hour. Frames already kept are searched first (a fault's ``ready_ns`` can precede its end).
        Idempotent per ``(ready_ns, groups)``.
        """
        wanted = frozenset(groups) if groups else None
        key = (ready_ns, wanted)
        if key in self._watches:
            return
        self._watches[key] = self.healthy.first_built_at_or_after(ready_ns, wanted)
        if self._watches[key] is None:
            self._waiting.append(key)

    def first_healthy(self, after_built_ns: int, groups: Iterable[str] | None = None) -> int | None:
        """Return the arrival (UNIX ns) of the first healthy frame built at or after ``after_built_ns``."""
        found = self.recovery(after_built_ns, after_built_ns, groups)
        return found[0] if found is not None else None

    def recovery(self, end_ns: int, ready_ns: int, groups: Iterable[str] | None = None,
                 market_ns: int = 0) -> tuple[int, int] | None:
        """Return ``(arrival, clock start)`` of the first healthy frame built at or after ``ready_ns``, UNIX ns.

        The clock starts at ``end_ns`` (the fault's end), unless the frame is a
        delta all of whose rows reached the gateway at or after ``market_ns``,
        when the feed emitted the first tick of these groups after the fault
        (:class:`sim.gateway.TickWatch`), or a periodic snapshot (a group's
        first flush after 3 s of quiet is one) carrying such a tick: the market
        was quiet until then, and the desk cannot show a tick before it is
        emitted. A snapshot on demand (attach, restart, gap), or a delta
        showing a tick the desk had before the fault ended, counts from ``end_ns``.
        The frame is the one :meth:`watch` kept for ``(ready_ns, groups)``, else the first among the
        frames still kept (the last :data:`HEALTHY_KEPT_NS`). Returns None when no such frame came.
        """
        wanted = frozenset(groups) if groups else None
        key = (ready_ns, wanted)
        if key in self._watches:
            found = self._watches[key]
            frames = () if found is None else (found,)
        else:
            first = self.healthy.first_built_at_or_after(ready_ns, wanted)
            frames = () if first is None else (first,)
        for arrived_ns, _, _, fresh_ns in frames:
            fresh = market_ns > end_ns and fresh_ns >= market_ns
            return arrived_ns, market_ns if fresh else end_ns
        return None

    @property
    def closed(self) -> bool:
        """Whether the socket is closed."""
        return self._ws is None or self._ws.closed

    async def disconnect(self) -> None:
        """Close the socket for a desk restart, keeping what was measured (:meth:`reconnect` follows)."""
        self.connected.clear()
        await SimClient.close(self)

    async def reconnect(self, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
        """Connect again (a restarted desk on the same URL): authenticate, subscribe; group sequences
        start afresh (a new desk numbers its frames from 0).

        Raises:
            ConnectionError: the desk refused or did not answer in time.
        """
        self.seqs = {}
        await self.start(timeout_s)

    async def close(self) -> None:
        """Close the socket and the HTTP session. Idempotent."""
        if self._reader is not None:
            self._reader.cancel()
            self._reader = None
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
            self._http = None


class GarbageClient(SimClient):
    """Authenticates, then sends garbage until the desk closes the socket.

    Args:
        frames: garbage frames to send at most.
        seed: seed of the garbage bytes.
    """

    def __init__(self, name: str, url: str, token: str, frames: int, seed: int) -> None:
        super().__init__(name, url, token, groups=())
        self.frames = frames
        self.sent = 0
        self._rng = random.Random(seed)

    def garbage(self) -> Iterable[bytes]:
        """Yield random bytes, truncated valid messages, an oversized frame and an unknown member, in turn."""
        valid = client_message(1, ping={"clientTsNs": 1})
        while True:
            yield bytes(self._rng.randrange(256) for _ in range(self._rng.randrange(1, 200)))
            yield valid[: self._rng.randrange(1, len(valid))]
            yield b"\x00" * (65 * 1024)
            yield client_message(2, auth={"token": "again"})

    async def attack(self) -> None:
        """Send up to ``frames`` garbage frames (stops when the desk closes the socket)."""
        for payload in self.garbage():
            if self.sent >= self.frames or self.closed:
                return
            try:
                await self._ws.send_bytes(payload)
            except (aiohttp.ClientError, ConnectionError):
                return
            self.sent += 1
            await asyncio.sleep(0)


class ClientFactory:
    """Connects the clients faults need (``slow_client``, ``garbage_client``) to a desk (loop thread).

    Args:
        url: the desk's ``ws://host:port/ws``.
        secret: HS256 secret the desk accepts (tokens are minted per client).
        groups: groups a slow client subscribes when its fault names none.
        seed: seed of the garbage bytes.
    """

    def __init__(self, url: str, secret: str, groups: Iterable[str], seed: int = 0) -> None:
        self.url = url
        self.secret = secret
        self.groups = list(groups)
        self.seed = seed

    async def __call__(self, name: str, groups: Iterable[str], kind: str, spec: Any) -> SimClient:
        """Connect and return a started client for ``kind`` named ``name``."""
        from transport.signin.auth import mint_token

        token = mint_token(self.secret, name)
        if kind == "garbage_client":
            client: SimClient = GarbageClient(name, self.url, token, spec.frames,
                                              self.seed * 1000 + int(spec.at_s * 1000))
        else:
            client = SimClient(name, self.url, token, list(groups) or self.groups)
        await client.start()
        return client


__all__ = [
    "CONNECT_TIMEOUT_S", "ClientFactory", "ClientStats", "GarbageClient", "GroupSeq", "SimClient",
    "client_message",
]  # fmt: skip
