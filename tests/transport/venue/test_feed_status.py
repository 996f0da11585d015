"""Feed status per gateway (issue 15): a group's sourceDown names the vn.py gateway that is down, and groups of
another gateway's contracts stay live (transport.venue.feed_status)."""

from __future__ import annotations

from sim.gateway import SimGateway
from schemas.venue_events import FeedStatus
from tests.conftest import JWT_SECRET
from tests.transport.orders_kit import token
from transport.venue.feed_status import FeedStatusBook
from transport.venue.gateways import GatewayConfig

L1_HEADER = ("TradingDay,ActionDay,UpdateTime,UpdateMillisec,ExchangeID,InstrumentID,ProductID,ProductClass,"
             "LastPrice,Volume,OpenInterest,BidPrice1,BidVolume1,AskPrice1,AskVolume1,InSession")


def test_of_group_when_one_gateway_down_then_its_groups_down_naming_it_and_others_live():
    """The worst state of a group's gateways, the reasons of those in it; other gateways' groups stay live."""
    book = FeedStatusBook()
    assert book.of_group({"CTP"}) is None
    book.note(FeedStatus("live", "venue CTP ready", 1, "CTP"))
    book.note(FeedStatus("live", "venue SOPT ready", 2, "SOPT"))
    book.note(FeedStatus("sourceDown", "venue CTP reconnecting", 3, "CTP"))
    assert book.of_group({"CTP"}) == FeedStatus("sourceDown", "venue CTP reconnecting", 3, "CTP")
    assert book.of_group({"SOPT"}) == FeedStatus("live", "venue SOPT ready", 2, "SOPT")
    assert book.of_group({"CTP", "SOPT"}).state == "sourceDown"   # a watchlist spanning both
    book.note(FeedStatus("sourceDown", "venue SOPT reconnecting", 4, "SOPT"))
    both = book.of_group({"CTP", "SOPT"})
    assert (both.state, both.reason, both.gateway_name) == (
        "sourceDown", "venue CTP reconnecting; venue SOPT reconnecting", "")
    assert book.of_group(()).state == "sourceDown"   # a group with no contract yet: every gateway's


def test_note_when_a_status_of_every_gateway_then_it_replaces_the_per_gateway_ones():
    """A gateway that does not name itself speaks for every gateway."""
    book = FeedStatusBook()
    book.note(FeedStatus("sourceDown", "venue CTP reconnecting", 1, "CTP"))
    book.note(FeedStatus("ended", "replay finished", 2))
    assert book.of_group({"CTP"}) == FeedStatus("ended", "replay finished", 2)


def _tape(path, product: str = "zz") -> str:
    """A 20-second tape of one SHFE contract, a tick every 500 ms (looped by the gateway)."""
    rows = []
    for i in range(40):
        price = 100.0 + i % 5
        rows.append(f"20171113,20171113,09:00:{i // 2:02d},{500 * (i % 2)},SHFE,{product}1801,{product},F,{price},"
                    f"{i + 1},10,{price - 0.5},1,{price},2,True")
    path.write_text("\n".join([L1_HEADER, *rows]) + "\n", encoding="utf-8")
    return str(path)


def _status(group: str, state: str):
    return lambda m: m["which"] == "groupStatus" and m["group"] == group and m["state"] == state


async def test_venue_disconnect_when_one_of_two_gateways_drops_then_only_its_groups_source_down_naming_it(
        start_desk, open_socket, tmp_path, eventually):
    """Gateway TAPE (contract zz1801) drops while SIM (synthetic futures and options) is fine: group zz turns
    sourceDown with a reason naming TAPE and its state, then live after the reconnect; a group of SIM's contracts
    hears no sourceDown meanwhile."""
    gateways = (GatewayConfig("SIM", "sim.gateway:SimGateway", {"venue": f"feed-sim-{id(tmp_path)}"}),
                GatewayConfig("TAPE", "sim.gateway:SimGateway", {
                    "venue": f"feed-tape-{id(tmp_path)}", "replay": _tape(tmp_path / "zz.csv"), "loop": True,
                    "speed": 1.0}))
    desk = await start_desk(contracts=20, rate=200.0, gateways=gateways)
    other = next(ref.product for ref in desk.engine.gateway("SIM").market.instruments if ref.product_class == "F")
    await eventually(lambda: {other, "zz"} <= set(desk.bridge.groups()), timeout_s=10, what=f"groups {other} and zz")
    client = await open_socket(desk, token(JWT_SECRET, "trader1"))
    await client.send(subscribe={"groups": [other, "zz"]})
    for group in (other, "zz"):
        await client.recv_until(_status(group, "live"), timeout_s=10)

    tape: SimGateway = desk.engine.gateway("TAPE")
    heard: list[dict] = []

    def hear(group: str, state: str):
        def match(message) -> bool:
            if message["which"] == "groupStatus":
                heard.append(message)
            return _status(group, state)(message)
        return match

    tape.disconnect_venue()
    down = await client.recv_until(hear("zz", "sourceDown"), timeout_s=10)
    assert "TAPE" in down["reason"] and "reconnecting" in down["reason"], down
    assert desk.engine.connections.status("SIM").ready
    tape.reconnect_venue()
    await client.recv_until(hear("zz", "live"), timeout_s=10)
    assert [m["state"] for m in heard if m["group"] == other and m["state"] != "live"] == []
