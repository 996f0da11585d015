"""replaceOrder and cancelAll over /ws on a whole desk: one operation at the simulator exchange per id."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime

from vnpy.trader.constant import Exchange
from vnpy.trader.object import TickData

from tests.transport.orders_kit import HIGH_LIMITS, last_price, order, orders_config, token, venue, venue_setting


LATENCY_MS = 1500
"""The simulator exchange's answer and cancel latency in the race tests: the injected fill must land first even
on a loaded machine."""


def _is(which: str, **fields):
    return lambda m: m["which"] == which and all(m.get(k) == v for k, v in fields.items())


def _state(client_order_id: str, state: str):
    return lambda m: (m["which"] in ("orderAccepted", "orderUpdated", "orderRejected", "orderFilled")
                      and m["order"]["clientOrderId"] == client_order_id and m["order"]["state"] == state)


def _replace(old: str, new: str, price: float, volume: float, account: str = "acct-01") -> dict:
    return {"replaceOrder": {"clientOrderId": old, "account": account, "newClientOrderId": new, "price": price,
                             "volumeLots": volume}}


def _offer(desk, price: float, lots: float) -> None:
    """Put an ask of ``lots`` at ``price`` on the simulator exchange now (rb1801): it fills resting buys at or
    above it at once, before any cancel of theirs lands (the exchange's latency)."""
    venue(desk).on_tick(TickData(symbol="rb1801", exchange=Exchange.SHFE, datetime=datetime.now().astimezone(),
                                 gateway_name="SIM", last_price=price, bid_price_1=price - 1, ask_price_1=price,
                                 bid_volume_1=1, ask_volume_1=lots))


async def _working(client, client_order_id: str, price: float, volume: float = 1.0) -> dict:
    await client.send(**order(client_order_id, price, volume=volume))
    reply = await client.recv_until(_is("orderReply", clientOrderId=client_order_id), timeout_s=10)
    assert reply["status"] == "accepted", reply
    return reply


async def test_replace_order_when_retried_then_one_cancel_and_one_new_order_at_the_exchange(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """A replace cancels the working order and sends one linked order at the new price; retries with the same
    newClientOrderId get the same answer and send nothing more (counted at the simulator exchange)."""
    desk = await desk_factory(orders=orders_config(tmp_path, limits=HIGH_LIMITS), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    price = await last_price(desk) - 50
    await _working(client, "o-1", price, volume=2)

    await client.send(**_replace("o-1", "o-1r", price - 1, 3))
    replies = [await client.recv_until(_is("replaceReply"), timeout_s=10)]
    for _ in range(2):
        await client.send(**_replace("o-1", "o-1r", price - 1, 3))
        replies.append(await client.recv_until(_is("replaceReply"), timeout_s=10))
    await client.send(orderStatusRequest={"account": "acct-01", "clientOrderIds": ["o-1", "o-1r"]})
    old, new = (await client.recv_until(_is("orderStatusReply"), timeout_s=5))["orders"]

    assert {r["status"] for r in replies} == {"accepted"}
    assert {r["vtOrderId"] for r in replies} == {new["vtOrderId"]} and new["vtOrderId"]
    assert replies[0]["volumeLots"] == 3 and replies[0]["filledBeforeLots"] == 0
    assert (old["state"], old["replacedBy"]) == ("cancelled", "o-1r")
    assert (new["state"], new["replaces"], new["price"], new["volumeLots"]) == ("working", "o-1", price - 1, 3)
    stats = venue(desk).statistics()
    assert (stats.orders_received, stats.cancel_requests, stats.cancels) == (2, 1, 1)


async def test_replace_order_when_a_fill_races_the_cancel_then_new_volume_is_reduced_by_the_fill(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """Lots filled before the cancel lands are taken off the new order, and the answer says how many."""
    desk = await desk_factory(orders=orders_config(tmp_path, limits=HIGH_LIMITS, answer_timeout_s=10.0),
                              sim=venue_setting(order_latency_ms=LATENCY_MS))
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    price = await last_price(desk) - 50
    await _working(client, "o-1", price, volume=5)

    await client.send(**_replace("o-1", "o-1r", price - 1, 5))
    await client.send(ping={"clientTsNs": 1})
    await client.recv_until(_is("pong"), timeout_s=5)     # the desk took the replace: its cancel is on the way
    _offer(desk, price, 2)                                 # 2 lots fill before the cancel lands (LATENCY_MS)
    reply = await client.recv_until(_is("replaceReply"), timeout_s=10)
    await client.send(orderStatusRequest={"account": "acct-01", "clientOrderIds": ["o-1", "o-1r"]})
    old, new = (await client.recv_until(_is("orderStatusReply"), timeout_s=5))["orders"]

    assert (reply["status"], reply["volumeLots"], reply["filledBeforeLots"]) == ("accepted", 3, 2)
    assert (old["state"], old["tradedLots"]) == ("cancelled", 2)
    assert (new["volumeLots"], new["replaces"], old["replacedBy"]) == (3, "o-1", "o-1r")
    assert venue(desk).statistics().orders_received == 2


async def test_replace_order_when_filled_before_the_cancel_then_rejected_and_nothing_sent(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """An order that fills before its cancel lands leaves nothing to replace: rejected "filled before
    replace", no second order at the exchange."""
    desk = await desk_factory(orders=orders_config(tmp_path, limits=HIGH_LIMITS, answer_timeout_s=10.0),
                              sim=venue_setting(order_latency_ms=LATENCY_MS))
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    price = await last_price(desk) - 50
    await _working(client, "o-1", price, volume=2)

    await client.send(**_replace("o-1", "o-1r", price - 1, 2))
    await client.send(ping={"clientTsNs": 1})
    await client.recv_until(_is("pong"), timeout_s=5)
    _offer(desk, price, 5)
    reply = await client.recv_until(_is("replaceReply"), timeout_s=10)
    await client.send(**_replace("o-1", "o-1r", price - 1, 2))
    retried = await client.recv_until(_is("replaceReply"), timeout_s=10)

    assert reply["status"] == "rejected" and retried == {**reply, "envelope": retried["envelope"]}
    assert reply["rejection"]["rule"] == "replace" and "filled before replace" in reply["rejection"]["reason"]
    assert reply["filledBeforeLots"] == 2
    assert venue(desk).statistics().orders_received == 1


async def test_replace_order_when_refused_then_clear_codes_and_nothing_at_the_exchange(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """Unknown order, an order no longer working, another user's account, and NaN / inf / huge price or volume
    are refused with their codes; the working order is left alone and nothing more reaches the exchange."""
    desk = await desk_factory(orders=orders_config(tmp_path, limits=HIGH_LIMITS), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    intruder = await open_socket(desk, token(jwt_secret, "trader2", ["acct-02"]))
    price = await last_price(desk) - 50
    await _working(client, "o-1", price)
    await _working(client, "o-2", price)
    await client.send(cancelOrder={"clientOrderId": "o-2", "account": "acct-01"})
    await client.recv_until(_state("o-2", "cancelled"), timeout_s=10)

    answers = {}
    for new_id, old_id, new_price, volume in (("r-unknown", "nope", price, 1), ("r-done", "o-2", price, 1),
                                              ("r-nan", "o-1", math.nan, 1), ("r-inf", "o-1", price, math.inf),
                                              ("r-huge", "o-1", 1e300, 1), ("r-lots", "o-1", price, 1e12)):
        await client.send(**_replace(old_id, new_id, new_price, volume))
        answers[new_id] = await client.recv_until(_is("replaceReply", newClientOrderId=new_id), timeout_s=10)
    await intruder.send(**_replace("o-1", "x-1", price, 1))
    forbidden = await intruder.recv_until(_is("error"), timeout_s=5)
    await client.send(orderStatusRequest={"account": "acct-01", "clientOrderIds": ["o-1"]})
    (working,) = (await client.recv_until(_is("orderStatusReply"), timeout_s=5))["orders"]

    assert answers["r-unknown"]["status"] == "unknownOrder"
    assert answers["r-done"]["status"] == "notWorking"
    for new_id in ("r-nan", "r-inf", "r-huge", "r-lots"):
        assert answers[new_id]["status"] == "rejected", answers[new_id]
        assert answers[new_id]["rejection"]["rule"] in ("order_validity", "order_volume", "order_notional", "price_band"), answers
    assert forbidden["code"] == "forbidden"
    assert (working["state"], working["replacedBy"]) == ("working", "")
    stats = venue(desk).statistics()
    assert (stats.orders_received, stats.cancel_requests) == (2, 1)


async def test_cancel_all_when_filtered_and_retried_then_cancels_sent_once(desk_factory, open_socket, jwt_secret,
                                                                            tmp_path):
    """cancelAll cancels the account's open orders of one contract and direction; a retry with the same
    requestId gets the same reply and sends no cancel (counted at the simulator exchange)."""
    desk = await desk_factory(orders=orders_config(tmp_path, limits=HIGH_LIMITS), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(desk)
    await _working(client, "b-1", last - 50)
    await _working(client, "b-2", last - 51)
    await client.send(**order("s-1", last + 50, direction="short"))
    await client.recv_until(_is("orderReply", clientOrderId="s-1"), timeout_s=10)

    request = {"requestId": "ca-1", "account": "acct-01", "vtSymbol": "rb1801.SHFE", "direction": "long",
               "byDirection": True}
    await client.send(cancelAll=request)
    first = await client.recv_until(_is("cancelAllReply"), timeout_s=5)
    await client.recv_until(_state("b-1", "cancelled"), timeout_s=10)
    await client.recv_until(_state("b-2", "cancelled"), timeout_s=10)
    await client.send(cancelAll=request)
    again = await client.recv_until(_is("cancelAllReply"), timeout_s=5)
    await client.send(orderStatusRequest={"account": "acct-01", "clientOrderIds": ["s-1"]})
    (short,) = (await client.recv_until(_is("orderStatusReply"), timeout_s=5))["orders"]

    assert sorted(first["clientOrderIds"]) == ["b-1", "b-2"] and again["clientOrderIds"] == first["clientOrderIds"]
    assert short["state"] == "working"
    assert venue(desk).statistics().cancel_requests == 2


async def test_cancel_all_when_another_users_account_or_bad_id_then_refused(desk_factory, open_socket, jwt_secret,
                                                                             tmp_path):
    """cancelAll for an account the token does not grant is forbidden; an empty requestId is malformed."""
    desk = await desk_factory(orders=orders_config(tmp_path), sim=venue_setting())
    intruder = await open_socket(desk, token(jwt_secret, "trader2", ["acct-02"]))
    await asyncio.wait_for(last_price(desk), 10)

    await intruder.send(cancelAll={"requestId": "ca-1", "account": "acct-01"})
    forbidden = await intruder.recv_until(_is("error"), timeout_s=5)
    await intruder.send(cancelAll={"requestId": "", "account": "acct-02"})
    malformed = await intruder.recv_until(_is("error"), timeout_s=5)

    assert forbidden["code"] == "forbidden" and malformed["code"] == "malformed"
    assert "requestId" in malformed["message"]


async def test_submit_order_when_market_fak_or_fok_then_that_vnpy_order_type_reaches_the_exchange(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """The ticket's order types (limit, market, FAK, FOK) reach vn.py's OrderRequest as that OrderType; a FAK or
    FOK the market cannot fill is cancelled by the exchange, not left working."""
    from vnpy.trader.constant import OrderType, Status

    desk = await desk_factory(orders=orders_config(tmp_path, limits=HIGH_LIMITS), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    price = await last_price(desk) - 50
    replies = {}
    for order_type, order_price in (("limit", price), ("market", 0.0), ("fak", price), ("fok", price)):
        fields = order(f"t-{order_type}", order_price)
        fields["submitOrder"]["orderType"] = order_type
        await client.send(**fields)
        replies[order_type] = await client.recv_until(_is("orderReply", clientOrderId=f"t-{order_type}"),
                                                      timeout_s=10)

    at_venue = {t: venue(desk).query_order(reply["vtOrderId"]) for t, reply in replies.items()}
    assert {t: reply["status"] for t, reply in replies.items()} == dict.fromkeys(replies, "accepted")
    assert {t: o.type for t, o in at_venue.items()} == {"limit": OrderType.LIMIT, "market": OrderType.MARKET,
                                                         "fak": OrderType.FAK, "fok": OrderType.FOK}
    assert at_venue["limit"].status == Status.NOTTRADED
    assert (at_venue["fak"].status, at_venue["fok"].status) == (Status.CANCELLED, Status.CANCELLED)
