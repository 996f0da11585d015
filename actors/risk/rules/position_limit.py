"""PositionLimitRule (``risk/position_limit/<account>``): net position per contract.

Source: the desk's requirements (position limit), as the exchanges'
position limits per contract. Orders in flight count as if they fill, so a
burst cannot pass the limit either.
"""

from __future__ import annotations

from collections import defaultdict

from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection


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
        self._sides: dict[tuple[str, bool], list] = {}    # (vt_symbol, left > 0) → [sum of lefts, orders]

    def _set_pending(self, client_order_id: str, symbol: str, left: float) -> None:
        self._drop_pending(client_order_id)
        self.pending[client_order_id] = (symbol, left)
        side = self._sides.setdefault((symbol, left > 0), [0.0, 0])
        side[0] += left
        side[1] += 1

    def _drop_pending(self, client_order_id: str) -> None:
        entry = self.pending.pop(client_order_id, None)
        if entry is None:
            return
        key = (entry[0], entry[1] > 0)
        side = self._sides[key]
        side[1] -= 1
        if side[1]:
            side[0] -= entry[1]
        else:
            del self._sides[key]   # no rounding residue survives the last order of a side

    def _exposure(self, vt_symbol: str, signed: float) -> float:
        """Return |net + open lots on the order's side + the order| (O(1): sums kept per contract and side)."""
        side = self._sides.get((vt_symbol, signed > 0))
        return abs(self.net[vt_symbol] + (side[0] if side else 0.0) + signed)

    def check(self, order) -> Rejection | None:
        """Refuse when the worst-case position passes the limit and the order does not reduce it."""
        signed = _signed(order.direction, order.volumeLots)
        symbol = order.vtSymbol
        observed = self._exposure(symbol, signed)
        if observed > self.limits["limit"] and observed > abs(self.net[symbol]):
            return self.rejection("limit", observed, f"worst-case position {observed:g} lots in {symbol}, "
                                  f"limit {self.limits['limit']:g}")
        self._set_pending(order.clientOrderId, symbol, signed)
        return None

    def observe(self, kind: str, update) -> None:
        """A fill moves lots from the order to the position; a released order stops counting."""
        if kind == "released":
            self._drop_pending(update.clientOrderId)
            return
        signed = _signed(update.direction, update.volumeLots)
        self.net[update.vtSymbol] += signed
        entry = self.pending.get(update.clientOrderId)
        if entry is not None:
            symbol, left = entry
            left -= signed
            self._set_pending(update.clientOrderId, symbol, left if left * signed > 0 else 0.0)

    def replay(self, update) -> None:
        """Rebuild the position from a journaled order's fills, and its open remainder."""
        filled = _signed(update.direction, update.tradedLots)
        self.net[update.vtSymbol] += filled
        if update.active:
            self._set_pending(update.clientOrderId, update.vtSymbol,
                              _signed(update.direction, update.volumeLots) - filled)

    def observed(self) -> float:
        """Largest absolute net position over the contracts, lots."""
        return max((abs(v) for v in self.net.values()), default=0.0)


__all__ = ["PositionLimitRule"]
