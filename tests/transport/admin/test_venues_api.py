"""``GET /admin/venues`` and the gateway lifecycle in ``/metrics``, on a desk with the simulator gateway."""

from __future__ import annotations


async def test_admin_venues_when_simulator_ready_then_listed_contracts_ready_and_in_metrics(http, desk, eventually):
    """An admin sees SIM contractsReady with its contracts all subscribed; a trader gets 403; /metrics has the
    gateway's lifecycle gauges."""
    await eventually(lambda: desk.engine.connections.status("SIM").ready, what="SIM ready")

    async with http.get("/admin/venues", headers=http.admin) as reply:
        assert reply.status == 200
        body = await reply.json()
    async with http.get("/admin/venues", headers=http.trader) as refused:
        assert refused.status == 403
    async with http.get("/metrics", headers=http.admin) as metrics:
        text = await metrics.text()

    (venue,) = body["venues"]
    assert (venue["name"], venue["class"], venue["state"]) == ("SIM", "sim.gateway:SimGateway", "contractsReady")
    assert venue["contracts"] > 0 and venue["subscriptions"] == venue["contracts"] and venue["connects"] == 1
    assert venue["sinceTsNs"] <= body["tsNs"] and venue["lastError"] == ""
    assert 'tickstage_gateway_state{gateway="SIM",state="contractsReady"} 1.0' in text
    assert 'tickstage_gateway_state{gateway="SIM",state="reconnecting"} 0.0' in text
    assert 'tickstage_gateway_connects_total{gateway="SIM"} 1.0' in text
