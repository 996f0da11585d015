"""Contract detail across NATS: ``md.tick.<ex>.<sym>``, followed on demand, once per edge node.

Every tick of a contract is seen only by the vn.py bridge on the venue-host.

* Edge side (:class:`TickDetailEdgeLink`): a
  :class:`~actors.market.remote_ticks.RemoteTickDetailActor` at ``ticks`` hands
  each session's ``tickSubscription`` to :meth:`TickDetailEdgeLink.forward`.
  The link counts followers per contract for the whole node: the first
  follower subscribes ``md.tick.<ex>.<sym>`` (``rb1801.SHFE`` →
  ``md.tick.SHFE.rb1801``) and the last one to leave unsubscribes it. A
  subscribe is asked of the venue-host on ``ops.ticksubscribe``
  (request-reply, the ``tickSubscription`` with ``sessionPath`` = the node's
  id): its answer (``ack`` or ``error``, as in one process) goes to the
  session, and the header :data:`VT_SYMBOLS_HEADER` lists the contracts the
  token may follow, which alone the session then gets. Details that arrive
  while the answer is on its way are held for the session (at most
  :data:`MAX_HELD` per contract) and delivered after it, so the history comes
  after the ack, as in one process. The node's followed contracts are
  published on ``ops.tickinterest`` every third of :data:`INTEREST_TTL_S`; an
  unsubscribe is published on ``ops.ticksubscribe`` without a reply inbox.
* Host side (:class:`TickDetailHost`): the relay session
  ``sessions/session/nats-ticks`` (:class:`~actors.sessions.relay.ReplyRelayActor`)
  follows, at the local ``ticks`` actor, every contract some edge node
  follows; the ``ticks`` actor checks each request (known contract, groups of
  the token, one check: :func:`actors.market.ticks.split_symbols`) and answers
  it, then sends the history; every detail the relay gets is published on
  ``md.tick.<ex>.<sym>``. Interest is kept per (contract, node): a node's
  unsubscribe, or its silence for :data:`INTEREST_TTL_S` (a node that died),
  ends it; the relay stops following a contract nobody follows.
* Recovery: a renewal naming a contract the host does not follow for that
  node (the venue-host restarted, or its ``ticks`` actor did and the host
  dropped every interest) is answered on ``ops.tickinterestlost`` (the node's
  id and those contracts); the edge tells its sessions ``groupRestarted``
  naming ``ticks``, as a restarted ``ticks`` actor does in one process, and
  each session subscribes its contracts again (checked again, history again).

Errors: no venue-host (no responders) or no answer in time is
``error(internal)`` for the session, and nothing is followed.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import time
from typing import Any

import nats.errors
import structlog

import schemas
from actors import ROOT_PATH, ChildSpec, encode_actor_message, encode_outbound, encode_server_message, spawn
from actors.market.remote_ticks import RemoteTickDetailActor
from actors.market.ticks import TICKS_PATH, split_symbols
from actors.paths import session_child
from actors.sessions.relay import ReplyRelayActor
from transport.cluster import subjects
from transport.cluster.nats_bus import NatsBus, NoRespondersError, RequestTimeoutError, ServedSubject
from transport.cluster.subjects import SubjectTokenError

_log = structlog.get_logger("transport.cluster.nats_detail")
SUBSCRIBE_TOPIC = "ticksubscribe"
"""``ops.ticksubscribe``: an edge node's subscribe (request-reply) or unsubscribe (publish)."""
INTEREST_TOPIC = "tickinterest"
"""``ops.tickinterest``: an edge node's followed contracts, again every third of INTEREST_TTL_S."""
LOST_TOPIC = "tickinterestlost"
"""``ops.tickinterestlost``: the host no longer follows these contracts for this node (venue-host → edge)."""
INTEREST_TTL_S = 10.0
"""A node's interest in a contract not renewed within this ends, seconds."""
VT_SYMBOLS_HEADER = "Tickstage-Vt-Symbols"
"""Reply header: the contracts of the request the token may follow, comma-separated."""
MAX_HELD = 64
"""Details held per (session, contract) while its subscription's answer is on its way."""
HOST_QUEUE = "tick-detail-host"
RELAY_SESSION = session_child("nats-ticks")
RELAY_PATH = f"sessions/{RELAY_SESSION}"
SOURCE = "nats-ticks"


