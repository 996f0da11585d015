"""Group frames across NATS: aggregating nodes publish, edge nodes fan out (transport/README.md, "NATS").

Aggregating side (:class:`MarketPublisher`, on a node that runs GroupActors):
a session actor like a browser's, ``sessions/session/nats``, is subscribed to
every group; its outbox, instead of a WebSocket, publishes each frame's
bytes unchanged on ``md.agg.33ms.<group>``, and the group's liveness
(``groupStatus``, as that session sees it) on the same subject. It conflates like any session if
NATS falls behind. A request (or publish) on ``md.snap.<group>`` makes the
group send that session its GroupInfo and a snapshot again, so they are
re-broadcast; ``ops.resync`` does it for every group (an edge node starting).

Edge side (:class:`MarketSubscriber`): one wildcard subscription to
``md.agg.33ms.>``; each group gets a :class:`RemoteGroupActor` at
``market/group/<group>`` (created on its first message), to which local
sessions attach exactly as they would to a local aggregator.
"""

from __future__ import annotations

from typing import Any

import nats.errors
import structlog

import schemas
from actors import ActorRuntime, ChildSpec, encode_actor_message, encode_outbound, spawn
from actors.market.remote_group import RemoteGroupActor
from actors.paths import group_child, group_path, session_child
from actors.sessions.session import SessionActor, SessionState
from transport.cluster import subjects
from transport.cluster.nats_bus import NatsBus
from transport.edge.outbox import SocketOutbox
from transport.edge.client import client_message

_log = structlog.get_logger("transport.cluster.nats_market")
PUBLISHER_SESSION = session_child("nats")
_AGG_PREFIX = "md.agg.33ms."


def frame_head(payload: bytes) -> tuple[str, str, int]:
    """Return (group, kind, seq) of a ServerMessage frame: kind is info, snapshot, delta, status or control."""
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        member = message.which()
        if member == "groupFrame":
            frame = message.groupFrame
            return frame.group, str(frame.kind), frame.seq
        if member == "groupInfo":
            return message.groupInfo.group, "info", 0
        if member == "groupStatus":
            return message.groupStatus.group, "status", 0
        return "", "control", 0


class _MarketLink:
    """What both ends share: the runtime and a connected :class:`NatsBus`."""

    def __init__(self, runtime: ActorRuntime, bus: NatsBus) -> None:
        self.runtime = runtime
        self.bus = bus


class MarketPublisher(_MarketLink):
    """Publishes every local group's frames on NATS and answers snapshot requests.

    Args:
        runtime: the actor runtime.
        bus: a connected :class:`NatsBus`.
    """

    def __init__(self, runtime: ActorRuntime, bus: NatsBus) -> None:
        super().__init__(runtime, bus)
        self.path = f"sessions/{PUBLISHER_SESSION}"
        self._ids = 0
        self.published = self.dropped = 0

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

    async def _publish(self, payload: bytes) -> None:
        group, kind, _ = frame_head(payload)
        if kind != "control":
            try:
                await self.bus.publish(subjects.md_agg(group), payload)
            except nats.errors.Error:  # closing, or no server at all: an edge node asks a snapshot later
                self.dropped += 1
                return
            self.published += 1

    def _rebroadcast(self, group: str) -> None:
        if group in self.state.groups:
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

    Args:
        runtime: the actor runtime.
        bus: a connected :class:`NatsBus`.
    """

    def __init__(self, runtime: ActorRuntime, bus: NatsBus) -> None:
        super().__init__(runtime, bus)
        self.received = 0

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
        group, kind, seq = frame_head(payload)
        path = group_path(group)
        if path not in self.runtime.registry:
            spawn(self.runtime, "market", ChildSpec(group_child(group), RemoteGroupActor, {
                "group": group, "request_snapshot": self.request_snapshot}))
        self.runtime.tell_path(path, encode_outbound(group=group, seq=seq, kind=kind, payload=payload,
                                                     source="nats"))


__all__ = ["MarketPublisher", "MarketSubscriber", "PUBLISHER_SESSION", "frame_head"]
