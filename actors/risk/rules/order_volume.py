"""OrderVolumeRule (``risk/order_volume/<account>``): volume of one order.

Source: vn.py risk manager, order size limit (1.x ``order_size_limit`` 100
lots; 2.0 ``OrderSizeRule`` 500 lots).
"""

from __future__ import annotations

from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection


class OrderVolumeRule(RiskRule):
    """Refuse an order of more than ``limit`` lots."""

    rule = "order_volume"
    defaults = {"limit": 500.0}

    def check(self, order) -> Rejection | None:
        """Compare the order's volume (lots) with the limit."""
        volume = order.volumeLots
        if volume > self.limits["limit"]:
            return self.rejection("limit", volume, f"{volume:g} lots over the {self.limits['limit']:g}-lot limit")
        return None


__all__ = ["OrderVolumeRule"]