def md_tick_subject(vt_symbol: str) -> str:
    """Return ``md.tick.<ex>.<sym>`` of a vt_symbol (``rb1801.SHFE`` → ``md.tick.SHFE.rb1801``).

    Raises:
        SubjectTokenError: no ``.<exchange>`` suffix, or a token NATS cannot carry.
    """
    symbol, _, exchange = vt_symbol.rpartition(".")
    return subjects.md_tick(exchange, symbol)


def read_subscription(data: bytes) -> tuple[str, list[str], bool, int, bool, list[str]]:
    """Return (session path, vt_symbols, subscribe, correlation id, all groups, groups) of a tickSubscription.

    Raises:
        ValueError: another member.
    """
    with schemas.actor.ActorMessage.from_bytes(data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                               nesting_limit=schemas.NESTING_LIMIT) as message:
        if message.which() != "tickSubscription":
            raise ValueError(f"not a tickSubscription: {message.which()}")
        sub = message.tickSubscription
        return (sub.sessionPath, list(dict.fromkeys(sub.vtSymbols)), sub.subscribe, sub.correlationId,
                sub.allGroups, list(sub.groups))


def _subscription(path: str, symbols: list[str], subscribe: bool, correlation: int = 0, all_groups: bool = True,
                  groups: list[str] | None = None) -> bytes:
    return encode_actor_message("tickSubscription", {
        "sessionPath": path, "vtSymbols": symbols, "subscribe": subscribe, "correlationId": correlation,
        "allGroups": all_groups, "groups": groups or []}, source=SOURCE)


def _answer(payload: bytes) -> tuple[int, str]:
    """Return (correlation id, error code or "") of a ServerMessage ack / error."""
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        code = str(message.error.code) if message.which() == "error" else ""
        return message.envelope.correlationId, code


