"""DuplicateOrderRule (``risk/duplicate_order/<account>``): the same order again and again.

Source: vn.py risk manager 2.0, ``DuplicateOrderRule`` (10 identical orders).
Identical means same contract, direction, offset, price and volume under
*different* client order ids (a retry with the same id never reaches a rule:
the order actor answers it).
"""

from __future__ import annotations

from collections import deque

from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection


PRUNE_MIN_KEYS = 64
"""Distinct orders remembered before the first prune of those outside the window."""


class DuplicateOrderRule(RiskRule):
    """Refuse the order when more than ``limit`` identical ones were approved within ``window_s``.

    Limits: ``limit`` (orders), ``window_s`` (seconds).
    """

    rule = "duplicate_order"
    defaults = {"limit": 10.0, "window_s": 60.0}
    stateful = True

    def reset(self) -> None:
        """Forget the recent orders."""
        self.recent: dict[tuple, deque[int]] = {}
        self.worst = 0
        self._prune_at = PRUNE_MIN_KEYS

    def _prune(self, horizon: int) -> None:
        """Drop the orders whose every time left the window (they can no longer count). Run when the keys
        doubled since the last prune: amortized O(1) per check, and the dict stays within twice the orders of
        one window instead of growing with every distinct order of the day."""
        self.recent = {key: times for key, times in self.recent.items() if times and times[-1] > horizon}
        self._prune_at = max(PRUNE_MIN_KEYS, 2 * len(self.recent))

    @staticmethod
    def _key(order) -> tuple:
        return (order.vtSymbol, str(order.direction), str(order.offset), order.price, order.volumeLots)

    def check(self, order) -> Rejection | None:
        """Count identical orders within the window, this one included."""
        key = self._key(order)
        times = self.recent.get(key)
        if times is None:
            times = self.recent[key] = deque()
        horizon = order.tsNs - int(self.limits["window_s"] * 1e9)
        if len(self.recent) >= self._prune_at:
            self._prune(horizon)
            times = self.recent.setdefault(key, times)
        while times and times[0] <= horizon:
            times.popleft()
        observed = len(times) + 1
        if observed > self.limits["limit"]:
            return self.rejection("limit", observed, f"{observed} identical orders within "
                                  f"{self.limits['window_s']:g} s, limit {self.limits['limit']:g}")
        times.append(order.tsNs)
        self.worst = max(self.worst, observed)
        return None

    def replay(self, update) -> None:
        """Remember a journaled order."""
        self.recent.setdefault(self._key(update), deque()).append(update.tsNs)

    def observed(self) -> float:
        """Most identical orders seen within one window since start."""
        return float(self.worst)


__all__ = ["DuplicateOrderRule", "PRUNE_MIN_KEYS"]
