"""Inject faults into a running desk, and tell when each one ended.

:class:`FaultInjector` applies a :class:`sim.harness.scenario.FaultSpec` to a
:class:`transport.process.app.Desk` running on this loop, without ever blocking it:

============================  ================================================================
kind                          what happens
============================  ================================================================
``crash``                     the target is told an ``ActorMessage{crash}`` and raises in its
                              handler; its supervisor restarts it
``kill``                      its parent supervisor is told ``RestartChild``: the subtree stops
                              and starts again
``stall``                     the target's messages are held ``duration_ms`` (sim/harness/routes.py),
                              then delivered in order
``drop`` / ``duplicate`` /    messages to the target are dropped, delivered twice, held
``delay`` / ``corrupt``       ``delay_ms`` or have bytes flipped, for ``duration_ms``
``tamper``                    group deltas to the target (a session) get a price changed in
                              flight, seq intact, for ``duration_ms`` (caught by the state hash)
``slow_client``               a new client subscribes and stops reading for ``duration_ms``
``garbage_client``            a new client sends undecodable, oversized and unknown frames
``gateway_disconnect``        the simulator gateway's feed stops for ``duration_ms``
``venue_disconnect``          the simulator gateway loses the venue (both fronts, as CTP does) for
                              ``duration_ms``: orders in flight are answered at the venue unheard,
                              then it logs in again and the venue replays the day's orders and trades
``nats_disconnect``           the run's nats-server (``[desk] nats = true``) stops for
                              ``duration_ms`` and starts again on its port; the fault ends once
                              the desk's NATS connection is back. Skipped on a desk without NATS
                              or without a server of the run's own (a skipped fault fails the run
                              unless it is ``optional``)
``burst``                     the tick rate × ``factor`` for ``duration_ms``
``clock_skew``                exchange timestamps shifted ``skew_ms`` for ``duration_ms``
``restart_desk``              every client disconnects, the whole desk stops (gracefully) and a
                              new one starts on the same journal, port and simulator venue
                              (whose book and drop copy live on); the clients reconnect
============================  ================================================================

Each injection returns a :class:`FaultRecord`; its ``ended`` future resolves
(UNIX ns) when the fault is over and the desk may be judged: at once for a
crash or kill once the target is running again under a new incarnation, at
the end of ``duration_ms`` for a timed fault, when the desk closed the socket
of a garbage client. ``ready_ns`` is the server time after which a frame
counts as recovered.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from actors import ROOT_PATH, ActorState, RestartChild, encode_actor_message
from actors.paths import group_of
from sim.harness.clients import GarbageClient, SimClient
from sim.harness.routes import RouteFaults, RouteRule
from sim.harness.scenario import FaultSpec

RESTART_WAIT_S = 5.0
"""Longest wait for a crashed or killed target to run again, seconds."""

GARBAGE_CLOSE_WAIT_S = 5.0
"""Longest wait for the desk to close a garbage client, seconds."""

NATS_RECONNECT_WAIT_S = 10.0
"""Longest wait for the desk's NATS connection to come back after its server restarted, seconds."""

_log = structlog.get_logger("sim.harness.faults")


@dataclass
class FaultRecord:
    """One injected fault and its timing.

    Attributes:
        index: position in the timeline.
        spec: what was asked.
        target: the resolved actor path (or client name), ``""`` when none.
        status: ``"injected"``, ``"skipped"`` (with ``reason``) or ``"failed"``.
        reason: why it was skipped or failed.
        injected_ns: when, UNIX ns.
        ended_ns: when it was over (recovery is measured from here), UNIX ns; 0 until then.
        ready_ns: frames built from here on count as recovered, UNIX ns.
        client: the client whose frames show recovery (``None``: any probe).
        groups: the groups whose frames show recovery (empty: any).
        restarts_before: the target's restart count before the fault.
        details: kind-specific figures (route counters, messages held, close code, for a
            crash or kill ``restart_ms``: injection to the new incarnation's binding ...).
        market: the :class:`sim.gateway.TickWatch` of the first tick of the
            watched groups emitted after the fault's end, or None (no simulator gateway, a trader).
    """

    index: int
    spec: FaultSpec
    target: str = ""
    status: str = "injected"
    reason: str = ""
    injected_ns: int = 0
    ended_ns: int = 0
    ready_ns: int = 0
    client: str | None = None
    groups: tuple[str, ...] = ()
    restarts_before: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    ended: asyncio.Future | None = field(default=None, repr=False)
    market: Any = field(default=None, repr=False)


