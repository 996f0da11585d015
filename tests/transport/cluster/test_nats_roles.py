"""Node roles in one process over one nats-server: venue-host → aggregator → edge, and orders back."""

from __future__ import annotations

import asyncio
import collections

import pytest

from actors.market.ticks import TICKS_PATH

from tests.transport.conftest import is_message
from tests.transport.orders_kit import last_price, order, orders_config, token, venue, venue_setting
from transport.process.app import Desk, DeskConfig
from transport.errors import ConfigError
from transport.cluster.nats_bus import NatsBus
from transport.signin.auth import mint_token

pytestmark = pytest.mark.nats


@pytest.fixture
async def node_factory(nats_url, data_dir, jwt_secret, start_desk):
    """Start desks of any role on one nats-server (stopped before the server)."""

    async def _start(role: str, **config) -> Desk:
        if role == "venue-host":
            config.setdefault("replay", (str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"),))
        return await start_desk(jwt_secret=jwt_secret, role=role, nats=(nats_url,), **config)

    return _start


@pytest.fixture
async def three_nodes(node_factory, tmp_path):
    """A venue-host replaying real ticks, an aggregator and an edge node on one nats-server."""
    host = await node_factory("venue-host", orders=orders_config(tmp_path), sim=venue_setting())
    aggregator = await node_factory("aggregator")
    edge = await node_factory("edge", orders=orders_config(tmp_path))
    return host, aggregator, edge


async def _wait_group(desk, group: str, timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while group not in desk.groups():
            await asyncio.sleep(0.02)


async def test_roles_when_ticks_from_venue_host_then_edge_clients_get_aggregated_frames(
        three_nodes, open_socket, jwt_secret):
    """rb's ticks cross md.batch.* to the aggregator, whose frames reach an edge client: info, snapshot, deltas."""
    host, aggregator, edge = three_nodes
    await _wait_group(aggregator, "rb")
    await _wait_group(edge, "rb")
    client = await open_socket(edge, token(jwt_secret, "trader1", ["acct-01"]))
    await client.send(subscribe={"groups": ["rb"]})
    info = await client.recv_until(is_message("groupInfo", group="rb"), timeout_s=10)
    await client.recv_until(is_message("groupFrame", group="rb", kind="snapshot"), timeout_s=10)
    delta = await client.recv_until(is_message("groupFrame", group="rb", kind="delta"), timeout_s=10)
    assert "rb1801.SHFE" in [i["vtSymbol"] for i in info["instruments"]]
    assert delta["seq"] > 0
    assert host.links.ticks.published > 0 and aggregator.links.ticks.received > 0
    # the contract detail actor runs where vn.py does, an edge has its stand-in; every node's tree is healthy
    kinds = [node.runtime.registry.get(TICKS_PATH) for node in three_nodes]
    assert [entry and entry.kind for entry in kinds] == ["TickDetailActor", None, "RemoteTickDetailActor"]
    for node in three_nodes:
        assert node.runtime.root_failure is None
        assert all(entry.restarts == 0 for entry in node.runtime.registry.entries()), node.config.role


async def test_roles_when_order_through_edge_then_host_sends_once_and_audits_once(
        three_nodes, open_socket, jwt_secret, nats_url):
    """An order and its retry through the edge: one send at the host, same reply twice, one AUDIT entry."""
    host, _, edge = three_nodes
    client = await open_socket(edge, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(host)
    await client.send(**order("g-1", last - 20))
    seen = {}
    await client.recv_until(lambda m: seen.setdefault(m["which"], m) and {"orderReply", "orderAccepted"} <= set(seen),
                            timeout_s=10)
    first = seen["orderReply"]
    await client.send(**order("g-1", last - 20))
    second = await client.recv_until(is_message("orderReply"), timeout_s=10)
    assert first["status"] == "accepted" and first["vtOrderId"] == second["vtOrderId"]
    assert seen["orderAccepted"]["order"]["vtOrderId"] == first["vtOrderId"]
    assert venue(host).statistics().orders_received == 1
    bus = NatsBus([nats_url], name="audit-reader")
    await bus.connect()
    try:
        async with asyncio.timeout(5):
            while await bus.audit_count() < 1:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert await bus.audit_count() == 1
    finally:
        await bus.close()


async def test_roles_when_no_order_host_then_edge_says_not_sent(node_factory, open_socket, jwt_secret, tmp_path):
    """Without a venue-host, a submit gets an error saying the order was not sent (no responders)."""
    edge = await node_factory("edge", orders=orders_config(tmp_path))
    client = await open_socket(edge, token(jwt_secret, "trader1", ["acct-01"]))
    await client.send(**order("n-1", 3900.0))
    error = await client.recv_until(is_message("error"), timeout_s=10)
    assert error["code"] == "internal" and "not sent" in error["message"]


def test_roles_when_misconfigured_then_config_error():
    """Roles other than all need NATS; --groups only on an aggregator; unknown roles refused."""
    for config in (DeskConfig(role="aggregator"), DeskConfig(role="venue-host"), DeskConfig(role="x", nats=("n",)),
                   DeskConfig(role="edge", nats=("n",), groups=("rb",))):
        with pytest.raises(ConfigError):
            Desk(config)


async def test_roles_when_aggregators_own_shards_then_each_runs_its_groups_and_edge_sees_all(
        node_factory, tmp_path):
    """Two aggregators with --groups shards: each runs only its groups; one edge serves both shards."""
    host = await node_factory("venue-host", orders=orders_config(tmp_path), sim=venue_setting())
    async with asyncio.timeout(15):
        while len(host.groups()) < 3:
            await asyncio.sleep(0.05)
    other = sorted(g for g in host.groups() if g != "rb")[0]
    first = await node_factory("aggregator", groups=("rb",))
    second = await node_factory("aggregator", groups=(other,))
    edge = await node_factory("edge", orders=orders_config(tmp_path))
    for group in ("rb", other):
        await _wait_group(edge, group)
    assert set(first.groups()) == {"rb"} and set(second.groups()) == {other}


async def test_roles_when_aggregator_group_crashes_then_rebuilt_from_venue_host(three_nodes):
    """A crashed GroupActor on an aggregator asks ops.tickresync and gets every instrument and row back."""
    from actors import encode_actor_message

    host, aggregator, _ = three_nodes
    await _wait_group(aggregator, "rb")
    served = host.links.ticks.resyncs
    aggregator.runtime.tell_path("market/group/rb", encode_actor_message("crash", "test"))
    entry = aggregator.runtime.registry.get("market/group/rb")
    try:
        async with asyncio.timeout(10):
            while not (entry.restarts and entry.instance is not None and entry.instance.instruments
                       and len(entry.instance.instruments) >= host.groups()["rb"]):
                await asyncio.sleep(0.02)
                entry = aggregator.runtime.registry.get("market/group/rb")
    except TimeoutError:
        raise AssertionError(f"not rebuilt: restarts={entry.restarts} state={entry.state} "
                             f"instruments={entry.instance and len(entry.instance.instruments)} "
                             f"host={host.groups()['rb']} links={aggregator.links.statistics_dict()}") from None
    assert host.links.ticks.resyncs > served


async def test_roles_when_order_host_never_answers_then_outcome_unknown_with_reason(
        node_factory, nats_url, open_socket, jwt_secret, tmp_path):
    """A responder that never replies: the edge answers outcomeUnknown and says why; nothing is re-sent."""
    edge = await node_factory("edge", orders=orders_config(tmp_path, answer_timeout_s=0.5))
    silent = NatsBus([nats_url], name="silent-host")
    await silent.connect()
    received = []
    try:
        await silent.subscribe("order.submit.*", received.append)
        client = await open_socket(edge, token(jwt_secret, "trader1", ["acct-01"]))
        await client.send(**order("u-1", 3900.0))
        reply = await client.recv_until(is_message("orderReply"), timeout_s=10)
        error = await client.recv_until(is_message("error"), timeout_s=10)
    finally:
        await silent.close()
    assert reply["status"] == "outcomeUnknown" and reply["clientOrderId"] == "u-1"
    assert "outcome is unknown" in error["message"] and len(received) == 1


def test_order_host_when_replies_arrive_then_each_waiting_request_answered_once_in_order():
    """Two requests for one order (same key) get one reply each, FIFO; an error finds its command by correlation."""
    from actors import encode_error, new_server_message
    from transport.cluster.nats_orders import OrderHost

    class Bus:
        def __init__(self):
            self.sent = []

        def publish_nowait(self, subject, data, headers=None):
            self.sent.append(subject)
            return True

    def reply(client_order_id: str, correlation: int) -> bytes:
        message, body = new_server_message("orderReply", correlation, "test")
        body.clientOrderId, body.account, body.status = client_order_id, "acct-01", "accepted"
        return message.to_bytes()

    bus = Bus()
    host = OrderHost(runtime=None, bus=bus)
    host.pending[("submitOrder", "acct-01", "o-1", 7)] = collections.deque([("inbox.1", 0.0), ("inbox.2", 0.0)])
    host.pending[("cancelOrder", "acct-01", "o-2", 9)] = collections.deque([("inbox.3", 0.0)])
    for payload in (reply("o-1", 7), reply("o-1", 7), reply("o-1", 7), encode_error("internal", "x", 9, "test")):
        host._on_reply(payload)
    assert bus.sent == ["inbox.1", "inbox.2", "inbox.3"]
    assert host.unmatched == 1 and not host.pending


async def _host_request(nats_url: str, data: bytes, account: str = "acct-01") -> dict:
    """Send one order request straight to the order host over NATS, as a node would; return the decoded reply."""
    from transport.cluster import subjects
    from transport.edge.client import read_server_message

    bus = NatsBus([nats_url], name="rogue-edge")
    await bus.connect()
    try:
        return read_server_message(await bus.request(subjects.order_submit(account), data, timeout_s=5))
    finally:
        await bus.close()


async def test_order_host_when_token_does_not_grant_the_account_then_forbidden_and_nothing_sent(
        three_nodes, nats_url, open_socket, jwt_secret):
    """The order host checks the sender's token claims, not the request: another user's account id is refused
    (through an edge, and straight on order.submit), commands without claims too; nothing reaches the venue."""
    from actors.orders.codec import encode_order_command
    from transport.edge.client import client_message

    host, _, edge = three_nodes
    client = await open_socket(edge, token(jwt_secret, "trader2", ["acct-02"]))
    await client.send(**order("x-1", 3900.0, account="acct-01"))
    error = await client.recv_until(is_message("error"), timeout_s=10)
    assert error["code"] == "forbidden"

    submit = client_message(1, **order("x-2", 3900.0, account="acct-01"))
    for accounts, all_accounts, user in ((("acct-02",), False, "trader2"), ((), False, "trader2"),
                                         (("acct-01",), False, "")):
        data = encode_order_command("sessions/session/1", user, submit, "rogue", 0, accounts, all_accounts)
        reply = await _host_request(nats_url, data)
        assert reply["which"] == "error" and reply["code"] == "forbidden", reply
        assert "may not trade account 'acct-01'" in reply["message"]
    assert host.links.orders.statistics_dict()["order_forbidden"] == 3
    assert venue(host).statistics().orders_received == 0

    data = encode_order_command("sessions/session/1", "ops", submit, "rogue", 0, (), True)  # an admin's token
    reply = await _host_request(nats_url, data)
    assert reply["which"] == "orderReply" and reply["clientOrderId"] == "x-2"


def _answer(correlation: int):
    return lambda m: m["which"] in ("ack", "error") and m["envelope"]["correlationId"] == correlation


async def test_watchlist_when_edited_through_an_edge_then_applied_on_venue_host_and_group_served_at_edge(
        three_nodes, open_socket, jwt_secret):
    """watchlistUpdate on an edge node is applied by the venue-host's bridge (ack with the group), and the
    user's watch- group then reaches the edge through the aggregator like any other; errors come back too."""
    host, _, edge = three_nodes
    await last_price(host)
    client = await open_socket(edge, token(jwt_secret, "ann", ["acct-01"]))
    sent = await client.send(watchlistUpdate={"add": ["rb1801.SHFE"], "remove": []})
    ack = await client.recv_until(_answer(sent), timeout_s=10)
    assert (ack["which"], ack["of"], ack["detail"]) == ("ack", "watchlistUpdate", "watch-ann"), ack
    assert host.bridge.watchlist_members("watch-ann") == ["rb1801.SHFE"]

    await _wait_group(edge, "watch-ann")
    await client.send(subscribe={"groups": ["watch-ann"]})
    info = await client.recv_until(is_message("groupInfo", group="watch-ann"), timeout_s=10)
    assert [i["vtSymbol"] for i in info["instruments"]] == ["rb1801.SHFE"]
    await client.recv_until(is_message("groupFrame", group="watch-ann", kind="snapshot"), timeout_s=10)

    sent = await client.send(watchlistUpdate={"add": ["zz9999.NOWHERE"], "remove": []})
    error = await client.recv_until(_answer(sent), timeout_s=10)
    assert (error["which"], error["code"]) == ("error", "unknownContract") and "zz9999.NOWHERE" in error["message"]

    from transport.process.admin_client import admin_request  # operators see the link's counters

    _, tree = await admin_request(edge.url, mint_token(jwt_secret, "ops", "admin"), "tree")
    assert tree["nats"]["watchlist_edits_sent"] == 2 and tree["nats"]["watchlist_replies"] == 2
    assert tree["nats"]["socket_ledger_ready"] is True


async def test_watchlist_when_no_venue_host_then_edge_says_not_applied(node_factory, open_socket, jwt_secret,
                                                                        tmp_path):
    """Without a venue-host an edit through an edge is refused at once (internal, nothing applied)."""
    edge = await node_factory("edge", orders=orders_config(tmp_path))
    client = await open_socket(edge, token(jwt_secret, "ann", ["acct-01"]))
    sent = await client.send(watchlistUpdate={"add": ["rb1801.SHFE"], "remove": []})
    error = await client.recv_until(_answer(sent), timeout_s=10)
    assert error["which"] == "error" and error["code"] == "internal" and "not edited" in error["message"]


def _details(message: dict) -> bool:
    return message["which"] == "tickDetail"


async def test_contract_detail_when_followed_on_two_edges_then_md_tick_stream_once_per_node_and_forbidden_refused(
        node_factory, three_nodes, open_socket, jwt_secret, tmp_path):
    """subscribeTicks on edge nodes: ack, history, every tick from md.tick.SHFE.rb1801 (one NATS subscription
    per node however many sessions follow); a token without rb's group gets forbidden and no ticks;
    once the last follower leaves, the venue-host stops following the contract."""
    host, _, edge = three_nodes
    other = await node_factory("edge", orders=orders_config(tmp_path))
    await last_price(host)
    first = await open_socket(edge, token(jwt_secret, "ann"))
    second = await open_socket(edge, token(jwt_secret, "bob"))
    third = await open_socket(other, token(jwt_secret, "cid"))
    for client in (first, second, third):
        sent = await client.send(subscribeTicks={"vtSymbols": ["rb1801.SHFE"]})
        ack = await client.recv_until(lambda m: m["which"] in ("ack", "error"), timeout_s=10)
        assert (ack["which"], ack["of"], ack["detail"], ack["envelope"]["correlationId"]) == (
            "ack", "subscribeTicks", "rb1801.SHFE", sent), ack
        # a session joining a contract its node already follows may see a live tick before its history
        history = await client.recv_until(lambda m: _details(m) and m["history"], timeout_s=10)
        assert history["vtSymbol"] == "rb1801.SHFE" and history["ticks"]["lastPrices"]
    for client in (first, second, third):
        live = await client.recv_until(lambda m: _details(m) and not m["history"], timeout_s=10)
        assert live["ticks"]["lastPrices"][0] > 0
    assert edge.detail_link.statistics_dict()["tick_detail_followed"] == 1
    assert len(edge.detail_link._subscriptions) == 1  # one md.tick subscription for two sessions
    assert host.detail_link.interest["rb1801.SHFE"].keys() == {edge.detail_link.node, other.detail_link.node}

    cu_only = await open_socket(edge, mint_token(jwt_secret, "dan", groups=["cu"]))
    await cu_only.send(subscribeTicks={"vtSymbols": ["rb1801.SHFE"]})
    error = await cu_only.recv_until(lambda m: m["which"] == "error", timeout_s=10)
    assert error["code"] == "forbidden" and "rb1801.SHFE" in error["message"]
    await cu_only.send(subscribeTicks={"vtSymbols": ["nope9999.SHFE"]})
    error = await cu_only.recv_until(lambda m: m["which"] == "error", timeout_s=10)
    assert error["code"] == "unknownContract"
    with pytest.raises(TimeoutError):
        await cu_only.recv_until(_details, timeout_s=1.5)

    for client in (first, second, third):
        await client.send(unsubscribeTicks={"vtSymbols": ["rb1801.SHFE"]})
    async with asyncio.timeout(10):
        while "rb1801.SHFE" in host.detail_link.interest:
            await asyncio.sleep(0.02)
    assert not edge.detail_link._subscriptions and not other.detail_link._subscriptions
    for node in (host, edge, other):
        assert all(entry.restarts == 0 for entry in node.runtime.registry.entries()), node.config.role


async def test_account_pushes_when_on_nats_then_status_risk_and_events_on_their_own_subjects_and_at_the_edge(
        node_factory, nats_url, open_socket, jwt_secret, tmp_path):
    """The venue-host publishes an account's 1 s status on acct.status.1s.<trader>, its risk summary on
    acct.risk.1s.<trader> and a rule's refusal on risk.event.<account>; the edge's trader gets all three."""
    from tests.transport.orders_kit import orders_config as config_of
    from transport.cluster import subjects

    small = {"order_volume": {"limit": 3}}
    host = await node_factory("venue-host", orders=config_of(tmp_path, limits=small), sim=venue_setting())
    await node_factory("aggregator")
    edge = await node_factory("edge", orders=config_of(tmp_path, limits=small))
    seen: dict[str, list[str]] = collections.defaultdict(list)
    watcher = NatsBus([nats_url], name="watcher")
    await watcher.connect()
    try:
        for subject in (subjects.acct_status("trader1"), subjects.acct_risk("trader1"),
                        subjects.risk_event("acct-01"), subjects.order_update("acct-01")):
            await watcher.subscribe(subject, lambda msg, s=subject: seen[s].append(msg.subject))
        client = await open_socket(edge, token(jwt_secret, "trader1", ["acct-01"]))
        last = await last_price(host)
        await client.send(**order("big-1", last - 20, volume=5))
        wanted = {"accountStatus": is_message("accountStatus", account="acct-01"),
                  "riskSummary": is_message("riskSummary", account="acct-01"),
                  "riskEvent": is_message("riskEvent", rule="order_volume")}
        got: set[str] = set()
        await client.recv_until(lambda m: got.update(k for k, p in wanted.items() if p(m)) or got == set(wanted),
                                timeout_s=10)
        async with asyncio.timeout(5):
            while not (seen[subjects.acct_status("trader1")] and seen[subjects.acct_risk("trader1")]
                       and seen[subjects.risk_event("acct-01")]):
                await asyncio.sleep(0.05)
    finally:
        await watcher.close()


async def test_contract_detail_when_venue_host_ticks_actor_restarts_then_edge_sessions_follow_again(
        three_nodes, open_socket, jwt_secret):
    """A restarted ticks actor on the venue-host forgets what it followed for edge nodes: the next renewal is
    answered 'lost', the edge's sessions subscribe again (history again) and the ticks flow again."""
    from actors import encode_actor_message

    host, _, edge = three_nodes
    await last_price(host)
    edge.detail_link.interest_ttl_s = 1.5  # renew every 0.5 s from the next round on
    client = await open_socket(edge, token(jwt_secret, "ann"))
    await client.send(subscribeTicks={"vtSymbols": ["rb1801.SHFE"]})
    await client.recv_until(lambda m: _details(m) and not m["history"], timeout_s=10)

    host.runtime.tell_path(TICKS_PATH, encode_actor_message("crash", "test", source="test"))
    history = await client.recv_until(lambda m: _details(m) and m["history"], timeout_s=15)
    assert history["vtSymbol"] == "rb1801.SHFE"
    await client.recv_until(lambda m: _details(m) and not m["history"], timeout_s=10)
    assert host.runtime.registry.entry(TICKS_PATH).restarts == 1
    assert edge.detail_link.statistics_dict()["tick_detail_resubscribes"] >= 1
    assert host.detail_link.statistics_dict()["tick_interest_lost"] >= 1


async def test_contract_detail_when_a_standby_venue_host_runs_then_only_the_active_one_serves_and_publishes(
        three_nodes, node_factory, open_socket, jwt_secret, tmp_path):
    """A standby venue-host (same venue accounts, no venue-host lease) must stay out of contract detail: in the
    ``ops.ticksubscribe`` queue group it took its share of subscribes, then published its own feed's ticks on
    ``md.tick.*`` beside the active host's, and the active host answered every renewal of those contracts
    'lost' (a resubscribe and its history again each round)."""
    host, _, edge = three_nodes
    standby_dir = tmp_path / "standby"
    standby_dir.mkdir()
    standby = await node_factory("venue-host", orders=orders_config(standby_dir), sim=venue_setting())
    assert host.links.venue_lease.epoch() > 0 and standby.links.venue_lease.epoch() == 0
    await last_price(host)
    clients = [await open_socket(edge, token(jwt_secret, f"user{i}")) for i in range(6)]
    symbols = ["rb1801.SHFE", "rb1805.SHFE", "rb1810.SHFE", "cu1801.SHFE", "cu1802.SHFE", "cu1803.SHFE"]
    for client, vt_symbol in zip(clients, symbols):   # six subscribes: a queue group would give the standby some
        await client.send(subscribeTicks={"vtSymbols": [vt_symbol]})
        ack = await client.recv_until(lambda m: m["which"] in ("ack", "error"), timeout_s=10)
        assert ack["which"] == "ack", ack
    assert host.detail_link.requests == 6 and set(host.detail_link.interest) == set(symbols)
    assert standby.detail_link.requests == 0 and standby.detail_link.interest == {}
    assert standby.detail_link.published == 0

    # the active host stops (SIGTERM: it gives its lease up) and the standby takes over: the edge's next renewals
    # are answered 'lost' by it and each session follows its contract again there (history again, then live ticks)
    edge.detail_link.interest_ttl_s = 1.5   # renew every 0.5 s from the next round on
    await clients[0].recv_until(lambda m: _details(m) and m["history"], timeout_s=10)   # the first host's
    await host.stop()
    async with asyncio.timeout(10):
        while standby.links.venue_lease.epoch() == 0:
            await asyncio.sleep(0.05)
    history = await clients[0].recv_until(lambda m: _details(m) and m["history"], timeout_s=15)
    assert history["vtSymbol"] == symbols[0]
    await clients[0].recv_until(lambda m: _details(m) and not m["history"], timeout_s=10)
    assert symbols[0] in standby.detail_link.interest and standby.detail_link.published > 0


async def test_contract_detail_when_token_withholds_a_field_on_an_edge_then_forbidden_and_nothing_relayed(
        three_nodes, open_socket, jwt_secret):
    """The venue-host relays details unmasked: an edge refuses subscribeTicks from a token whose ``ent`` claim
    withholds a field of the contract's exchange (fail closed), and follows nothing for it; a full claim works."""
    host, _, edge = three_nodes
    await last_price(host)
    narrow = await open_socket(edge, mint_token(jwt_secret, "eve", entitlements={"*": ["l1"]}))
    await narrow.send(subscribeTicks={"vtSymbols": ["rb1801.SHFE"]})
    error = await narrow.recv_until(lambda m: m["which"] in ("ack", "error"), timeout_s=10)
    assert error["which"] == "error" and error["code"] == "forbidden" and "rb1801.SHFE" in error["message"]
    assert edge.detail_link.statistics_dict()["tick_detail_followed"] == 0
    full = await open_socket(edge, mint_token(jwt_secret, "fay", entitlements={"*": ["l1", "oi", "depth"]}))
    await full.send(subscribeTicks={"vtSymbols": ["rb1801.SHFE"]})
    ack = await full.recv_until(lambda m: m["which"] in ("ack", "error"), timeout_s=10)
    assert ack["which"] == "ack", ack


async def test_roles_when_two_aggregators_serve_rb_then_one_leads_and_the_other_takes_over_when_it_stops(
        node_factory, tmp_path):
    """Issue 16 in one process: of two aggregators for the same groups exactly one leads rb; the edge's groups
    follow the [market] settings (source_timeout_s, lease_ttl_s); when the leader's node stops, its lease is
    given up and the other leads rb at a higher epoch, which the edge then forwards."""
    market = {"source_timeout_s": 0.6, "lease_ttl_s": 1.0}
    await node_factory("venue-host", orders=orders_config(tmp_path), sim=venue_setting())
    aggregators = [await node_factory("aggregator", market=market) for _ in range(2)]
    edge = await node_factory("edge", orders=orders_config(tmp_path), market=market)
    await _wait_group(edge, "rb")
    assert all(a.links.lease_ttl_s == 1.0 for a in aggregators)
    async with asyncio.timeout(15):
        while not any(a.links.leases.epoch_of("rb") for a in aggregators):
            await asyncio.sleep(0.02)
    leaders = [a for a in aggregators if a.links.leases.epoch_of("rb")]
    assert len(leaders) == 1
    (leader,) = leaders
    follower = next(a for a in aggregators if a is not leader)
    epoch = leader.links.leases.epoch_of("rb")
    async with asyncio.timeout(10):
        while edge.links.market.epochs.get("rb") != epoch:
            await asyncio.sleep(0.02)
    assert edge.runtime.registry.get("market/group/rb").instance.source_timeout_s == 0.6

    await leader.stop()
    async with asyncio.timeout(10):
        while not follower.links.leases.epoch_of("rb"):
            await asyncio.sleep(0.02)
    assert follower.links.leases.epoch_of("rb") > epoch
    async with asyncio.timeout(10):
        while edge.links.market.epochs.get("rb", 0) <= epoch:
            await asyncio.sleep(0.02)
