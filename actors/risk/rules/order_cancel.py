"""OrderCancelRule (``risk/order_cancel/<account>``): cancels per trading day, total and per contract.

Source: vn.py risk manager 1.x, order cancel limit (``order_cancel_limit`` 500
per contract per day, checked when a new order is sent) and the exchanges'
cancel-count surveillance (total per day).
"""

from __future__ import annotations

from collections import Counter

from actors.risk._rule import RiskRule, trading_day
from actors.risk.rejection import Rejection


class OrderCancelRule(RiskRule):
    """Refuse new orders once the day's cancels reach ``limit`` (total) or ``per_contract``.

    Limits: ``limit`` (cancels per day, all contracts), ``per_contract`` (cancels per day per contract).
    """

    rule = "order_cancel"
    defaults = {"limit": 5000.0, "per_contract": 500.0}
    observes = frozenset({"cancelRequested"})
    stateful = True

    def reset(self) -> None:
        """Forget the day's cancels."""
        self.day = 0
        self.by_contract: Counter[str] = Counter()
        self.total = 0

    def _roll(self, ts_ns: int) -> None:
        day = trading_day(ts_ns)
        if day != self.day:
            self.day = day
            self.by_contract.clear()
            self.total = 0

    def check(self, order) -> Rejection | None:
        """Refuse when the day's cancel count (total or the contract's) is at its limit."""
        self._roll(order.tsNs)
        if self.total >= self.limits["limit"]:
            return self.rejection("limit", self.total, f"{self.total} cancels today, limit {self.limits['limit']:g}")
        count = self.by_contract[order.vtSymbol]
        if count >= self.limits["per_contract"]:
            return self.rejection("per_contract", count, f"{count} cancels of {order.vtSymbol} today, "
                                  f"limit {self.limits['per_contract']:g} per contract")
        return None

    def observe(self, kind: str, update) -> None:
        """Count one cancel request."""
        self._roll(update.tsNs)
        self.by_contract[update.vtSymbol] += 1
        self.total += 1

    def replay(self, update) -> None:
        """Count a journaled order's cancel, if it was requested today."""
        if update.cancelRequested:
            self.observe("cancelRequested", update)

    def observed(self) -> float:
        """Cancels today, all contracts."""
        return float(self.total)


__all__ = ["OrderCancelRule"]
