"""Issue 16: two venue-hosts, one active and one standby, with a replicated, fenced order journal.

Real ``tickstage run`` subprocesses (two ``venue-host`` nodes, an ``aggregator``
and an ``edge``) on a real nats-server with JetStream, loopback only. Both
venue-hosts' simulated venues append every order they receive to one drop-copy
file (``TICKSTAGE_SIM_DROP_COPY``), the venue's own count: across a kill -9 of
the active host during a storm of orders and retries of the same client order
ids, or a SIGSTOP past its lease, no client order id reaches the venue twice.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import aiohttp
import pytest

from sim.drop_copy import read_drop_copy
from tests.conftest import JWT_SECRET
from tests.transport.cluster.test_nats_nodes import Node, _last_price, _order
from tests.transport.failover_client import FailoverClient
from transport.signin.auth import mint_token

pytestmark = [pytest.mark.nats, pytest.mark.slow]
ADMIN = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'ops', 'admin')}"}


async def _cluster(http: aiohttp.ClientSession, node: Node) -> dict:
    async with http.get(f"http://127.0.0.1:{node.port}/admin/cluster", headers=ADMIN) as response:
        return await response.json()


async def _active(http: aiohttp.ClientSession, edge: Node, not_node: str = "",
                  timeout_s: float = 30.0) -> tuple[str, int]:
    """Wait until /admin/cluster shows an active venue-host other than ``not_node``; return (node, epoch)."""
    async with asyncio.timeout(timeout_s):
        while True:
            venue = (await _cluster(http, edge)).get("venueHost") or {}
            if venue.get("active") and venue["active"] != not_node:
                task = asyncio.current_task()
                task.seen_at = time.monotonic()   # when the edge first saw it (the takeover time, for the report)
                return venue["active"], venue["epoch"]
            await asyncio.sleep(0.05)


async def _links(http: aiohttp.ClientSession, node: Node) -> dict:
    return (await node.admin_tree(http))["nats"]


async def _answer(client: FailoverClient, order: dict, timeout_s: float = 40.0, attempt_s: float = 4.0) -> dict:
    """Submit ``order`` until an orderReply comes; an ``outcomeUnknown`` one is retried (same client order id)
    until a decided reply or the deadline, then returned as the answer."""
    client_order_id = order["clientOrderId"]
    reply = None
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with asyncio.timeout(timeout_s + attempt_s):
        while True:
            await client.send(submitOrder=order)
            try:
                reply = await client.recv_until(
                    lambda m: m["which"] == "orderReply" and m["clientOrderId"] == client_order_id,
                    timeout_s=attempt_s)
            except TimeoutError:
                continue
            if reply["status"] != "outcomeUnknown" or asyncio.get_running_loop().time() > deadline:
                return reply
            await asyncio.sleep(0.3)


def _venue_counts(drop_copy) -> Counter:
    return Counter(line["reference"] for line in read_drop_copy(drop_copy))


async def _trader(http, edge: Node) -> tuple[FailoverClient, float]:
    """trader1 (acct-01) connected to ``edge`` and following rb; rb1801's last price once one arrived."""
    client = FailoverClient(http, [edge.ws_url], mint_token(JWT_SECRET, "trader1", accounts=["acct-01"]), ["rb"])
    await client.connect()
    return client, await _last_price(client, 30)


async def _start(tmp_path, urls, data_dir, http) -> tuple[list[Node], Node, Node, Node, str, str]:
    replay = str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz")
    host_a = Node(tmp_path, "host-a", "venue-host", urls, "--replay", replay, "--speed", "10")
    nodes = [host_a]
    await host_a.wait_healthy()
    edge = Node(tmp_path, "edge", "edge", urls)
    nodes.append(edge)
    await edge.wait_healthy()
    name_a, _ = await _active(http, edge)   # host-a is active before host-b starts
    host_b = Node(tmp_path, "host-b", "venue-host", urls, "--replay", replay, "--speed", "10")
    aggregator = Node(tmp_path, "aggregator", "aggregator", urls)
    nodes += [host_b, aggregator]
    await asyncio.gather(host_b.wait_healthy(), aggregator.wait_healthy())
    name_b = (await _cluster(http, host_b))["node"]
    async with asyncio.timeout(30):
        while ("rb" not in await edge.groups(http)
               or (await _links(http, host_b)).get("venue_host_state") != "standby"):
            await asyncio.sleep(0.2)
    return nodes, host_a, host_b, edge, name_a, name_b