class TickDetailHost:
    """Serves contract detail to edge nodes from the local ``ticks`` actor (venue-host node).

    Args:
        runtime: the actor runtime (with ``ticks`` and ``sessions``).
        bus: a connected :class:`NatsBus`.
        bridge: the vn.py bridge (``knows``, ``group_of``: which contracts a token may follow).
        interest_ttl_s: a node's interest not renewed within this ends, seconds.
    """

    def __init__(self, runtime: Any, bus: NatsBus, bridge: Any, interest_ttl_s: float = INTEREST_TTL_S) -> None:
        self.runtime = runtime
        self.bus = bus
        self.bridge = bridge
        self.interest_ttl_s = interest_ttl_s
        self.interest: dict[str, dict[str, float]] = {}   # vt_symbol → node → last renewed (monotonic s)
        self.pending: dict[int, collections.deque] = {}   # correlation → (inbox, node, symbols, allowed)
        self._tasks: set[asyncio.Task] = set()
        self.requests = self.published = self.unpublishable = self.expired = self.lost = 0
        self.served = (ServedSubject(bus, subjects.ops(SUBSCRIBE_TOPIC), self._on_request, HOST_QUEUE, "tick-detail"),
                       ServedSubject(bus, subjects.ops(INTEREST_TOPIC), self._on_interest, "", "tick-interest"))
        """Subscribes (queue ``HOST_QUEUE``) and interest renewals: on while this host serves (:meth:`activate`)."""

    async def activate(self) -> None:
        """Serve subscribes and renewals from now on; idempotent (loop thread). A renewal naming a contract this
        host does not follow for that node is answered ``ops.tickinterestlost``, so the edge nodes that followed
        contracts through the host before it subscribe them here again."""
        for served in self.served:
            await served.activate()

    async def deactivate(self) -> None:
        """Stop serving and follow nothing: a standby venue-host's feed would publish every detail a second time,
        and in the subscribe queue group it would take subscribes whose renewals the active host answers as lost
        (idempotent; loop thread)."""
        for served in self.served:
            await served.deactivate()
        for vt_symbol, nodes in list(self.interest.items()):
            for node in list(nodes):
                self._drop_interest(vt_symbol, node)

    async def start(self, serve: bool = True) -> None:
        """Start the relay session and the expiry of silent nodes; serve the subjects unless ``serve`` is false (a
        venue-host with a standby serves only while it holds the venue-host lease: :meth:`activate`) (loop
        thread)."""
        spawn(self.runtime, "sessions", ChildSpec(RELAY_SESSION, ReplyRelayActor, {
            "reply": self._on_reply, "detail": self._on_detail, "restarted": self._on_restarted}))
        if serve:
            await self.activate()
        task = asyncio.get_running_loop().create_task(self._expire())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _respond(self, inbox: str, payload: bytes, symbols: list[str]) -> None:
        if inbox:
            self.bus.publish_nowait(inbox, payload, {VT_SYMBOLS_HEADER: ",".join(symbols)})

    def _on_request(self, msg: Any) -> None:
        self.requests += 1
        try:
            node, symbols, subscribe, correlation, all_groups, groups = read_subscription(msg.data)
        except Exception as exc:  # noqa: BLE001 - capnp errors too: a bad request never reaches an actor
            _log.info("tick_subscription_refused", code="malformed", error_type=type(exc).__name__)
            self._respond(msg.reply, encode_server_message("error", 0, SOURCE, code="malformed",
                                                           message=f"bad tick subscription: {exc}"), [])
            return
        if not subscribe:
            for vt_symbol in symbols:
                self._drop_interest(vt_symbol, node)
            return
        allowed = None if all_groups else frozenset(groups)
        if correlation:  # the ticks actor answers it: the answer goes back when it comes
            self.pending.setdefault(correlation, collections.deque()).append((msg.reply, node, symbols, allowed))
        if not self.runtime.tell_path(TICKS_PATH, _subscription(RELAY_PATH, symbols, True, correlation,
                                                                all_groups, groups)):
            if correlation:
                self.pending[correlation].pop()
            self._respond(msg.reply, encode_server_message(
                "error", correlation, SOURCE, code="internal",
                message="contract detail is restarting on the venue-host; retry"), [])
            return
        if not correlation:  # a session following again after a restart: no answer, only the history
            wanted = split_symbols(self.bridge, symbols, allowed)[0]
            self._follow_for(node, wanted)
            self._respond(msg.reply, b"", wanted)

    def _on_reply(self, payload: bytes) -> None:
        correlation, code = _answer(payload)
        waiting = self.pending.get(correlation)
        if not waiting:
            return
        inbox, node, symbols, allowed = waiting.popleft()
        if not waiting:
            del self.pending[correlation]
        wanted = [] if code == "limitExceeded" else split_symbols(self.bridge, symbols, allowed)[0]
        self._follow_for(node, wanted)
        self._respond(inbox, payload, wanted)

    def _follow_for(self, node: str, symbols: list[str]) -> None:
        now = time.monotonic()
        for vt_symbol in symbols:
            self.interest.setdefault(vt_symbol, {})[node] = now

    def _on_detail(self, vt_symbol: str, payload: bytes) -> None:
        if vt_symbol not in self.interest:
            return
        try:
            subject = md_tick_subject(vt_symbol)
        except SubjectTokenError:
            self.unpublishable += 1
            return
        self.published += 1
        self.bus.publish_nowait(subject, payload)

    def _on_interest(self, msg: Any) -> None:
        try:
            node, symbols, _, _, _, _ = read_subscription(msg.data)
        except Exception:  # noqa: BLE001 - a bad renewal is ignored; the interest expires
            return
        now = time.monotonic()
        lost = []
        for vt_symbol in symbols:
            nodes = self.interest.get(vt_symbol)
            if nodes is not None and node in nodes:
                nodes[node] = now
            else:
                lost.append(vt_symbol)
        if lost:
            self.lost += len(lost)
            _log.info("tick_interest_lost", node=node, contracts=len(lost))
            self.bus.publish_nowait(subjects.ops(LOST_TOPIC), _subscription(node, lost, False))

    def _on_restarted(self, name: str) -> None:
        """The ``ticks`` actor restarted: it follows nothing for the relay now; nodes re-subscribe on renewal."""
        if name == TICKS_PATH:
            _log.info("tick_interest_dropped", contracts=len(self.interest))
            self.interest.clear()

    def _drop_interest(self, vt_symbol: str, node: str) -> None:
        nodes = self.interest.get(vt_symbol)
        if nodes is None:
            return
        nodes.pop(node, None)
        if not nodes:
            del self.interest[vt_symbol]
            self.runtime.tell_path(TICKS_PATH, _subscription(RELAY_PATH, [vt_symbol], False))

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(self.interest_ttl_s / 3)
            oldest = time.monotonic() - self.interest_ttl_s
            for vt_symbol, nodes in list(self.interest.items()):
                for node, renewed in list(nodes.items()):
                    if renewed < oldest:
                        self.expired += 1
                        _log.info("tick_interest_expired", vt_symbol=vt_symbol, node=node)
                        self._drop_interest(vt_symbol, node)

    def statistics_dict(self) -> dict[str, int]:
        """Requests, contracts followed for edge nodes, details published, interests expired."""
        return {"tick_detail_requests": self.requests, "tick_detail_followed": len(self.interest),
                "tick_details_published": self.published, "tick_details_unpublishable": self.unpublishable,
                "tick_interest_expired": self.expired, "tick_interest_lost": self.lost}

    async def close(self) -> None:
        """Stop expiring."""
        for task in list(self._tasks):
            task.cancel()


