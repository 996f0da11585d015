"""GET /metrics: Prometheus text that prometheus-client parses, with per-actor, session, runtime and loop series."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from transport.signin.auth import mint_token
from transport.admin.metrics import LoopLagMonitor


async def _scrape(desk, jwt_secret) -> dict:
    headers = {"Authorization": f"Bearer {mint_token(jwt_secret, 'prometheus', 'admin')}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{desk.port}/metrics", headers=headers) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
    return {family.name: family for family in text_string_to_metric_families(text)}


def _sample(families, name, sample_name=None, **labels):
    family = families[name]
    for sample in family.samples:
        if (sample_name is None or sample.name == sample_name) and all(
                sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    raise AssertionError(f"no {name} sample with {labels}")


async def test_metrics_when_scraped_then_parses_with_per_actor_session_runtime_and_loop_series(
        desk, connect, jwt_secret):
    """The text parses; actors have labelled series (path, kind); sessions, frames, runtime and loop lag are there."""
    client = await connect()
    await client.send(subscribe={"groups": ["rb"]})
    await client.recv_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "delta", timeout_s=20)
    families = await _scrape(desk, jwt_secret)

    assert _sample(families, "tickstage_actor_messages", "tickstage_actor_messages_total",
                   path="market/group/rb", kind="GroupActor") > 0
    assert _sample(families, "tickstage_actor_state", path="market/group/rb", state="running") == 1
    assert _sample(families, "tickstage_actor_restarts", path="market", kind="MarketSupervisor") == 0
    assert _sample(families, "tickstage_actor_mailbox_messages", path="root") >= 0
    assert _sample(families, "tickstage_actor_handler_seconds", path="market/group/rb") > 0
    assert _sample(families, "tickstage_actor_messages_per_second", path="market/group/rb", window="1m") >= 0
    assert _sample(families, "tickstage_actor_handler_quantile_seconds", path="market/group/rb",
                   quantile="0.99") > 0
    assert _sample(families, "tickstage_group_frames", path="market/group/rb") > 0
    assert _sample(families, "tickstage_group_subscribers", path="market/group/rb") == 1
    assert _sample(families, "tickstage_session_frames_sent", kind="SessionActor") > 0
    assert _sample(families, "tickstage_session_queued_bytes", kind="SessionActor") >= 0
    assert _sample(families, "tickstage_runtime_delivered") > 0
    assert _sample(families, "tickstage_ws_sockets_open") == 1
    assert _sample(families, "tickstage_bridge_ticks_in") > 0
    assert _sample(families, "tickstage_root_failed") == 0
    assert _sample(families, "tickstage_loop_lag_seconds", quantile="0.99") >= 0
    assert families["tickstage_actor_messages"].type == "counter"
    assert families["tickstage_actor_mailbox_messages"].type == "gauge"


async def test_loop_lag_monitor_when_loop_blocked_then_lag_recorded():
    """A callback that holds the loop shows up as lag of the next periodic sample."""
    monitor = LoopLagMonitor(interval_s=0.001, window=64)
    monitor.start()
    try:
        await asyncio.sleep(0.01)
        deadline = asyncio.get_running_loop().time() + 0.05
        while asyncio.get_running_loop().time() < deadline:  # hold the loop ~50 ms without sleeping
            pass
        await asyncio.sleep(0.01)
        assert monitor.quantiles()["1"] > 0.01
    finally:
        monitor.stop()
