"""TradeLimitRule (``risk/trade_limit/<account>``): traded volume per trading day.

Source: vn.py risk manager 1.x, trade limit (``trade_limit`` 1,000 lots per day).
"""

from __future__ import annotations

from actors.orders.record import Rejection
from actors.risk._rule import RiskRule, trading_day


class TradeLimitRule(RiskRule):
    """Refuse an order that could take the day's traded volume past ``limit`` lots.

    The observed value is the day's traded lots plus this order's volume (as if it fills).
    """

    rule = "trade_limit"
    defaults = {"limit": 1000.0}
    observes = frozenset({"filled"})
    stateful = True

    def reset(self) -> None:
        """Forget the day's fills."""
        self.day = 0
        self.traded = 0.0

    def _roll(self, ts_ns: int) -> None:
        day = trading_day(ts_ns)
        if day != self.day:
            self.day, self.traded = day, 0.0

    def check(self, order) -> Rejection | None:
        """Compare traded + this order's volume with the limit."""
        self._roll(order.tsNs)
        observed = self.traded + order.volumeLots
        if observed > self.limits["limit"]:
            return self.rejection("limit", observed, f"{self.traded:g} lots traded today + {order.volumeLots:g} "
                                  f"would pass the {self.limits['limit']:g}-lot daily limit")
        return None

    def observe(self, kind: str, update) -> None:
        """Add one fill's volume."""
        self._roll(update.tsNs)
        self.traded += update.volumeLots

    def replay(self, update) -> None:
        """Add a journaled order's filled volume."""
        self._roll(update.tsNs)
        self.traded += update.tradedLots

    def observed(self) -> float:
        """Lots traded today."""
        return self.traded


__all__ = ["TradeLimitRule"]
