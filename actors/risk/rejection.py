"""A risk rejection: a value, not an exception (orders.capnp ``Rejection``).

A rule returns a :class:`Rejection` naming the rule, the limit and the observed value, and the order actor
publishes ``OrderRejected``. Source: nautilus_trader's risk engine (a failed check becomes ``OrderDenied``).
The order path imports it from here (actors.orders.record re-exports it); the risk package never imports the
order path for it.
"""

from __future__ import annotations

from typing import NamedTuple


class Rejection(NamedTuple):
    """Why an order was refused: a value, not an exception (orders.capnp ``Rejection``).

    Attributes:
        rule: the rule that refused it (``"active_order"``, ``"order_validity"``), or
            ``"gateway"``, ``"exchange"``, ``"journal"``.
        limit: the limit in the rule's unit (NaN: none).
        observed: the observed value, this order included, same unit (NaN: none).
        reason: human-readable.
    """

    rule: str
    limit: float
    observed: float
    reason: str


__all__ = ["Rejection"]
