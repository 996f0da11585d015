"""What each node role runs and how it is wired to NATS (transport/README.md, "NATS").

* ``all`` (default): vn.py, the order path, GroupActors and sessions; with
  NATS it also publishes ``md.agg.33ms.<group>`` and answers ``md.snap.<group>``.
* ``gateway-host``: vn.py and the order path, no GroupActors; publishes
  ``md.tick.<ex>.<group>``, serves ``ops.tickresync`` and ``order.submit.*``,
  publishes ``order.update.<account>``, writes the ``AUDIT`` stream.
* ``aggregator``: GroupActors of its shard (``--groups``, default every
  group) fed by ``md.tick.*``; publishes ``md.agg.33ms.<group>``.
* ``gateway``: sessions with RemoteGroupActors (``md.agg.33ms.>``) and
  RemoteOrderActors (``order.submit.<account>``, ``order.update.*``).

:class:`RoleLinks` builds the NATS side of a :class:`~transport.process.app.Desk`
for its role: the vn.py bridge's sink on a gateway-host, the actor that
stands in for the bridge on an aggregator, the gateway's ``orders`` subtree,
and, once the tree runs, the publishers and subscribers.
"""

from __future__ import annotations

from typing import Any

from actors import ChildSpec
from transport.errors import ConfigError
from transport.cluster.nats_bus import NatsBus
from transport.cluster.nats_market import MarketPublisher, MarketSubscriber
from transport.cluster.nats_orders import OrderGatewayLink, OrderHost
from transport.cluster.nats_ticks import TickPublisher, TickSubscriber

ROLES = ("all", "gateway", "aggregator", "gateway-host")
VNPY_ROLES = ("all", "gateway-host")
"""Roles that run vn.py's MainEngine, the simulator gateway and the order path."""


def check_role(role: str, nats: tuple[str, ...], groups: tuple[str, ...] = ()) -> None:
    """Refuse a role that cannot work as configured.

    Raises:
        ConfigError: unknown role; a role other than ``all`` without NATS seeds;
            ``groups`` on a role that runs no aggregators.
    """
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if role == "gateway" and not nats:
        raise ConfigError("role 'gateway' needs --nats: its groups come from aggregating nodes")
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
        group_args: GroupActor args (window_ms ...).
        accounts: the desk's strategy accounts (a gateway's ``orders`` subtree).
        order_timeout_s: a gateway's order request timeout, seconds.
    """

    def __init__(self, runtime: Any, bus: NatsBus | None, role: str, *, groups: tuple[str, ...] = (),
                 group_args: dict[str, Any] | None = None, accounts: tuple[str, ...] = (),
                 order_timeout_s: float = 3.0) -> None:
        self.runtime = runtime
        self.bus = bus
        self.role = role
        self.accounts = accounts
        self.ticks: TickPublisher | TickSubscriber | None = None
        self.market: MarketPublisher | MarketSubscriber | None = None
        self.orders: OrderHost | OrderGatewayLink | None = None
        if bus is None:
            return
        if role == "gateway-host":
            self.ticks = TickPublisher(bus)
            self.orders = OrderHost(runtime, bus, audit_replicas=3 if len(bus.servers) >= 3 else 1)
        elif role == "aggregator":
            self.ticks = TickSubscriber(runtime, bus, groups, group_args)
            self.market = MarketPublisher(runtime, bus)
        elif role == "gateway":
            self.market = MarketSubscriber(runtime, bus)
            self.orders = OrderGatewayLink(runtime, bus, order_timeout_s)
        else:
            self.market = MarketPublisher(runtime, bus)

    def tick_sink(self) -> Any:
        """Return the vn.py bridge's ``sink`` (a gateway-host publishes groups), or ``None``."""
        return self.ticks.publish_group if isinstance(self.ticks, TickPublisher) else None

    def market_source(self) -> Any:
        """Return what the ``market-source`` actor serves resyncs from on a node without vn.py, or ``None``."""
        return self.ticks if isinstance(self.ticks, TickSubscriber) else None

    def order_path(self) -> list[ChildSpec]:
        """Return the ``orders`` subtree of a gateway node (RemoteOrderActors), else ``[]``."""
        if isinstance(self.orders, OrderGatewayLink):
            return [self.orders.orders_spec(self.accounts)]
        return []

    async def start(self, bridge: Any) -> None:
        """Start publishers and subscribers once the actor tree runs (loop thread).

        Args:
            bridge: the node's :class:`~transport.venue.vnpy_bridge.VnpyBridge`, or ``None``.
        """
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
        for part in (self.ticks, self.orders):
            if part is not None:
                found.update(part.statistics_dict())
        if self.market is not None:
            found["frames_published" if isinstance(self.market, MarketPublisher) else "frames_received"] = (
                getattr(self.market, "published", None) or getattr(self.market, "received", 0))
        if self.bus is not None:
            found["bus"] = dict(self.bus.statistics().__dict__)
        return found

    async def close(self) -> None:
        """Cancel the order links' tasks."""
        if self.orders is not None:
            await self.orders.close()


__all__ = ["ROLES", "RoleLinks", "VNPY_ROLES", "check_role"]
