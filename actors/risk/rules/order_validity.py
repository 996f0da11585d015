"""OrderValidityRule (``risk/order_validity/<account>``): contract, tick grid, whole lots.

Source: vn.py risk manager 2.0, ``OrderValidityRule`` (contract exists, price
on the tick grid, volume valid). The checks themselves are
:func:`actors.orders.validity.check_order`, the one place they live: the order
actor runs it on every new order before any rule (with the contract's full
reference data), and this rule runs it again on what a ``riskCheck`` carries
(price tick; whole lots of 1), so an order that reaches the rules by another
route is held to the same checks.
"""

from __future__ import annotations

from typing import NamedTuple

from actors.orders.validity import check_order
from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection


class _Contract(NamedTuple):
    price_tick: float
    min_volume: float


class OrderValidityRule(RiskRule):
    """Refuse an order for an unknown contract, off the tick grid, or not in whole multiples of ``limit`` lots.

    Limits: ``limit`` (the lot step, lots; 1 = whole lots; a step below 1 counts as 1).
    """

    rule = "order_validity"
    defaults = {"limit": 1.0}

    def check(self, order) -> Rejection | None:
        """Run :func:`~actors.orders.validity.check_order` on the check's fields."""
        return check_order(account=order.account, expected_account=order.account,
                           client_order_id=order.clientOrderId, vt_symbol=order.vtSymbol,
                           order_type=str(order.orderType), price=order.price, volume_lots=order.volumeLots,
                           contract=_Contract(order.priceTick, self.limits["limit"]))


__all__ = ["OrderValidityRule"]
