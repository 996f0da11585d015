"""ActiveOrderRule (``risk/active_order/<account>``): orders not yet final.

Source: vn.py risk manager, active order limit (1.x ``active_order_limit`` 50;
2.0 ``ActiveOrderRule``). vn.py counts asynchronously, from order events, so
a burst of 10 passed a limit of 3 (measured with vnpy_riskmanager 2.0). Here an order counts
from the moment this rule approves it (in flight, before it is sent) until the
order actor reports it ``released`` (final, or refused by another rule): the
check and the count are one step of one actor, so a burst of 10 against a
limit of 3 approves exactly 3.
"""

from __future__ import annotations

from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection


class ActiveOrderRule(RiskRule):
    """Refuse an order when ``limit`` orders are already active (in flight included)."""

    rule = "active_order"
    defaults = {"limit": 50.0}
    observes = frozenset({"released"})
    stateful = True

    def reset(self) -> None:
        """Forget the active orders."""
        self.active: set[str] = set()

    def check(self, order) -> Rejection | None:
        """Count the order as active, unless that passes the limit."""
        observed = len(self.active) + 1
        if observed > self.limits["limit"]:
            return self.rejection("limit", observed,
                                  f"{observed} active orders (in flight included), limit {self.limits['limit']:g}")
        self.active.add(order.clientOrderId)
        return None

    def observe(self, kind: str, update) -> None:
        """An order became final or was refused: it no longer counts."""
        self.active.discard(update.clientOrderId)

    def replay(self, update) -> None:
        """Count a journaled order that is still active."""
        if update.active:
            self.active.add(update.clientOrderId)

    def observed(self) -> float:
        """Active orders now."""
        return float(len(self.active))


__all__ = ["ActiveOrderRule"]
