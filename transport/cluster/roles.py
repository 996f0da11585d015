"""What each node role runs and how it is wired to NATS (transport/README.md, "NATS").

* ``all`` (default): vn.py, the order path, GroupActors and sessions; with
  NATS it also publishes ``md.agg.33ms.<group>`` and answers ``md.snap.<group>``.
* ``venue-host``: vn.py and the order path, no GroupActors; publishes
  ``md.batch.<ex>.<group>``, serves ``ops.tickresync``, ``order.submit.*`` and
  ``algo.command.*``, publishes ``order.update.<account>`` and
  ``algo.progress.1s.<job>``, writes the ``AUDIT`` stream.
* ``aggregator``: GroupActors of its shard (``--groups``, default every
  group) fed by ``md.batch.*``; publishes ``md.agg.33ms.<group>`` for the
  groups whose lease it holds (transport/cluster/leases.py): any number of
  aggregators may serve the same groups, one leads each, the others keep
  their GroupActors warm and take over when the leader's lease expires.
* ``edge``: sessions (the WebSocket edge) with RemoteGroupActors
  (``md.agg.33ms.>``), RemoteOrderActors (``order.submit.<account>``,
  ``order.update.*``) and a RemoteAlgoHostActor (``algo.command.<account>``,
  ``algo.progress.1s.<job>`` of the jobs its sessions command).

The names before 0.2.0, ``gateway`` (now ``edge``) and ``gateway-host`` (now
``venue-host``), are accepted for one more release: :func:`canonical_role`
maps them to the new names with a ``DeprecationWarning`` and a
``role_name_deprecated`` log line. "Gateway" is kept for the vn.py gateway
(the venue adapter class, ``[desk] gateway``).

:class:`RoleLinks` builds the NATS side of a :class:`~transport.process.app.Desk`
for its role: the vn.py bridge's sink on a venue-host, the actor that
stands in for the bridge on an aggregator, an edge node's ``orders`` subtree,
and, once the tree runs, the publishers and subscribers. Every node with NATS
announces itself on ``ops.node.<node>`` and keeps the cluster view
(transport/cluster/membership.py) that ``GET /admin/cluster`` shows.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import TYPE_CHECKING, Any

import nats.errors
import structlog

from actors import ActorRuntime, ChildSpec
from actors.market.remote_group import DEFAULT_SOURCE_TIMEOUT_S
from transport.errors import ConfigError
from transport.cluster.leases import DEFAULT_LEASE_TTL_S, GROUP_HOLD_UNANSWERED_S, LEASE_BUCKET, LeaseKeeper
from transport.cluster.membership import ClusterView, NodeAnnouncer, default_node_name
from transport.cluster.nats_algos import AlgoEdgeLink, AlgoHost
from transport.cluster.nats_bus import NatsBus
from transport.cluster.nats_market import MarketPublisher, MarketSubscriber
from transport.cluster.nats_orders import OrderEdgeLink, OrderHost
from transport.cluster.nats_ticks import TickPublisher, TickSubscriber
from transport.cluster.order_stream import DEFAULT_STREAM_MAX_AGE_S, ReplicatedJournal
from transport.cluster.venue_standby import VENUE_LEASE_BUCKET, ActiveServices, VenueHostLease

if TYPE_CHECKING:
    from transport.venue.vnpy_bridge import VnpyBridge

_log = structlog.get_logger("transport.cluster.roles")

ROLES = ("all", "edge", "aggregator", "venue-host")
VNPY_ROLES = ("all", "venue-host")
"""Roles that run vn.py's MainEngine, the simulator gateway and the order path."""
DEPRECATED_ROLES = {"gateway": "edge", "gateway-host": "venue-host"}
"""Role names before 0.2.0 → their new names; accepted until 0.3.0 (issue 13: "gateway" is the vn.py gateway)."""


def canonical_role(role: str) -> str:
    """Return the role's current name: a deprecated name mapped to its new one, any other unchanged.

    A deprecated name (:data:`DEPRECATED_ROLES`) issues a ``DeprecationWarning``
    (``warnings.warn``) and logs ``role_name_deprecated`` (warning) with
    ``role`` and ``replacement``. Unknown names are returned as given, for
    :func:`check_role` to refuse.

    Args:
        role: a node role as configured (``--role``, ``[desk] role``, ``DeskConfig.role``).
    """
    replacement = DEPRECATED_ROLES.get(role)
    if replacement is None:
        return role
    warnings.warn(f"node role {role!r} is deprecated and will be removed in 0.3.0: use {replacement!r}",
                  DeprecationWarning, stacklevel=2)
    _log.warning("role_name_deprecated", role=role, replacement=replacement)
    return replacement


