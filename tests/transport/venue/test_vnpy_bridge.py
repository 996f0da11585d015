"""The vn.py bridge: guarded handlers on a real EventEngine, conflation, routing by product."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from zoneinfo import ZoneInfo

from vnpy.event import Event
from vnpy.trader.constant import Exchange, Product
from vnpy.trader.event import EVENT_CONTRACT, EVENT_TICK
from vnpy.trader.object import ContractData, TickData

from actors import ActorRuntime, start_root
from actors.root import RootSupervisor, desk_children
from transport.venue.event_engine import PromptEventEngine
from transport.venue.vnpy_bridge import VnpyBridge, product_of

TZ = ZoneInfo("Asia/Shanghai")


def _tick(symbol, price):
    return TickData(gateway_name="T", symbol=symbol, exchange=Exchange.SHFE, datetime=datetime.now(TZ),
                    last_price=price, bid_price_1=price - 1, ask_price_1=price + 1, volume=1, open_interest=2)


def _contract(symbol):
    return ContractData(gateway_name="T", symbol=symbol, exchange=Exchange.SHFE, name=symbol,
                        product=Product.FUTURES, size=10, pricetick=1)


@contextlib.asynccontextmanager
async def _bridge_on_engine(**bridge_args):
    """A VnpyBridge feeding a desk's actor tree from a running vn.py EventEngine; both stopped at the end."""
    runtime = ActorRuntime()
    bridge = VnpyBridge(runtime, **bridge_args)
    start_root(runtime, RootSupervisor, {"children": desk_children(bridge)})
    engine = PromptEventEngine(interval=1)
    bridge.attach(engine)
    engine.start()
    try:
        yield runtime, bridge, engine
    finally:
        engine.stop()
        runtime.shutdown()


async def _wait(predicate, timeout_s=5.0):
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_handler_when_event_data_broken_then_error_counted_and_dispatcher_survives():
    """An exception in a vn.py handler is caught: the EventEngine thread keeps delivering."""
    async with _bridge_on_engine() as (runtime, bridge, engine):
        engine.put(Event(EVENT_TICK, object()))  # no vt_symbol: the handler raises
        engine.put(Event(EVENT_CONTRACT, _contract("rb1801")))
        engine.put(Event(EVENT_TICK, _tick("rb1801", 3800.0)))
        engine.put(Event(EVENT_TICK, _tick("rb1801", 3801.0)))
        await _wait(lambda: bridge.statistics().ticks_in == 2)
        await _wait(lambda: "market/group/rb" in runtime.registry)
        await runtime.wait_idle()
        stats = bridge.statistics()
        assert stats.handler_errors == 1
        assert stats.groups == 1 and stats.contracts == 1
        assert bridge.groups() == {"rb": 1}


async def test_drain_when_runtime_shut_down_then_routes_nothing_and_raises_nothing():
    """A desk stopping: vn.py's last ticks arm a drain that runs after the actor runtime shut down; it
    drops them instead of raising RuntimeStoppedError into the loop's exception handler."""
    raised = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: raised.append(context))
    async with _bridge_on_engine() as (runtime, bridge, engine):
        engine.put(Event(EVENT_CONTRACT, _contract("rb1801")))
        engine.put(Event(EVENT_TICK, _tick("rb1801", 3800.0)))
        await _wait(lambda: "market/group/rb" in runtime.registry and bridge.statistics().batches_sent >= 1)
        runtime.shutdown()
        drains = bridge.statistics().drains
        engine.put(Event(EVENT_TICK, _tick("rb1801", 3801.0)))
        await _wait(lambda: bridge.statistics().drains > drains)   # the drain vn.py's tick armed
    assert raised == []


def test_product_of_when_option_then_portfolio_else_leading_letters():
    """Groups are named by ProductID: the option portfolio, or the futures symbol's letters."""
    future = ContractData(gateway_name="T", symbol="IF1711", exchange=Exchange.CFFEX, name="", product=Product.FUTURES,
                          size=300, pricetick=0.2)
    option = ContractData(gateway_name="T", symbol="m1801-C-2800", exchange=Exchange.DCE, name="",
                          product=Product.OPTION, size=10, pricetick=0.5, option_portfolio="m_o")
    assert product_of(future) == "IF"
    assert product_of(option) == "m_o"


