"""Issue 14 across NATS: an edge node's clients see ``sourceDown`` when the aggregator process dies.

Three ``tickstage run`` subprocesses on one nats-server (loopback): a
``venue-host`` replaying recorded ticks, an ``aggregator`` and a
``edge``. The aggregator is killed with SIGKILL; a new one brings the
group back ``live``. Every wait is bounded; every process is killed in ``finally``.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.conftest import JWT_SECRET
from tests.transport.cluster.nodes_kit import Node
from transport.signin.auth import mint_token

pytestmark = pytest.mark.nats


def _status(*states: str):
    return lambda m: m["which"] == "groupStatus" and m["group"] == "rb" and m["state"] in states


@pytest.mark.timeout(120)
async def test_aggregator_killed_when_edge_client_subscribed_then_source_down_then_live_again(
        nats_url, tmp_path, data_dir, ws_client_type):
    """SIGKILL of the aggregator: the edge node's client gets groupStatus sourceDown (within 2 s of the
    last heartbeat's due time); a replacement aggregator makes rb live again, with a snapshot."""
    replay = str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz")
    host = Node(tmp_path, "host", "venue-host", [nats_url], "--replay", replay, "--speed", "10")
    aggregator = Node(tmp_path, "aggregator-1", "aggregator", [nats_url])
    edge = Node(tmp_path, "edge", "edge", [nats_url])
    nodes = [host, aggregator, edge]
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(node.wait_healthy() for node in nodes))
            async with asyncio.timeout(30):
                while "rb" not in await edge.groups(http):
                    await asyncio.sleep(0.2)
            ws = await http.ws_connect(edge.ws_url, max_msg_size=64 * 1024 * 1024)
            client = ws_client_type(ws)
            await client.send(auth={"token": mint_token(JWT_SECRET, "trader1")})
            await client.send(subscribe={"groups": ["rb"]})
            await client.recv_until(_status("live"), timeout_s=15)
            await client.recv_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "delta", timeout_s=15)

            aggregator.kill()
            down = await client.recv_until(_status("sourceDown", "stale"), timeout_s=5)
            if down["state"] == "stale":  # the session's watchdog may speak first; the remote group follows
                down = await client.recv_until(_status("sourceDown"), timeout_s=5)
            assert "aggregator" in down["reason"]
            tree = await edge.actor_statistics(http, "market/group/rb")
            assert tree["stats"]["liveness"] == "sourceDown"

            replacement = Node(tmp_path, "aggregator-2", "aggregator", [nats_url])
            nodes.append(replacement)
            await replacement.wait_healthy()
            await client.recv_until(_status("live"), timeout_s=20)
            await client.recv_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "snapshot",
                                    timeout_s=20)
            await ws.close()
    finally:
        for node in nodes:
            node.stop()