@pytest.fixture(params=["one server", "three servers"])
def nats_urls(request) -> list[str]:
    """One JetStream server (streams and buckets of 1 replica), or a cluster of three (3 replicas)."""
    if request.param == "one server":
        return [request.getfixturevalue("nats_url")]
    return request.getfixturevalue("nats_cluster")[0]


@pytest.mark.timeout(240)
async def test_standby_when_active_killed_during_order_storm_then_takes_over_and_venue_gets_each_id_once(
        nats_urls, tmp_path, data_dir, monkeypatch):
    """kill -9 of the active venue-host while orders and retries of the same ids flow: the standby takes over,
    every id is answered, a retry gets the original decision, the venue receives no id twice, nothing is left
    unresolved, working or waiting for the stream (marketable orders: each fills or is resolved)."""
    drop_copy = tmp_path / "drop-copy.jsonl"
    monkeypatch.setenv("TICKSTAGE_SIM_DROP_COPY", str(drop_copy))
    nodes: list[Node] = []
    try:
        async with aiohttp.ClientSession() as http:
            nodes, host_a, host_b, edge, name_a, name_b = await _start(tmp_path, nats_urls, data_dir, http)
            links_b = await _links(http, host_b)
            assert links_b["order_host_serving"] is False and links_b["tick_messages_published"] == 0
            client, last = await _trader(http, edge)
            ids = [f"sb-{i}" for i in range(24)]
            first: dict[str, dict] = {}
            retried: dict[str, dict] = {}
            killed_at = 0.0
            for i, client_order_id in enumerate(ids):
                order = _order(client_order_id, last + 10 + i % 5)   # marketable: fills, nothing rests
                if i == 10:   # the storm's next order is sent, then the active host dies with it in flight
                    await client.send(submitOrder=order)
                    host_a.kill()
                    killed_at = time.monotonic()
                    watch = asyncio.create_task(_active(http, edge, not_node=name_a, timeout_s=30))
                first[client_order_id] = await _answer(client, order)
                retried[client_order_id] = await _answer(client, order)
            active, epoch = await watch
            takeover_s = watch.seen_at - killed_at
            assert active == name_b and epoch > 0
            for client_order_id in ids:   # a retry is answered with the original decision, never sent again
                before, again = first[client_order_id], retried[client_order_id]
                assert again["status"] in (before["status"], "outcomeUnknown"), (client_order_id, before, again)
                if before.get("vtOrderId") and again["status"] == before["status"]:
                    assert again["vtOrderId"] == before["vtOrderId"]
            # every id once more, after the takeover: answered from the replicated journal
            for client_order_id in ids:
                final = await _answer(client, _order(client_order_id, last + 10))
                assert final["clientOrderId"] == client_order_id
            async with asyncio.timeout(30):   # in-flight orders resolved from the venue: nothing left unknown
                while True:
                    orders = await host_b.actor_statistics(http, "orders/acct-01")
                    stats = orders["stats"]
                    if stats["unresolved"] == 0 and stats["replicating"] == 0 and stats["open"] == 0:
                        break
                    await asyncio.sleep(0.25)
            links_b = await _links(http, host_b)
            assert links_b["venue_host_state"] == "active" and links_b["venue_host_takeovers"] == 1
            assert links_b["stream_failures"] == 0 and links_b["stream_rows_refused"] == 0
            counts = _venue_counts(drop_copy)
            twice = {reference: n for reference, n in counts.items() if n > 1}
            assert not twice, twice
            assert stats["sent"] <= len(ids)
            print(f"\nanswers: {Counter(r['status'] for r in first.values())}; retries: "
                  f"{Counter(r['status'] for r in retried.values())}; sent by the standby: {stats['sent']}")
            print(f"takeover: kill -9 → standby serving (seen at the edge) {takeover_s:.2f} s; "
                  f"lease taken → serving {links_b['venue_host_takeover_ms']} ms; "
                  f"write-ahead ack mean {links_b['stream_ahead_ack_ms_mean']} ms, "
                  f"max {links_b['stream_ahead_ack_ms_max']} ms")
            await client.close()
    finally:
        for node in nodes:
            node.stop()


