"""PriceBandRule (``risk/price_band/<account>``): fat-finger guard around the last price.

Source: the desk's requirements (price band around the last price).
"""

from __future__ import annotations

import math

from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection


class PriceBandRule(RiskRule):
    """Refuse a limit order priced more than ``limit`` percent away from the last price.

    Limits: ``limit`` (percent of the last price), ``require_last`` (1: refuse
    when no tick was seen yet, as limit 1 against observed 0 last prices; 0:
    approve then). Market orders are not checked.
    """

    rule = "price_band"
    defaults = {"limit": 5.0, "require_last": 1.0}

    def check(self, order) -> Rejection | None:
        """Compare |price − last| / last, in percent, with the band."""
        if str(order.orderType) == "market":
            return None
        last = order.lastPrice
        if not (last > 0 and math.isfinite(last)):
            if self.limits["require_last"]:
                return self.rejection("require_last", 0.0, f"no last price for {order.vtSymbol} to check the "
                                      f"{self.limits['limit']:g}% band (require_last = 1)")
            return None
        deviation = abs(order.price - last) / last * 100.0
        if deviation > self.limits["limit"]:
            return self.rejection("limit", deviation,
                                  f"price {order.price:g} is {deviation:.2f}% from the last price {last:g}, "
                                  f"band {self.limits['limit']:g}%")
        return None


__all__ = ["PriceBandRule"]
