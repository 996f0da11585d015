"""OrderFlowRule (``risk/order_flow/<account>``): orders per second.

Source: vn.py risk manager 1.x, order flow limit (``order_flow_limit`` 50 per
``order_flow_clear`` 1 s). An order is counted when this rule approves it (at
submission, before it is sent), so a burst cannot outrun the count.
"""

from __future__ import annotations

from collections import deque

from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection


class OrderFlowRule(RiskRule):
    """Refuse an order when more than ``limit`` orders were approved within ``window_s`` seconds.

    Limits: ``limit`` (orders per window), ``window_s`` (seconds).
    """

    rule = "order_flow"
    defaults = {"limit": 50.0, "window_s": 1.0}
    stateful = True

    def reset(self) -> None:
        """Forget the approval times."""
        self.times_ns: deque[int] = deque()

    def _trim(self, now_ns: int) -> None:
        horizon = now_ns - int(self.limits["window_s"] * 1e9)
        times = self.times_ns
        while times and times[0] <= horizon:
            times.popleft()

    def check(self, order) -> Rejection | None:
        """Count this order into the window; refuse it past the limit."""
        now_ns = order.tsNs
        self._trim(now_ns)
        observed = len(self.times_ns) + 1
        if observed > self.limits["limit"]:
            return self.rejection("limit", observed,
                                  f"{observed} orders within {self.limits['window_s']:g} s, "
                                  f"limit {self.limits['limit']:g}")
        self.times_ns.append(now_ns)
        return None

    def replay(self, update) -> None:
        """Count a journaled order created within the window."""
        self.times_ns.append(update.tsNs)

    def observed(self) -> float:
        """Orders approved within the window."""
        import time

        self._trim(time.time_ns())
        return float(len(self.times_ns))


__all__ = ["OrderFlowRule"]
