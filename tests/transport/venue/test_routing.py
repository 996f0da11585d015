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


async def test_two_strategy_accounts_when_routed_over_two_venues_then_each_order_at_its_venue_and_margin_by_number(
        start_desk, open_socket, tmp_path, eventually):
    """acct-01 buys 2 rb futures and 3 SSE ETF options, acct-02 sells 1 rb future and 1 other ETF option: the
    futures venue FUT receives the 2 futures orders, the options venue OPT the 2 option orders; each strategy
    account's positions and margin, and each real account's margin, equal by number (and non-zero) what the test
    computes from the fills the venues report and the instruments' margin ratios."""
    accounts = tuple(AccountSpec(account, trader, ("FUT", "OPT"), 1_000_000.0, ROUTE)
                     for account, trader in (("acct-01", "trader1"), ("acct-02", "trader2")))
    config = OrdersConfig(accounts=accounts, journal=tmp_path / "orders.sqlite3", limits=REPLAY_LIMITS,
                          account_limits={a.account: HIGH_LIMITS for a in accounts})
    gateways = (GatewayConfig("FUT", "sim.gateway:SimGateway", {"venue": f"route-fut-{id(tmp_path)}"}),
                GatewayConfig("OPT", "sim.gateway:SimGateway", {"venue": f"route-opt-{id(tmp_path)}"}))
    desk = await start_desk(contracts=60, rate=400.0, orders=config, gateways=gateways)
    fut, opt = desk.engine.gateway("FUT"), desk.engine.gateway("OPT")
    refs = {f"{r.symbol}.{r.exchange}": r for r in fut.market.instruments}
    future = next(vt for vt, r in refs.items() if r.product_class == "F")
    option, other_option = [vt for vt, r in refs.items() if r.exchange == "SSE"][:2]
    assert refs[future].long_margin_ratio > 0 and refs[future].short_margin_ratio > 0   # CTP-like, never 0
    assert refs[option].long_margin_ratio == 0 and refs[other_option].short_margin_ratio > 0   # SSE: sellers only
    lasts = {vt: await last_price(desk, vt) for vt in (future, option, other_option)}
    one = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    two = await open_socket(desk, token(JWT_SECRET, "trader2", ["acct-02"]))

    def crossing(vt_symbol: str, sign: int) -> float:   # 3% through the market: fills, in the 5% band
        tick = refs[vt_symbol].price_tick
        return round(lasts[vt_symbol] * (1 + 0.03 * sign) / tick) * tick

    await one.send(**_order("f-1", "acct-01", future, crossing(future, 1), 2))
    await one.send(**_order("o-1", "acct-01", option, crossing(option, 1), 3))
    await two.send(**_order("f-2", "acct-02", future, crossing(future, -1), 1, "short"))
    await two.send(**_order("o-2", "acct-02", other_option, crossing(other_option, -1), 1, "short"))
    for client, ids in ((one, ("f-1", "o-1")), (two, ("f-2", "o-2"))):
        for client_order_id in ids:
            reply = await client.recv_until(_is("orderReply", clientOrderId=client_order_id), timeout_s=10)
            assert reply["status"] == "accepted", reply
            assert reply["vtOrderId"].startswith("OPT." if client_order_id.startswith("o") else "FUT.")

    await eventually(lambda: (fut.exchange.statistics().orders_received, opt.exchange.statistics().orders_received)
                     == (2, 2), timeout_s=10, what="2 futures orders at FUT, 2 option orders at OPT")
    wanted = {"acct-01": 5, "acct-02": 2}

    def venue_fills() -> dict[str, list]:   # real account → the venue's fills, in its order
        return {name: gateway.exchange.trades(name) for name, gateway in (("FUT", fut), ("OPT", opt))}

    await eventually(lambda: sum(t.volume for fills in venue_fills().values() for t in fills) == 7, timeout_s=15,
                     what="every order filled at its venue")
    fills = venue_fills()

    held: dict[str, dict[tuple[str, str], float]] = {"acct-01": {}, "acct-02": {}}   # from the venue's side
    for name, trades in fills.items():
        exchange = (fut if name == "FUT" else opt).exchange
        for trade in trades:
            reference = exchange.query_order(f"{name}.{trade.orderid}").reference   # tickstage:<account>:<id>
            side = "long" if trade.direction.name == "LONG" else "short"
            positions = held[reference.split(":")[1]]
            positions[(trade.vt_symbol, side)] = positions.get((trade.vt_symbol, side), 0.0) + trade.volume

    def strategy_margin(status) -> float:   # Σ mark × multiplier × lots × the instrument's ratio
        marks = {p["vtSymbol"]: p["markPrice"] for p in status["positions"]}
        total = 0.0
        for (vt_symbol, side), lots in held[status["account"]].items():
            ref = refs[vt_symbol]
            total += marks[vt_symbol] * ref.multiplier * lots * (
                ref.short_margin_ratio if side == "short" else ref.long_margin_ratio)
        return total

    def real_margin(name: str) -> float:   # the venue's rule: each net position at its average open price
        net: dict[str, tuple[float, float]] = {}
        for trade in fills[name]:
            signed = trade.volume if trade.direction.name == "LONG" else -trade.volume
            lots, avg = net.get(trade.vt_symbol, (0.0, 0.0))
            new = lots + signed
            if new == 0:
                avg = 0.0
            elif lots == 0 or (lots > 0) != (new > 0):
                avg = trade.price
            elif abs(new) > abs(lots):
                avg = (avg * abs(lots) + trade.price * abs(signed)) / abs(new)
            net[trade.vt_symbol] = (new, avg)
        return sum(abs(lots) * avg * refs[vt].multiplier * (
            refs[vt].long_margin_ratio if lots > 0 else refs[vt].short_margin_ratio) for vt, (lots, avg) in net.items())

    expected_real = {name: real_margin(name) for name in ("FUT", "OPT")}
    assert all(margin > 0 for margin in expected_real.values()), expected_real
    for client, account in ((one, "acct-01"), (two, "acct-02")):
        status = await client.recv_until(lambda m, a=account: _is("accountStatus", account=a)(m) and sum(
            p["volumeLots"] for p in m["positions"]) == wanted[a] and math.isfinite(m["realMargin"])
            and m["realMargin"] == pytest.approx(sum(expected_real.values()), rel=1e-9), timeout_s=15)
        shown = {(p["vtSymbol"], p["direction"]): p["volumeLots"] for p in status["positions"] if p["volumeLots"]}
        assert shown == held[account]
        assert all(math.isfinite(p["markPrice"]) and p["markPrice"] > 0 for p in status["positions"])
        assert status["margin"] > 0
        assert status["margin"] == pytest.approx(strategy_margin(status), rel=1e-9)
        assert status["realAccounts"] == ["FUT", "OPT"]
        assert status["openOrders"] == 0
    assert held == {"acct-01": {(future, "long"): 2, (option, "long"): 3},
                    "acct-02": {(future, "short"): 1, (other_option, "short"): 1}}
    for name, margin in expected_real.items():   # each real account apart, as the desk's vn.py engine holds it
        account = desk.engine.main_engine.get_account(f"{name}.{name}")
        assert account.frozen == pytest.approx(margin, rel=1e-9), name
