"""A user's watchlist group edited over /ws (issue 8): real aiohttp, actors and vn.py replaying real ticks."""

from __future__ import annotations

import asyncio
import math

import numpy as np
from vnpy.event import Event
from vnpy.trader.event import EVENT_TICK

from actors import ActorRuntime, start_root
from actors.market.frames import tick_batch_columns
from actors.market.watchlists import MAX_WATCHLIST
from actors.root import RootSupervisor, desk_children
from schemas import actor as actor_schema
from tests.transport.conftest import is_message, wait_groups
from tests.transport.venue.test_vnpy_bridge import _tick, _wait
from transport.signin.auth import mint_token
from transport.venue.vnpy_bridge import VnpyBridge

GROUP = "watch-trader1"


async def _contracts(desk, count: int, ticked: bool = True, timeout_s: float = 10.0) -> list[str]:
    """Return ``count`` contracts the gateway knows (with a last price when ``ticked``), bounded wait."""
    bridge = desk.bridge
    async with asyncio.timeout(timeout_s):
        while True:
            found = [s for g in sorted(bridge.groups()) if not g.startswith("watch-")
                     for s in bridge.watchlist_members(g)
                     if not ticked or not math.isnan(bridge.quote(s).last_price)]
            if len(found) >= count:
                return found[:count]
            await asyncio.sleep(0.05)


async def _collect(client, *predicates, timeout_s: float = 5.0) -> list[dict]:
    """Return the first message matching each predicate, whatever order they come in (bounded)."""
    found: list[dict | None] = [None] * len(predicates)
    async with asyncio.timeout(timeout_s):
        while None in found:
            message = await client.recv(timeout_s)
            assert message["which"] != "closed", message
            for i, predicate in enumerate(predicates):
                if found[i] is None and predicate(message):
                    found[i] = message
                    break
    return found


async def _update(client, add=(), remove=()) -> int:
    return await client.send(watchlistUpdate={"add": list(add), "remove": list(remove)})


def _answer(correlation: int):
    return lambda m: m["which"] in ("ack", "error") and m["envelope"]["correlationId"] == correlation


async def test_watchlist_update_when_two_added_then_one_removed_then_group_follows_with_prices(desk, connect):
    """Adding two ticked contracts is acked with the group's name; subscribed, the group lists both with
    prices at once; removing one re-announces the list (version up) with the other, still priced."""
    client = await connect()
    first, second = await _contracts(desk, 2)
    sent = await _update(client, add=[first, second])
    ack = await client.recv_until(_answer(sent))
    assert (ack["which"], ack["of"], ack["detail"]) == ("ack", "watchlistUpdate", GROUP)

    await client.send(subscribe={"groups": [GROUP]})
    info = await client.recv_until(is_message("groupInfo", group=GROUP))
    snapshot = await client.recv_until(is_message("groupFrame", group=GROUP, kind="snapshot"))
    assert [i["vtSymbol"] for i in info["instruments"]] == [first, second]
    assert list(snapshot["columns"]["indexes"]) == [0, 1]
    assert not np.isnan(snapshot["columns"]["lastPrices"]).any()

    sent = await _update(client, remove=[first])
    ack, changed, after = await _collect(
        client, _answer(sent), is_message("groupInfo", group=GROUP),
        is_message("groupFrame", group=GROUP, kind="snapshot"))
    assert ack["which"] == "ack"
    assert changed["version"] > info["version"] and changed["firstIndex"] == 0
    assert [i["vtSymbol"] for i in changed["instruments"]] == [second]
    assert list(after["columns"]["indexes"]) == [0] and not np.isnan(after["columns"]["lastPrices"][0])
    assert desk.bridge.watchlist_members(GROUP) == [second]


async def test_watchlist_update_when_last_contract_removed_then_group_stays_empty(desk, connect):
    """Removing the only contract leaves an empty group: info with no instruments, an empty snapshot."""
    client = await connect()
    [only] = await _contracts(desk, 1)
    await client.recv_until(_answer(await _update(client, add=[only])))
    await client.send(subscribe={"groups": [GROUP]})
    await client.recv_until(is_message("groupFrame", group=GROUP, kind="snapshot"))
    sent = await _update(client, remove=[only])
    ack, info, snapshot = await _collect(client, _answer(sent), is_message("groupInfo", group=GROUP),
                                         is_message("groupFrame", group=GROUP, kind="snapshot"))
    assert ack["which"] == "ack" and info["instruments"] == [] and len(snapshot["columns"]["indexes"]) == 0
    assert desk.bridge.groups()[GROUP] == 0
    assert desk.runtime.registry.entry(f"market/group/{GROUP}").state.value == "running"


