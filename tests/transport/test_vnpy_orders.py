"""OrderBridge.query: the venue's own answer, never another order's, and no answer from a venue not connected."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from vnpy.event import EventEngine
from vnpy.trader.constant import Direction, Exchange, Offset, OrderType, Product
from vnpy.trader.object import ContractData, OrderRequest

from actors.orders.config import AccountSpec, OrdersConfig
from actors.orders.errors import VenueUnavailableError
from actors.orders.record import OrderRecord, reference_of
from sim.exchange import SimExchange
from sim.gateway import SimGateway
from transport.vnpy_orders import OrderBridge


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