def check_role(role: str, nats: tuple[str, ...], groups: tuple[str, ...] = ()) -> None:
    """Refuse a role that cannot work as configured.

    Raises:
        ConfigError: unknown role; a role other than ``all`` without NATS seeds;
            ``groups`` on a role that runs no aggregators.
    """
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "edge" and not nats:
        raise ConfigError("role 'edge' needs --nats: its groups come from aggregating nodes")
    if role != "all" and not nats:
        raise ConfigError(f"role {role!r} needs --nats: it talks to the other nodes through NATS")
    if groups and role != "aggregator":
        raise ConfigError("--groups shards groups over aggregator nodes: only for role 'aggregator'")


class RoleLinks:
    """The NATS links of one node, by role.

    Args:
        runtime: the actor runtime.
        bus: a connected :class:`NatsBus`, or ``None`` (an ``all`` node without NATS).
        role: one of :data:`ROLES`.
        groups: an aggregator's shard (empty: every group).
        group_args: GroupActor args (window_ms ...), the ``[market]`` table; also ``lease_ttl_s`` (an
            aggregator's group lease TTL) and ``source_timeout_s`` (an edge node's silence → ``sourceDown``).
        accounts: the desk's strategy accounts (an edge node's ``orders`` subtree).
        order_timeout_s: an edge node's order request timeout, seconds.
        node: this node's name in announcements and leases; default ``<role>-<host>-<pid>``.
        lease_ttl_s: an aggregator's group lease TTL, seconds (renewed every quarter of it), unless
            ``group_args`` gives one.
        venue_lease_ttl_s: the venue-host lease TTL, seconds (transport/cluster/venue_standby.py).
        stream_max_age_s: the ``ORDERS`` stream's max age, seconds (transport/cluster/order_stream.py).
    """

    def __init__(self, runtime: ActorRuntime, bus: NatsBus | None, role: str, *, groups: tuple[str, ...] = (),
                 group_args: dict[str, Any] | None = None, accounts: tuple[str, ...] = (),
                 order_timeout_s: float = 3.0, node: str = "", lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
                 venue_lease_ttl_s: float = DEFAULT_LEASE_TTL_S,
                 stream_max_age_s: float = DEFAULT_STREAM_MAX_AGE_S) -> None:
        self.runtime = runtime
        self.bus = bus
        self.role = role
        self.accounts = accounts
        self.node = node or default_node_name(role)
        market = group_args or {}
        self.lease_ttl_s = float(market.get("lease_ttl_s", lease_ttl_s))
        self.venue_lease_ttl_s = venue_lease_ttl_s
        self.stream_max_age_s = stream_max_age_s
        self.leases: LeaseKeeper | None = None
        self.venue_lease: VenueHostLease | None = None
        self.active_services: ActiveServices | None = None
        """What only the active venue-host serves (a venue-host with a standby)."""
        """A venue-host's lease, standby and replicated journal (:meth:`order_journal`)."""
        self._venue_task: asyncio.Task | None = None
        self.announcer: NodeAnnouncer | None = None
        self.cluster: ClusterView | None = None
        self._bind_task: asyncio.Task | None = None
        self.ticks: TickPublisher | TickSubscriber | None = None
        self.market: MarketPublisher | MarketSubscriber | None = None
        self.orders: OrderHost | OrderEdgeLink | None = None
        self.algos: AlgoHost | AlgoEdgeLink | None = None
        """The algo commands and progress across NATS (a venue-host's is set in :meth:`start`, with the engine)."""
        if bus is None:
            return
        if role == "venue-host":
            self.ticks = TickPublisher(bus, active=lambda: self.venue_lease is None or self.venue_lease.epoch() > 0)
            self.orders = OrderHost(runtime, bus, audit_replicas=self._replicas(), serve=False)
        elif role == "aggregator":
            self.ticks = TickSubscriber(runtime, bus, groups, group_args,
                                        float(market.get("source_timeout_s", DEFAULT_SOURCE_TIMEOUT_S)))
            self.market = MarketPublisher(runtime, bus, leases=self._lease_epoch)
        elif role == "edge":
            source_timeout_s = float(market.get("source_timeout_s", DEFAULT_SOURCE_TIMEOUT_S))
            self.market = MarketSubscriber(runtime, bus, source_timeout_s,
                                           reset_after_s=max(source_timeout_s, self.lease_ttl_s))
            self.orders = OrderEdgeLink(runtime, bus, order_timeout_s)
            self.algos = AlgoEdgeLink(runtime, bus, order_timeout_s)
        else:
            self.market = MarketPublisher(runtime, bus)

    def _replicas(self) -> int:
        """Replicas of the node's streams and buckets: min(3, the seeds given)."""
        return 3 if self.bus is not None and len(self.bus.servers) >= 3 else 1

    def order_journal(self, journal: Any) -> tuple[Any, ReplicatedJournal | None]:
        """Return the order actors' journal and send fence: on a venue-host, a :class:`ReplicatedJournal` over
        ``journal`` as both (active/standby, transport/cluster/venue_standby.py); else ``journal`` and ``None``.

        Args:
            journal: the node's :class:`~actors.orders.journal.OrderJournal` (started).
        """
        if not isinstance(self.orders, OrderHost):
            return journal, None
        lease: list[VenueHostLease] = []
        replicated = ReplicatedJournal(journal, self.bus, self.node, lambda: lease[0].epoch() if lease else 0,
                                       replicas=self._replicas(), max_age_s=self.stream_max_age_s)
        self.orders.replicated = replicated
        self.active_services = ActiveServices(self.orders)
        self.venue_lease = VenueHostLease(self.runtime, replicated, self.active_services, self.node, self.accounts,
                                          ttl_s=self.venue_lease_ttl_s)
        lease.append(self.venue_lease)
        return replicated, replicated

    def tick_sink(self) -> Any:
        """Return the vn.py bridge's ``sink`` (a venue-host publishes groups), or ``None``."""
        return self.ticks.publish_group if isinstance(self.ticks, TickPublisher) else None

    def market_source(self) -> Any:
        """Return what the ``market-source`` actor serves resyncs from on a node without vn.py, or ``None``."""
        return self.ticks if isinstance(self.ticks, TickSubscriber) else None

    def order_path(self) -> list[ChildSpec]:
        """Return the ``orders`` subtree of an edge node (RemoteOrderActors), else ``[]``."""
        if isinstance(self.orders, OrderEdgeLink):
            return [self.orders.orders_spec(self.accounts)]
        return []

    def algo_host_spec(self) -> ChildSpec | None:
        """Return the ``algos`` actor of an edge node (RemoteAlgoHostActor), else ``None``."""
        return self.algos.host_spec() if isinstance(self.algos, AlgoEdgeLink) else None

    async def start(self, bridge: VnpyBridge | None, algos: Any = None) -> None:
        """Start publishers and subscribers once the actor tree runs (loop thread).

        Args:
            bridge: the node's :class:`~transport.venue.vnpy_bridge.VnpyBridge`, or ``None``.
            algos: the node's :class:`~transport.venue.vnpy_algos.DeskAlgos` (a venue-host serves its commands
                and publishes its progress), or ``None``.
        """
        if self.bus is not None and self.role == "venue-host" and algos is not None:
            self.algos = AlgoHost(self.bus, algos)
        if isinstance(self.algos, AlgoHost) and self.active_services is not None:
            await self.algos.start(serve=False)   # served while this host holds the venue-host lease
            await self.active_services.add(self.algos)
        elif self.algos is not None:
            await self.algos.start()
        if self.market is not None:
            await self.market.start()
        if isinstance(self.market, MarketPublisher):
            source = bridge if bridge is not None else self.ticks
            source.group_listeners.append(self.market.add_group)
        if isinstance(self.ticks, TickPublisher):
            await self.ticks.start(bridge)
        elif self.ticks is not None:
            await self.ticks.start()
        if self.orders is not None:
            await self.orders.start()
        if self.bus is None:
            return
        if self.role == "aggregator":
            publisher = self.market
            self.leases = LeaseKeeper(None, self.node, lambda: list(publisher.state.groups), on_gained=publisher.lead,
                                      ttl_s=self.lease_ttl_s, hold_unanswered_s=GROUP_HOLD_UNANSWERED_S)
        self.announcer = NodeAnnouncer(self.bus, self.node, self.role, self._lease_groups)
        self.announcer.start()
        self.cluster = ClusterView(self.bus)
        await self.cluster.start()
        self._bind_task = asyncio.get_running_loop().create_task(self._bind_leases(), name="lease-bucket")
        self._venue_task = asyncio.get_running_loop().create_task(self._bind_venue_lease(), name="venue-lease")

    async def _bucket(self, bucket: str, ttl_s: float) -> Any:
        """Bind a KV bucket, retrying while JetStream elects its meta leader (coroutine)."""
        while True:
            try:
                return await self.bus.key_value(bucket, ttl_s, replicas=self._replicas())
            except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
                _log.warning("lease_bucket_unavailable", bucket=bucket, error_type=type(exc).__name__)
                await asyncio.sleep(ttl_s / 2)

    async def _bind_leases(self) -> None:
        """Bind the lease bucket (JetStream may still be electing its meta leader: retry), then start electing."""
        kv = await self._bucket(LEASE_BUCKET, self.lease_ttl_s)
        self.cluster.kv = kv
        if self.leases is not None:
            self.leases.kv = kv
            self.leases.start()

    async def _bind_venue_lease(self) -> None:
        """Bind the venue-host lease bucket (every node shows who is active); a venue-host follows the
        ``ORDERS`` stream first, then competes for the lease."""
        if self.venue_lease is not None:
            await self.venue_lease.journal.start()
        kv = await self._bucket(VENUE_LEASE_BUCKET, self.venue_lease_ttl_s)
        self.cluster.venue_kv = kv
        if self.venue_lease is not None:
            self.venue_lease.start(kv)

    def _lease_epoch(self, group: str) -> int:
        """This node's lease epoch on ``group`` now (0: not the leader, or no keeper yet)."""
        return self.leases.epoch_of(group) if self.leases is not None else 0

    def _lease_groups(self) -> tuple[list[str], list[str]]:
        if self.leases is None:
            return [], []
        return self.leases.led(), self.leases.followed()

    def groups(self) -> dict[str, int] | None:
        """Return the groups this node serves from NATS or aggregates from NATS; ``None``: ask the bridge."""
        if isinstance(self.ticks, TickSubscriber):
            return self.ticks.groups()
        if isinstance(self.market, MarketSubscriber):
            return self.market.groups()
        return None

    def statistics_dict(self) -> dict[str, Any]:
        """Counters of every link of this node."""
        found: dict[str, Any] = {"role": self.role}
        found["node"] = self.node
        for part in (self.ticks, self.orders, self.algos, self.leases, self.venue_lease):
            if part is not None:
                found.update(part.statistics_dict())
        if isinstance(self.market, MarketPublisher):
            found.update(frames_published=self.market.published, frames_not_leader=self.market.not_leader,
                         frames_stale_epoch=self.market.stale_epoch)
        elif isinstance(self.market, MarketSubscriber):
            found.update(frames_received=self.market.received,
                         frames_stale_epoch_dropped=self.market.stale_epoch_dropped,
                         group_epoch_resets=self.market.epoch_resets,
                         group_epochs=dict(self.market.epochs))
        if self.bus is not None:
            found["bus"] = dict(self.bus.statistics().__dict__)
        return found

    async def release_venue(self) -> None:
        """A venue-host that stops: stop serving and sending, and give the venue-host lease up (a delete), so a
        standby takes over at once rather than after the TTL; idempotent, nothing on other roles."""
        if self.venue_lease is not None:
            await self.venue_lease.close()

    async def close(self) -> None:
        """Give the venue-host lease up (a standby takes over at once), cancel the order links', lease
        keeper's and announcer's tasks (held group leases then expire)."""
        for task in (self._bind_task, self._venue_task):
            if task is not None:
                task.cancel()
        for part in (self.venue_lease, self.leases, self.announcer, self.orders, self.algos, self.ticks):
            if part is not None:
                await part.close()


__all__ = ["DEPRECATED_ROLES", "ROLES", "RoleLinks", "VNPY_ROLES", "canonical_role", "check_role"]
