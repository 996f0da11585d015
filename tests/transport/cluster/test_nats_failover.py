"""Issue 16: two aggregators for the same groups, one leads each by a NATS KV lease; the other takes over.

Real ``tickstage run`` subprocesses on one nats-server (loopback): a
``venue-host`` replaying recorded ticks, two ``aggregator`` nodes and an
``edge``, and a raw WebSocket client of the edge that records every ``rb``
message. The leading aggregator is killed (SIGKILL) or paused (SIGSTOP past
the lease TTL, then SIGCONT). At the client: ``sourceDown`` while no
aggregator leads, then frames again; epochs never decrease; within an epoch
deltas are contiguous (a snapshot may restart the count). Every wait is
bounded (no assertion on wall-clock time: the failover time is measured by
perf/bench_nats.py); every process is killed in ``finally``.
"""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import pytest

from tests.conftest import JWT_SECRET
from tests.transport.cluster.nodes_kit import (GROUP, Node, Recorder, check_stream, cluster_view, is_frame, is_status,
                                               settled, wait_leader)
from transport.cluster import subjects
from transport.cluster.nats_bus import NatsBus
from transport.cluster.nats_market import frame_head
from transport.signin.auth import mint_token

pytestmark = pytest.mark.nats


async def _start(tmp_path, data_dir, nats_url, http) -> tuple[list[Node], Node, list[Node]]:
    replay = str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz")
    host = Node(tmp_path, "host", "venue-host", [nats_url], "--replay", replay, "--speed", "10")
    aggregators = [Node(tmp_path, f"aggregator-{i}", "aggregator", [nats_url]) for i in (1, 2)]
    edge = Node(tmp_path, "edge", "edge", [nats_url])
    nodes = [host, *aggregators, edge]
    await asyncio.gather(*(node.wait_healthy() for node in nodes))
    async with asyncio.timeout(30):
        while GROUP not in await edge.groups(http):
            await asyncio.sleep(0.2)
    return nodes, edge, aggregators


async def _subscribe(http, edge: Node, ws_client_type) -> Recorder:
    ws = await http.ws_connect(edge.ws_url, max_msg_size=64 * 1024 * 1024)
    client = ws_client_type(ws)
    await client.send(auth={"token": mint_token(JWT_SECRET, "trader1")})
    await client.send(subscribe={"groups": [GROUP]})
    return Recorder(client)


@pytest.mark.timeout(300)
async def test_failover_when_leading_aggregator_killed_then_follower_leads_with_higher_epoch_and_client_resyncs(
        nats_url, tmp_path, data_dir, ws_client_type):
    """SIGKILL of the leader: the client is told sourceDown, then the follower's snapshot starts a higher epoch
    and deltas follow; no frame of a stale epoch reaches the client; /admin/cluster shows the new leader."""
    nodes: list[Node] = []
    try:
        async with aiohttp.ClientSession() as http:
            nodes, edge, aggregators = await _start(tmp_path, data_dir, nats_url, http)
            leader, epoch = await wait_leader(http, edge, aggregators)
            recorder = await _subscribe(http, edge, ws_client_type)
            await recorder.wait_for(lambda m: m["which"] == "groupFrame" and m["kind"] == "delta"
                                    and m.get("epoch") == epoch, timeout_s=20)

            killed_at = len(recorder.messages)
            leader.kill()
            down = await recorder.wait_for(is_status("sourceDown"), timeout_s=10, after=killed_at)
            resumed = await recorder.wait_for(is_frame(epoch), timeout_s=15, after=killed_at)
            assert down < resumed, "the client must hear sourceDown before the new leader's frames"
            first = recorder.messages[resumed][1]
            assert first["kind"] == "snapshot", first  # the new epoch starts with a snapshot
            await recorder.wait_for(lambda m: m["which"] == "groupFrame" and m["kind"] == "delta"
                                    and m.get("epoch", 0) > epoch, timeout_s=10, after=resumed)
            await recorder.wait_for(is_status("live"), timeout_s=10, after=down)
            await settled(recorder)
            check_stream(recorder.frames())

            follower = next(node for node in aggregators if node is not leader)
            new_leader, new_epoch = await wait_leader(http, edge, aggregators, above=epoch)
            assert new_leader is follower and new_epoch == first["epoch"]
            view = await cluster_view(http, edge)
            roles = {n["role"] for n in view["nodes"] if n["state"] == "up"}
            assert {"venue-host", "aggregator", "edge"} <= roles
            assert all(n["uptimeS"] > 0 and n["lagMs"] >= 0 for n in view["nodes"])
            lease = next(g for g in view["groups"] if g["group"] == GROUP)
            assert lease["ageS"] is not None and lease["heldS"] >= lease["ageS"] - 0.5
    finally:
        for node in nodes:
            node.stop()