@pytest.mark.timeout(240)
async def test_standby_when_active_paused_past_its_lease_then_old_host_is_fenced_and_sends_nothing(
        nats_url, tmp_path, data_dir, monkeypatch):
    """SIGSTOP of the active venue-host past its lease TTL: the standby takes over and serves; on SIGCONT the old
    host refuses to send what it had buffered (fenced), becomes standby and stops serving; no id twice."""
    drop_copy = tmp_path / "drop-copy.jsonl"
    monkeypatch.setenv("TICKSTAGE_SIM_DROP_COPY", str(drop_copy))
    nodes: list[Node] = []
    try:
        async with aiohttp.ClientSession() as http:
            nodes, host_a, host_b, edge, name_a, name_b = await _start(tmp_path, [nats_url], data_dir, http)
            client, last = await _trader(http, edge)
            before = await _answer(client, _order("sp-0", last - 20))
            assert before["status"] == "accepted"
            sent_a = (await host_a.actor_statistics(http, "orders/acct-01"))["stats"]["sent"]
            host_a.process.send_signal(signal.SIGSTOP)
            try:
                active, _ = await _active(http, edge, not_node=name_a, timeout_s=30)
                assert active == name_b
                # orders while the old host sleeps: some requests land in its socket (still subscribed)
                replies = [await _answer(client, _order(f"sp-{i}", last - 20 - i)) for i in range(1, 7)]
                assert all(reply["status"] in ("accepted", "outcomeUnknown") for reply in replies), replies
            finally:
                host_a.process.send_signal(signal.SIGCONT)
            async with asyncio.timeout(30):   # it wakes, sees its renewal refused, steps down
                while True:
                    links_a = await _links(http, host_a)
                    if links_a.get("venue_host_state") == "standby" and not links_a["order_host_serving"]:
                        break
                    await asyncio.sleep(0.1)
            stats_a = (await host_a.actor_statistics(http, "orders/acct-01"))["stats"]
            assert stats_a["sent"] == sent_a, stats_a    # fenced: nothing sent after the pause
            print(f"\nold host after SIGCONT: requests {links_a['order_requests']}, fenced {stats_a['fenced']}, "
                  f"not taken {stats_a['not_taken']}, orders {stats_a['orders']}, sent {stats_a['sent']} "
                  f"(before the pause: {sent_a})")
            # retries of every id now reach only the new active host, which answers from the replicated journal
            for i in range(0, 7):
                reply = await _answer(client, _order(f"sp-{i}", last - 20 - i))
                assert reply["clientOrderId"] == f"sp-{i}"
            counts = _venue_counts(drop_copy)
            twice = {reference: n for reference, n in counts.items() if n > 1}
            assert not twice, twice
            assert counts["tickstage:acct-01:sp-0"] == 1
            assert (await _active(http, edge))[0] == name_b
            await client.close()
    finally:
        for node in nodes:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGCONT)
            node.stop()


@pytest.mark.timeout(180)
async def test_standby_when_active_terminated_then_lease_given_up_and_standby_serves_the_same_ids(
        nats_url, tmp_path, data_dir, monkeypatch):
    """SIGTERM of the active venue-host: it stops serving, lets its rows reach the stream and deletes its lease; the
    standby takes over without waiting for the TTL and answers a retry of an id the old host decided, unsent."""
    drop_copy = tmp_path / "drop-copy.jsonl"
    monkeypatch.setenv("TICKSTAGE_SIM_DROP_COPY", str(drop_copy))
    nodes: list[Node] = []
    try:
        async with aiohttp.ClientSession() as http:
            nodes, host_a, host_b, edge, name_a, name_b = await _start(tmp_path, [nats_url], data_dir, http)
            client, last = await _trader(http, edge)
            before = await _answer(client, _order("st-0", last + 10))
            assert before["status"] == "accepted"
            terminated_at = time.monotonic()
            host_a.process.terminate()
            watch = asyncio.create_task(_active(http, edge, not_node=name_a, timeout_s=30))
            active, _ = await watch
            assert active == name_b
            print(f"\ntakeover after SIGTERM (seen at the edge): {watch.seen_at - terminated_at:.2f} s")
            again = await _answer(client, _order("st-0", last + 10))
            assert again["status"] == "accepted" and again["vtOrderId"] == before["vtOrderId"]
            after = await _answer(client, _order("st-1", last + 10))
            assert after["status"] == "accepted"
            host_a.process.wait(timeout=15)
            counts = _venue_counts(drop_copy)
            assert counts["tickstage:acct-01:st-0"] == 1 and counts["tickstage:acct-01:st-1"] == 1, counts
            await client.close()
    finally:
        for node in nodes:
            node.stop()