def parent_and_name(registry: Any, path: str) -> tuple[str, str]:
    """Return the supervisor path of ``path`` and the child name it knows ``path`` by.

    Raises:
        KeyError: nothing is registered at ``path``.
    """
    entry = registry.get(path)
    if entry is None:
        raise KeyError(path)
    parent = entry.parent
    return parent, path if parent == ROOT_PATH else path[len(parent) + 1:]


class FaultInjector:
    """Applies faults to a running desk (loop thread).

    Args:
        desk: a started :class:`transport.process.app.Desk`.
        clients: name → :class:`SimClient` of the scenario (``session:<name>`` targets).
        client_factory: ``async (name, groups, kind, spec) -> SimClient`` that
            connects a new slow or garbage client, or None (those kinds are skipped).
        seed: seed of route choices.
        groups: the probes' groups: whose next tick a fault without a group or client waits for.
        restart_desk: ``async () -> Desk`` that stops the desk and starts a new one on the same
            journal, port and venue (``restart_desk`` faults), or None (that kind fails).
        nats_servers: the nats-servers the run owns (:class:`sim.harness.nats_server.NatsServerProcess`)
            that ``nats_disconnect`` stops and restarts, in turn; empty: that kind is skipped.
    """

    def __init__(self, desk: Any, clients: dict[str, SimClient] | None = None,
                 client_factory: Any = None, seed: int = 0, groups: tuple[str, ...] = (),
                 restart_desk: Any = None, nats_servers: tuple[Any, ...] = ()) -> None:
        self.desk = desk
        self.groups = tuple(groups)
        self.runtime = desk.runtime
        self.clients = clients if clients is not None else {}
        self.client_factory = client_factory
        self.seed = seed
        self.restart_desk = restart_desk
        self.nats_servers = tuple(nats_servers)
        self.routes = RouteFaults(desk.runtime, seed)
        self.records: list[FaultRecord] = []
        self._tasks: set[asyncio.Task] = set()

    def resolve(self, target: str) -> str:
        """Resolve ``session:<client>`` to that client's session path; other targets are paths.

        Raises:
            KeyError: an unknown client.
        """
        if target.startswith("session:"):
            return self.clients[target.removeprefix("session:")].session_path
        return target

    async def inject(self, spec: FaultSpec) -> FaultRecord:
        """Start one fault now; return its record (its ``ended`` future resolves later)."""
        loop = asyncio.get_running_loop()
        record = FaultRecord(len(self.records), spec, ended=loop.create_future(), injected_ns=time.time_ns())
        self.records.append(record)
        try:
            record.target = self.resolve(spec.target) if spec.target else ""
            await getattr(self, f"_{spec.kind}")(record)
        except (KeyError, LookupError, ValueError, ConnectionError) as exc:
            self._finish(record, status="failed", reason=f"{type(exc).__name__}: {exc}")
        _log.info("fault_injected", kind=spec.kind, target=record.target, status=record.status,
                  reason=record.reason or None)
        return record

    # -- endings ---------------------------------------------------------

    def _finish(self, record: FaultRecord, status: str | None = None, reason: str = "") -> None:
        if status:
            record.status = status
            record.reason = reason
        now = time.time_ns()
        record.ended_ns = record.ended_ns or now
        record.ready_ns = record.ready_ns or now
        self._watch_market(record, record.ended_ns)
        if record.ended is not None and not record.ended.done():
            record.ended.set_result(record.ended_ns)

    def _watch_market(self, record: FaultRecord, after_ns: int) -> None:
        """Note when the feed next emits a tick of the groups that show ``record``'s recovery (once)."""
        if record.market is not None or record.status != "injected":
            return
        engine = self.desk.engine
        gateway = engine.gateway() if engine is not None else None
        client = self.clients.get(record.client) if record.client else None
        groups = record.groups or (tuple(client.groups) if client is not None else self.groups)
        if hasattr(gateway, "watch_ticks") and groups:
            record.market = gateway.watch_ticks(groups, after_ns)

    def _after(self, delay_s: float, callback: Any, *args: Any) -> None:
        asyncio.get_running_loop().call_later(delay_s, callback, *args)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait_restarted(self, record: FaultRecord) -> None:
        """Finish ``record`` once its target runs again with more restarts than before.

        A crash or kill is instantaneous: recovery is measured from the
        injection to the first frame the new incarnation's path produced.
        """
        deadline = time.monotonic() + RESTART_WAIT_S
        registry = self.runtime.registry
        while time.monotonic() < deadline:
            entry = registry.get(record.target)
            if entry is not None and entry.restarts > record.restarts_before and entry.state is ActorState.RUNNING:
                record.details["restarts"] = entry.restarts - record.restarts_before
                # frames count from the new incarnation's binding (registry transitions), not from this poll
                record.ready_ns = min((ts for _, restarts, ts in entry.transitions
                                       if restarts > record.restarts_before), default=time.time_ns())
                record.details["restart_ms"] = round((record.ready_ns - record.injected_ns) / 1e6, 3)
                record.ended_ns = record.injected_ns
                self._finish(record)
                return
            await asyncio.sleep(0.005)  # the timing comes from the registry's transitions, not from this poll
        self._finish(record, "failed", f"{record.target} not running again within {RESTART_WAIT_S} s")

    def _scope(self, record: FaultRecord) -> None:
        """Set which client and groups show recovery for an actor-targeted fault."""
        group = group_of(record.target)
        if group is not None:
            record.groups = (group,)
        for name, client in self.clients.items():
            if client.session_path and record.target == client.session_path:
                record.client = name
            account = getattr(client, "account", "")
            if account and record.target.endswith("/" + account):
                record.client = name  # an order, risk or account actor: its trader's next reply shows recovery

    # -- kinds -----------------------------------------------------------

    async def _crash(self, record: FaultRecord) -> None:
        entry = self.runtime.registry.entry(record.target)
        if not getattr(entry.instance or self.runtime.instance(entry.address), "takes_crash", False):
            raise ValueError(f"{record.target} ({entry.kind}) takes no crash message")
        record.restarts_before = entry.restarts
        self._scope(record)
        self._watch_market(record, record.injected_ns)
        self.runtime.tell_path(record.target, encode_actor_message(
            "crash", f"fault {record.index}", source="sim/faults"))
        self._spawn(self._wait_restarted(record))

    async def _kill(self, record: FaultRecord) -> None:
        parent, name = parent_and_name(self.runtime.registry, record.target)
        record.restarts_before = self.runtime.registry.entry(record.target).restarts
        self._scope(record)
        self._watch_market(record, record.injected_ns)
        self.runtime.tell(self.runtime.registry.address(parent), RestartChild(name))
        self._spawn(self._wait_restarted(record))

    async def _route(self, record: FaultRecord, action: str) -> None:
        spec = record.spec
        if not record.target.endswith("*"):
            self.runtime.registry.entry(record.target)  # UnknownPathError (a KeyError) when unknown
        self._scope(record)
        rule = self.routes.add(RouteRule(action, record.target, spec.probability, spec.delay_ms))
        self._after(spec.duration_ms / 1000, self._end_route, record, rule)

    def _end_route(self, record: FaultRecord, rule: RouteRule) -> None:
        self.routes.remove(rule)
        record.details.update(matched=rule.matched, affected=rule.affected)
        self._finish(record)

    async def _stall(self, record: FaultRecord) -> None:
        await self._route(record, "stall")

    async def _drop(self, record: FaultRecord) -> None:
        await self._route(record, "drop")

    async def _duplicate(self, record: FaultRecord) -> None:
        await self._route(record, "duplicate")

    async def _delay(self, record: FaultRecord) -> None:
        await self._route(record, "delay")

    async def _corrupt(self, record: FaultRecord) -> None:
        await self._route(record, "corrupt")

    async def _tamper(self, record: FaultRecord) -> None:
        await self._route(record, "tamper")

    async def _new_client(self, record: FaultRecord, kind: str) -> SimClient:
        if self.client_factory is None:
            raise ValueError(f"{kind} needs simulated clients; none can be made here")
        name = f"{kind.split('_')[0]}{record.index}"
        client = await self.client_factory(name, record.spec.groups, kind, record.spec)
        self.clients[name] = client
        record.target = name
        record.client = name
        return client

    async def _slow_client(self, record: FaultRecord) -> None:
        spec = record.spec
        client = await self._new_client(record, "slow_client")
        await asyncio.sleep(0.1)  # let its subscription start flowing before it stops reading
        client.throttle(spec.duration_ms / 1000, spec.read_interval_ms)
        self._after(spec.duration_ms / 1000, self._finish, record)

    async def _garbage_client(self, record: FaultRecord) -> None:
        client = await self._new_client(record, "garbage_client")
        record.client = None  # recovery shows on the probes: the desk keeps serving them
        self._spawn(self._garbage_run(record, client))

    async def _garbage_run(self, record: FaultRecord, client: GarbageClient) -> None:
        await client.attack()
        deadline = time.monotonic() + GARBAGE_CLOSE_WAIT_S
        while not client.closed and client.stats.close_code is None and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        record.details.update(sent=client.sent, close_code=client.stats.close_code,
                              errors=dict(client.stats.errors))
        if client.stats.close_code != 1008:
            self._finish(record, "failed", f"desk did not close the garbage client with 1008 "
                                           f"(close code {client.stats.close_code})")
        else:
            self._finish(record)

    def _gateway(self) -> Any:
        engine = self.desk.engine
        gateway = engine.gateway() if engine is not None else None
        if gateway is None or not hasattr(gateway, "disconnect_feed"):
            raise ValueError("no simulator gateway in this desk")
        return gateway

    async def _gateway_disconnect(self, record: FaultRecord) -> None:
        gateway = self._gateway()
        gateway.disconnect_feed()
        self._after(record.spec.duration_ms / 1000, self._end_call, record, gateway.reconnect_feed)

    async def _venue_disconnect(self, record: FaultRecord) -> None:
        gateway = self._gateway()
        if not hasattr(gateway, "disconnect_venue"):
            raise ValueError("the simulator gateway cannot lose its venue")
        gateway.disconnect_venue()
        self._after(record.spec.duration_ms / 1000, self._end_call, record, gateway.reconnect_venue)

    def _end_call(self, record: FaultRecord, undo: Any, *args: Any) -> None:
        undo(*args)
        self._finish(record)

    async def _nats_disconnect(self, record: FaultRecord) -> None:
        """Stop a nats-server of the run for ``duration_ms``, start it again, wait for the desk to reconnect."""
        bus = getattr(self.desk, "bus", None)
        if bus is None:
            self._finish(record, "skipped", "the desk runs without NATS (in-process default; a scenario's "
                                            "[desk] nats = true runs it on a nats-server): nothing to cut")
            return
        if not self.nats_servers:
            self._finish(record, "skipped", "no nats-server owned by this run to stop")
            return
        server = self.nats_servers[sum(r.spec.kind == "nats_disconnect" for r in self.records[:-1])
                                   % len(self.nats_servers)]
        before = bus.statistics()
        record.target = server.url
        await server.stop()
        self._after(record.spec.duration_ms / 1000, lambda: self._spawn(self._nats_restore(record, server, before)))

    async def _nats_restore(self, record: FaultRecord, server: Any, before: Any) -> None:
        try:
            await server.start()
        except (OSError, RuntimeError) as exc:
            self._finish(record, "failed", f"nats-server {server.url} did not start again: {exc}")
            return
        record.ended_ns = time.time_ns()
        bus = self.desk.bus
        deadline = time.monotonic() + NATS_RECONNECT_WAIT_S
        while time.monotonic() < deadline:
            now = bus.statistics()
            if now.connected and now.reconnects > before.reconnects:
                record.details.update(disconnects=now.disconnects - before.disconnects,
                                      reconnects=now.reconnects - before.reconnects,
                                      reconnect_ms=round((time.time_ns() - record.ended_ns) / 1e6, 3))
                self._finish(record)
                return
            await asyncio.sleep(0.01)  # nats-py reconnects on its own timer; this only notices it
        now = bus.statistics()
        self._finish(record, "failed", f"the desk's NATS connection did not come back within "
                                       f"{NATS_RECONNECT_WAIT_S} s (disconnects {now.disconnects - before.disconnects}, "
                                       f"reconnects {now.reconnects - before.reconnects})")

    async def _burst(self, record: FaultRecord) -> None:
        gateway = self._gateway()
        gateway.burst(record.spec.factor)
        self._after(record.spec.duration_ms / 1000, self._end_call, record, gateway.burst, 1.0)

    async def _clock_skew(self, record: FaultRecord) -> None:
        gateway = self._gateway()
        gateway.set_clock_skew(int(record.spec.skew_ms * 1_000_000))
        self._after(record.spec.duration_ms / 1000, self._end_call, record, gateway.set_clock_skew, 0)

    async def _restart_desk(self, record: FaultRecord) -> None:
        """Disconnect every client, restart the whole desk on its journal, reconnect: the fault ends (and
        recovery is timed from) when the clients are back; ``details.restart_ms`` is the whole outage."""
        if self.restart_desk is None:
            raise ValueError("restart_desk needs the runner's desk factory; none was given")
        clients = [client for client in self.clients.values() if not client.closed]
        for client in clients:
            await client.disconnect()
        self.routes.clear()
        self.desk = await self.restart_desk()
        self.runtime = self.desk.runtime
        self.routes = RouteFaults(self.runtime, self.seed)
        for client in clients:
            await client.reconnect()
        record.details.update(restart_ms=round((time.time_ns() - record.injected_ns) / 1e6, 3),
                              clients=len(clients))
        self._finish(record)

    async def close(self) -> None:
        """End every route fault, forget tick watches and cancel pending helpers."""
        self.routes.clear()
        engine = self.desk.engine
        gateway = engine.gateway() if engine is not None else None
        if hasattr(gateway, "clear_watches"):
            gateway.clear_watches()
        for task in list(self._tasks):
            task.cancel()


__all__ = ["FaultInjector", "FaultRecord", "NATS_RECONNECT_WAIT_S", "group_of", "parent_and_name"]
