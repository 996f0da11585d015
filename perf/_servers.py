"""The two servers bench_pipeline.py compares, each fed by a real vn.py EventEngine.

* :class:`TickstageServer`: the pieces of ``transport.process.app.Desk.start`` that
  carry market data (actor runtime, vn.py bridge, root supervisor, socket
  gateway at ``/ws``) without the simulator gateway: the bench feeds ticks.
* :class:`BaselineServer`: the per-tick push this design replaces. Each
  tick is JSON-encoded on vn.py's thread and every message is sent to the
  clients whose groups it belongs to (``fanout="subscribed"``) or to every
  client (``fanout="all"``). It crosses to the loop the way the bridge does
  (a deque and one wake-up per batch), fans out in 2 ms slices and queues
  per socket without conflation, up to ``max_queue_msgs`` (then drops).
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

from actors import ActorRuntime, start_root
from actors.root import RootSupervisor, desk_children
from transport.venue.vnpy_bridge import VnpyBridge, guarded
from transport.edge.ws import SocketLimits, SocketServer

EVENT_DONE = "eBenchDone."
"""vn.py event type of the sentinel an ingest run puts after its last tick."""

EVENT_PROBE = "eBenchProbe."
"""vn.py event type of the feeder's probes; data: ``time.perf_counter_ns()`` at put."""


