"""actors/orders/flatten.py: holdings from fills, the today/yesterday split (against vn.py's own), closing prices."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vnpy.trader.constant import Direction, Exchange, Offset, OrderType
from vnpy.trader.converter import PositionHolding
from vnpy.trader.object import ContractData, OrderRequest, PositionData

from actors.orders.flatten import Holding, closing_price, holdings_of, request_problem, split_close
from actors.orders.journal import OrderJournal
from actors.orders.ports import Quote
from actors.orders.record import OrderRecord
from tests.actors.order_kit import RB, ScriptedMarket, ScriptedPort, harness_config, stop_harness

_OFFSETS = {"closeToday": Offset.CLOSETODAY, "closeYesterday": Offset.CLOSEYESTERDAY, "close": Offset.CLOSE}


def _record(n: int, direction: str, offset: str, volume: float, traded: float, state: str = "filled",
            vt_symbol: str = "rb1801.SHFE") -> OrderRecord:
    return OrderRecord(f"o-{n}", "acct-01", vt_symbol, direction, offset, "limit", 3900.0, volume, traded=traded,
                       state=state, created_ns=n)


def _vnpy_split(exchange: Exchange, side: str, today: float, yesterday: float) -> list[tuple[str, float]]:
    """vn.py 4.5.0's own split of a close of the whole side (PositionHolding.convert_order_request_shfe)."""
    contract = ContractData(gateway_name="SIM", symbol="rb1801", exchange=exchange, name="rb1801", product=None,
                            size=10, pricetick=1.0)
    holding = PositionHolding(contract)
    direction = Direction.LONG if side == "long" else Direction.SHORT
    holding.update_position(PositionData(gateway_name="SIM", symbol="rb1801", exchange=exchange,
                                         direction=direction, volume=today + yesterday, yd_volume=yesterday))
    closing = Direction.SHORT if side == "long" else Direction.LONG
    request = OrderRequest(symbol="rb1801", exchange=exchange, direction=closing, type=OrderType.LIMIT,
                           volume=today + yesterday, price=3900.0, offset=Offset.CLOSE)
    if exchange in (Exchange.SHFE, Exchange.INE):
        split = holding.convert_order_request_shfe(request)
    else:
        split = [request]
    names = {v: k for k, v in _OFFSETS.items()}
    return [(names[r.offset], r.volume) for r in split]


@given(st.sampled_from([Exchange.SHFE, Exchange.INE, Exchange.DCE, Exchange.CZCE]), st.sampled_from(["long", "short"]),
       st.integers(0, 50), st.integers(0, 50))
def test_split_close_when_today_and_yesterday_held_then_as_vnpy_offset_converter(exchange, side, today, yesterday):
    """The split of a whole side is vn.py's: closeToday then closeYesterday on SHFE/INE, one close elsewhere."""
    if today + yesterday == 0:
        return
    holding = Holding(f"rb1801.{exchange.value}", side, float(today), float(yesterday))
    assert split_close(holding) == _vnpy_split(exchange, side, float(today), float(yesterday))


def test_split_close_when_shfe_yesterday_only_then_close_yesterday():
    """A yesterday position on SHFE is flattened with CLOSEYESTERDAY, a mixed one with both."""
    assert split_close(Holding("rb1801.SHFE", "long", 0.0, 3.0)) == [("closeYesterday", 3.0)]
    assert split_close(Holding("sc2101.INE", "short", 2.0, 1.0)) == [("closeToday", 2.0), ("closeYesterday", 1.0)]
    assert split_close(Holding("m1801.DCE", "long", 2.0, 1.0)) == [("close", 3.0)]


def test_holdings_of_when_fills_and_working_closes_then_held_less_frozen():
    """Opens add today's lots, closes take them off as vn.py counts them, working closes freeze their rest."""
    records = [
        _record(1, "long", "open", 5, 5),
        _record(2, "short", "closeToday", 1, 1),
        _record(3, "short", "closeToday", 2, 0, state="working"),   # 2 lots frozen
        _record(4, "short", "open", 3, 2, state="cancelled"),       # 2 short held
        _record(5, "long", "open", 9, 0, state="rejected"),
        _record(6, "long", "open", 1, 1, vt_symbol="m1801.DCE"),
    ]
    held = holdings_of(records, yesterday={("rb1801.SHFE", "long"): 4.0})
    assert held == {("rb1801.SHFE", "long"): Holding("rb1801.SHFE", "long", 2.0, 4.0),
                    ("rb1801.SHFE", "short"): Holding("rb1801.SHFE", "short", 2.0, 0.0),
                    ("m1801.DCE", "long"): Holding("m1801.DCE", "long", 1.0, 0.0)}
    assert holdings_of([_record(1, "long", "open", 1, 1), _record(2, "short", "close", 1, 1, vt_symbol="x.DCE")]) \
        == {("rb1801.SHFE", "long"): Holding("rb1801.SHFE", "long", 1.0, 0.0)}
    assert holdings_of([_record(1, "long", "open", 1, 1), _record(2, "short", "closeToday", 1, 1)]) == {}


