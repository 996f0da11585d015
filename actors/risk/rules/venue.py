"""VenueRule (``risk/venue/<account>``): no order goes to a gateway that is not ready.

Source: the desk's requirements (issue 15: an order for a venue that is not connected is refused at once,
never sent and never left hanging) and vnpy_ctp's own guard (``CtpTdApi`` drops the order events of a
session whose contract query has not finished: ``contract_inited``). A gateway is ready in one state,
``contractsReady``: its trading front logged in and its contracts are known (transport/venue/connection.py
derives the state from the gateway's events). An order is checked against the gateway it is routed to
(actors/orders/routing.py: by contract class or exchange, else the account's first real account).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from actors.orders.routing import route_gateway
from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection

READY_STATE = "contractsReady"
"""The gateway state in which orders go out (transport/venue/connection.py ``READY_STATE``)."""


class VenueStatePort(Protocol):
    """What the rule reads of the venues (transport/venue/connection.py ``VenueConnections`` implements it)."""

    def venue_state(self, gateway_name: str) -> tuple[str, int] | None:
        """Return ``(state, since_ns)`` of a gateway (ns since UNIX epoch), or None when it is not configured."""


def venue_refusal(venues: VenueStatePort, gateway_name: str, limit: float = 1.0) -> Rejection | None:
    """Return the ``venue`` refusal of an order for ``gateway_name``, or ``None`` when it is ``contractsReady``.

    The one place the rule's refusal is worded: the rule's check, and the order actor's ask before its
    contract check (a gateway that never logged in knows no contract; the refusal names the gateway and its
    state rather than "unknown contract"). ``limit`` is the rule's (1: on), carried in the refusal; observed 0.
    """
    known = venues.venue_state(gateway_name)
    if known is None:
        return Rejection(VenueRule.rule, limit, 0.0, f"venue {gateway_name} is not configured: order not sent")
    state, since_ns = known
    if state == READY_STATE:
        return None
    for_s = max(0.0, (time.time_ns() - since_ns) / 1e9) if since_ns else 0.0
    return Rejection(VenueRule.rule, limit, 0.0, f"venue {gateway_name} is {state} (for {for_s:.0f} s), not "
                     f"{READY_STATE}: order not sent")


class VenueRule(RiskRule):
    """Refuse an order while the account's gateway is not ``contractsReady``.

    Context args (beyond :class:`~actors.risk._rule.RiskRule`'s): ``venues`` (a :class:`VenueStatePort`;
    absent: no venue is followed and every order passes), ``gateway_name`` (the vn.py gateway the account's
    orders go to when no route matches), ``real`` and ``route`` (the account's routing rule). Limits: ``limit`` (1: on; 0: off). Observed value: 1 when the gateway is ready, else 0.
    """

    rule = "venue"
    defaults = {"limit": 1.0}

    def setup(self) -> None:
        """Keep the venue port and the account's gateway name."""
        args = self.context.args
        self.venues: Any = args.get("venues")
        self.gateway_name: str = str(args.get("gateway_name", ""))
        self.real: tuple[str, ...] = tuple(args.get("real") or (self.gateway_name,))
        self.route: dict[str, str] = dict(args.get("route") or {})

    def check(self, order) -> Rejection | None:
        """Refuse when the gateway is in any state but ``contractsReady`` (or is not configured)."""
        if self.venues is None or not self.limits["limit"]:
            return None
        return venue_refusal(self.venues, route_gateway(self.real, self.route, str(order.vtSymbol)),
                             self.limits["limit"])

    def observed(self) -> float:
        """1 when the account's gateway is ready (or no venue is followed), else 0."""
        venues = getattr(self, "venues", None)
        if venues is None:
            return 1.0
        known = venues.venue_state(self.gateway_name)
        return 1.0 if known is not None and known[0] == READY_STATE else 0.0


__all__ = ["READY_STATE", "VenueRule", "VenueStatePort", "venue_refusal"]
