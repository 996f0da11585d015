"""The per-user socket limit across edge nodes (JetStream key-value count), with a node that dies."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.conftest import JWT_SECRET
from tests.transport.desk_process import DeskProcess
from tests.transport.orders_kit import token
from transport.edge.limits import SocketLimits

pytestmark = pytest.mark.nats

TTL_S = 1.5


async def _wait_log(path, text: str, timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not (path.exists() and text in path.read_text()):
            await asyncio.sleep(0.05)


async def _refused(open_socket, node, user_token: str) -> dict:
    client = await open_socket(node, user_token, expect_ack=False)
    return await client.recv()


async def test_sockets_when_user_at_limit_across_two_edges_then_refused_cluster_wide_and_freed_when_node_dies(
        nats_url, start_desk, open_socket, tmp_path):
    """Two edge nodes share one count per user: a third socket is refused on either node, saying the limit
    is cluster-wide; a closed socket frees its slot; a killed node's sockets stop counting within the TTL."""
    config = tmp_path / "edge.toml"
    config.write_text(f"[limits]\nmax_sockets_per_user = 2\nsocket_lease_ttl_s = {TTL_S}\n")
    log = tmp_path / "edge-a.log"
    edge_a = await DeskProcess(["--role", "edge", "--nats", nats_url, "--config", str(config)], log).start()
    try:
        edge_b = await start_desk(role="edge", nats=(nats_url,),
                                  limits=SocketLimits(max_sockets_per_user=2, socket_lease_ttl_s=TTL_S))
        await _wait_log(log, "socket_ledger_bound")
        async with asyncio.timeout(10):
            while not edge_b.socket_ledger.ready:
                await asyncio.sleep(0.02)
        ann = token(JWT_SECRET, "ann")
        await open_socket(edge_a, ann)
        on_b = await open_socket(edge_b, ann)
        for node in (edge_b, edge_a):
            error = await _refused(open_socket, node, ann)
            assert error["which"] == "error" and error["code"] == "limitExceeded", error
            assert "cluster-wide" in error["message"]
        await open_socket(edge_b, token(JWT_SECRET, "bob"))  # another user has slots of their own

        await on_b.ws.close()  # a closed socket frees its slot on every node
        async with asyncio.timeout(5):
            while edge_b.socket_ledger.statistics_dict()["socket_entries_live"] != 1:
                await asyncio.sleep(0.02)
        await open_socket(edge_a, ann)  # ann: two on edge A now

        assert await edge_a.stop(signal.SIGKILL) == -signal.SIGKILL  # no goodbye: its entries expire
        async with asyncio.timeout(TTL_S * 6):
            while True:
                client = await open_socket(edge_b, ann, expect_ack=False)
                reply = await client.recv()
                if reply["which"] == "ack":
                    break
                assert reply["code"] == "limitExceeded"
                await asyncio.sleep(0.2)
        await open_socket(edge_b, ann)
        assert (await _refused(open_socket, edge_b, ann))["code"] == "limitExceeded"
    finally:
        await edge_a.stop(signal.SIGKILL)


def test_push_subject_when_kind_and_trader_known_then_own_subject_else_order_update():
    """Status and risk summaries go to acct.*.1s.<trader>, risk events to risk.event.<account>; without a
    trader, or with one NATS cannot carry as a token, they fall back to order.update.<account>."""
    from actors import encode_actor_message, encode_server_message
    from transport.cluster.nats_orders import push_subject

    def push(member: str) -> bytes:
        payload = encode_server_message(member, 0, "test")
        return encode_actor_message("accountPush", {"account": "acct-01", "payload": payload}, source="test")

    traders = {"acct-01": "trader1"}
    assert push_subject("acct-01", push("accountStatus"), traders) == "acct.status.1s.trader1"
    assert push_subject("acct-01", push("riskSummary"), traders) == "acct.risk.1s.trader1"
    assert push_subject("acct-01", push("riskEvent"), {}) == "risk.event.acct-01"
    assert push_subject("acct-01", push("accountStatus"), {}) == "order.update.acct-01"
    assert push_subject("acct-01", push("riskSummary"), {"acct-01": "a.b"}) == "order.update.acct-01"
    assert push_subject("acct-01", push("orderUpdated"), traders) == "order.update.acct-01"


async def test_sockets_when_cluster_count_unavailable_then_local_limit_holds_and_it_is_logged(
        start_desk, open_socket):
    """A node that cannot read the bucket (NATS down, no JetStream yet) admits on its own count, says so in the
    log, and still refuses past the limit on this node."""
    from structlog.testing import capture_logs

    from transport.cluster.nats_sockets import ClusterSocketLedger

    class DownBus:
        servers = ["nats://127.0.0.1:1"]

    desk = await start_desk(limits=SocketLimits(max_sockets_per_user=1))
    desk.sockets.ledger = ClusterSocketLedger(DownBus())  # never bound: every count is unavailable
    ann = token(JWT_SECRET, "ann")
    with capture_logs() as logs:
        await open_socket(desk, ann)
    assert [line["reason"] for line in logs if line["event"] == "socket_limit_local_only"] == ["bucket not bound yet"]
    error = await _refused(open_socket, desk, ann)
    assert error["code"] == "limitExceeded" and "cluster-wide" not in error["message"]
