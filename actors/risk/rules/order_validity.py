"""OrderValidityRule (``risk/order_validity/<account>``): contract, tick grid, whole lots.

Source: vn.py risk manager 2.0, ``OrderValidityRule`` (contract exists, price
on the tick grid, volume valid).
"""

from __future__ import annotations

import math

from actors.orders.record import Rejection
from actors.risk._rule import RiskRule

_GRID_TOLERANCE = 1e-6
"""Fraction of a tick a price may miss the grid by (floating point)."""


class OrderValidityRule(RiskRule):
    """Refuse an order for an unknown contract, off the tick grid, or not in whole lots.

    Limits: ``limit`` (largest volume step accepted, lots; 1 = whole lots).
    """

    rule = "order_validity"
    defaults = {"limit": 1.0}

    def check(self, order) -> Rejection | None:
        """Check the contract, the tick grid and the lot size."""
        tick = order.priceTick
        if not tick > 0:
            return Rejection(self.rule, math.nan, math.nan, f"unknown contract {order.vtSymbol}")
        volume = order.volumeLots
        step = self.limits["limit"]
        if volume <= 0 or abs(volume / step - round(volume / step)) > _GRID_TOLERANCE:
            return self.rejection("limit", volume, f"volume {volume:g} is not a whole multiple of {step:g} lot")
        if str(order.orderType) != "market":
            steps = order.price / tick
            if abs(steps - round(steps)) > _GRID_TOLERANCE * max(1.0, abs(steps)):
                return Rejection(self.rule, tick, order.price,
                                 f"price {order.price:g} is not on the {tick:g} tick grid")
        return None


__all__ = ["OrderValidityRule"]
