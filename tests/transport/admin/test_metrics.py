"""GET /metrics: Prometheus text that prometheus-client parses, with per-actor, session, runtime and loop series."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.transport.conftest import is_message
from tests.transport.orders_kit import last_price, order, orders_config, token, venue_setting
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
    assert _sample(families, "tickstage_algos_algos_failed", "tickstage_algos_algos_failed_total") == 0
    assert families["tickstage_algos_jobs"].type == "gauge"
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


async def test_metrics_when_orders_traded_then_per_account_outcomes_rule_refusals_and_venue_state(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """Orders over the socket — accepted, refused by two rules, filled, cancelled — are counted per account
    and per rule exactly as the trader was told; the simulator gateway's venue is connected."""
    desk = await desk_factory(orders=orders_config(tmp_path, limits={"order_volume": {"limit": 3}}),
                              sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(desk)

    await client.send(**order("rest-1", last - 20))
    rested = await client.recv_until(is_message("orderReply", clientOrderId="rest-1"), timeout_s=10)
    await client.send(**order("fill-1", last + 20))
    filled = await client.recv_until(is_message("orderFilled"), timeout_s=15)
    await client.send(**order("big-1", last - 20, volume=5))
    too_big = await client.recv_until(is_message("orderReply", clientOrderId="big-1"), timeout_s=10)
    await client.send(**order("far-1", round(last * 1.5)))
    too_far = await client.recv_until(is_message("orderReply", clientOrderId="far-1"), timeout_s=10)
    await client.send(cancelOrder={"clientOrderId": "rest-1", "account": "acct-01"})
    await client.recv_until(lambda m: m["which"] in ("orderAccepted", "orderUpdated")
                            and m["order"]["clientOrderId"] == "rest-1" and m["order"]["state"] == "cancelled",
                            timeout_s=10)
    families = await _scrape(desk, jwt_secret)

    assert rested["status"] == "accepted" and filled["order"]["clientOrderId"] == "fill-1"
    assert (too_big["rejection"]["rule"], too_far["rejection"]["rule"]) == ("order_volume", "price_band")
    account = {"account": "acct-01"}
    assert _sample(families, "tickstage_account_orders_submitted", **account) == 4
    assert _sample(families, "tickstage_account_orders_accepted", **account) == 2
    assert _sample(families, "tickstage_account_orders_rejected", rule="order_volume", **account) == 1
    assert _sample(families, "tickstage_account_orders_rejected", rule="price_band", **account) == 1
    assert _sample(families, "tickstage_account_fills", **account) == 1
    assert _sample(families, "tickstage_account_filled_lots", **account) == 1.0
    assert _sample(families, "tickstage_account_orders_cancelled", **account) == 1
    assert _sample(families, "tickstage_account_orders_outcome_unknown", **account) == 0
    assert _sample(families, "tickstage_account_orders_submitted", account="acct-02") == 0
    assert _sample(families, "tickstage_risk_refusals", rule="order_volume", scope="acct-01") == 1
    assert _sample(families, "tickstage_risk_refusals", rule="price_band", scope="acct-01") == 1
    assert _sample(families, "tickstage_risk_checks", rule="price_band", scope="acct-01") == 4
    assert _sample(families, "tickstage_venue_connected", gateway="SIM") == 1
    assert _sample(families, "tickstage_venue_state", gateway="SIM", state="connected") == 1
    assert _sample(families, "tickstage_venue_state", gateway="SIM", state="disconnected") == 0
    assert families["tickstage_account_orders_rejected"].type == "counter"
    assert families["tickstage_venue_connected"].type == "gauge"

    desk.engine.gateway().disconnect_feed()
    async with asyncio.timeout(5):   # /metrics bodies are shared for 250 ms (transport admin reads)
        while _sample(families := await _scrape(desk, jwt_secret), "tickstage_venue_connected", gateway="SIM"):
            await asyncio.sleep(0.05)
    assert _sample(families, "tickstage_venue_connected", gateway="SIM") == 0
    assert _sample(families, "tickstage_venue_state", gateway="SIM", state="marketDataDown") == 1
