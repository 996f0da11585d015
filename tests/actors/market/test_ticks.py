"""TickDetailActor (``ticks``): a contract's every tick over a real WebSocket, from real replayed CTP ticks."""

from __future__ import annotations

import asyncio

from actors._envelope import encode_actor_message
from actors.market.ticks import HISTORY_TICKS, MAX_PER_SESSION, TICKS_PATH
from tests.conftest import JWT_SECRET
from transport.signin.auth import mint_token

SYMBOL = "rb1801.SHFE"  # ticks every ~0.5 s of the recorded hour, 20× here


def _details(message: dict) -> bool:
    return message["which"] == "tickDetail"


async def _known(desk, count: int) -> list[str]:
    """``count`` contracts that have ticked, SYMBOL first (so its history is never empty)."""
    async with asyncio.timeout(10):
        while desk.bridge.latest_row(SYMBOL) is None or len(
                symbols := [s for s in desk.bridge._routes if desk.bridge.latest_row(s)]) < count:
            await asyncio.sleep(0.05)
    return [SYMBOL] + sorted(set(symbols) - {SYMBOL})[:count - 1]


async def test_subscribe_ticks_when_contract_ticks_then_history_then_each_tick_until_unsubscribed(desk, connect):
    """Ack, the recent ticks once (history), then every tick as it comes; after unsubscribeTicks nothing."""
    client = await connect()
    await _known(desk, 1)
    sent = await client.send(subscribeTicks={"vtSymbols": [SYMBOL]})
    ack = await client.recv_until(lambda m: m["which"] in ("ack", "error"))
    assert (ack["which"], ack["of"], ack["detail"], ack["envelope"]["correlationId"]) == (
        "ack", "subscribeTicks", SYMBOL, sent)
    history = await client.recv_until(_details)
    assert history["vtSymbol"] == SYMBOL and history["history"] is True
    prices = history["ticks"]["lastPrices"]
    assert prices, history  # rb1801 ticked before the subscription: its latest tick at least
    assert len(prices) <= HISTORY_TICKS and min(prices) > 0
    live = [await client.recv_until(_details, timeout_s=10) for _ in range(3)]
    assert all(m["vtSymbol"] == SYMBOL and not m["history"] for m in live)
    stamps = [t for m in live for t in m["ticks"]["exchangeTsNs"]]
    assert stamps == sorted(stamps) and all(p > 0 for m in live for p in m["ticks"]["lastPrices"])

    await client.send(unsubscribeTicks={"vtSymbols": [SYMBOL]})
    await client.recv_until(lambda m: m["which"] == "ack" and m["of"] == "unsubscribeTicks")
    await asyncio.sleep(0.3)  # a drain already on its way may still arrive
    while True:
        try:
            message = await client.recv(timeout_s=1.0)
        except TimeoutError:
            break
        assert not _details(message), message


async def test_subscribe_ticks_when_contract_unknown_then_unknown_contract_and_known_ones_still_followed(
        desk, connect):
    """An unknown vt_symbol is named in an unknownContract error; the known one in the same message is followed."""
    client = await connect()
    await _known(desk, 1)
    await client.send(subscribeTicks={"vtSymbols": ["nope9999.SHFE", SYMBOL]})
    error = await client.recv_until(lambda m: m["which"] == "error")
    assert error["code"] == "unknownContract" and "nope9999.SHFE" in error["message"]
    assert (await client.recv_until(_details, timeout_s=10))["vtSymbol"] == SYMBOL


async def test_subscribe_ticks_when_malformed_or_over_the_limit_then_refused_and_nothing_followed(desk, connect):
    """No contract, a 65-byte vt_symbol or 17 in one message is malformed; past 16 followed is limitExceeded."""
    client = await connect()
    symbols = await _known(desk, MAX_PER_SESSION + 1)
    for bad in ([], ["x" * 65], symbols):
        await client.send(subscribeTicks={"vtSymbols": bad})
        assert (await client.recv_until(lambda m: m["which"] == "error"))["code"] == "malformed"
    await client.send(subscribeTicks={"vtSymbols": symbols[:MAX_PER_SESSION]})
    await client.recv_until(lambda m: m["which"] == "ack" and m["of"] == "subscribeTicks")
    await client.send(subscribeTicks={"vtSymbols": symbols[MAX_PER_SESSION:]})
    error = await client.recv_until(lambda m: m["which"] == "error")
    assert error["code"] == "limitExceeded"
    ticks = desk.runtime.registry.entry(TICKS_PATH).instance
    assert symbols[MAX_PER_SESSION] not in ticks.subscribers or not ticks.subscribers[symbols[MAX_PER_SESSION]]