QUOTE = Quote("rb1801.SHFE", "rb", 1.0, 10.0, 3900.0, bid_price=3899.0, ask_price=3901.0)


@pytest.mark.parametrize(("direction", "aggressiveness", "ticks", "price"), [
    ("short", "passive", 0, 3901.0), ("short", "touch", 0, 3899.0), ("short", "cross", 3, 3896.0),
    ("long", "passive", 0, 3899.0), ("long", "touch", 0, 3901.0), ("long", "cross", 2, 3903.0),
])
def test_closing_price_when_aggressiveness_then_own_side_touch_or_beyond(direction, aggressiveness, ticks, price):
    """passive: the order's own side; touch: the opposite best; cross: ticks beyond the touch."""
    assert closing_price(direction, QUOTE, aggressiveness, ticks) == price


def test_closing_price_when_no_bid_then_nan():
    """A book without the side needed prices nothing."""
    assert math.isnan(closing_price("short", QUOTE._replace(bid_price=math.nan), "touch"))
    assert math.isnan(closing_price("short", Quote("rb1801.SHFE", "rb", 1.0, 10.0, 3900.0), "passive"))


@pytest.mark.parametrize(("client_order_id", "aggressiveness", "ticks", "problem"), [
    ("f-1", "cross", 2.0, ""), ("f-1", "passive", math.nan, "ticks"), ("f-1", "cross", -1.0, "ticks"),
    ("f-1", "cross", 1.5, "ticks"), ("f-1", "cross", math.inf, "ticks"), ("x" * 61, "touch", 0.0, "1..60 bytes"),
    ("", "touch", 0.0, "1..60 bytes"),
])
def test_request_problem_when_bad_ticks_or_id_then_named(client_order_id, aggressiveness, ticks, problem):
    """NaN, negative, fractional or infinite ticks and an id leaving no room for '.<n>' are malformed."""
    found = request_problem(client_order_id, aggressiveness, ticks)
    assert (problem in found and found) if problem else found == ""


def _journal(path, *records: OrderRecord) -> None:
    journal = OrderJournal.open(path)
    assert journal.write_orders_now([record.row() for record in records])[0]
    journal.close()


async def test_flatten_when_retried_after_a_restart_then_same_orders_and_nothing_sent(order_harness, tmp_path):
    """A flatten's closing orders carry its id in their journaled reference: after the order actor restarts
    from the journal, a retry answers with the same orders and sends nothing."""
    path = tmp_path / "orders.sqlite3"
    _journal(path, OrderRecord("o-1", "acct-01", "rb1801.SHFE", "long", "open", "limit", 3900.0, 3.0, group="rb",
                               state="filled", status="allTraded", traded=3.0, vt_orderid="SIM.9",
                               reply_status="accepted", created_ns=1, updated_ns=1))
    market = ScriptedMarket(RB._replace(bid_price=3899.0, ask_price=3901.0))
    flatten = {"flattenPosition": {"clientOrderId": "f-1", "account": "acct-01", "vtSymbol": "",
                                   "aggressiveness": "touch", "ticks": 0.0}}

    first = await order_harness(harness_config(), market=market, journal_path=path)
    first.command(**flatten)
    await first.sink.wait(lambda: first.replies(which="flattenReply"))
    child = first.actor("orders/acct-01").orders["f-1.1"]
    await stop_harness(first)
    port = ScriptedPort()
    again = await order_harness(harness_config(), port=port, market=market, journal_path=path)
    again.command(**flatten)
    await again.sink.wait(lambda: again.replies(which="flattenReply"))

    (answer,) = first.replies(which="flattenReply")
    (retried,) = again.replies(which="flattenReply")
    assert (answer["status"], answer["clientOrderIds"]) == ("sent", ["f-1.1"]) == \
        (retried["status"], retried["clientOrderIds"])
    assert first.port.sent_ids() == ["f-1.1"] and port.sent_ids() == []
    assert (child.direction, child.offset, child.volume, child.price) == ("short", "closeToday", 3.0, 3899.0)
