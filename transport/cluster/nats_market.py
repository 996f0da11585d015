"""Group frames across NATS: aggregating nodes publish, edge nodes fan out (transport/README.md, "NATS").

Aggregating side (:class:`MarketPublisher`, on a node that runs GroupActors):
a session actor like a browser's, ``sessions/session/nats``, is subscribed to
every group; its outbox, instead of a WebSocket, publishes each frame's
bytes unchanged on ``md.agg.33ms.<group>``, and the group's liveness
(``groupStatus``, as that session sees it) on the same subject. It conflates like any session if
NATS falls behind. A request (or publish) on ``md.snap.<group>`` makes the
group send that session its GroupInfo and a snapshot again, so they are
re-broadcast; ``ops.resync`` does it for every group (an edge node starting).

With leases (issue 16, an ``aggregator`` node; transport/cluster/leases.py)
several aggregators serve the same groups and only a group's leader
publishes it: a frame goes out only if its ``epoch`` is the lease this node
holds on the group now. On taking a lease the publisher attaches again with
the lease's epoch, so the GroupActor stamps it on its next info, snapshot and
status and the new epoch starts with a snapshot; a follower answers no
snapshot request. Without leases (an ``all`` node) every frame is published
(epoch 0).

Edge side (:class:`MarketSubscriber`): one wildcard subscription to
``md.agg.33ms.>``; each group gets a :class:`RemoteGroupActor` at
``market/group/<group>`` (created on its first message), to which local
sessions attach exactly as they would to a local aggregator. It drops every
message of an epoch below the newest it has seen for the group (a paused old
leader that wakes up can never interleave) and counts them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import nats.errors
import structlog

import schemas
from actors import ActorRuntime, ChildSpec, encode_actor_message, encode_outbound, spawn
from actors.market.remote_group import DEFAULT_SOURCE_TIMEOUT_S, RemoteGroupActor
from actors.paths import group_child, group_path, session_child
from actors.sessions.session import SessionActor, SessionState
from transport.cluster import subjects
from transport.cluster.leases import DEFAULT_LEASE_TTL_S
from transport.cluster.nats_bus import NatsBus
from transport.edge.outbox import SocketOutbox
from transport.edge.client import client_message

_log = structlog.get_logger("transport.cluster.nats_market")
PUBLISHER_SESSION = session_child("nats")
_AGG_PREFIX = "md.agg.33ms."


class FrameHead(NamedTuple):
    """What the NATS links read of a ServerMessage without its rows.

    Attributes:
        group: the group, ``""`` for anything else.
        kind: ``info``, ``snapshot``, ``delta``, ``status`` or ``control``.
        seq: the frame's per-group sequence (0 unless a frame).
        epoch: the sending aggregator's lease revision (0: none; issue 16).
    """

    group: str
    kind: str
    seq: int
    epoch: int


def frame_head(payload: bytes) -> FrameHead:
    """Return the :class:`FrameHead` of a ServerMessage."""
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        member = message.which()
        if member == "groupFrame":
            frame = message.groupFrame
            return FrameHead(frame.group, str(frame.kind), frame.seq, frame.epoch)
        if member == "groupInfo":
            return FrameHead(message.groupInfo.group, "info", 0, message.groupInfo.epoch)
        if member == "groupStatus":
            return FrameHead(message.groupStatus.group, "status", 0, message.groupStatus.epoch)
        return FrameHead("", "control", 0, 0)


def stamp_epoch(payload: bytes, epoch: int) -> bytes:
    """Return a ``ServerMessage{groupStatus}`` with ``epoch`` set (the lease it is published under)."""
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        builder = message.as_builder()
    builder.groupStatus.epoch = epoch
    return builder.to_bytes()


class _MarketLink:
    """What both ends share: the runtime and a connected :class:`NatsBus`."""

    def __init__(self, runtime: ActorRuntime, bus: NatsBus) -> None:
        self.runtime = runtime
        self.bus = bus


_REATTACH_INTERVAL_NS = 250_000_000
"""A led group whose frames still carry an older epoch is attached again at most this often, ns."""


class MarketPublisher(_MarketLink):
    """Publishes every local group's frames on NATS and answers snapshot requests.

    Args:
        runtime: the actor runtime.
        bus: a connected :class:`NatsBus`.
        leases: returns this node's lease epoch on a group now (0: not the leader), or ``None``: publish every
            group (no election). :meth:`~transport.cluster.leases.LeaseKeeper.epoch_of` on an aggregator.
    """

    def __init__(self, runtime: ActorRuntime, bus: NatsBus, leases: Callable[[str], int] | None = None) -> None:
        super().__init__(runtime, bus)
        self.path = f"sessions/{PUBLISHER_SESSION}"
        self._ids = 0
        self._leases = leases
        self._reattached_ns: dict[str, int] = {}
        self._statuses: dict[str, bytes] = {}  # group → the publishing session's latest groupStatus
        self.published = self.dropped = 0
        self.not_leader = self.stale_epoch = 0

    async def start(self) -> None:
        """Start the publishing session and the snapshot responders (loop thread)."""
        outbox = SocketOutbox(self._publish, lambda: self.runtime.tell_path(
            self.path, encode_actor_message("socketDrained", None, source="nats")))
        self._writer = self.runtime.loop.create_task(outbox.run(), name="nats-market-publisher")
        self.state = SessionState("nats", "admin")
        spawn(self.runtime, "sessions", ChildSpec(PUBLISHER_SESSION, SessionActor, {
            "outbox": outbox, "state": self.state, "high_water_bytes": 8 * 1024 * 1024,
            "low_water_bytes": 1024 * 1024}))
        await self.bus.subscribe("md.snap.*", self._on_snapshot_request)
        await self.bus.subscribe(subjects.ops("resync"), self._on_resync)

    def add_group(self, group: str) -> None:
        """Subscribe the publishing session to a new group (loop thread; a bridge listener)."""
        self._ids += 1
        self.runtime.tell_path(self.path, encode_actor_message(
            "client", client_message(self._ids, subscribe={"groups": [group]}), source="nats"))

    def lead(self, group: str, epoch: int) -> None:
        """This node took ``group``'s lease at ``epoch``: attach again with it, so a snapshot starts the epoch."""
        self._reattached_ns[group] = time.monotonic_ns()
        self.runtime.tell_path(group_path(group), encode_actor_message(
            "attach", {"sessionPath": self.path, "group": group, "epoch": epoch}, source="nats"))
        status = self._statuses.get(group)
        if status is not None:  # the session speaks only on a change: say the group's liveness as the new leader
            self.bus.publish_nowait(subjects.md_agg(group), stamp_epoch(status, epoch))

    def _leads(self, group: str, epoch: int) -> bool:
        """True if a message of ``group`` at ``epoch`` may be published (counts the ones that may not)."""
        if self._leases is None:
            return True
        held = self._leases(group)
        if held == 0:
            self.not_leader += 1
            return False
        if epoch != held:
            self.stale_epoch += 1
            now = time.monotonic_ns()
            if epoch < held and now - self._reattached_ns.get(group, 0) >= _REATTACH_INTERVAL_NS:
                self.lead(group, held)  # the GroupActor restarted (epoch 0) or missed the attach
            return False
        return True

    async def _publish(self, payload: bytes) -> None:
        group, kind, _, epoch = frame_head(payload)
        if kind == "status" and self._leases is not None:
            # the session encodes its own groupStatus (epoch 0): it speaks for this node's lease
            self._statuses[group] = payload
            epoch = self._leases(group)
            if not epoch:
                self.not_leader += 1
                return
            payload = stamp_epoch(payload, epoch)
        if kind != "control" and self._leads(group, epoch):
            try:
                await self.bus.publish(subjects.md_agg(group), payload)
            except nats.errors.Error:  # closing, or no server at all: an edge node asks a snapshot later
                self.dropped += 1
                return
            self.published += 1

    def _rebroadcast(self, group: str) -> None:
        if group in self.state.groups and (self._leases is None or self._leases(group)):
            self.runtime.tell_path(group_path(group), encode_actor_message(
                "attach", {"sessionPath": self.path, "group": group}, source="nats"))

    async def _on_snapshot_request(self, msg: Any) -> None:
        self._rebroadcast(msg.subject.rsplit(".", 1)[-1])
        if msg.reply:
            await msg.respond(b"")

    async def _on_resync(self, msg: Any) -> None:
        for group in list(self.state.groups):
            self._rebroadcast(group)
        if msg.reply:
            await msg.respond(b"")