@pytest.mark.timeout(300)
async def test_failover_when_leader_paused_past_ttl_then_its_old_epoch_is_dropped_and_it_steps_down(
        nats_url, tmp_path, data_dir, ws_client_type):
    """SIGSTOP of the leader past the lease TTL: the follower takes over; after SIGCONT the old leader learns
    on renewal that it lost the lease and stops publishing; a frame of its epoch still in flight (replayed
    here on md.agg.33ms.rb) is dropped at the edge and never reaches the client."""
    nodes: list[Node] = []
    bus = NatsBus([nats_url], name="failover-test")
    await bus.connect()
    old_frames: list[bytes] = []
    try:
        async with aiohttp.ClientSession() as http:
            nodes, edge, aggregators = await _start(tmp_path, data_dir, nats_url, http)
            leader, epoch = await wait_leader(http, edge, aggregators)

            def keep(msg) -> None:
                head = frame_head(msg.data)   # a delta of the old epoch if one comes, else any of its frames
                if head.epoch == epoch and (head.kind == "delta" or not old_frames):
                    old_frames[:] = [msg.data]

            await bus.subscribe(subjects.md_agg(GROUP), keep)
            recorder = await _subscribe(http, edge, ws_client_type)
            await recorder.wait_for(is_frame(epoch - 1), timeout_s=20)

            paused_at = len(recorder.messages)
            leader.process.send_signal(signal.SIGSTOP)
            try:
                await recorder.wait_for(is_status("sourceDown"), timeout_s=10, after=paused_at)
                resumed = await recorder.wait_for(is_frame(epoch), timeout_s=15, after=paused_at)
            finally:
                leader.process.send_signal(signal.SIGCONT)
            assert old_frames, "no frame of the old epoch was seen on NATS"
            await bus.publish(subjects.md_agg(GROUP), old_frames[0])  # what a paused leader had in flight

            async with asyncio.timeout(20):  # the old leader steps down: its renewal was refused
                while True:
                    stats = (await leader.admin_tree(http)).get("nats", {})
                    if stats.get("leases_lost", 0) >= 1 and GROUP not in stats.get("groups_led", [GROUP]):
                        break
                    await asyncio.sleep(0.2)
            async with asyncio.timeout(10):
                while (await edge.admin_tree(http))["nats"]["frames_stale_epoch_dropped"] < 1:
                    await asyncio.sleep(0.2)
            mark = len(recorder.messages)
            await recorder.wait_for(lambda m: m["which"] == "groupFrame" and m["kind"] == "delta", timeout_s=10,
                                    after=mark)
            await settled(recorder)
            frames = recorder.frames()
            check_stream(frames)
            assert all(f.get("epoch", 0) > epoch for f in frames[len(frames) - 1:])
            assert recorder.messages[resumed][1]["kind"] == "snapshot"
            new_leader, _ = await wait_leader(http, edge, aggregators, above=epoch)
            assert new_leader is not leader
    finally:
        await bus.close()
        for node in nodes:
            node.stop()
