"""TradeLimitRule (``risk/trade_limit/<account>``): traded volume per trading day, working orders included.

Source: vn.py risk manager 1.x, trade limit (``trade_limit`` 1,000 lots per
day). vn.py compares only what has traded, so three orders of 4 lots all pass
a limit of 5 while none has filled; here an order counts from the moment this
rule approves it (as ``active_order`` counts in-flight orders): its lots not
yet filled count as working until it fills or is ``released`` (final, or
refused by another rule), and each fill moves lots from working to traded.
"""

from __future__ import annotations

from actors.risk._rule import RiskRule, trading_day
from actors.risk.rejection import Rejection


class TradeLimitRule(RiskRule):
    """Refuse an order that could take the day's volume past ``limit`` lots.

    Observed value: lots traded today + lots of the working orders + this order's lots (as if all fill).
    """

    rule = "trade_limit"
    defaults = {"limit": 1000.0}
    observes = frozenset({"filled", "released"})
    stateful = True

    def reset(self) -> None:
        """Forget the day's fills and the working orders."""
        self.day = 0
        self.traded = 0.0
        self.working: dict[str, float] = {}   # client order id → lots not yet filled
        self.working_lots = 0.0

    def _roll(self, ts_ns: int) -> None:
        day = trading_day(ts_ns)
        if day != self.day:
            self.day, self.traded = day, 0.0

    def _set_working(self, client_order_id: str, lots: float) -> None:
        self.working_lots -= self.working.pop(client_order_id, 0.0)
        if lots > 0:
            self.working[client_order_id] = lots
            self.working_lots += lots
        if not self.working:
            self.working_lots = 0.0   # no rounding residue survives the last working order

    def check(self, order) -> Rejection | None:
        """Compare traded + working + this order's volume with the limit; count the order as working."""
        self._roll(order.tsNs)
        volume = order.volumeLots
        observed = self.traded + self.working_lots + volume
        if observed > self.limits["limit"]:
            return self.rejection("limit", observed, f"{self.traded:g} lots traded today + {self.working_lots:g} "
                                  f"working + {volume:g} would pass the {self.limits['limit']:g}-lot daily limit")
        self._set_working(order.clientOrderId, volume)
        return None

    def observe(self, kind: str, update) -> None:
        """A fill moves lots from working to traded; a released order stops counting as working."""
        if kind == "released":
            self._set_working(update.clientOrderId, 0.0)
            return
        self._roll(update.tsNs)
        self.traded += update.volumeLots
        left = self.working.get(update.clientOrderId)
        if left is not None:
            self._set_working(update.clientOrderId, left - update.volumeLots)

    def replay(self, update) -> None:
        """Add a journaled order's filled volume; count what an active one has left as working."""
        self._roll(update.tsNs)
        self.traded += update.tradedLots
        if update.active:
            self._set_working(update.clientOrderId, update.volumeLots - update.tradedLots)

    def observed(self) -> float:
        """Lots traded today plus lots working."""
        return self.traded + self.working_lots


__all__ = ["TradeLimitRule"]
