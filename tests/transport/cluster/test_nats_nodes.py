"""Issue 7: a desk of real processes over a 3-node NATS cluster survives server, aggregator and edge kills.

One ``venue-host`` (vn.py replaying real ticks, the order path), one
``aggregator`` and two ``edge`` nodes, each a ``tickstage run`` subprocess,
over three clustered nats-servers with JetStream, all on loopback. Every
wait is bounded and every process is killed in ``finally``.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.conftest import JWT_SECRET
from tests.transport.cluster.nodes_kit import Node
from tests.transport.failover_client import FailoverClient
from transport.signin.auth import mint_token
from transport.cluster.nats_bus import NatsBus

pytestmark = pytest.mark.nats
SYMBOL = "rb1801.SHFE"


def _order(client_order_id: str, price: float) -> dict:
    return {"clientOrderId": client_order_id, "account": "acct-01", "vtSymbol": SYMBOL, "direction": "long",
            "offset": "open", "orderType": "limit", "price": price, "volumeLots": 1.0}


async def _last_price(client: FailoverClient, timeout_s: float = 15.0) -> float:
    async with asyncio.timeout(timeout_s):
        while SYMBOL not in client.last_prices:
            await client.recv(timeout_s)
    return client.last_prices[SYMBOL]


async def _deltas(client: FailoverClient, count: int, timeout_s: float = 15.0) -> list[int]:
    seqs = []
    async with asyncio.timeout(timeout_s):
        while len(seqs) < count:
            message, _ = await client.recv(timeout_s)
            if message["which"] == "groupFrame" and message["kind"] == "delta":
                seqs.append(message["seq"])
    return seqs


def _stat(node_json: dict | None, key: str):
    stats = (node_json or {}).get("stats", {})
    assert key in stats, f"{key} not in {node_json}"
    return stats[key]


@pytest.mark.timeout(150)
async def test_nodes_when_server_aggregator_and_edge_killed_then_frames_resume_and_orders_sent_once(
        nats_cluster, tmp_path, data_dir):
    """Both edge nodes send the same frames (same seq, same bytes); a server kill, an aggregator replaced
    and an edge killed do not stop the streams; orders retried through both edge nodes are sent once and
    audited once."""
    urls, servers = nats_cluster
    replay = str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz")
    nodes = [Node(tmp_path, "host", "venue-host", urls, "--replay", replay, "--speed", "10"),
             Node(tmp_path, "aggregator-1", "aggregator", urls),
             Node(tmp_path, "edge-a", "edge", urls), Node(tmp_path, "edge-b", "edge", urls)]
    host, aggregator, edge_a, edge_b = nodes
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(node.wait_healthy() for node in nodes))
            async with asyncio.timeout(30):
                while not all(["rb" in await node.groups(http) for node in (edge_a, edge_b)]):
                    await asyncio.sleep(0.2)
            token = mint_token(JWT_SECRET, "trader1", accounts=["acct-01"])
            client_a = FailoverClient(http, [edge_a.ws_url, edge_b.ws_url], token, ["rb"])
            client_b = FailoverClient(http, [edge_b.ws_url, edge_a.ws_url], token, ["rb"])
            await client_a.connect()
            await client_b.connect()

            # the same frames through both edge nodes: same seq, same bytes (encoded once, at the aggregator)
            frames_a, frames_b = await asyncio.gather(client_a.frames("rb", 3.0), client_b.frames("rb", 3.0))
            common = set(frames_a) & set(frames_b)
            assert common, (sorted(frames_a)[:5], sorted(frames_b)[:5])
            assert all(frames_a[seq] == frames_b[seq] for seq in common)

            # orders through both edge nodes, each retried through the other; a nats-server dies halfway
            last = await _last_price(client_a)
            sent, refused = [], []
            for i in range(6):
                if i == 3:
                    servers[0].kill()
                    servers[0].wait(timeout=10)
                first, second = (client_a, client_b) if i % 2 == 0 else (client_b, client_a)
                order = _order(f"n7-{i}", last - 20 - i)
                reply, _ = await first.submit(order)
                again, _ = await second.submit(order)
                assert again["status"] == reply["status"] and again["vtOrderId"] == reply["vtOrderId"]
                if i >= 3 and reply["status"] == "rejected" and reply["rejection"]["rule"] in ("journal", "lease"):
                    # the killed server led the ORDERS stream (or the lease bucket): JetStream elects a new leader
                    # after its 4-9 s election timeout, longer than the write-ahead's 2 s: refused, never sent
                    refused.append(order["clientOrderId"])
                    continue
                assert reply["status"] == "accepted", reply
                sent.append(order["clientOrderId"])

            # without that server both streams continue
            for client in (client_a, client_b):
                seqs = await _deltas(client, 5, timeout_s=20)
                assert seqs == sorted(seqs)

            # the aggregator dies and another starts: frames resume with a snapshot
            aggregator.kill()
            replacement = Node(tmp_path, "aggregator-2", "aggregator", urls)
            nodes.append(replacement)
            await replacement.wait_healthy()
            for client in (client_a, client_b):
                await client.recv_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "snapshot",
                                        timeout_s=20)
                await _deltas(client, 3, timeout_s=15)

            # edge A dies with an order in flight: its client moves to B, resumes, and its retry is sent once
            order = _order("n7-inflight", last - 30)
            await client_a.send(submitOrder=order)
            edge_a.kill()
            reply, attempts = await client_a.submit(order)
            assert reply["status"] == "accepted" and client_a.url == edge_b.ws_url
            sent.append(order["clientOrderId"])
            await client_a.recv_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "snapshot",
                                      timeout_s=15)
            await _deltas(client_a, 3, timeout_s=15)

            orders = await host.actor_statistics(http, "orders/acct-01")
            assert _stat(orders, "orders") == len(sent) + len(refused) and _stat(orders, "sent") == len(sent), orders
            assert _stat(orders, "duplicates") >= len(sent) + len(refused) - 1  # every retry answered from the journal
            links = (await host.admin_tree(http))["nats"]
            assert links["role"] == "venue-host" and links["tick_messages_published"] > 0
            assert links["order_replies_unmatched"] == 0 and links["audit_failures"] == 0
            # every submit stored once: the host retries a store JetStream refused while it re-elected
            try:
                async with asyncio.timeout(60):
                    while links["audited"] < len(sent) + len(refused) and links["audit_failures"] == 0:
                        await asyncio.sleep(0.5)
                        links = (await host.admin_tree(http))["nats"]
            except TimeoutError:
                pytest.fail(f"the host stored {links['audited']} of {len(sent) + len(refused)} submits in 60 s: {links}")
            assert links["audited"] == len(sent) + len(refused) and links["audit_failures"] == 0, links
        bus = NatsBus(urls[1:], name="audit-reader")
        await bus.connect()
        try:
            async with asyncio.timeout(45):  # JetStream may take a while to elect after the server kill
                assert await _audit_count(bus) == len(sent) + len(refused)   # every submit, sent or refused
        finally:
            await bus.close()
    finally:
        for node in nodes:
            node.stop()


async def _audit_count(bus: NatsBus) -> int:
    """The AUDIT stream's message count, asked again while JetStream re-elects after a server kill (503)."""
    from nats.errors import TimeoutError as NatsTimeoutError
    from nats.js.errors import ServiceUnavailableError

    while True:
        try:
            return await bus.audit_count()
        except (ServiceUnavailableError, NatsTimeoutError):
            await asyncio.sleep(0.2)
