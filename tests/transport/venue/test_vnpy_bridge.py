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
from schemas.venue_events import EVENT_FEED_STATUS, FeedStatus
from transport.venue.event_engine import PromptEventEngine
from transport.venue.vnpy_bridge import TICK_BATCH_COST_TICKS, VnpyBridge, product_of

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
            await _wait(lambda: bridge.statistics().batches_sent == i + 1)   # each tick in a drain of its own
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


def _group_batches(runtime, group_path):
    """Spy on ``runtime.tell_path``: return the lists the group's TickBatch messages are appended to, as
    ``(seq, indexes, last prices)``, and the kinds of all its messages, in order."""
    import schemas
    from actors.market.frames import tick_batch_columns

    batches: list[tuple[int, list[int], list[float]]] = []
    kinds: list[str] = []
    tell_path = runtime.tell_path

    def spy(path, data):
        if path == group_path:
            with schemas.actor.ActorMessage.from_bytes(data) as message:
                kind = message.which()
                seq = message.tickBatch.seq if kind == "tickBatch" else None
            kinds.append(kind)
            if seq is not None:
                columns = tick_batch_columns(data)
                batches.append((seq, columns["indexes"].tolist(), columns["lastPrices"].tolist()))
        return tell_path(path, data)

    runtime.tell_path = spy
    return batches, kinds


async def _sliced_bridge_with_contracts(stack, symbols, slice_ticks):
    """A bridge routing at most ``slice_ticks`` per loop turn, drains not spaced, ``symbols`` known in group rb."""
    runtime, bridge, engine = await stack.enter_async_context(
        _bridge_on_engine(drain_slice_ticks=slice_ticks, drain_interval_ms=0))
    for symbol in symbols:
        bridge.on_contract_event(Event(EVENT_CONTRACT, _contract(symbol)))
    await _wait(lambda: bridge.statistics().contracts == len(symbols) and "market/group/rb" in runtime.registry)
    await runtime.wait_idle()
    return runtime, bridge


RB_250 = [f"rb{1000 + i}" for i in range(250)]
"""Contracts of group rb for the sliced-drain tests: three slices of 100 ticks' work each."""


async def _sliced_rb(stack):
    """A bridge knowing :data:`RB_250`, 100 ticks' work (and a TickBatch's) a slice: (runtime, bridge,
    rb's TickBatches, the message kinds rb got)."""
    runtime, bridge = await _sliced_bridge_with_contracts(stack, RB_250, slice_ticks=100 + TICK_BATCH_COST_TICKS)
    return (runtime, bridge, *_group_batches(runtime, "market/group/rb"))


async def test_drain_when_more_ticks_than_a_slice_then_routed_over_loop_turns_with_other_callbacks_between():
    """250 ticks with slices of 100 ticks' work (and a TickBatch's) go out in three loop turns; a callback
    queued on the loop (an order reply, a socket read) runs between them and quotes a contract still waiting
    at its tick's price; every tick reaches the group once, in batches numbered without a gap."""
    symbols = RB_250
    async with contextlib.AsyncExitStack() as stack:
        runtime, bridge, batches, _ = await _sliced_rb(stack)
        loop = asyncio.get_running_loop()
        slices_before = bridge.statistics().drain_slices
        seen: list[int] = []   # slices done each time the other callback ran

        quoted: list[float] = []   # an order's price check between slices: rb1240 still waits then

        def other_callback():
            seen.append(bridge.statistics().drain_slices - slices_before)
            if seen[-1] == 1:
                quoted.append(bridge.quote("rb1240.SHFE").last_price)
            if seen[-1] < 3 and len(seen) < 100:
                loop.call_soon(other_callback)

        for i, symbol in enumerate(symbols):   # what vn.py's dispatcher thread calls
            bridge.on_tick_event(Event(EVENT_TICK, _tick(symbol, 3000.0 + i)))
        loop.call_soon(other_callback)
        await _wait(lambda: sum(len(indexes) for _, indexes, _ in batches) >= 250)
        await runtime.wait_idle()
        group = runtime.registry.entry("market/group/rb").instance

        assert 1 in seen and 2 in seen   # it ran after the first slice and after the second
        assert quoted == [3240.0]        # the waiting tick's price, not "no last price"
        assert bridge.statistics().drain_slices - slices_before == 3
        routed = [index for _, indexes, _ in batches for index in indexes]
        assert sorted(routed) == list(range(250))   # none lost, none twice
        prices = {index: price for _, indexes, last in batches for index, price in zip(indexes, last)}
        assert prices == {i: 3000.0 + i for i in range(250)}
        seqs = [seq for seq, _, _ in batches]
        assert len(seqs) == 3 and seqs == list(range(seqs[0], seqs[0] + 3))
        assert group.tick_seq == seqs[-1] and group.tick_gaps == 0


