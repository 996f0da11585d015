"""Ticks across NATS: a ``venue-host`` publishes each group's batches, ``aggregator`` nodes run the groups.

Venue-host side (:class:`TickPublisher`): the vn.py bridge conflates ticks
as in one process, but each drain's per-group ``InstrumentsAdded`` and
``TickBatch`` ActorMessages go out on ``md.batch.<ex>.<group>`` instead of to a
local GroupActor: one NATS message per group per drain (default every 5 ms),
never one per tick, so a 4,000 ticks/s peak is a few hundred messages a
second. ``ops.tickresync`` (an ActorMessage ``resyncRequest`` naming a group,
or ``""`` for every group) makes it publish the group's whole instrument
list and latest rows again on the same subject, in order with the live
batches (one connection, one writer task).

Aggregator side (:class:`TickSubscriber`): subscribes ``md.batch.*.<group>``
for its shard (``--groups``) or every group, and creates a GroupActor at
``market/group/<group>`` when it first sees the group's full instrument list
(``instrumentsAdded`` from index 0); batches of a group not yet known are
dropped and a resync is asked (at most once a second per group). A new
aggregator asks every group's resync when it starts, so it rebuilds the
latest state and its publishing session sends snapshots at once: that is
failover. It also stands in for the vn.py bridge behind the ``market-source``
actor: a restarted GroupActor's ``resyncRequest`` becomes ``ops.tickresync``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import structlog

import schemas
from actors import ActorRuntime, ChildSpec, encode_actor_message, spawn
from actors.market.group import GroupActor
from actors.market.remote_group import DEFAULT_SOURCE_TIMEOUT_S
from actors.paths import group_child, group_path
from transport.cluster import subjects
from transport.cluster.nats_bus import NatsBus

if TYPE_CHECKING:
    from transport.venue.vnpy_bridge import VnpyBridge

_log = structlog.get_logger("transport.cluster.nats_ticks")
RESYNC_TOPIC = "tickresync"
RESYNC_INTERVAL_S = 1.0
HEARTBEAT_S = 0.25
"""The active venue-host's ``md.source`` heartbeat interval, seconds."""
WATCH_S = 0.1
"""How often an aggregator checks that its venue-host is heard, seconds."""


def _resync_request(group: str, source: str) -> bytes:
    return encode_actor_message("resyncRequest", group, source=source)


class TickPublisher:
    """The vn.py bridge's sink on a venue-host: group batches onto ``md.batch.<ex>.<group>``.

    Args:
        bus: a connected :class:`NatsBus`.
        active: whether this venue-host publishes now: only the holder of the venue-host lease does
            (transport/cluster/venue_standby.py), so an aggregator never gets two hosts' interleaved batch seqs;
            a standby's bridge keeps draining (its market data stays warm) and its batches are counted in
            ``tick_messages_standby``.
    """

    def __init__(self, bus: NatsBus, active: Callable[[], bool] = lambda: True) -> None:
        self.bus = bus
        self.bridge: VnpyBridge | None = None
        self._active = active
        self.published = self.dropped = self.resyncs = self.standby = self.heartbeats = 0
        self._beat_task: asyncio.Task | None = None

    def publish_group(self, group: str, exchange: str, payload: bytes) -> None:
        """Queue one group message for NATS (loop thread; the bridge's ``sink``); nothing on a standby."""
        if not self._active():
            self.standby += 1
            return
        if self.bus.publish_nowait(subjects.md_batch(exchange, group), payload):
            self.published += 1
        else:
            self.dropped += 1

    async def start(self, bridge: VnpyBridge) -> None:
        """Serve ``ops.tickresync`` from ``bridge`` (a :class:`~transport.venue.vnpy_bridge.VnpyBridge`) and
        send the heartbeat on ``md.source`` every :data:`HEARTBEAT_S` while active (loop thread)."""
        self.bridge = bridge
        await self.bus.subscribe(subjects.ops(RESYNC_TOPIC), self._on_resync)
        self._beat_task = asyncio.get_running_loop().create_task(self._beat(), name="venue-host-heartbeat")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            if self._active() and self.bus.publish_nowait(subjects.md_source(), b""):
                self.heartbeats += 1

    async def close(self) -> None:
        """Stop the heartbeat (idempotent)."""
        if self._beat_task is not None:
            self._beat_task.cancel()
            self._beat_task = None

    def _on_resync(self, msg: Any) -> None:
        with schemas.actor.ActorMessage.from_bytes(msg.data) as message:
            if message.which() != "resyncRequest":
                return
            wanted = message.resyncRequest
        if not self._active():
            return
        names = [wanted] if wanted else list(self.bridge.groups())
        for name in names:
            exchange = self.bridge.group_exchange(name)
            if not exchange:
                continue
            self.resyncs += 1
            for payload in self.bridge.resync_messages(name):
                self.publish_group(name, exchange, payload)

    def statistics_dict(self) -> dict[str, int]:
        """Messages published and dropped, resyncs served."""
        return {"tick_messages_published": self.published, "tick_messages_dropped": self.dropped,
                "tick_messages_standby": self.standby, "source_heartbeats": self.heartbeats,
                "tick_resyncs_served": self.resyncs}