async def test_watchlist_update_when_a_contract_is_unknown_then_unknown_contract_and_known_ones_applied(
        desk, connect):
    """A vt_symbol the gateway never saw is named in error(unknownContract); the known one is added."""
    client = await connect()
    [known] = await _contracts(desk, 1, ticked=False)
    sent = await _update(client, add=["zz9999.NOWHERE", known])
    error = await client.recv_until(_answer(sent))
    assert (error["which"], error["code"]) == ("error", "unknownContract")
    assert "zz9999.NOWHERE" in error["message"] and known not in error["message"]
    assert desk.bridge.watchlist_members(GROUP) == [known]


async def test_watchlist_update_when_over_max_watchlist_then_limit_exceeded_and_nothing_applied(desk, connect):
    """An edit that would leave more than MAX_WATCHLIST contracts is refused whole."""
    client = await connect()
    await wait_groups(desk, 3)
    contracts = await _contracts(desk, MAX_WATCHLIST + 1, ticked=False, timeout_s=20.0)
    await client.recv_until(_answer(await _update(client, add=contracts[:2])))
    sent = await _update(client, add=contracts[2:])
    error = await client.recv_until(_answer(sent))
    assert (error["which"], error["code"]) == ("error", "limitExceeded")
    assert desk.bridge.watchlist_members(GROUP) == contracts[:2]


async def test_watchlist_update_when_empty_or_symbol_over_64_bytes_then_malformed(desk, connect):
    """An update with no contracts, or a 65-byte vt_symbol, is malformed; nothing reaches the gateway."""
    client = await connect()
    for add in ([], ["x" * 65]):
        sent = await _update(client, add=add)
        error = await client.recv_until(_answer(sent))
        assert (error["which"], error["code"]) == ("error", "malformed"), add
    source = desk.runtime.registry.entry("market-source").instance.statistics().extra
    assert source["watchlist_edits"] == 0 and GROUP not in desk.bridge.groups()


async def test_watchlist_group_when_another_trader_subscribes_then_forbidden_owner_and_admin_may(
        desk, connect, open_socket, jwt_secret):
    """``watch-trader1`` is refused to trader2 (forbidden, as any group a token does not allow) but taken
    by its owner even with a ``groups`` claim not naming it, and by an admin."""
    owner = await connect()
    [contract] = await _contracts(desk, 1)
    await owner.recv_until(_answer(await _update(owner, add=[contract])))

    other = await connect("trader2")
    sent = await other.send(subscribe={"groups": [GROUP]})
    refused = await other.recv_until(_answer(sent))
    assert (refused["which"], refused["code"]) == ("error", "forbidden")

    limited = await open_socket(desk, mint_token(jwt_secret, "trader1", groups=["rb"]))
    admin = await open_socket(desk, mint_token(jwt_secret, "ops1", "admin"))
    for client in (limited, admin):
        await client.send(subscribe={"groups": [GROUP]})
        info = await client.recv_until(is_message("groupInfo", group=GROUP))
        assert [i["vtSymbol"] for i in info["instruments"]] == [contract]


async def test_api_groups_when_watchlists_exist_then_only_the_users_own_is_listed(desk, connect, http,
                                                                                jwt_secret):
    """/api/groups names the caller's watchlist group (``watchlist``) and lists it once it exists; another
    user's is never listed, not even to an admin."""
    for user in ("trader1", "trader2"):
        client = await connect(user)
        [contract] = await _contracts(desk, 1)
        await client.recv_until(_answer(await _update(client, add=[contract])))
    admin = {"Authorization": f"Bearer {mint_token(jwt_secret, 'ops1', 'admin')}"}
    listed = {}
    for name, headers in (("trader1", http.trader), ("ops1", admin)):
        async with http.get("/api/groups", headers=headers) as response:
            body = await response.json()
        listed[name] = (body["watchlist"], [g["name"] for g in body["groups"] if g["name"].startswith("watch-")])
    assert listed == {"trader1": (GROUP, [GROUP]), "ops1": ("watch-ops1", [])}


