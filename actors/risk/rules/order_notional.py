"""OrderNotionalRule (``risk/order_notional/<account>``): value of one order.

Source: vn.py risk manager 2.0, ``OrderSizeRule`` notional limit (1,000,000):
price × volume × contract multiplier, quote currency.
"""

from __future__ import annotations

from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection


class OrderNotionalRule(RiskRule):
    """Refuse an order worth more than ``limit`` (quote currency).

    A market order (price 0) is valued at the last price.
    """

    rule = "order_notional"
    defaults = {"limit": 1_000_000.0}

    def check(self, order) -> Rejection | None:
        """Compare price × volume × multiplier with the limit."""
        price = order.price or order.lastPrice
        multiplier = order.multiplier or 1.0
        notional = abs(price) * order.volumeLots * multiplier
        if notional > self.limits["limit"]:
            return self.rejection("limit", notional,
                                  f"notional {notional:,.0f} over the {self.limits['limit']:,.0f} limit")
        return None


__all__ = ["OrderNotionalRule"]
