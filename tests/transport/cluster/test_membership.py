"""Cluster membership (issue 16): node announcements on ops.node.<node> and the view behind GET /admin/cluster."""

from __future__ import annotations

import asyncio

import nats
import pytest

from transport.cluster import membership, subjects
from transport.cluster.leases import LEASE_BUCKET, LeaseKeeper
from transport.cluster.membership import ClusterView, NodeAnnouncer, default_node_name
from transport.cluster.nats_bus import NatsBus

pytestmark = pytest.mark.nats


def test_default_node_name_when_host_has_dots_then_a_valid_subject_token():
    """The default name is role-host-pid with dots replaced, so ops.node.<node> stays one token."""
    name = default_node_name("aggregator")
    assert subjects.ops_node(name).startswith("ops.node.aggregator-")


async def test_cluster_view_when_nodes_announce_then_lists_them_with_leases_and_counts_malformed(
        nats_url, monkeypatch):
    """Two announcers and a lease: the view lists both nodes (role, uptime, lag, groups led), the lease's
    leader, epoch and age; a malformed announcement is counted, never crashes; an unheard node turns silent."""
    bus = NatsBus([nats_url], name="membership-test")
    await bus.connect()
    try:
        kv = await bus.key_value(LEASE_BUCKET, 5.0)
        keeper = LeaseKeeper(kv, "agg-1", lambda: ["rb"], ttl_s=5.0)
        await keeper.step(force=True)
        view = ClusterView(bus, kv)
        await view.start()
        aggregator = NodeAnnouncer(bus, "agg-1", "aggregator", lambda: (keeper.led(), keeper.followed()))
        edge = NodeAnnouncer(bus, "edge-1", "edge")
        aggregator.start()
        edge.start()
        await bus.publish(subjects.ops_node("junk"), b"\x00not capnp")
        async with asyncio.timeout(10):
            while len(view.nodes) < 2 or not view.malformed:
                await asyncio.sleep(0.05)
        body = await view.describe()
        nodes = {n["node"]: n for n in body["nodes"]}
        assert nodes["agg-1"]["role"] == "aggregator" and nodes["agg-1"]["groupsLed"] == ["rb"]
        assert nodes["edge-1"]["state"] == "up" and nodes["edge-1"]["uptimeS"] >= 0 and nodes["edge-1"]["lagMs"] >= 0
        (lease,) = body["groups"]
        assert (lease["group"], lease["leader"], lease["epoch"]) == ("rb", "agg-1", keeper.epoch_of("rb"))
        assert 0 <= lease["ageS"] < 5 and body["leaseErrors"] == {}

        # the bucket cannot be read (here deleted; in a cluster, its stream electing a leader after a server died):
        # the operator's page still answers, with the last leases read and why they may be old
        operator = await nats.connect(nats_url)
        try:
            await operator.jetstream().delete_stream(f"KV_{LEASE_BUCKET}")
        finally:
            await operator.close()
        body = await view.describe()
        assert [g["group"] for g in body["groups"]] == ["rb"] and "showing the leases read" in body["leaseErrors"][
            "groups"] and view.read_failures == 1

        await edge.close()
        monkeypatch.setattr(membership, "SILENT_AFTER_S", 0.0)
        assert {n["node"]: n["state"] for n in (await view.describe())["nodes"]}["edge-1"] == "silent"
        await aggregator.close()
    finally:
        await bus.close()
