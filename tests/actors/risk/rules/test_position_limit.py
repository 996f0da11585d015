"""PositionLimitRule: worst-case net position per contract, kept in O(1) per check."""

from __future__ import annotations

from actors.orders.record import OrderRecord
from actors.orders.risk_gate import check_view, update_view
from actors.risk.rules.position_limit import PositionLimitRule
from tests.actors.order_kit import RB


def test_position_limit_when_orders_and_fills_then_exposure_matches_a_full_scan():
    """The per-side sums give the exposure a scan of every open order gives."""
    rule = PositionLimitRule()
    rule.limits = {"limit": 1e9}
    rule.reset()
    orders = []
    for i, (direction, volume) in enumerate([("long", 3), ("short", 2), ("long", 5), ("short", 7), ("long", 1)]):
        record = OrderRecord(f"p-{i}", "acct-01", RB.vt_symbol, direction, "open", "limit", 3900.0, volume)
        assert rule.check(check_view(i, record, RB)) is None
        orders.append(record)

    def scanned(signed: float) -> float:
        same = sum(left for symbol, left in rule.pending.values()
                   if symbol == RB.vt_symbol and (left > 0) == (signed > 0))
        return abs(rule.net[RB.vt_symbol] + same + signed)

    rule.observe("filled", update_view("filled", orders[2], volume=2.0))
    rule.observe("released", update_view("released", orders[1]))
    rule.observe("filled", update_view("filled", orders[3], volume=7.0))
    for signed in (1.0, -1.0, 4.0, -4.0):
        assert rule._exposure(RB.vt_symbol, signed) == scanned(signed)
