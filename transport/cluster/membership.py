"""Cluster membership: every node announces itself on NATS; any node can show the whole cluster (issue 16).

:class:`NodeAnnouncer` publishes a ``NodeAnnouncement`` (schemas/actor.capnp)
on ``ops.node.<node>`` every :data:`ANNOUNCE_INTERVAL_S`: role, host, pid,
start time, the lag of its own timer on the loop (how late the loop ran it:
a busy or paused node shows it) and the groups whose lease it holds or
follows. :class:`ClusterView` listens to ``ops.node.*`` and, with the lease
bucket (transport/cluster/leases.py), answers ``GET /admin/cluster``: every
node, every group's leader and epoch, every lease's age.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import nats.errors
import structlog

import schemas
from transport.cluster import subjects
from transport.cluster.leases import read_leases
from transport.cluster.venue_standby import VENUE_LEASE_KEY
from transport.cluster.nats_bus import NatsBus

_log = structlog.get_logger("transport.cluster.membership")

ANNOUNCE_INTERVAL_S = 1.0
"""How often a node announces itself, seconds."""
SILENT_AFTER_S = 3.0
"""A node unheard for this long is shown ``silent``, seconds."""
READ_TIMEOUT_S = 2.0
"""Longest ``GET /admin/cluster`` waits for a lease bucket, seconds (JetStream elects a stream's leader after
4-9 s when the server that led it dies: nats-server server/raft.go, minElectionTimeoutDefault and
maxElectionTimeoutDefault)."""


def default_node_name(role: str) -> str:
    """Return ``<role>-<host>-<pid>``, with any character a subject token refuses replaced by ``-``."""
    name = f"{role}-{socket.gethostname()}-{os.getpid()}"
    return "".join("-" if c in ".*> \t" else c for c in name)


def encode_announcement(*, node: str, role: str, host: str, pid: int, started_ts_ns: int, lag_ns: int,
                        groups_led: list[str], groups_followed: list[str]) -> bytes:
    """Return a ``NodeAnnouncement`` sent now (times ns since UNIX epoch, lag ns)."""
    message = schemas.actor.NodeAnnouncement.new_message()
    message.node = node
    message.role = role
    message.host = host
    message.pid = pid
    message.startedTsNs = started_ts_ns
    message.sentTsNs = time.time_ns()
    message.loopLagNs = lag_ns
    message.groupsLed = groups_led
    message.groupsFollowed = groups_followed
    return message.to_bytes()


class NodeAnnouncer:
    """Announces this node every :data:`ANNOUNCE_INTERVAL_S` (loop thread).

    Args:
        bus: a connected :class:`NatsBus`.
        node: this node's name (a subject token).
        role: the node's role.
        leases: returns (groups led, groups followed) now; ``None``: the node leads nothing.
    """

    def __init__(self, bus: NatsBus, node: str, role: str,
                 leases: Callable[[], tuple[list[str], list[str]]] | None = None) -> None:
        self.bus = bus
        self.node = node
        self.role = role
        self._leases = leases
        self.started_ts_ns = time.time_ns()
        self.lag_ns = 0
        self.announced = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Announce now and every interval."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"announce-{self.node}")

    def announcement(self) -> bytes:
        """Return this node's ``NodeAnnouncement`` now."""
        led, followed = self._leases() if self._leases else ([], [])
        return encode_announcement(node=self.node, role=self.role, host=socket.gethostname(), pid=os.getpid(),
                                   started_ts_ns=self.started_ts_ns, lag_ns=self.lag_ns, groups_led=led,
                                   groups_followed=followed)

    async def _run(self) -> None:
        while True:
            self.bus.publish_nowait(subjects.ops_node(self.node), self.announcement())
            self.announced += 1
            due = time.monotonic() + ANNOUNCE_INTERVAL_S
            await asyncio.sleep(ANNOUNCE_INTERVAL_S)
            self.lag_ns = max(0, int((time.monotonic() - due) * 1e9))

    async def close(self) -> None:
        """Stop announcing."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


class ClusterView:
    """Every node heard on ``ops.node.*`` and every lease in the bucket (loop thread).

    Args:
        bus: a connected :class:`NatsBus`.
        kv: the lease bucket (nats-py ``KeyValue``), or ``None``: no leases shown.
    """

    def __init__(self, bus: NatsBus, kv: Any = None, venue_kv: Any = None) -> None:
        self.bus = bus
        self.kv = kv
        self.venue_kv = venue_kv
        """The venue-host lease bucket (transport/cluster/venue_standby.py), or ``None``: not shown."""
        self.nodes: dict[str, tuple[dict[str, Any], float]] = {}  # node → (announcement, heard monotonic s)
        self.malformed = 0
        self._read: dict[str, tuple[list[Any], float]] = {}  # "groups" / "venue" → (last leases read, monotonic s)
        self.read_failures = 0

    async def _leases(self, name: str, kv: Any, errors: dict[str, str]) -> list[Any]:
        """Read a lease bucket, bounded by :data:`READ_TIMEOUT_S`; if it cannot be read now (its stream electing
        a leader after a server's loss, no server at all), the last leases read, with the error and their age in
        ``errors`` (the operator's page must answer exactly then)."""
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                leases = await read_leases(kv)
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            self.read_failures += 1
            leases, read_s = self._read.get(name, ([], None))
            errors[name] = (f"{type(exc).__name__}: {exc or 'no answer'}; showing the leases read "
                            + (f"{time.monotonic() - read_s:.1f} s ago" if read_s is not None else "never"))
            _log.info("cluster_leases_unread", bucket=name, error_type=type(exc).__name__)
            return leases
        self._read[name] = (leases, time.monotonic())
        return leases

    async def start(self) -> None:
        """Subscribe to every node's announcements."""
        await self.bus.subscribe(subjects.ops_node_any(), self._on_announcement)

    def _on_announcement(self, msg: Any) -> None:
        try:
            with schemas.actor.NodeAnnouncement.from_bytes(
                    msg.data, traversal_limit_in_words=64 * 1024, nesting_limit=schemas.NESTING_LIMIT) as message:
                found = {"node": message.node, "role": message.role, "host": message.host, "pid": message.pid,
                         "startedTsNs": message.startedTsNs, "sentTsNs": message.sentTsNs,
                         "loopLagNs": message.loopLagNs, "groupsLed": list(message.groupsLed),
                         "groupsFollowed": list(message.groupsFollowed)}
        except Exception:  # noqa: BLE001 - whatever a peer sends: counted, never crashed on
            self.malformed += 1
            return
        if found["node"]:
            self.nodes[found["node"]] = (found, time.monotonic())

    async def describe(self) -> dict[str, Any]:
        """Return ``{"nodes": [...], "groups": [...]}`` for ``GET /admin/cluster`` (coroutine).

        Each node: name, role, host, pid, ``uptimeS``, ``lagMs`` (its loop's lag), ``heardAgoS``,
        ``state`` (``up``, or ``silent`` after :data:`SILENT_AFTER_S`), groups led and followed. Each
        group: ``group``, ``leader`` (node name), ``epoch``, ``revision``, ``heldS`` (since taken) and
        ``ageS`` (since last renewed): the lease's age. ``venueHost`` (``None`` until the bucket is bound):
        the ``active`` venue-host node (``None``: nobody holds the lease), its ``epoch``, ``heldS``, ``ageS``,
        and the ``standby`` venue-host nodes heard. ``leaseErrors``: ``{"groups" | "venue": reason}`` for a
        bucket that could not be read now (its leases are then the last read, as old as the reason says).
        """
        now_s, now_ns = time.monotonic(), time.time_ns()
        nodes = []
        for name, (found, heard_s) in sorted(self.nodes.items()):
            ago_s = now_s - heard_s
            nodes.append({"node": name, "role": found["role"], "host": found["host"], "pid": found["pid"],
                          "uptimeS": round((now_ns - found["startedTsNs"]) / 1e9, 3),
                          "lagMs": round(found["loopLagNs"] / 1e6, 3), "heardAgoS": round(ago_s, 3),
                          "state": "up" if ago_s < SILENT_AFTER_S else "silent",
                          "groupsLed": found["groupsLed"], "groupsFollowed": found["groupsFollowed"]})
        groups = []
        errors: dict[str, str] = {}
        if self.kv is not None:
            for lease in await self._leases("groups", self.kv, errors):
                groups.append({"group": lease.group, "leader": lease.node, "epoch": lease.epoch,
                               "revision": lease.revision,
                               "heldS": round((now_ns - lease.taken_ts_ns) / 1e9, 3) if lease.taken_ts_ns else None,
                               "ageS": round((now_ns - lease.renewed_ts_ns) / 1e9, 3)
                               if lease.renewed_ts_ns else None})
        venue_host = None
        if self.venue_kv is not None:
            lease = next((lease for lease in await self._leases("venue", self.venue_kv, errors)
                          if lease.group == VENUE_LEASE_KEY), None)
            venue_host = {"active": lease.node if lease else None, "epoch": lease.epoch if lease else None,
                          "heldS": round((now_ns - lease.taken_ts_ns) / 1e9, 3) if lease and lease.taken_ts_ns
                          else None,
                          "ageS": round((now_ns - lease.renewed_ts_ns) / 1e9, 3) if lease and lease.renewed_ts_ns
                          else None,
                          "standby": sorted(name for name, (found, _) in self.nodes.items()
                                            if found["role"] == "venue-host" and (lease is None or name != lease.node))}
        return {"nodes": nodes, "groups": groups, "venueHost": venue_host, "leaseErrors": errors}


__all__ = ["ANNOUNCE_INTERVAL_S", "ClusterView", "NodeAnnouncer", "SILENT_AFTER_S", "default_node_name",
           "encode_announcement"]
