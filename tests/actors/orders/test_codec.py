"""actors/orders/codec.py: the order path's messages round-trip, and the in-line views match the messages."""

from __future__ import annotations

import math

import schemas
from actors.orders.codec import (
    encode_order_event,
    encode_order_reply,
    encode_risk_check,
    encode_risk_update,
    encode_status_reply,
    encode_verdict,
    finite_or_nan,
    read_rejection,
)
from actors.orders.record import OrderRecord
from actors.orders.risk_gate import check_view, update_view
from actors.orders.ports import Quote
from actors.risk.rejection import Rejection

QUOTE = Quote("rb1801.SHFE", "rb", 1.0, 10.0, 3900.0)


def _record(client_order_id: str = "c-1", **fields) -> OrderRecord:
    values = dict(client_order_id=client_order_id, account="acct-01", vt_symbol="rb1801.SHFE", direction="short",
                  offset="close", order_type="fak", price=3901.0, volume=3.0, group="rb", created_ns=11,
                  updated_ns=12, reference="ref-9", correlation_id=77)
    values.update(fields)
    return OrderRecord(**values)


def _actor_body(data: bytes, member: str) -> tuple[dict, int]:
    with schemas.actor.ActorMessage.from_bytes(data) as message:
        assert message.which() == member
        return getattr(message, member).to_dict(), message.correlationId


def _server(data: bytes) -> tuple[str, dict, int]:
    with schemas.stream.ServerMessage.from_bytes(data) as message:
        member = message.which()
        return member, getattr(message, member).to_dict(), message.envelope.correlationId


def test_risk_check_when_encoded_then_same_fields_as_the_in_line_view():
    """A riskCheck message and the CheckView of an in-line call carry the same values (the two paths agree)."""
    record = _record()
    body, correlation = _actor_body(encode_risk_check(5, record, QUOTE.last_price, QUOTE.price_tick,
                                                      QUOTE.multiplier, "orders/acct-01"), "riskCheck")

    view = check_view(5, record, QUOTE)._asdict()

    assert correlation == 77
    assert {name: body[name] for name in view} == view


def test_risk_update_when_encoded_then_same_fields_as_the_in_line_view():
    """A riskUpdate message (a fill's price and volume) equals its UpdateView, field by field."""
    record = _record()
    body, _ = _actor_body(encode_risk_update("filled", record, "orders/acct-01", price=3902.0, volume=1.0, ts_ns=9),
                          "riskUpdate")

    view = update_view("filled", record, price=3902.0, volume=1.0, ts_ns=9)._asdict()

    assert {name: body.get(name, type(value)()) for name, value in view.items()} == view


def test_risk_update_when_replayed_then_summarizes_the_record():
    """A replayed update carries what a restarted rule rebuilds from: traded, sent, creation time."""
    record = _record(vt_orderid="SIM.1", traded=2.0, state="working", cancel_requested=True)
    body, _ = _actor_body(encode_risk_update("replayed", record, "orders/acct-01"), "riskUpdate")

    assert (body["tradedLots"], body["sent"], body["cancelRequested"], body["tsNs"]) == (2.0, True, True, 11)


def test_verdict_and_order_reply_when_refused_then_rejection_round_trips():
    """A Rejection value survives riskVerdict and orderReply: rule, limit, observed (NaN kept), reason."""
    rejection = Rejection("order_flow", 5.0, math.nan, "too many orders in 1 s")
    with schemas.actor.ActorMessage.from_bytes(encode_verdict(3, "order_flow", rejection, "risk/x", 77)) as message:
        verdict = message.riskVerdict
        approved, got = verdict.approved, read_rejection(verdict.rejection)
    record = _record(state="rejected", reply_status="rejected", rejection=rejection, decided_ns=13)
    member, reply, correlation = _server(encode_order_reply(record, 42, "orders/acct-01"))

    assert not approved and got[:2] == rejection[:2] and math.isnan(got.observed) and got.reason == rejection.reason
    assert (member, reply["status"], reply["rejection"]["rule"], reply["decidedTsNs"], correlation) == (
        "orderReply", "rejected", "order_flow", 13, 42)
    assert _actor_body(encode_verdict(3, "order_flow", None, "risk/x"), "riskVerdict")[0]["approved"] is True


def test_order_event_and_status_reply_when_encoded_then_carry_each_order_view():
    """Order events carry the order's view and their own fields; a status reply lists every record asked."""
    member, event, _ = _server(encode_order_event("orderFilled", _record(traded=1.0, avg_price=3901.0),
                                                  "orders/acct-01", vtTradeId="T1", price=3901.0, volumeLots=1.0))
    _, status, correlation = _server(encode_status_reply("acct-01", [_record("a"), _record("b")], 8, "orders/acct-01"))

    assert member == "orderFilled" and event["vtTradeId"] == "T1" and event["order"]["avgPrice"] == 3901.0
    assert event["order"]["reference"] == "ref-9" and event["order"]["orderType"] == "fak"
    assert [view["clientOrderId"] for view in status["orders"]] == ["a", "b"] and correlation == 8


def test_finite_or_nan_when_not_finite_then_nan():
    """Optional figures: infinities become NaN, finite values pass."""
    assert math.isnan(finite_or_nan(math.inf)) and finite_or_nan(2.5) == 2.5
