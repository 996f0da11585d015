"""flattenPosition over /ws on a whole desk: closing orders at the simulator exchange, once per client order id."""

from __future__ import annotations

import asyncio
from datetime import datetime

from vnpy.trader.constant import Direction, Exchange, Offset
from vnpy.trader.object import TickData

from tests.transport.orders_kit import HIGH_LIMITS, SYMBOL, last_price, order, orders_config, token, venue, \
    venue_setting


def _is(which: str, **fields):
    return lambda m: m["which"] == which and all(m.get(k) == v for k, v in fields.items())


def _state(client_order_id: str, *states: str):
    return lambda m: (m["which"] in ("orderAccepted", "orderUpdated", "orderRejected", "orderFilled")
                      and m["order"]["clientOrderId"] == client_order_id and m["order"]["state"] in states)


def _flatten(client_order_id: str, account: str = "acct-01", vt_symbol: str = SYMBOL, aggressiveness: str = "touch",
             ticks: float = 0.0) -> dict:
    return {"flattenPosition": {"clientOrderId": client_order_id, "account": account, "vtSymbol": vt_symbol,
                                "aggressiveness": aggressiveness, "ticks": ticks}}


def _offer(desk, price: float, lots: float) -> None:
    """Put an ask of ``lots`` at ``price`` on the simulator exchange now (rb1801): resting buys at or above fill."""
    venue(desk).on_tick(TickData(symbol="rb1801", exchange=Exchange.SHFE, datetime=datetime.now().astimezone(),
                                 gateway_name="SIM", last_price=price, bid_price_1=price - 1, ask_price_1=price,
                                 bid_volume_1=1, ask_volume_1=lots))


async def _until_state(client, client_order_id: str, state: str, timeout_s: float = 10.0) -> dict:
    """Ask orderStatusRequest until ``client_order_id`` is in ``state`` (events may have been read past)."""
    async with asyncio.timeout(timeout_s):
        while True:
            await client.send(orderStatusRequest={"account": "acct-01", "clientOrderIds": [client_order_id]})
            (view,) = (await client.recv_until(_is("orderStatusReply"), timeout_s=timeout_s))["orders"]
            if view["state"] == state:
                return view
            await asyncio.sleep(0.05)


async def _bought(desk, client, client_order_id: str, lots: float) -> None:
    """Open a long of ``lots`` in rb1801 today: a buy above the market, filled by an offer at the exchange."""
    price = await last_price(desk)
    await client.send(**order(client_order_id, price + 20, volume=lots))
    reply = await client.recv_until(_is("orderReply", clientOrderId=client_order_id), timeout_s=10)
    assert reply["status"] in ("accepted", "outcomeUnknown"), reply
    _offer(desk, price, lots)
    await _until_state(client, client_order_id, "filled")


async def test_flatten_when_long_opened_today_on_shfe_then_one_close_today_sell_and_retries_send_nothing(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """A long opened today on SHFE is flattened by one sell of its lots with CLOSETODAY at the bid (touch),
    child id "<id>.1"; retries with the same id get the same answer and send nothing more (counted at the
    simulator exchange); once flat, a new flatten answers nothingHeld."""
    desk = await desk_factory(orders=orders_config(tmp_path, limits=HIGH_LIMITS), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    await _bought(desk, client, "b-1", 2)
    bid = desk.bridge.quote(SYMBOL).bid_price

    await client.send(**_flatten("f-1"))
    first = await client.recv_until(_is("flattenReply"), timeout_s=10)
    child = await client.recv_until(_state("f-1.1", "working", "filled", "sent", "partTraded"), timeout_s=10)
    answers = []
    for _ in range(2):
        await client.send(**_flatten("f-1"))
        answers.append(await client.recv_until(_is("flattenReply"), timeout_s=10))
    sent = venue(desk).query_order(reference="tickstage:acct-01:f-1.1")

    assert (first["status"], first["clientOrderIds"], first["vtSymbol"]) == ("sent", ["f-1.1"], SYMBOL), first
    assert all({**a, "envelope": first["envelope"]} == first for a in answers), answers
    view = child["order"]
    assert (view["direction"], view["offset"], view["volumeLots"]) == ("short", "closeToday", 2), view
    assert sent is not None and (sent.direction, sent.offset, sent.volume) == (Direction.SHORT, Offset.CLOSETODAY, 2)
    assert abs(sent.price - bid) < 20    # the touch: the bid when the flatten was priced
    assert venue(desk).statistics().orders_received == 2

    # the child may still be working: a bid at its price fills it at the exchange
    venue(desk).on_tick(TickData(symbol="rb1801", exchange=Exchange.SHFE, datetime=datetime.now().astimezone(),
                                 gateway_name="SIM", last_price=sent.price, bid_price_1=sent.price,
                                 ask_price_1=sent.price + 1, bid_volume_1=10, ask_volume_1=1))
    await _until_state(client, "f-1.1", "filled")
    await client.send(**_flatten("f-2", vt_symbol=""))
    flat = await client.recv_until(_is("flattenReply", clientOrderId="f-2"), timeout_s=10)
    assert (flat["status"], flat["clientOrderIds"]) == ("nothingHeld", []), flat
    assert venue(desk).statistics().orders_received == 2


async def test_flatten_when_another_users_account_nan_ticks_or_nothing_held_then_refused(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """Another user's account is forbidden, NaN ticks are malformed, an account holding nothing answers
    nothingHeld; nothing reaches the exchange."""
    desk = await desk_factory(orders=orders_config(tmp_path, limits=HIGH_LIMITS), sim=venue_setting())
    intruder = await open_socket(desk, token(jwt_secret, "trader2", ["acct-02"]))
    await asyncio.wait_for(last_price(desk), 10)

    await intruder.send(**_flatten("f-1", account="acct-01"))
    forbidden = await intruder.recv_until(_is("error"), timeout_s=5)
    await intruder.send(**_flatten("f-2", account="acct-02", aggressiveness="cross", ticks=float("nan")))
    malformed = await intruder.recv_until(_is("error"), timeout_s=5)
    await intruder.send(**_flatten("f-3", account="acct-02", vt_symbol=""))
    nothing = await intruder.recv_until(_is("flattenReply"), timeout_s=5)

    assert forbidden["code"] == "forbidden", forbidden
    assert malformed["code"] == "malformed" and "ticks" in malformed["message"], malformed
    assert (nothing["status"], nothing["clientOrderIds"], nothing["account"]) == ("nothingHeld", [], "acct-02")
    assert venue(desk).statistics().orders_received == 0
