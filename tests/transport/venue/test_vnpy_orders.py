"""The order bridge: vn.py's events routed to the order and account actors on the loop thread; its query
answers with the venue's own view of an order, never another order's, and never from a venue not connected."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest
from vnpy.event import EventEngine
from vnpy.trader.constant import Direction, Exchange, Offset, OrderType, Product
from vnpy.trader.object import ContractData, OrderRequest

from actors import ActorRuntime, ChildSpec, Supervisor, start_root
from actors.accounts.account import AccountActor
from actors.orders.config import AccountSpec, OrdersConfig
from actors.orders.errors import VenueUnavailableError
from actors.orders.record import OrderRecord, reference_of
from sim.exchange import SimExchange
from sim.gateway import SimGateway
from transport.venue.vnpy_orders import OrderBridge


class _Events:
    """Stands in for vn.py's EventEngine: keeps the handlers the bridge registers."""

    def __init__(self) -> None:
        self.handlers: dict[str, list] = {}

    def register(self, event_type: str, handler) -> None:
        self.handlers.setdefault(event_type, []).append(handler)

    def emit(self, event_type: str, data) -> None:
        for handler in self.handlers.get(event_type, ()):
            handler(SimpleNamespace(type=event_type, data=data))


async def test_drain_when_runtime_shut_down_then_events_dropped_without_raising():
    """vn.py may emit while the desk stops: the bridge's drain after the runtime's shutdown drops the batch
    (and routes nothing) instead of raising in the loop callback."""
    from vnpy.trader.event import EVENT_ACCOUNT

    runtime = ActorRuntime()
    config = OrdersConfig(accounts=(AccountSpec("acct-01", "trader1"),))
    start_root(runtime, Supervisor, {"children": [ChildSpec("accounts", Supervisor, {"children": [
        ChildSpec("acct-01", AccountActor, {"account": "acct-01", "market": None, "port": SimpleNamespace(
            trades_for=lambda account: [], account_data=lambda gateway: None), "status_interval_s": 60.0})]})]})
    await runtime.wait_idle()
    bridge = OrderBridge(runtime, config)
    events = _Events()
    bridge.attach(events)
    account = SimpleNamespace(balance=1.0, frozen=0.0, available=1.0, gateway_name="SIM", vt_accountid="SIM.x")
    errors = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        runtime.shutdown()
        events.emit(EVENT_ACCOUNT, account)   # the wake-up drain runs on the loop, after the shutdown
        await asyncio.sleep(0.01)
        bridge.drain()
    finally:
        loop.set_exception_handler(None)

    assert errors == []
    assert bridge.statistics().accounts_in <= 1


def _record(client_order_id: str, vt_orderid: str = "") -> OrderRecord:
    return OrderRecord(client_order_id, "acct-01", "rb1801.SHFE", "long", "open", "limit", 3900.0, 1.0,
                       vt_orderid=vt_orderid)


@pytest.fixture
def bridge_and_venue():
    """An OrderBridge over a MainEngine stand-in holding a simulator gateway attached to its own venue."""
    gateway = SimGateway(EventEngine(), "SIM")
    bridge = OrderBridge(SimpleNamespace(loop=asyncio.new_event_loop()),
                         OrdersConfig(accounts=(AccountSpec("acct-01", "trader1"),)))
    bridge.main_engine = SimpleNamespace(get_gateway=lambda name: gateway if name == "SIM" else None)
    venue = SimExchange.venue(f"bridge-query-{id(gateway)}")
    venue.on_contract(ContractData(symbol="rb1801", exchange=Exchange.SHFE, name="rb", product=Product.FUTURES,
                                   size=10, pricetick=1.0, gateway_name="SIM"))
    yield bridge, gateway, venue
    bridge.loop.close()