async def test_update_watchlist_when_groups_run_elsewhere_then_sink_gets_list_rows_and_an_emptied_group():
    """On a NATS venue-host (a ``sink`` instead of local GroupActors) an edit goes out at once: the new
    list from index 0 and the contracts' latest rows (seq 1) under their exchange; emptied, the group's
    list goes out empty under ``NONE`` and its contracts' next ticks no longer reach it."""
    sent: list[tuple[str, str, bytes]] = []
    runtime = ActorRuntime()
    bridge = VnpyBridge(runtime, sink=lambda group, exchange, payload: sent.append((group, exchange, payload)))
    start_root(runtime, RootSupervisor, {"children": desk_children(bridge)})

    def watch() -> list[tuple[str, str, object]]:
        found = []
        for group, exchange, payload in sent:
            if group == "watch-t1":
                with actor_schema.ActorMessage.from_bytes(payload) as message:
                    member = message.which()
                    detail = ((message.instrumentsAdded.firstIndex, [i.vtSymbol for i in message.instrumentsAdded
                                                                       .instruments])
                              if member == "instrumentsAdded" else message.tickBatch.seq)
                found.append((exchange, member, detail))
        return found

    try:
        for symbol, price in (("rb1801", 3800.0), ("rb1805", 3700.0)):
            bridge.on_tick_event(Event(EVENT_TICK, _tick(symbol, price)))
        await _wait(lambda: bridge.groups().get("rb") == 2)
        edit = bridge.update_watchlist("watch-t1", ["rb1805.SHFE", "rb1801.SHFE"], [])
        assert (edit.added, edit.size) == (("rb1805.SHFE", "rb1801.SHFE"), 2)
        assert watch() == [("SHFE", "instrumentsAdded", (0, ["rb1805.SHFE", "rb1801.SHFE"])),
                           ("SHFE", "tickBatch", 1)]
        rows = tick_batch_columns(sent[-1][2])
        assert list(rows["indexes"]) == [0, 1] and list(rows["lastPrices"]) == [3700.0, 3800.0]

        edit = bridge.update_watchlist("watch-t1", [], ["rb1801.SHFE", "rb1805.SHFE", "rb1810.SHFE"])
        assert (edit.removed, edit.size, bridge.group_exchange("watch-t1")) == (
            ("rb1805.SHFE", "rb1801.SHFE"), 0, "NONE")
        assert watch()[2:] == [("NONE", "instrumentsAdded", (0, []))]
        bridge.on_tick_event(Event(EVENT_TICK, _tick("rb1801", 3801.0)))
        await _wait(lambda: bridge.quote("rb1801.SHFE").last_price == 3801.0)  # drained: routed to rb only
        assert len(watch()) == 3
    finally:
        runtime.shutdown()


def test_watchlist_groups_when_composed_over_plain_tables_then_edits_routes_and_sends_without_a_bridge():
    """WatchlistGroups works over the tables and callables it is handed (no bridge, no runtime): adding
    routes a contract's ticks to the group and sends its latest row; removing re-indexes the rest."""
    from dataclasses import dataclass, field

    from actors.market.frames import InstrumentInfo
    from actors.market.l1 import L1Table
    from transport.venue.watchlists import WatchlistGroups

    @dataclass
    class Group:
        name: str
        instruments: list = field(default_factory=list)
        table: L1Table = field(default_factory=L1Table)
        version: int = 0
        announced: int = 0

    product = Group("rb", [InstrumentInfo(f"rb18{m}.SHFE", f"rb18{m}", "SHFE", "rb", "F", 1.0, 10.0)
                           for m in ("01", "05", "10")])
    product.table.resize(3)
    product.table.apply({"indexes": np.arange(3, dtype=np.uint32), "lastPrices": np.array([3800.0, 3700.0, 3600.0]),
                         "gatewayRecvTsNs": np.array([1, 2, 3], dtype=np.int64)})
    groups = {"rb": product}
    routes = {info.vt_symbol: [(product, i)] for i, info in enumerate(product.instruments)}
    routed, rows = [], []
    watchlists = WatchlistGroups(groups, routes, new_group=lambda name: groups.setdefault(name, Group(name)),
                                 route=lambda group, payload: routed.append(group.name),
                                 send_rows=lambda group, columns: rows.append(list(columns["lastPrices"])))

    edit = watchlists.update("watch-t1", ["rb1805.SHFE", "rb1810.SHFE", "zz9999.X"], [])
    assert (edit.added, edit.unknown, watchlists.members("watch-t1")) == (
        ("rb1805.SHFE", "rb1810.SHFE"), ("zz9999.X",), ["rb1805.SHFE", "rb1810.SHFE"])
    assert routes["rb1810.SHFE"] == [(product, 2), (groups["watch-t1"], 1)] and rows == [[3700.0, 3600.0]]

    watchlists.update("watch-t1", [], ["rb1805.SHFE"])
    assert routes["rb1810.SHFE"] == [(product, 2), (groups["watch-t1"], 0)] and routes["rb1805.SHFE"] == [(product, 1)]
    assert routed == ["watch-t1", "watch-t1"] and rows[-1] == [3600.0]
