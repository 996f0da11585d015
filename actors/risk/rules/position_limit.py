"""PositionLimitRule (``risk/position_limit/<account>``): net position per contract.

Source: the desk's requirements (DESIGN §4: position limit), as the exchanges'
position limits per contract. Orders in flight count as if they fill, so a
burst cannot pass the limit either.
"""

from __future__ import annotations

from collections import defaultdict

from actors.orders.record import Rejection
from actors.risk._rule import RiskRule


def _signed(direction, volume: float) -> float:
    return -volume if str(direction) == "short" else volume


class PositionLimitRule(RiskRule):
    """Refuse an order whose worst-case net position in its contract passes ``limit`` lots.

    Net position: long fills add, short fills subtract. Worst case: the filled
    position plus every open order on the same side, plus this order.
    """

    rule = "position_limit"
    defaults = {"limit": 100.0}
    observes = frozenset({"filled", "released"})
    stateful = True

    def reset(self) -> None:
        """Forget positions and open orders."""
        self.net: defaultdict[str, float] = defaultdict(float)
        self.pending: dict[str, tuple[str, float]] = {}   # client order id → (vt_symbol, signed lots left)

    def _exposure(self, vt_symbol: str, signed: float) -> float:
        same_side = sum(left for symbol, left in self.pending.values()
                        if symbol == vt_symbol and (left > 0) == (signed > 0))
        return abs(self.net[vt_symbol] + same_side + signed)

    def check(self, order) -> Rejection | None:
        """Refuse when the worst-case position passes the limit and the order does not reduce it."""
        signed = _signed(order.direction, order.volumeLots)
        symbol = order.vtSymbol
        observed = self._exposure(symbol, signed)
        if observed > self.limits["limit"] and observed > abs(self.net[symbol]):
            return self.rejection("limit", observed, f"worst-case position {observed:g} lots in {symbol}, "
                                  f"limit {self.limits['limit']:g}")
        self.pending[order.clientOrderId] = (symbol, signed)
        return None

    def observe(self, kind: str, update) -> None:
        """A fill moves lots from the order to the position; a released order stops counting."""
        if kind == "released":
            self.pending.pop(update.clientOrderId, None)
            return
        signed = _signed(update.direction, update.volumeLots)
        self.net[update.vtSymbol] += signed
        entry = self.pending.get(update.clientOrderId)
        if entry is not None:
            symbol, left = entry
            left -= signed
            self.pending[update.clientOrderId] = (symbol, left if left * signed > 0 else 0.0)

    def replay(self, update) -> None:
        """Rebuild the position from a journaled order's fills, and its open remainder."""
        filled = _signed(update.direction, update.tradedLots)
        self.net[update.vtSymbol] += filled
        if update.active:
            self.pending[update.clientOrderId] = (update.vtSymbol,
                                                   _signed(update.direction, update.volumeLots) - filled)

    def observed(self) -> float:
        """Largest absolute net position over the contracts, lots."""
        return max((abs(v) for v in self.net.values()), default=0.0)


__all__ = ["PositionLimitRule"]