class TickSubscriber:
    """Feeds group batches from NATS to local GroupActors on an aggregator node.

    Liveness of the source: the active venue-host sends ``md.source`` every
    :data:`HEARTBEAT_S` besides its batches; when neither has been heard for
    ``source_timeout_s`` (the venue-host died, or a standby is taking over),
    every group here is told ``sourceDown`` ("venue-host silent"), which its
    frames carry to every edge and page, and ``live`` again with the next
    message. A venue's own state (a gateway disconnected) reaches the groups as
    the venue-host's ``groupStatus`` messages, in order with the batches.

    Args:
        runtime: the actor runtime.
        bus: a connected :class:`NatsBus`.
        groups: the groups this aggregator owns; empty: every group.
        group_args: extra context args of every GroupActor (window_ms, ...).
        source_timeout_s: the venue-host silent this long is ``sourceDown``, seconds.
        clock: monotonic seconds (tests pass a fake one).
    """

    def __init__(self, runtime: ActorRuntime, bus: NatsBus, groups: tuple[str, ...] = (),
                 group_args: Mapping[str, Any] | None = None, source_timeout_s: float = DEFAULT_SOURCE_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runtime = runtime
        self.bus = bus
        self.owned = tuple(groups)
        self._group_args = dict(group_args or {})
        self._known: dict[str, bool] = {}       # group → announced to the listeners
        self._asked: dict[str, float] = {}      # group → monotonic time of the last resync asked
        self.group_listeners: list[Callable[[str], None]] = []
        """Called with a group's name once its GroupActor holds instruments and rows (loop thread)."""
        self.received = self.dropped = self.resyncs_requested = 0
        self.source_timeout_s = source_timeout_s
        self._clock = clock
        self._heard_s = clock()
        self.source_down = False
        self.source_downs = 0
        self._watch_task: asyncio.Task | None = None

    async def start(self) -> None:
        """Subscribe to the owned groups' batches and the venue-host's heartbeat, ask for every group's state,
        and start watching the source (loop thread)."""
        for subject in subjects.md_batch_subscriptions(self.owned):
            await self.bus.subscribe(subject, self._on_message)
        await self.bus.subscribe(subjects.md_source(), self._on_heartbeat)
        self._heard_s = self._clock()
        self._watch_task = asyncio.get_running_loop().create_task(self._watch(), name="aggregator-source-watch")
        for group in self.owned or ("",):
            await self.bus.publish(subjects.ops(RESYNC_TOPIC), _resync_request(group, "aggregator"))

    def _on_heartbeat(self, msg: Any) -> None:
        self.heard()

    def heard(self) -> None:
        """The venue-host spoke (a batch or a heartbeat): a source marked down is live again (loop thread)."""
        self._heard_s = self._clock()
        if self.source_down:
            self.source_down = False
            _log.info("venue_host_heard_again")
            self._tell_groups("live", "venue-host heard again")

    def check_source(self) -> None:
        """Mark every group ``sourceDown`` once the venue-host has been silent past the timeout (loop thread)."""
        silent_s = self._clock() - self._heard_s
        if not self.source_down and silent_s >= self.source_timeout_s:
            self.source_down = True
            self.source_downs += 1
            _log.warning("venue_host_silent", silent_s=round(silent_s, 3))
            self._tell_groups("sourceDown", f"venue-host silent for {silent_s:.1f} s (no ticks and no heartbeat): "
                                            "prices are not current")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            self.check_source()

    def _tell_groups(self, state: str, reason: str) -> None:
        message = encode_actor_message("groupStatus", {"group": "", "state": state, "reason": reason,
                                                       "sinceTsNs": time.time_ns()}, source="aggregator")
        for group in self._known:
            self.runtime.tell_path(group_path(group), message)

    async def close(self) -> None:
        """Stop watching the source (idempotent)."""
        if self._watch_task is not None:
            self._watch_task.cancel()
            self._watch_task = None

    def _on_message(self, msg: Any) -> None:
        self.received += 1
        self.heard()
        group = msg.subject.rsplit(".", 1)[-1]
        announced = self._known.get(group)
        if announced is None:
            with schemas.actor.ActorMessage.from_bytes(msg.data) as message:
                full = message.which() == "instrumentsAdded" and message.instrumentsAdded.firstIndex == 0
            if not full:
                self.dropped += 1
                self._ask_resync(group)
                return
            spawn(self.runtime, "market", ChildSpec(group_child(group), GroupActor,
                                                    {"group": group, **self._group_args}))
            self._known[group] = False
            self.runtime.tell_path(group_path(group), msg.data)
            return
        entry = self.runtime.registry.get(group_path(group))
        if entry is not None and entry.instance is not None and not entry.instance.instruments:
            self._ask_resync(group)  # restarted and its resync lost (a server died): ask again, at most 1/s
        self.runtime.tell_path(group_path(group), msg.data)
        if not announced:
            self._known[group] = True
            _log.info("aggregator_group_started", group=group)
            for listener in self.group_listeners:
                listener(group)

    # -- the market-source actor's bridge ------------------------------------------

    def resync_messages(self, group: str) -> list[bytes]:
        """Ask the venue-host to publish ``group``'s state again; return ``[]`` (it arrives on NATS).

        A restarted GroupActor asks once (it waits for the full instrument
        list), so this asks at once; :meth:`_ask_resync` paces the other asks.
        """
        self._asked[group] = time.monotonic()
        self.resyncs_requested += 1
        self.bus.publish_nowait(subjects.ops(RESYNC_TOPIC), _resync_request(group, "aggregator"))
        return []

    def _ask_resync(self, group: str) -> None:
        if time.monotonic() - self._asked.get(group, -RESYNC_INTERVAL_S) >= RESYNC_INTERVAL_S:
            self.resync_messages(group)

    def groups(self) -> dict[str, int]:
        """Return group name → instruments of the groups running here."""
        found = {}
        for group in self._known:
            entry = self.runtime.registry.get(group_path(group))
            if entry is not None and entry.instance is not None:
                found[group] = len(entry.instance.instruments)
        return found

    def statistics_dict(self) -> dict[str, int]:
        """Messages received and dropped, resyncs asked, groups running, whether the venue-host is silent."""
        return {"tick_messages_received": self.received, "tick_messages_dropped": self.dropped,
                "tick_resyncs_requested": self.resyncs_requested, "groups": len(self._known),
                "venue_host_silent": self.source_down, "venue_host_silences": self.source_downs}


__all__ = ["HEARTBEAT_S", "RESYNC_TOPIC", "TickPublisher", "TickSubscriber", "WATCH_S"]