def test_query_when_vt_orderid_names_another_order_then_not_taken_for_this_one(bridge_and_venue):
    """The venue's order under this vt_orderid carries another order's reference: the answer is "unknown"
    (by reference), not the other order's state; by reference alone the venue's own order is found."""
    bridge, gateway, venue = bridge_and_venue
    with pytest.raises(VenueUnavailableError):
        bridge.query(_record("new-1", "SIM.1"))        # not connected: no answer either way
    gateway.exchange = venue
    venue.attach(gateway)
    vt_orderid = venue.send_order(gateway, OrderRequest("rb1801", Exchange.SHFE, Direction.LONG, OrderType.LIMIT,
                                                        1.0, 3890.0, Offset.OPEN, reference_of("acct-01", "old-1")))

    assert bridge.query(_record("new-1", vt_orderid)) is None
    assert bridge.query(_record("old-1")).vt_orderid == vt_orderid
    assert bridge.query(_record("old-1", vt_orderid)).status == "notTraded"
    venue.detach(gateway)


def test_query_when_gateway_without_query_order_is_not_ready_then_venue_unavailable_not_unknown():
    """A CTP-like gateway (no ``query_order``) that dropped: vn.py's cache is not the venue's answer, so the query
    raises VenueUnavailableError instead of saying "not known" (which would close a live order); once the gateway
    is contractsReady again the cache answers."""
    from tests.actors.order_kit import ScriptedVenues

    venues = ScriptedVenues(CTP="reconnecting")
    bridge = OrderBridge(SimpleNamespace(loop=asyncio.new_event_loop()),
                         OrdersConfig(accounts=(AccountSpec("acct-01", "trader1", real=("CTP",)),)), venues=venues)
    bridge.main_engine = SimpleNamespace(get_gateway=lambda name: SimpleNamespace() if name == "CTP" else None,
                                         get_order=lambda vt_orderid: None)
    try:
        with pytest.raises(VenueUnavailableError, match="reconnecting"):
            bridge.query(_record("o-1", "CTP.1_2_3"))
        venues.set("CTP", "contractsReady")
        assert bridge.query(_record("o-1", "CTP.1_2_3")) is None
    finally:
        bridge.loop.close()


async def test_order_answer_when_vnpy_dispatcher_is_held_by_ticks_then_reaches_the_loop_without_it():
    """An order's answer does not queue behind the market in vn.py's one dispatcher thread: with that thread
    held by a slow tick handler, the simulator's SUBMITTING and NOT TRADED reach the bridge's drain on the loop,
    and vn.py's own handlers (its OmsEngine) still get them once the dispatcher moves on."""
    from vnpy.event import Event
    from vnpy.trader.event import EVENT_ORDER, EVENT_TICK

    from transport.venue.event_engine import PromptEventEngine

    runtime = ActorRuntime()
    engine = PromptEventEngine(interval=3600)
    bridge = OrderBridge(runtime, OrdersConfig(accounts=(AccountSpec("acct-01", "trader1"),)))
    bridge.attach(engine)
    release, held, oms = threading.Event(), threading.Event(), []
    engine.register(EVENT_TICK, lambda event: (held.set(), release.wait(10)))
    engine.register(EVENT_ORDER, lambda event: oms.append(event.data.status.name))
    gateway = SimGateway(engine, "SIM")
    venue = SimExchange.venue(f"bridge-direct-{id(gateway)}")
    venue.on_contract(ContractData(symbol="rb1801", exchange=Exchange.SHFE, name="rb", product=Product.FUTURES,
                                   size=10, pricetick=1.0, gateway_name="SIM"))
    gateway.exchange = venue
    venue.attach(gateway)
    engine.start()
    try:
        engine.put(Event(EVENT_TICK, None))
        assert held.wait(10)
        venue.send_order(gateway, OrderRequest("rb1801", Exchange.SHFE, Direction.LONG, OrderType.LIMIT, 1.0, 3890.0,
                                               Offset.OPEN, reference_of("acct-01", "c-1")))
        for _ in range(500):   # bounded: the drain is one loop callback away
            if bridge.statistics().orders_in >= 2:
                break
            await asyncio.sleep(0.002)
        assert bridge.statistics().orders_in == 2 and oms == []
        release.set()
        for _ in range(500):
            if len(oms) >= 2:
                break
            await asyncio.sleep(0.002)
        assert oms == ["SUBMITTING", "NOTTRADED"]
    finally:
        release.set()
        venue.detach(gateway)
        engine.stop()