async def test_drain_when_a_newer_tick_arrives_between_slices_then_it_replaces_the_waiting_one():
    """A contract's newer tick taken while its older one still waits for a later slice replaces it in place
    (routed once, the latest); a contract already routed in an earlier slice gets its newer tick after."""
    symbols = RB_250
    async with contextlib.AsyncExitStack() as stack:
        runtime, bridge, batches, _ = await _sliced_rb(stack)
        loop = asyncio.get_running_loop()
        slices_before = bridge.statistics().drain_slices
        conflated_before = bridge.statistics().ticks_conflated
        newer = []

        def vn_py_delivers_newer_ticks():   # after the first slice: rb1200 waits, rb1050 went out
            if bridge.statistics().drain_slices - slices_before == 0:
                loop.call_soon(vn_py_delivers_newer_ticks)
                return
            newer.append(bridge.statistics().drain_slices - slices_before)
            bridge.on_tick_event(Event(EVENT_TICK, _tick("rb1200", 9200.0)))
            bridge.on_tick_event(Event(EVENT_TICK, _tick("rb1050", 9050.0)))

        for i, symbol in enumerate(symbols):
            bridge.on_tick_event(Event(EVENT_TICK, _tick(symbol, 3000.0 + i)))
        loop.call_soon(vn_py_delivers_newer_ticks)
        await _wait(lambda: sum(len(indexes) for _, indexes, _ in batches) >= 251)
        await runtime.wait_idle()
        group = runtime.registry.entry("market/group/rb").instance

        assert newer == [1]
        routed = [(index, price) for _, indexes, last in batches for index, price in zip(indexes, last)]
        assert [price for index, price in routed if index == 200] == [9200.0]            # the latest, once
        assert [price for index, price in routed if index == 50] == [3050.0, 9050.0]     # routed, then its newer
        assert len(routed) == 251
        assert bridge.statistics().ticks_conflated - conflated_before == 1
        assert bridge.latest_row("rb1200.SHFE")[0] == 9200.0 and bridge.latest_row("rb1050.SHFE")[0] == 9050.0
        seqs = [seq for seq, _, _ in batches]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert group.tick_seq == seqs[-1] and group.tick_gaps == 0


async def test_feed_status_when_queued_after_ticks_of_a_sliced_drain_then_announced_after_their_last_slice():
    """A feed status vn.py put after 250 ticks reaches the group after all three slices' batches, not after
    the first: the group never shows a state older than ticks it still gets."""
    symbols = RB_250
    async with contextlib.AsyncExitStack() as stack:
        runtime, bridge, batches, kinds = await _sliced_rb(stack)
        for i, symbol in enumerate(symbols):
            bridge.on_tick_event(Event(EVENT_TICK, _tick(symbol, 3000.0 + i)))
        bridge.on_feed_status_event(Event(EVENT_FEED_STATUS, FeedStatus("sourceDown", "feed lost", 1, "T")))
        await _wait(lambda: "groupStatus" in kinds)
        await runtime.wait_idle()

    assert kinds == ["tickBatch", "tickBatch", "tickBatch", "groupStatus"]
    assert sum(len(indexes) for _, indexes, _ in batches) == 250


