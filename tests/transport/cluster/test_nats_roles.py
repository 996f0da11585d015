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
    """rb's ticks cross md.tick.* to the aggregator, whose frames reach an edge client: info, snapshot, deltas."""
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
    # the contract detail actor runs only where vn.py does; every node's tree is healthy, nothing restarted
    assert [TICKS_PATH in node.runtime.registry for node in three_nodes] == [True, False, False]
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
    from actors.orders.codec import new_server_message
    from transport.cluster.nats_orders import OrderHost, encode_error

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