async def test_watchlist_when_configured_then_contract_routed_to_product_and_watchlist_groups():
    """A contract named in a TOML watchlist lands in its product group and in the watchlist group."""
    async with _bridge_on_engine(watchlists={"front": ["rb1801.SHFE"]}) as (runtime, bridge, engine):
        for symbol in ("rb1801", "rb1805"):
            engine.put(Event(EVENT_CONTRACT, _contract(symbol)))
        await _wait(lambda: bridge.statistics().contracts == 2)
        assert bridge.groups() == {"rb": 2, "front": 1}
        await runtime.wait_idle()
        assert "market/group/front" in runtime.registry


async def test_tick_batches_when_drained_then_numbered_per_group_and_resync_carries_the_last():
    """Each drain's TickBatch takes the group's next seq, so the aggregator sees no gap; a resync's rows
    carry the last seq, so batches after it follow on."""
    import schemas

    async with _bridge_on_engine() as (runtime, bridge, engine):
        engine.put(Event(EVENT_CONTRACT, _contract("rb1801")))
        for i in range(3):
            engine.put(Event(EVENT_TICK, _tick("rb1801", 3800.0 + i)))
            await _wait(lambda: bridge.statistics().ticks_in == i + 1)
            await runtime.wait_idle()
        group = runtime.registry.entry("market/group/rb").instance
        batches = bridge.statistics().batches_sent
        assert batches >= 2 and group.tick_seq == batches and group.tick_gaps == 0
        with schemas.actor.ActorMessage.from_bytes(bridge.resync_messages("rb")[1]) as message:
            assert message.tickBatch.seq == batches


async def test_option_contract_when_added_then_its_group_carries_strike_expiry_type_and_underlying():
    """vn.py ContractData's option_* fields reach the option group's instruments (groupInfo) through the
    bridge's encoding; a future's stay empty."""
    from vnpy.trader.constant import OptionType

    expiry = datetime(2017, 12, 7, 15, 0, tzinfo=TZ)
    option = ContractData(gateway_name="T", symbol="m1801-C-2800", exchange=Exchange.DCE, name="", product=Product.OPTION,
                          size=10, pricetick=0.5, option_portfolio="m_o", option_strike=2800.0,
                          option_underlying="m1801.DCE", option_type=OptionType.CALL, option_expiry=expiry)
    async with _bridge_on_engine() as (runtime, bridge, engine):
        engine.put(Event(EVENT_CONTRACT, option))
        engine.put(Event(EVENT_CONTRACT, _contract("rb1801")))
        await _wait(lambda: bridge.statistics().contracts == 2)
        await runtime.wait_idle()
        await _wait(lambda: runtime.registry.get("market/group/m_o").instance.instruments)
        (listed,) = runtime.registry.get("market/group/m_o").instance.instruments
        await _wait(lambda: runtime.registry.get("market/group/rb").instance.instruments)
        (future,) = runtime.registry.get("market/group/rb").instance.instruments

    assert (listed.option_strike, listed.option_type, listed.option_underlying) == (2800.0, "call", "m1801.DCE")
    assert listed.option_expiry_ts_ns == int(expiry.timestamp()) * 1_000_000_000
    assert (future.option_strike, future.option_type, future.option_underlying, future.option_expiry_ts_ns) == \
        (0.0, "", "", 0)


async def test_detail_when_a_tick_repeats_the_last_quote_then_row_refreshed_but_no_new_detail_tick():
    """A venue's subscribe snapshot (same exchange time and cumulative volume as the contract's last tick)
    refreshes the group row's receive time but is no new tick of the contract's detail stream; a later trade is."""
    from actors.market.ticks import TICKS_PATH

    async with _bridge_on_engine() as (runtime, bridge, engine):
        details: list[bytes] = []
        tell_path = runtime.tell_path

        def spy(path, data):
            if path == TICKS_PATH:
                details.append(data)
            return tell_path(path, data)

        runtime.tell_path = spy
        bridge.detail_symbols.add("rb1801.SHFE")
        engine.put(Event(EVENT_CONTRACT, _contract("rb1801")))
        first = _tick("rb1801", 3800.0)
        engine.put(Event(EVENT_TICK, first))
        await _wait(lambda: bridge.latest_row("rb1801.SHFE") is not None)
        received_ns = bridge.latest_row("rb1801.SHFE")[-1]
        engine.put(Event(EVENT_TICK, first))   # the snapshot: the same quote again
        await _wait(lambda: bridge.latest_row("rb1801.SHFE")[-1] > received_ns)
        assert len(details) == 1
        later = _tick("rb1801", 3801.0)
        later.volume = 2
        engine.put(Event(EVENT_TICK, later))
        await _wait(lambda: len(details) == 2)
