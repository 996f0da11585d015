"""Strategy accounts on two real accounts (issue 15): futures to one simulated venue, ETF options to the other,
positions and margin kept per strategy account."""

from __future__ import annotations

import math

import pytest

from actors.orders.config import AccountSpec, OrdersConfig
from tests.conftest import JWT_SECRET
from tests.transport.orders_kit import HIGH_LIMITS, REPLAY_LIMITS, last_price, token
from transport.venue.gateways import GatewayConfig

ROUTE = {"futures": "FUT", "etf_options": "OPT"}


def _order(client_order_id: str, account: str, vt_symbol: str, price: float, volume: float,
           direction: str = "long") -> dict:
    return {"submitOrder": {"clientOrderId": client_order_id, "account": account, "vtSymbol": vt_symbol,
                            "direction": direction, "offset": "open", "orderType": "limit", "price": price,
                            "volumeLots": volume}}


def _is(which: str, **fields):
    return lambda m: m["which"] == which and all(m.get(k) == v for k, v in fields.items())


async def test_two_strategy_accounts_when_routed_over_two_venues_then_each_order_at_its_venue_and_figures_per_account(
        start_desk, open_socket, tmp_path, eventually):
    """acct-01 buys 2 rb futures and 3 SSE ETF options, acct-02 sells 1 rb future: the futures venue FUT receives
    the 2 futures orders, the options venue OPT the option order; each strategy account shows its own positions,
    its margin (Σ mark × multiplier × lots × ratio of its own positions) and both real accounts."""
    accounts = tuple(AccountSpec(account, trader, ("FUT", "OPT"), 1_000_000.0, ROUTE)
                     for account, trader in (("acct-01", "trader1"), ("acct-02", "trader2")))
    config = OrdersConfig(accounts=accounts, journal=tmp_path / "orders.sqlite3", limits=REPLAY_LIMITS,
                          account_limits={a.account: HIGH_LIMITS for a in accounts})
    gateways = (GatewayConfig("FUT", "sim.gateway:SimGateway", {"venue": f"route-fut-{id(tmp_path)}"}),
                GatewayConfig("OPT", "sim.gateway:SimGateway", {"venue": f"route-opt-{id(tmp_path)}"}))
    desk = await start_desk(contracts=60, rate=400.0, orders=config, gateways=gateways)
    fut, opt = desk.engine.gateway("FUT"), desk.engine.gateway("OPT")
    future = next(f"{r.symbol}.{r.exchange}" for r in fut.market.instruments if r.product_class == "F")
    option = next(f"{r.symbol}.{r.exchange}" for r in fut.market.instruments if r.exchange == "SSE")
    f_last, o_last = await last_price(desk, future), await last_price(desk, option)
    f_tick, o_tick = desk.bridge.quote(future).price_tick, desk.bridge.quote(option).price_tick
    one = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    two = await open_socket(desk, token(JWT_SECRET, "trader2", ["acct-02"]))

    def crossing(last: float, tick: float, sign: int) -> float:   # 3% through the market: fills, in the 5% band
        return round(last * (1 + 0.03 * sign) / tick) * tick

    await one.send(**_order("f-1", "acct-01", future, crossing(f_last, f_tick, 1), 2))
    await one.send(**_order("o-1", "acct-01", option, crossing(o_last, o_tick, 1), 3))
    await two.send(**_order("f-2", "acct-02", future, crossing(f_last, f_tick, -1), 1, "short"))
    for client, ids in ((one, ("f-1", "o-1")), (two, ("f-2",))):
        for client_order_id in ids:
            reply = await client.recv_until(_is("orderReply", clientOrderId=client_order_id), timeout_s=10)
            assert reply["status"] == "accepted", reply
            assert reply["vtOrderId"].startswith("OPT." if client_order_id.startswith("o") else "FUT.")

    await eventually(lambda: (fut.exchange.statistics().orders_received, opt.exchange.statistics().orders_received)
                     == (2, 1), timeout_s=10, what="2 futures orders at FUT, 1 option order at OPT")

    def filled(status) -> bool:
        return sum(p["volumeLots"] for p in status["positions"]) == (5 if status["account"] == "acct-01" else 1)

    status_1 = await one.recv_until(lambda m: _is("accountStatus", account="acct-01")(m) and filled(m), timeout_s=15)
    status_2 = await two.recv_until(lambda m: _is("accountStatus", account="acct-02")(m) and filled(m), timeout_s=15)
    held_1 = {(p["vtSymbol"], p["direction"]): p for p in status_1["positions"] if p["volumeLots"]}
    held_2 = {(p["vtSymbol"], p["direction"]): p for p in status_2["positions"] if p["volumeLots"]}
    assert {k: p["volumeLots"] for k, p in held_1.items()} == {(future, "long"): 2, (option, "long"): 3}
    assert {k: p["volumeLots"] for k, p in held_2.items()} == {(future, "short"): 1}
    assert status_1["realAccounts"] == status_2["realAccounts"] == ["FUT", "OPT"]

    def margin(held) -> float:
        total = 0.0
        for (vt_symbol, side), p in held.items():
            quote = desk.bridge.quote(vt_symbol)
            ratio = quote.short_margin_ratio if side == "short" else quote.long_margin_ratio
            price = p["markPrice"] if math.isfinite(p["markPrice"]) and p["markPrice"] > 0 else p["avgPrice"]
            total += price * quote.multiplier * p["volumeLots"] * ratio
        return total

    assert status_1["margin"] == pytest.approx(margin(held_1), rel=1e-9)
    assert status_2["margin"] == pytest.approx(margin(held_2), rel=1e-9)
    assert status_1["openOrders"] == status_2["openOrders"] == 0