class _Server:
    """Shared: the vn.py EventEngine, the aiohttp site, the ingest sentinel."""

    name = ""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.event_engine = None
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._done: asyncio.Future | None = None
        self.handler_errors: list[str] = []
        self.vnpy_queue_delays_ms: list[float] = []

    async def _serve(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/ws"

    def _start_engine(self, attach) -> None:
        """Start the desk's vn.py EventEngine (transport/venue/event_engine.py: tickstage's bridge takes ticks as
        direct handlers on the putting thread, as on a desk; the baseline's handler runs on vn.py's dispatcher
        thread) with ``attach(engine)``'s handlers and the sentinel's."""
        from transport.venue.event_engine import PromptEventEngine

        self.event_engine = PromptEventEngine()
        attach(self.event_engine)
        self.event_engine.register(EVENT_DONE, guarded(self.on_done_event, self._failed))
        self.event_engine.register(EVENT_PROBE, guarded(self._on_probe, self._failed))
        self.event_engine.start()

    def _on_probe(self, event) -> None:
        """Record how long a probe waited in vn.py's queue: the wait of the ticks around it."""
        self.vnpy_queue_delays_ms.append((time.perf_counter_ns() - event.data) / 1e6)

    def _failed(self, exc: BaseException) -> None:
        self.handler_errors.append(repr(exc))

    def expect_done(self) -> asyncio.Future:
        """Return a future resolved (loop thread) once the sentinel has passed the tick path."""
        self._done = self.loop.create_future()
        return self._done

    def on_done_event(self, event=None) -> None:
        """The ingest sentinel: FIFO behind every wake-up the last ticks queued (any thread)."""
        done = self._done
        self.loop.call_soon_threadsafe(lambda: done.done() or done.set_result(time.perf_counter()))

    def vnpy_queue(self) -> int:
        """Events waiting in vn.py's (unbounded) EventEngine queue."""
        return self.event_engine._queue.qsize() if self.event_engine is not None else 0

    async def _settle_engine(self, timeout_s: float) -> int:
        """Wait for vn.py's queue to empty; past ``timeout_s`` empty it. Return the events dropped."""
        deadline = time.perf_counter() + timeout_s
        while self.vnpy_queue() and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        dropped = 0
        while self.vnpy_queue():
            try:
                self.event_engine._queue.get_nowait()
                dropped += 1
            except Exception:  # noqa: BLE001 - queue.Empty: the dispatcher took the last one
                break
        return dropped

    async def stop(self) -> None:
        """Stop vn.py's threads (joined) and the HTTP server."""
        if self.event_engine is not None:
            await asyncio.to_thread(self.event_engine.stop)
            self.event_engine = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class TickstageServer(_Server):
    """tickstage's market-data path on loopback: vn.py bridge → groups → sessions → /ws."""

    name = "tickstage"

    def __init__(self, jwt_secret: str) -> None:
        super().__init__()
        self.jwt_secret = jwt_secret
        self.runtime: ActorRuntime | None = None
        self.bridge: VnpyBridge | None = None
        self.sockets: SocketServer | None = None
        """The socket server at ``/ws`` (its ``connections`` by session path), once started."""

    async def start(self, contracts: list, n_groups: int) -> None:
        """Start the actor tree, the socket server and vn.py; announce ``contracts``."""
        from vnpy.event import Event
        from vnpy.trader.event import EVENT_CONTRACT

        self.loop = asyncio.get_running_loop()
        self.runtime = ActorRuntime()
        self.bridge = VnpyBridge(self.runtime)
        start_root(self.runtime, RootSupervisor, {"children": desk_children(self.bridge)})
        await self.runtime.wait_idle()
        app = web.Application()
        self.sockets = SocketServer(self.runtime, self.jwt_secret, SocketLimits())
        app.router.add_get("/ws", self.sockets.handle)
        await self._serve(app)
        self._start_engine(self.bridge.attach)
        for contract in contracts:
            self.event_engine.put(Event(EVENT_CONTRACT, contract))
        async with asyncio.timeout(10):
            while len(self.bridge.groups()) < n_groups or self.bridge.statistics().contracts < len(contracts):
                await asyncio.sleep(0.01)
            await self.runtime.wait_idle()

    def on_tick_event(self, event) -> None:
        """The bridge's vn.py-thread entry point."""
        self.bridge.on_tick_event(event)

    async def wait_absorbed(self, timeout_s: float) -> bool:
        """Wait until every drained tick batch has been applied by its group."""
        try:
            await self.runtime.wait_idle(timeout_s)
            return True
        except TimeoutError:
            return False

    async def settle(self, timeout_s: float) -> dict:
        """Let vn.py's queue empty, the runtime go idle and the last windows close."""
        vnpy_dropped = await self._settle_engine(timeout_s)
        await self.wait_absorbed(timeout_s)
        await asyncio.sleep(0.1)
        return {"vnpy_events_dropped": vnpy_dropped, "backlog_msgs": self.runtime.queued()}

    def statistics(self) -> dict:
        """Counters of the bridge, the runtime, the groups and the sessions."""
        bridge, runtime = self.bridge.statistics(), self.runtime.statistics()
        groups = [e.instance for e in self.runtime.registry.children("market") if e.instance]
        sessions = [e.instance for e in self.runtime.registry.children("sessions") if e.instance]
        return {
            "ticks_in": bridge.ticks_in, "ticks_conflated": bridge.ticks_conflated, "drains": bridge.drains,
            "tick_batches": bridge.batches_sent, "actor_messages": runtime.delivered,
            "pump_slices_cut": runtime.slices_cut, "frames_built": sum(g.frames for g in groups),
            "frames_over_budget": sum(g.frames_over_budget for g in groups),
            "session_frames_sent": sum(s.frames_sent for s in sessions),
            "session_deltas_conflated": sum(s.conflated for s in sessions),
            "max_outbox_bytes": max((s.outbox.max_queued_bytes for s in sessions), default=0),
            "backlog_msgs": runtime.pending, "vnpy_queue": self.vnpy_queue(),
            "handler_errors": bridge.handler_errors,
        }

    async def stop(self) -> None:
        """Stop vn.py, the HTTP server, then the actors."""
        await super().stop()
        if self.runtime is not None:
            self.runtime.shutdown()


@dataclass(eq=False)
class _Client:
    ws: web.WebSocketResponse
    groups: frozenset
    queue: collections.deque = field(default_factory=collections.deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    sending: bool = False
    sent: int = 0
    dropped: int = 0
    max_queue: int = 0


class BaselineServer(_Server):
    """Per-tick JSON push over aiohttp WebSockets (the design this project replaces).

    Args:
        group_of: vt_symbol → group (product), for ``fanout="subscribed"``.
        fanout: ``"subscribed"`` or ``"all"``.
        max_queue_msgs: per-socket queue bound; newer messages are dropped past it.
        slice_ms: most time one fan-out callback runs before yielding to the loop.
    """

    name = "baseline"

    def __init__(self, group_of: dict[str, str], fanout: str = "subscribed",
                 max_queue_msgs: int = 100_000, slice_ms: float = 2.0) -> None:
        super().__init__()
        self.group_of, self.fanout = group_of, fanout
        self.max_queue_msgs, self._slice_s = max_queue_msgs, slice_ms / 1000
        self.clients: list[_Client] = []
        self._lock = threading.Lock()
        self._pending: list = []
        self._local: collections.deque = collections.deque()
        self._wake_pending = False
        self._scheduled = False
        self.ticks_in = self.ticks_fanned = self.messages_queued = 0

    async def start(self, contracts: list, n_groups: int) -> None:
        """Start the HTTP server and vn.py."""
        self.loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_get("/ws", self._handle)
        await self._serve(app)
        from vnpy.trader.event import EVENT_TICK

        handler = guarded(self.on_tick_event, self._failed)
        self._start_engine(lambda engine: engine.register(EVENT_TICK, handler))

    def on_tick_event(self, event) -> None:
        """Encode one tick as JSON and queue it for the loop (vn.py thread)."""
        tick = event.data
        received_ns = time.time_ns()
        text = json.dumps({"r": received_ns, "s": tick.vt_symbol, "last": tick.last_price,
                           "bid": tick.bid_price_1, "ask": tick.ask_price_1, "bidVolume": tick.bid_volume_1,
                           "askVolume": tick.ask_volume_1, "volume": tick.volume,
                           "openInterest": tick.open_interest,
                           "exchangeTsNs": int(tick.datetime.timestamp() * 1e9)}, separators=(",", ":"))
        group = self.group_of.get(tick.vt_symbol)
        with self._lock:
            self.ticks_in += 1
            self._pending.append((group, text))
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            try:
                self.loop.call_soon_threadsafe(self._take)
            except RuntimeError:  # loop closed
                pass

    def _take(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._wake_pending = False
        self._local.extend(batch)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._fan_out)

    def _fan_out(self) -> None:
        self._scheduled = False
        local = self._local
        deadline = time.perf_counter() + self._slice_s
        subscribed = self.fanout == "subscribed"
        n = 0
        while local:
            group, text = local.popleft()
            n += 1
            for client in self.clients:
                if subscribed and group not in client.groups:
                    continue
                if len(client.queue) >= self.max_queue_msgs:
                    client.dropped += 1
                    continue
                client.queue.append(text)
                client.max_queue = max(client.max_queue, len(client.queue))
                client.ready.set()
                self.messages_queued += 1
            if n % 64 == 0 and time.perf_counter() > deadline:
                break
        self.ticks_fanned += n
        if local:
            self._schedule()

    async def _writer(self, client: _Client) -> None:
        try:
            while True:
                await client.ready.wait()
                client.ready.clear()
                client.sending = True
                while client.queue:
                    await client.ws.send_str(client.queue.popleft())
                    client.sent += 1
                client.sending = False
        except (ConnectionError, RuntimeError):
            client.sending = False

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1024 * 1024)
        await ws.prepare(request)
        msg = await ws.receive(timeout=5)
        client = _Client(ws, frozenset(str(msg.data).removeprefix("subscribe ").split(",")))
        client.queue.append("ok")
        client.ready.set()
        writer = asyncio.create_task(self._writer(client))
        self.clients.append(client)
        try:
            async for _ in ws:
                pass
        finally:
            self.clients.remove(client)
            writer.cancel()
        return ws

    def backlog(self) -> int:
        """Messages and ticks not yet handed to a socket."""
        return len(self._pending) + len(self._local) + sum(len(c.queue) + c.sending for c in self.clients)

    async def wait_absorbed(self, timeout_s: float) -> bool:
        """Wait until every tick has been written to every socket it goes to."""
        try:
            async with asyncio.timeout(timeout_s):
                while self.backlog():
                    await asyncio.sleep(0.001)
            return True
        except TimeoutError:
            return False

    async def settle(self, timeout_s: float) -> dict:
        """Wait for the backlog to drain; past ``timeout_s`` clear it and say how much was left."""
        started = time.perf_counter()
        vnpy_dropped = await self._settle_engine(timeout_s)
        drained = await self.wait_absorbed(max(0.1, timeout_s - (time.perf_counter() - started)))
        left = self.backlog()
        with self._lock:
            self._pending.clear()
        self._local.clear()
        for client in self.clients:
            client.queue.clear()
        return {"vnpy_events_dropped": vnpy_dropped, "backlog_msgs": left, "drained": drained,
                "drain_s": round(time.perf_counter() - started, 3)}

    def statistics(self) -> dict:
        """Counters of the per-tick push."""
        return {"ticks_in": self.ticks_in, "ticks_fanned": self.ticks_fanned,
                "messages_queued": self.messages_queued, "messages_sent": sum(c.sent for c in self.clients),
                "messages_dropped": sum(c.dropped for c in self.clients),
                "max_queue_msgs": max((c.max_queue for c in self.clients), default=0),
                "backlog_msgs": self.backlog(), "vnpy_queue": self.vnpy_queue()}
