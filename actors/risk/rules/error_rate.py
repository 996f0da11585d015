"""ErrorRateRule (``risk/error_rate/<account>``): a circuit breaker on gateway rejections.

Source: the desk's requirements (gateway error-rate circuit
breaker). When too many of the recent orders sent were rejected by vn.py or
the exchange, something is wrong (a dead front, a bad setting): stop sending
for ``cooldown_s`` rather than hammer the gateway.
"""

from __future__ import annotations

import time
from collections import deque

from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection


class ErrorRateRule(RiskRule):
    """Open the circuit when ``limit`` percent of the last ``window_s`` seconds' orders were rejected
    by the gateway (with at least ``min_orders`` sent); refuse orders while it is open.

    Limits: ``limit`` (percent), ``min_orders``, ``window_s``, ``cooldown_s`` (seconds).
    """

    rule = "error_rate"
    defaults = {"limit": 50.0, "min_orders": 10.0, "window_s": 60.0, "cooldown_s": 30.0}
    observes = frozenset({"sent", "gatewayRejected"})
    """``sent``: every ``send_order`` call (a local reject included); ``gatewayRejected``: a rejection."""
    stateful = True

    def reset(self) -> None:
        """Forget the recent sends and rejections; close the circuit."""
        self.sent: deque[int] = deque()
        self.rejected: deque[int] = deque()
        self.open_until_ns = 0

    def _rate(self, now_ns: int) -> float:
        horizon = now_ns - int(self.limits["window_s"] * 1e9)
        for times in (self.sent, self.rejected):
            while times and times[0] <= horizon:
                times.popleft()
        return 100.0 * len(self.rejected) / len(self.sent) if self.sent else 0.0

    def check(self, order) -> Rejection | None:
        """Refuse while the circuit is open."""
        now = order.tsNs
        if now < self.open_until_ns:
            rate = self._rate(now)
            return self.rejection("limit", rate, f"circuit open: {rate:.0f}% of recent orders rejected by the "
                                  f"gateway (limit {self.limits['limit']:g}%), closes in "
                                  f"{(self.open_until_ns - now) / 1e9:.0f} s")
        return None

    def observe(self, kind: str, update) -> None:
        """Count a send or a gateway rejection; open the circuit past the limit."""
        now = update.tsNs or time.time_ns()
        (self.sent if kind == "sent" else self.rejected).append(now)
        rate = self._rate(now)
        if len(self.sent) >= self.limits["min_orders"] and rate >= self.limits["limit"] and now >= self.open_until_ns:
            self.open_until_ns = now + int(self.limits["cooldown_s"] * 1e9)
            self.log.warning("circuit_opened", rule=self.rule, scope=self.scope, rate_percent=rate)

    def replay(self, update) -> None:
        """Count a journaled order's send and rejection."""
        if update.sent:
            self.sent.append(update.tsNs)
        if update.rejectedByGateway:
            self.rejected.append(update.tsNs)

    def observed(self) -> float:
        """Percent of the window's sends rejected by the gateway."""
        return self._rate(time.time_ns())


__all__ = ["ErrorRateRule"]
