"""SimExchange: answers, fills against the quotes, rejects, cancels, lost answers, reconnect replay."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime

import pytest
from vnpy.trader.constant import Direction, Exchange, Offset, OrderType, Product, Status
from vnpy.trader.object import CancelRequest, ContractData, OrderRequest, TickData

from sim.errors import SimSettingError
from sim.exchange import ExchangeSettings, SimExchange

_names = itertools.count(1)


class FakeGateway:
    """Collects what the exchange emits (any thread)."""

    gateway_name = "SIM"

    def __init__(self) -> None:
        self.orders, self.trades, self.accounts, self.logs = [], [], [], []
        self.changed = threading.Condition()

    def _add(self, bucket, item) -> None:
        with self.changed:
            bucket.append(item)
            self.changed.notify_all()

    def on_order(self, order) -> None:
        self._add(self.orders, order)

    def on_trade(self, trade) -> None:
        self._add(self.trades, trade)

    def on_account(self, account) -> None:
        self._add(self.accounts, account)

    def write_log(self, text: str) -> None:
        self._add(self.logs, text)

    def wait(self, predicate, timeout_s: float = 5.0) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout_s)

    def statuses(self, vt_orderid: str) -> list[Status]:
        return [o.status for o in self.orders if o.vt_orderid == vt_orderid]


def _venue(**settings) -> tuple[SimExchange, FakeGateway]:
    exchange = SimExchange.venue(f"test-{next(_names)}")
    exchange.configure(ExchangeSettings(venue=exchange.name, **settings))
    exchange.on_contract(ContractData(symbol="rb1801", exchange=Exchange.SHFE, name="rb", product=Product.FUTURES,
                                      size=10, pricetick=1.0, gateway_name="SIM"))
    gateway = FakeGateway()
    exchange.attach(gateway)
    return exchange, gateway


def _tick(bid: float, ask: float, bid_size: float = 5, ask_size: float = 5, last: float | None = None) -> TickData:
    return TickData(symbol="rb1801", exchange=Exchange.SHFE, datetime=datetime.now().astimezone(), name="rb",
                    last_price=last or (bid + ask) / 2, bid_price_1=bid, ask_price_1=ask, bid_volume_1=bid_size,
                    ask_volume_1=ask_size, gateway_name="SIM")


def _order(price: float, volume: float = 1, direction=Direction.LONG, symbol: str = "rb1801",
           kind=OrderType.LIMIT, reference: str = "r") -> OrderRequest:
    return OrderRequest(symbol, Exchange.SHFE, direction, kind, volume, price, Offset.OPEN, reference)


def test_send_order_when_market_crosses_then_fills_at_the_ask():
    """A buy at or above the ask fills at the ask; SUBMITTING comes before send_order returns."""
    exchange, gateway = _venue()
    exchange.on_tick(_tick(3899, 3900))

    vt_orderid = exchange.send_order(gateway, _order(3901, reference="tickstage:a:1"))

    assert gateway.orders[0].status == Status.SUBMITTING and gateway.orders[0].reference == "tickstage:a:1"
    assert gateway.statuses(vt_orderid) == [Status.SUBMITTING, Status.NOTTRADED, Status.ALLTRADED]
    assert [(t.price, t.volume) for t in gateway.trades] == [(3900, 1)]


def test_send_order_when_quote_smaller_than_order_then_partial_fills_over_ticks():
    """An order larger than the quoted size fills part per tick, then completes."""
    exchange, gateway = _venue()
    exchange.on_tick(_tick(3899, 3900, ask_size=2))
    vt_orderid = exchange.send_order(gateway, _order(3900, volume=5))

    exchange.on_tick(_tick(3899, 3900, ask_size=2))
    exchange.on_tick(_tick(3899, 3900, ask_size=2))

    assert [t.volume for t in gateway.trades] == [2, 2, 1]
    assert gateway.statuses(vt_orderid)[-2:] == [Status.PARTTRADED, Status.ALLTRADED]


@pytest.mark.parametrize(("request_", "reason"), [
    (_order(3900, symbol="zz9999"), "unknown contract"),
    (_order(3900.5), "tick grid"),
    (_order(5000), "outside the limits"),
    (_order(3900, volume=1.5), "whole number"),
    (_order(3900, volume=1e-9), "whole number"),
    (_order(3900, volume=0.5), "whole number"),
    (_order(3900, volume=-1), "whole number"),
])
def test_send_order_when_invalid_then_rejected_with_a_log_line(request_, reason):
    """Unknown contract, off-grid price, price outside the limits, fractional lots: REJECTED."""
    exchange, gateway = _venue()
    exchange.on_tick(_tick(3899, 3901, last=3900))

    vt_orderid = exchange.send_order(gateway, request_)

    assert gateway.statuses(vt_orderid) == [Status.SUBMITTING, Status.REJECTED]
    assert any(reason in line for line in gateway.logs)


def test_cancel_order_when_resting_then_cancelled():
    """A resting order is cancelled; a second cancel changes nothing."""
    exchange, gateway = _venue()
    exchange.on_tick(_tick(3899, 3901))
    vt_orderid = exchange.send_order(gateway, _order(3890))
    request = CancelRequest(vt_orderid.split(".")[1], "rb1801", Exchange.SHFE)

    exchange.cancel_order(request)
    exchange.cancel_order(request)

    assert gateway.statuses(vt_orderid) == [Status.SUBMITTING, Status.NOTTRADED, Status.CANCELLED]


def test_send_order_when_answer_lost_then_only_a_query_tells():
    """With no-answer probability 1 only SUBMITTING is emitted; query_order shows the live order."""
    exchange, gateway = _venue(no_answer_probability=1.0)
    exchange.on_tick(_tick(3899, 3901))

    vt_orderid = exchange.send_order(gateway, _order(3890, reference="tickstage:a:9"))

    assert gateway.statuses(vt_orderid) == [Status.SUBMITTING]
    assert exchange.query_order(vt_orderid).status == Status.NOTTRADED
    assert exchange.query_order(reference="tickstage:a:9").vt_orderid == vt_orderid
    assert exchange.statistics().unanswered == 1


def test_send_order_when_latency_set_then_answer_comes_from_the_exchange_thread():
    """With a latency the answer arrives later, from the exchange's own thread."""
    exchange, gateway = _venue(latency_ms=5)
    exchange.on_tick(_tick(3899, 3901))

    vt_orderid = exchange.send_order(gateway, _order(3890))

    assert gateway.wait(lambda: Status.NOTTRADED in gateway.statuses(vt_orderid))
    exchange.detach(gateway)