class TickDetailEdgeLink:
    """Follows ``md.tick.<ex>.<sym>`` for an edge node's sessions, once per contract.

    Args:
        runtime: the actor runtime.
        bus: a connected :class:`NatsBus`.
        timeout_s: how long a subscribe may wait for the venue-host's answer, seconds.
        interest_ttl_s: the host's interest TTL; the node renews every third of it, seconds.
    """

    def __init__(self, runtime: Any, bus: NatsBus, timeout_s: float = 3.0,
                 interest_ttl_s: float = INTEREST_TTL_S) -> None:
        self.runtime = runtime
        self.bus = bus
        self.timeout_s = timeout_s
        self.interest_ttl_s = interest_ttl_s
        self.node = f"edge-{secrets.token_hex(6)}"
        self.followers: dict[str, dict[str, None]] = {}         # vt_symbol → session paths
        self.held: dict[tuple[str, str], list[bytes]] = {}      # (session, vt_symbol) → details held
        self._subscriptions: dict[str, Any] = {}                # vt_symbol → NATS subscription
        self._tasks: set[asyncio.Task] = set()
        self.details = self.delivered = self.failures = self.resubscribes = 0

    async def start(self) -> None:
        """Start the ``ticks`` stand-in and the interest renewal (loop thread)."""
        spawn(self.runtime, ROOT_PATH, ChildSpec(TICKS_PATH, RemoteTickDetailActor, {"forward": self.forward}))
        await self.bus.subscribe(subjects.ops(LOST_TOPIC), self._on_lost)
        self._spawn(self._renew())

    def _on_lost(self, msg: Any) -> None:
        """The host lost this node's interest: have every session subscribe its contracts again."""
        try:
            node, symbols, _, _, _, _ = read_subscription(msg.data)
        except Exception:  # noqa: BLE001 - not ours to judge: ignore a bad notice
            return
        if node != self.node:
            return
        self.resubscribes += 1
        _log.info("tick_interest_resubscribing", contracts=len(symbols))
        self.runtime.tell_path("sessions", encode_actor_message("groupRestarted", TICKS_PATH, source=SOURCE))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forward(self, data: bytes) -> None:
        """Take one session's tickSubscription (non-blocking)."""
        session, symbols, subscribe, correlation, all_groups, groups = read_subscription(data)
        if subscribe:
            self._spawn(self._subscribe(session, symbols, correlation, all_groups, groups))
        else:
            self._unsubscribe(session, symbols)

    async def _subscribe(self, session: str, symbols: list[str], correlation: int, all_groups: bool,
                         groups: list[str]) -> None:
        for vt_symbol in symbols:
            self.held[(session, vt_symbol)] = []
            await self._follow(vt_symbol)
        subject = subjects.ops(SUBSCRIBE_TOPIC)
        wanted: list[str] = []
        try:
            reply = await self.bus.request_message(subject, _subscription(self.node, symbols, True, correlation,
                                                                          all_groups, groups), self.timeout_s)
            payload = reply.data
            wanted = [s for s in ((reply.headers or {}).get(VT_SYMBOLS_HEADER) or "").split(",") if s in symbols]
        except NoRespondersError:
            self.failures += 1
            payload = encode_server_message("error", correlation, SOURCE, code="internal", message=(
                f"contract detail is served where the vn.py gateway runs: no venue-host answers on {subject}"))
        except (RequestTimeoutError, nats.errors.Error, OSError) as exc:
            self.failures += 1
            payload = encode_server_message("error", correlation, SOURCE, code="internal", message=(
                f"no answer from the venue-host for contract detail ({type(exc).__name__}); retry"))
        if payload:  # a session following again after a restart (correlation 0) gets no answer, as in one process
            self.runtime.tell_path(session, encode_outbound(group="", seq=0, kind="control", payload=payload,
                                                            source=SOURCE, correlation_id=correlation))
        for vt_symbol in symbols:
            held = self.held.pop((session, vt_symbol), [])
            if vt_symbol in wanted:
                self.followers.setdefault(vt_symbol, {})[session] = None
                for detail in held:
                    self._deliver(session, vt_symbol, detail)
            else:
                await self._maybe_unfollow(vt_symbol)

    def _unsubscribe(self, session: str, symbols: list[str]) -> None:
        left = []
        for vt_symbol in symbols:
            followers = self.followers.get(vt_symbol)
            if followers is not None and followers.pop(session, "absent") != "absent" and not followers:
                left.append(vt_symbol)
        for vt_symbol in left:
            self._spawn(self._maybe_unfollow(vt_symbol))

    async def _follow(self, vt_symbol: str) -> None:
        if vt_symbol in self._subscriptions:
            return
        try:
            subject = md_tick_subject(vt_symbol)
        except SubjectTokenError:
            return  # the host answers unknownContract
        self._subscriptions[vt_symbol] = None  # taken: a concurrent subscribe does not subscribe twice
        subscription = await self.bus.subscribe(
            subject, lambda msg, vt_symbol=vt_symbol: self._on_detail(vt_symbol, msg.data))
        if vt_symbol in self._subscriptions:
            self._subscriptions[vt_symbol] = subscription
        else:  # everyone left while it was being made
            await subscription.unsubscribe()

    async def _maybe_unfollow(self, vt_symbol: str) -> None:
        if self.followers.get(vt_symbol) or any(key[1] == vt_symbol for key in self.held):
            return
        self.followers.pop(vt_symbol, None)
        if vt_symbol not in self._subscriptions:
            return
        subscription = self._subscriptions.pop(vt_symbol)
        await self.bus.publish(subjects.ops(SUBSCRIBE_TOPIC), _subscription(self.node, [vt_symbol], False))
        if subscription is None:
            return  # still being made: _follow unsubscribes it when it is
        try:
            await subscription.unsubscribe()
        except nats.errors.Error:
            pass

    def _on_detail(self, vt_symbol: str, payload: bytes) -> None:
        self.details += 1
        for (session, held_symbol), held in self.held.items():
            if held_symbol == vt_symbol and len(held) < MAX_HELD:
                held.append(payload)
        for session in list(self.followers.get(vt_symbol, ())):
            self._deliver(session, vt_symbol, payload)

    def _deliver(self, session: str, vt_symbol: str, payload: bytes) -> None:
        if self.runtime.tell_path(session, encode_outbound(group=vt_symbol, seq=0, kind="detail", payload=payload,
                                                           source=SOURCE)):
            self.delivered += 1
        else:  # the session is gone without unsubscribing (it always does when it stops)
            self.followers.get(vt_symbol, {}).pop(session, None)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.interest_ttl_s / 3)
            followed = [vt for vt, sessions in self.followers.items() if sessions]
            if followed:
                self.bus.publish_nowait(subjects.ops(INTEREST_TOPIC), _subscription(self.node, followed, True))

    def statistics_dict(self) -> dict[str, int]:
        """Contracts followed, details received and delivered, subscribe failures."""
        return {"tick_detail_followed": sum(1 for s in self.followers.values() if s),
                "tick_details_received": self.details, "tick_details_delivered": self.delivered,
                "tick_detail_failures": self.failures, "tick_detail_resubscribes": self.resubscribes}

    async def close(self) -> None:
        """Stop renewing; cancel subscribes in flight."""
        for task in list(self._tasks):
            task.cancel()


def tick_detail_link(runtime: Any, bus: NatsBus | None, role: str,
                     bridge: Any = None) -> TickDetailHost | TickDetailEdgeLink | None:
    """Return the contract detail link of a node: the host on a venue-host, the edge link on an edge, else None."""
    if bus is None:
        return None
    if role == "venue-host" and bridge is not None:
        return TickDetailHost(runtime, bus, bridge)
    if role == "edge":
        return TickDetailEdgeLink(runtime, bus)
    return None


__all__ = ["INTEREST_TTL_S", "RELAY_PATH", "VT_SYMBOLS_HEADER", "TickDetailEdgeLink", "TickDetailHost",
           "md_tick_subject", "read_subscription", "tick_detail_link"]
