"""The order path's subtrees: ``accounts``, ``risk`` and ``orders`` (actors/README.md).

```
accounts   AccountsSupervisor ─ <account>          AccountActor
risk       RiskSupervisor     ─ <rule>/<account>   one rule actor per rule and account
                              ─ <rule>/global      desk-wide rules (the global kill switch)
orders     OrdersSupervisor   ─ <account>          OrderActor
```

Start order matters only for speed: rules start before order actors, so an
order actor's startup replay reaches rules already running (a rule started
later asks for its own replay).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors._supervisor import ChildSpec
from actors.accounts.account import AccountActor
from actors.accounts.supervisor import AccountsSupervisor
from actors.orders.config import OrdersConfig
from actors.risk import GLOBAL_SCOPE
from actors.orders.order import OrderActor
from actors.orders.ports import JournalPort, MarketPort, OrderPort, SendFence
from actors.orders.supervisor import OrdersSupervisor
from actors.paths import rule_child, rule_path
from actors.risk.limits import LimitStore
from actors.risk.rules import RULES
from actors.risk.rules.venue import VenueStatePort
from actors.risk.supervisor import RiskSupervisor

UPDATE_KINDS = ("released", "sent", "filled", "cancelRequested", "gatewayRejected")
"""RiskUpdateKinds sent to observing rules as they happen (the replay kinds go to stateful rules)."""


def order_path_children(config: OrdersConfig, *, journal: JournalPort, limits: LimitStore, port: OrderPort,
                        market: MarketPort, sessions_path: str = "sessions",
                        venues: VenueStatePort | None = None, fence: SendFence | None = None) -> list[ChildSpec]:
    """Return the child specs of ``accounts``, ``risk`` and ``orders``, in start order.

    Args:
        config: accounts, rules, timeouts.
        journal: the :class:`~actors.orders.journal.OrderJournal` (started).
        limits: the :class:`~actors.risk.limits.LimitStore`.
        port: the gateway port (transport/venue/vnpy_orders.py ``OrderBridge``).
        market: the market port (transport/venue/vnpy_bridge.py ``VnpyBridge``).
        sessions_path: the sessions supervisor that fans pushes out.
        venues: the venues' connection states (``venue_state(gateway_name)``; the ``venue`` rule reads them;
            transport/venue/connection.py), or None: every venue presumed ready.
        fence: the venue-host lease and replicated journal of a NATS venue-host with a standby
            (transport/cluster/order_stream.py), or None: orders are sent at once (one process).
    """
    accounts = tuple(spec.account for spec in config.accounts)
    risk: list[ChildSpec] = []
    for rule in config.global_rules:
        risk.append(ChildSpec(rule_child(rule, GLOBAL_SCOPE), RULES[rule],
                              {"scope": GLOBAL_SCOPE, "limits": limits, "accounts": accounts}))
    orders: list[ChildSpec] = []
    books: list[ChildSpec] = []
    for spec in config.accounts:
        rules = [(rule, spec.account) for rule in config.rules] + [(rule, GLOBAL_SCOPE) for rule in config.global_rules]
        for rule in config.rules:
            risk.append(ChildSpec(rule_child(rule, spec.account), RULES[rule],
                                  {"scope": spec.account, "limits": limits, "accounts": accounts,
                                   "venues": venues, "gateway_name": spec.real[0], "real": spec.real,
                                   "route": dict(spec.route)}))
        observers: dict[str, tuple[str, ...]] = {
            kind: tuple(rule_path(rule, scope) for rule, scope in rules if kind in RULES[rule].observes)
            for kind in UPDATE_KINDS
        }
        stateful = tuple(rule_path(rule, scope) for rule, scope in rules
                         if RULES[rule].stateful and scope != GLOBAL_SCOPE)
        orders.append(ChildSpec(spec.account, OrderActor, {
            "account": spec.account, "gateway_name": spec.real[0], "real": spec.real,
            "route": dict(spec.route), "port": port, "market": market,
            "journal": journal, "config": config, "sessions_path": sessions_path,
            "rules": tuple((rule, rule_path(rule, scope)) for rule, scope in rules),
            "observers": observers, "stateful": stateful,
            "venues": venues if "venue" in config.rules else None, "limits": limits, "fence": fence,
        }))
        books.append(ChildSpec(spec.account, AccountActor, {
            "account": spec.account, "trader": spec.trader, "real": spec.real, "capital": spec.capital,
            "market": market, "port": port,
            "rules": tuple(rule_path(rule, scope) for rule, scope in rules),
            "status_interval_s": config.status_interval_s, "sessions_path": sessions_path,
        }))
    return [
        ChildSpec("accounts", AccountsSupervisor, {"children": books}),
        ChildSpec("risk", RiskSupervisor, {"children": risk}),
        ChildSpec("orders", OrdersSupervisor, {"children": orders}),
    ]


def observer_paths(children: list[ChildSpec]) -> Mapping[str, Any]:
    """Return the ``orders`` specs' context args by account (tests and tools)."""
    orders = next(spec for spec in children if spec.name == "orders")
    return {spec.name: spec.args for spec in orders.args["children"]}


__all__ = ["UPDATE_KINDS", "order_path_children", "observer_paths"]