async def test_subscribe_ticks_when_token_lacks_the_group_then_forbidden(desk, connect):
    """A token whose ``groups`` claim lacks rb may not follow rb1801's ticks either."""
    client = await connect(auth=False)
    await _known(desk, 1)
    await client.send(auth={"token": mint_token(JWT_SECRET, "trader1", groups=["cu"])})
    await client.recv_until(lambda m: m["which"] == "ack")
    await client.send(subscribeTicks={"vtSymbols": [SYMBOL]})
    error = await client.recv_until(lambda m: m["which"] == "error")
    assert error["code"] == "forbidden" and SYMBOL in error["message"]


async def test_ticks_actor_when_crashed_then_sessions_follow_again_and_ticks_resume(desk, connect):
    """A restarted ticks actor has lost its subscribers: it tells the sessions, which subscribe again."""
    client = await connect()
    await _known(desk, 1)
    await client.send(subscribeTicks={"vtSymbols": [SYMBOL]})
    await client.recv_until(_details, timeout_s=10)
    desk.runtime.tell_path(TICKS_PATH, encode_actor_message("crash", "test", source="test"))
    async with asyncio.timeout(10):
        while desk.runtime.registry.entry(TICKS_PATH).restarts < 1:
            await asyncio.sleep(0.02)
    history = await client.recv_until(lambda m: _details(m) and m["history"], timeout_s=10)
    assert history["vtSymbol"] == SYMBOL
    assert not (await client.recv_until(_details, timeout_s=10))["history"]


async def test_subscribe_ticks_when_venue_sends_five_levels_then_each_tick_carries_its_book(start_desk, ws_client_type):
    """On the synthetic market (a book one price tick apart), every live tick detail carries levels 1..5 of
    bids and asks, level 1 equal to the tick's best bid and ask; a history row from the group's L1 state has
    level 1 and unknown (NaN) levels 2..5."""
    import math

    import aiohttp

    desk = await start_desk(contracts=200, rate=400.0)
    async with asyncio.timeout(10):
        while not (symbols := [s for s in desk.bridge._routes if desk.bridge.latest_row(s)]):
            await asyncio.sleep(0.05)
    symbol = symbols[0]
    tick = desk.bridge.quote(symbol).price_tick
    async with aiohttp.ClientSession() as http:
        client = await ws_client_type.connect(http, f"ws://127.0.0.1:{desk.port}/ws",
                                              token=mint_token(JWT_SECRET, "trader1"))
        await client.send(subscribeTicks={"vtSymbols": [symbol]})
        history = await client.recv_until(_details)
        live = await client.recv_until(lambda m: _details(m) and not m["history"], timeout_s=20)
        await client.ws.close()

    depth, ticks = history["depth"], history["ticks"]
    assert len(depth["bidPrices"]) == 5 * len(ticks["lastPrices"])
    assert depth["bidPrices"][-5] == ticks["bidPrices"][-1] and all(math.isnan(v) for v in depth["bidPrices"][-4:])
    depth, ticks = live["depth"], live["ticks"]
    n = len(ticks["lastPrices"])
    assert n >= 1 and all(len(depth[name]) == 5 * n for name in depth)
    for i in range(n):
        bids, asks = depth["bidPrices"][5 * i:5 * i + 5], depth["askPrices"][5 * i:5 * i + 5]
        assert bids[0] == ticks["bidPrices"][i] and asks[0] == ticks["askPrices"][i]
        assert depth["bidVolumesLots"][5 * i] == ticks["bidVolumesLots"][i]
        for level in range(1, 5):  # one price tick apart, or 0 beyond the price limits
            assert bids[level] == 0 or abs(bids[level] - (bids[0] - level * tick)) < tick / 100, bids
            assert asks[level] == 0 or abs(asks[level] - (asks[0] + level * tick)) < tick / 100, asks
        assert all(v > 0 for v in depth["bidVolumesLots"][5 * i:5 * i + 5] if bids[0] > 0)
