"""The root of the desk's actor tree (DESIGN §1).

```
root (one_for_one)
├── gateway     GatewayActor: resyncs from the vn.py bridge
├── market      MarketSupervisor ─ group/<group>   GroupActor, added by the bridge
└── sessions    SessionsSupervisor ─ session/<id>  SessionActor, added by the socket handler
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors._supervisor import ChildSpec, RestartIntensity, Supervisor
from actors.gateway import GatewayActor
from actors.market.supervisor import MarketSupervisor
from actors.sessions.supervisor import SessionsSupervisor


class RootSupervisor(Supervisor):
    """The top of the tree (one_for_one, 5 restarts in 30 s)."""

    intensity = RestartIntensity(max_restarts=5, within_s=30.0)


def desk_children(bridge: Any, market_args: Mapping[str, Any] | None = None) -> list[ChildSpec]:
    """Return the root's child specs, in start order.

    Args:
        bridge: the vn.py bridge, handed to the gateway actor; ``None`` on a
            gateway node (no vn.py, no gateway actor).
        market_args: extra context args for the market supervisor.
    """
    children = [
        ChildSpec("market", MarketSupervisor, dict(market_args or {})),
        ChildSpec("sessions", SessionsSupervisor, {}),
    ]
    if bridge is not None:
        children.insert(0, ChildSpec("gateway", GatewayActor, {"bridge": bridge}))
    return children


__all__ = ["RootSupervisor", "desk_children"]
