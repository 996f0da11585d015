"""The root of the desk's actor tree (actors/README.md).

```
root (one_for_one)
├── market-source  MarketSourceActor: resyncs and watchlist edits from the vn.py bridge
├── market      MarketSupervisor ─ group/<group>   GroupActor, added by the bridge
├── ticks       TickDetailActor: every tick of the contracts open in detail panels
├── sessions    SessionsSupervisor ─ session/<id>  SessionActor, added by the socket handler
├── accounts    AccountsSupervisor ─ <account>      AccountActor      (the order path,
├── risk        RiskSupervisor ─ <rule>/<account>   one per rule       actors/orders/tree.py)
└── orders      OrdersSupervisor ─ <account>        OrderActor
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from actors._supervisor import ChildSpec, RestartIntensity, Supervisor
from actors.market_source import MARKET_SOURCE_PATH, MarketSourceActor
from actors.market.supervisor import MarketSupervisor
from actors.market.ticks import TICKS_PATH, TickDetailActor
from actors.sessions.supervisor import SessionsSupervisor
from actors.market.ports import MarketSource


class RootSupervisor(Supervisor):
    """The top of the tree (one_for_one, 5 restarts in 30 s)."""

    intensity = RestartIntensity(max_restarts=5, within_s=30.0)


def desk_children(bridge: MarketSource | None, market_args: Mapping[str, Any] | None = None,
                  order_path: Sequence[ChildSpec] = (), tick_detail: bool = False) -> list[ChildSpec]:
    """Return the root's child specs, in start order.

    Args:
        bridge: the vn.py bridge, handed to the market-source (and ticks) actor; on an
            aggregator node a stand-in that answers resyncs over NATS; ``None``
            on an edge node (no vn.py, no market-source actor).
        market_args: extra context args for the market supervisor.
        order_path: the ``accounts``, ``risk`` and ``orders`` specs
            (:func:`actors.orders.tree.order_path_children`), started after ``sessions``.
        tick_detail: add the ``ticks`` actor (contract detail), which needs the
            vn.py bridge itself (``detail_symbols``), not a stand-in.
    """
    children = [
        ChildSpec("market", MarketSupervisor, dict(market_args or {})),
        ChildSpec("sessions", SessionsSupervisor, {}),
        *order_path,
    ]
    if bridge is not None:
        children.insert(0, ChildSpec(MARKET_SOURCE_PATH, MarketSourceActor, {"bridge": bridge}))
    if tick_detail:
        children.insert(2, ChildSpec(TICKS_PATH, TickDetailActor, {"bridge": bridge}))
    return children


__all__ = ["RootSupervisor", "desk_children"]
