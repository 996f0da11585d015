"""What became of one account's orders, counted as the order actor tells the traders (``/metrics``).

An :class:`OrderTally` belongs to one :class:`~actors.orders.order.OrderActor`
and counts the order events it pushes to the account's sessions, so the
figures an operator reads at ``/metrics`` are exactly what the traders were
shown: ``orderAccepted``, ``orderRejected`` (by the rule named in the
rejection: a risk rule, ``validity``, ``journal``, ``gateway``,
``exchange``), ``orderFilled`` (fills and lots), cancellations (the
``orderAccepted`` / ``orderUpdated`` that makes an order ``cancelled``; an
order becomes final once, so it counts once) and ``outcomeUnknown``. Orders
submitted are the order actor's own ``orders`` figure (new client order ids).

Counts start at zero with each incarnation of the order actor, as every
actor statistic does (Prometheus counters reset with the process; a restart
shows as a reset). Loop thread only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from actors.orders.record import OrderRecord


@dataclass(frozen=True)
class OrderTallyStatistics:
    """One account's order outcomes since the order actor started.

    Attributes:
        accepted: orders the exchange accepted (``orderAccepted``).
        rejected: rule name → orders rejected by it (``orderRejected``).
        fills: fills (``orderFilled``, deduplicated by vt_tradeid).
        filled_lots: lots filled, sum of the fills' volumes.
        cancelled: orders that ended ``cancelled``.
        outcome_unknown: orders replied or pushed ``outcomeUnknown``.
    """

    accepted: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)
    fills: int = 0
    filled_lots: float = 0.0
    cancelled: int = 0
    outcome_unknown: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-ready values (the admin API's actor stats)."""
        return {"accepted": self.accepted, "rejected": dict(self.rejected), "fills": self.fills,
                "filled_lots": self.filled_lots, "cancelled": self.cancelled,
                "outcome_unknown": self.outcome_unknown}


class OrderTally:
    """Counts the order events one order actor pushes (see the module docstring)."""

    def __init__(self) -> None:
        self._accepted = self._fills = self._cancelled = self._unknown = 0
        self._filled_lots = 0.0
        self._rejected: dict[str, int] = {}

    def observe(self, member: str, record: OrderRecord, extra: Mapping[str, Any]) -> None:
        """Count one pushed order event.

        Args:
            member: the ServerMessage member (``orderAccepted``, ``orderRejected``, ``orderUpdated``,
                ``orderFilled``, ``outcomeUnknown``).
            record: the order after the change.
            extra: the event's own fields; ``volumeLots`` (lots) of a fill is read.
        """
        if member == "orderFilled":
            self._fills += 1
            self._filled_lots += float(extra.get("volumeLots", 0.0))
        elif member == "orderRejected":
            rule = record.rejection.rule if record.rejection is not None else "unknown"
            self._rejected[rule] = self._rejected.get(rule, 0) + 1
        elif member == "outcomeUnknown":
            self._unknown += 1
        elif member in ("orderAccepted", "orderUpdated"):
            if member == "orderAccepted":
                self._accepted += 1
            if record.state == "cancelled":
                self._cancelled += 1

    def statistics(self) -> OrderTallyStatistics:
        """Return the counts now (a frozen value)."""
        return OrderTallyStatistics(self._accepted, dict(self._rejected), self._fills, self._filled_lots,
                                    self._cancelled, self._unknown)


__all__ = ["OrderTally", "OrderTallyStatistics"]
