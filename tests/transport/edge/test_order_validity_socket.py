"""Order validity over /ws on a whole desk: invalid sizes never reach the venue (finding 6)."""

from __future__ import annotations

import math

from tests.transport.orders_kit import last_price, order, orders_config, token, venue, venue_setting

BAD_VOLUMES = [
    (1e-9, "order_validity", 1.0),
    (0.5, "order_validity", 1.0),
    (1.5, "order_validity", 1.0),
    (-1.0, "order_validity", 1.0),
    (0.0, "order_validity", 1.0),
    (math.nan, "order_validity", 1.0),
    (math.inf, "order_validity", 1.0),
    (float(2**53), "order_volume", 500.0),
]
"""(volume, refusing rule, its limit): sub-lot, fractional, negative, zero, NaN, infinite, and a whole
number far over the size limit (2**53: every float that large is an integer, so only a size limit refuses it)."""


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


async def test_submit_order_when_volume_not_whole_lots_then_refused_and_venue_receives_nothing(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """Every bad volume is refused naming rule, limit and observed volume; the simulator venue gets no order."""
    desk = await desk_factory(orders=orders_config(tmp_path), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(desk)
    terms = desk.bridge.quote("rb1801.SHFE")

    replies = {}
    for i, (volume, _, _) in enumerate(BAD_VOLUMES):
        await client.send(**order(f"v-{i}", last - 20, volume=volume))
        replies[i] = await client.recv_until(
            lambda m, i=i: m["which"] == "orderReply" and m["clientOrderId"] == f"v-{i}", timeout_s=10)
    await client.send(**order("v-ok", last - 20, volume=1))
    good = await client.recv_until(lambda m: m["which"] == "orderReply" and m["clientOrderId"] == "v-ok",
                                   timeout_s=10)

    for i, (volume, rule, limit) in enumerate(BAD_VOLUMES):
        rejection = replies[i]["rejection"]
        assert replies[i]["status"] == "rejected", (volume, replies[i])
        assert (rejection["rule"], rejection["limit"]) == (rule, limit), (volume, rejection)
        assert _same(rejection["observed"], volume), (volume, rejection)
    assert (terms.min_volume, terms.long_margin_ratio, terms.short_margin_ratio) == (1.0, 0.11, 0.11)  # CTP file
    assert good["status"] == "accepted"
    assert venue(desk).statistics().orders_received == 1   # only the whole lot