async def test_drain_when_cut_into_slices_then_each_group_still_gets_one_tick_batch():
    """Five groups' ticks interleaved, more than one slice's work: slices take whole groups, so each group
    gets all its ticks in one TickBatch, as an uncut drain would send, and the drain takes several loop turns."""
    products = ["rb", "cu", "al", "zn", "ni"]
    symbols = [f"{product}{1801 + i}" for i in range(30) for product in products]   # interleaved
    async with contextlib.AsyncExitStack() as stack:
        runtime, bridge, engine = await stack.enter_async_context(
            _bridge_on_engine(drain_slice_ticks=2 * (30 + TICK_BATCH_COST_TICKS) + 5, drain_interval_ms=0))
        for symbol in symbols:
            bridge.on_contract_event(Event(EVENT_CONTRACT, _contract(symbol)))
        await _wait(lambda: all(f"market/group/{product}" in runtime.registry for product in products))
        await runtime.wait_idle()
        spies = {product: _group_batches(runtime, f"market/group/{product}") for product in products}
        slices_before = bridge.statistics().drain_slices
        for i, symbol in enumerate(symbols):
            bridge.on_tick_event(Event(EVENT_TICK, _tick(symbol, 3000.0 + i)))
        await _wait(lambda: all(batches for batches, _ in spies.values()))
        await runtime.wait_idle()

        assert bridge.statistics().drain_slices - slices_before == 3   # two groups' work a slice
        for product, (batches, _) in spies.items():
            ((_, indexes, _),) = batches
            assert sorted(indexes) == list(range(30)), product


async def test_drain_when_a_contract_and_its_first_tick_come_together_then_the_contract_decides_its_group():
    """vn.py's ContractData and the contract's first tick taken by the same drain: the contract is added first,
    so the tick lands in the contract's product group (its option portfolio), not one named from its symbol."""
    option = ContractData(gateway_name="T", symbol="m1801-C-2800", exchange=Exchange.DCE, name="",
                          product=Product.OPTION, size=10, pricetick=0.5, option_portfolio="m_o")
    tick = TickData(gateway_name="T", symbol="m1801-C-2800", exchange=Exchange.DCE, datetime=datetime.now(TZ),
                    last_price=120.0, bid_price_1=119.5, ask_price_1=120.5, volume=1, open_interest=2)
    async with _bridge_on_engine(drain_interval_ms=0) as (runtime, bridge, engine):
        await runtime.wait_idle()
        bridge.on_contract_event(Event(EVENT_CONTRACT, option))
        bridge.on_tick_event(Event(EVENT_TICK, tick))
        await _wait(lambda: bridge.latest_row("m1801-C-2800.DCE") is not None)

        assert bridge.group_of("m1801-C-2800.DCE") == "m_o"
        assert bridge.groups() == {"m_o": 1}


async def test_tick_when_vnpy_dispatcher_is_held_then_reaches_its_group_without_it():
    """A tick does not wait in vn.py's one dispatcher queue: with that thread held by a slow handler (vn.py's
    OmsEngine or an algo), a contract and its ticks put by the gateway still reach the bridge and the group's
    TickBatch goes out; the dispatcher's own handlers get the tick once it moves on."""
    import threading

    async with _bridge_on_engine() as (runtime, bridge, engine):
        release, held, oms = threading.Event(), threading.Event(), []
        engine.register("eSlow.", lambda event: (held.set(), release.wait(10)))
        engine.register(EVENT_TICK, lambda event: oms.append(event.data.last_price))
        try:
            engine.put(Event("eSlow."))
            assert held.wait(10)
            engine.put(Event(EVENT_CONTRACT, _contract("rb1801")))
            engine.put(Event(EVENT_TICK, _tick("rb1801", 3800.0)))
            await _wait(lambda: bridge.statistics().batches_sent >= 1)
            assert bridge.statistics().ticks_in == 1 and oms == []
        finally:
            release.set()
        await _wait(lambda: oms == [3800.0])