def test_attach_when_a_new_gateway_connects_then_the_day_is_replayed():
    """A reconnecting gateway hears every order and trade of the day again (as CTP replays them)."""
    exchange, gateway = _venue()
    exchange.on_tick(_tick(3899, 3900))
    vt_orderid = exchange.send_order(gateway, _order(3900, reference="tickstage:a:1"))
    exchange.detach(gateway)

    again = FakeGateway()
    exchange.attach(again)

    assert [(o.vt_orderid, o.status, o.reference) for o in again.orders] == [
        (vt_orderid, Status.ALLTRADED, "tickstage:a:1")]
    assert [t.vt_tradeid for t in again.trades] == [t.vt_tradeid for t in gateway.trades]
    assert exchange.statistics().orders_received == 1


def test_exchange_settings_when_probability_over_1_then_refused():
    """A no-answer probability outside 0..1 is a setting error."""
    with pytest.raises(SimSettingError):
        ExchangeSettings.from_setting({"order_no_answer_probability": 2})


def test_send_order_when_gateway_reconnects_or_venue_is_new_then_vt_orderids_never_repeat():
    """Each connect opens a session: the first order of every session, of this venue or a new one (a restarted
    process), gets a distinct vt_orderid ``SIM.<session>_<n>`` (the simulator used to restart at SIM.1)."""
    exchange, first = _venue()
    before = exchange.send_order(first, _order(3890))
    exchange.detach(first)
    second = FakeGateway()
    exchange.attach(second)
    again = exchange.send_order(second, _order(3890))
    fresh, third = _venue()
    other = fresh.send_order(third, _order(3890))

    assert len({before, again, other}) == 3
    assert again == f"SIM.{exchange.session}_1" and exchange.query_order(before).vt_orderid == before
    exchange.cancel_order(CancelRequest(again.partition(".")[2], "rb1801", Exchange.SHFE))
    assert second.wait(lambda: Status.CANCELLED in second.statuses(again))
    assert exchange.query_order(before).status == Status.NOTTRADED   # the older order was not touched


def test_drop_copy_when_set_then_every_received_order_is_one_line_written_by_the_venue(tmp_path):
    """With ``drop_copy`` each order the venue receives is appended (vt_orderid, reference, time) and flushed."""
    from sim.drop_copy import read_drop_copy

    path = tmp_path / "venue" / "drop.jsonl"
    exchange, gateway = _venue(drop_copy=str(path))
    sent = [exchange.send_order(gateway, _order(3890, reference=f"tickstage:a:{i}")) for i in range(3)]

    pause = threading.Event()
    for _ in range(500):   # bounded: the venue's thread writes within moments
        if len(read_drop_copy(path)) == 3:
            break
        pause.wait(0.01)
    lines = read_drop_copy(path)
    assert [(line["vt_orderid"], line["reference"]) for line in lines] == [
        (vt, f"tickstage:a:{i}") for i, vt in enumerate(sent)]
    assert all(line["ts_ns"] > 0 for line in lines)