class MarketSubscriber(_MarketLink):
    """Feeds NATS group streams to local RemoteGroupActors on an edge node.

    Epochs: a message of a lower epoch than the group's newest is an old
    leader still speaking and is dropped, with one exception, the **epoch
    reset**: the epoch is the revision of the group's lease key, so a lease
    bucket created anew (deleted by an operator, lost with a server's storage)
    starts again from 1. Once the newest epoch has been silent for
    ``reset_after_s`` (by default the larger of the source timeout and the
    lease TTL; the leader sends a heartbeat when nothing changed, and a leader
    whose lease lapsed stops publishing within one TTL by its own clock), no
    holder of that epoch can still publish, so a lower epoch is taken as the
    group's new one (``epoch_resets``, ``group_epoch_reset`` logged) instead
    of freezing the group until the edge restarts.

    Args:
        runtime: the actor runtime.
        bus: a connected :class:`NatsBus`.
        source_timeout_s: a group's stream silent this long is ``sourceDown`` (``[market] source_timeout_s``).
        reset_after_s: the newest epoch silent this long lets a lower epoch in (an epoch reset), seconds;
            ``None``: ``max(source_timeout_s, DEFAULT_LEASE_TTL_S)``.
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(self, runtime: ActorRuntime, bus: NatsBus, source_timeout_s: float = DEFAULT_SOURCE_TIMEOUT_S,
                 reset_after_s: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(runtime, bus)
        self.source_timeout_s = source_timeout_s
        self.reset_after_s = max(source_timeout_s, DEFAULT_LEASE_TTL_S) if reset_after_s is None else reset_after_s
        self.clock = clock
        self.received = 0
        self.stale_epoch_dropped = 0
        self.epoch_resets = 0
        self.epochs: dict[str, int] = {}
        """group → the newest epoch seen; a message of a lower one is dropped (unless it is an epoch reset)."""
        self.epoch_heard_s: dict[str, float] = {}
        """group → monotonic time of the last message of its newest epoch."""

    async def start(self) -> None:
        """Subscribe to every group stream and ask the aggregators to re-broadcast (loop thread)."""
        await self.bus.subscribe(_AGG_PREFIX + ">", self._on_frame)
        await self.bus.publish(subjects.ops("resync"), b"")

    def request_snapshot(self, group: str) -> None:
        """Ask the aggregator of ``group`` to re-broadcast its info and snapshot (non-blocking)."""
        self.bus.publish_nowait(subjects.md_snap(group), b"")

    def groups(self) -> dict[str, int]:
        """Return group → instruments known from the streams."""
        found = {}
        for entry in self.runtime.registry.children("market"):
            if isinstance(entry.instance, RemoteGroupActor):
                found[entry.instance.group] = entry.instance.instruments
        return found

    def _on_frame(self, msg: Any) -> None:
        self.received += 1
        payload = msg.data
        group, kind, seq, epoch = frame_head(payload)
        newest = self.epochs.get(group, 0)
        now_s = self.clock()
        if epoch < newest:
            if now_s - self.epoch_heard_s.get(group, now_s) < self.reset_after_s:
                self.stale_epoch_dropped += 1  # an old leader still speaking: never forwarded
                return
            self.epoch_resets += 1   # no holder of `newest` can still publish: the lease bucket began again
            _log.warning("group_epoch_reset", group=group, epoch=epoch, previous=newest,
                         silent_s=round(now_s - self.epoch_heard_s[group], 3))
            self.epochs[group] = epoch
        elif epoch > newest:
            self.epochs[group] = epoch
            if newest:
                _log.info("group_epoch_changed", group=group, epoch=epoch, previous=newest)
        self.epoch_heard_s[group] = now_s
        path = group_path(group)
        if path not in self.runtime.registry:
            spawn(self.runtime, "market", ChildSpec(group_child(group), RemoteGroupActor, {
                "group": group, "request_snapshot": self.request_snapshot,
                "source_timeout_s": self.source_timeout_s}))
        self.runtime.tell_path(path, encode_outbound(group=group, seq=seq, kind=kind, payload=payload,
                                                     source="nats"))


__all__ = ["FrameHead", "MarketPublisher", "MarketSubscriber", "PUBLISHER_SESSION", "frame_head", "stamp_epoch"]
