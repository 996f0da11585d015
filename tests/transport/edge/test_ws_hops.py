"""Latency per hop over the real /ws (issue 14): a desk replaying recorded ticks through a real vn.py MainEngine.

Frames carry each hop's stamp in order (exchange + skew ≤ venue receive ≤ built ≤ sent), the skew the
bridge measured is the clocks' real offset (a replay's stamps are from 2017) and follows the simulator's
clock_skew fault; a pong carries the socket's frame built → write percentiles; /metrics shows both.
"""

from __future__ import annotations

import time

import aiohttp
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from transport.signin.auth import mint_token

YEAR_NS = 365 * 86_400 * 10**9
DAY_NS = 86_400 * 10**9


def _delta_with_rows(message: dict) -> bool:
    return message["which"] == "groupFrame" and message["kind"] == "delta" and len(message["columns"]["indexes"]) > 0


async def _deltas(client, count: int) -> list[dict]:
    return [await client.recv_until(_delta_with_rows, timeout_s=10.0) for _ in range(count)]


async def test_frames_when_streamed_then_carry_hop_stamps_in_order(desk, connect):
    """exchange + skew ≤ venue receive (newest tick) and venue receive ≤ built ≤ sent (every row)."""
    client = await connect()
    await client.send(subscribe={"groups": ["rb"]})
    frames = await _deltas(client, 20)
    received_ns = time.time_ns()
    for frame in frames:
        columns = frame["columns"]
        recv, exch = columns["gatewayRecvTsNs"].astype(np.int64), columns["exchangeTsNs"].astype(np.int64)
        built, sent, skew = frame["builtTsNs"], frame["envelope"]["sentTsNs"], frame["exchangeSkewNs"]
        assert skew > 8 * YEAR_NS, "the replay's 2017 stamps are years behind the desk's clock: shown, not hidden"
        newest = int(recv.argmax())
        assert exch[newest] + skew <= recv[newest], "exchange → venue, skew-corrected, is never negative"
        assert (recv > 0).all() and (recv <= built).all()
        assert built <= sent <= received_ns


async def test_skew_when_clock_skew_fault_then_frames_show_the_step(desk, connect):
    """The simulator's clock_skew fault (exchange stamps one day later) lowers the skew frames carry by a day."""
    client = await connect()
    await client.send(subscribe={"groups": ["rb"]})
    before = (await _deltas(client, 2))[-1]["exchangeSkewNs"]
    gateway = desk.engine.gateway()
    gateway.set_clock_skew(DAY_NS)
    try:
        stepped = await client.recv_until(
            lambda m: _delta_with_rows(m) and m["exchangeSkewNs"] < before - DAY_NS + 60 * 10**9, timeout_s=10.0)
    finally:
        gateway.set_clock_skew(0)
    newest = int(stepped["columns"]["gatewayRecvTsNs"].argmax())
    columns = stepped["columns"]
    assert int(columns["exchangeTsNs"][newest]) + stepped["exchangeSkewNs"] <= int(columns["gatewayRecvTsNs"][newest])
    assert desk.bridge.clock_skew.skew_ns("SHFE") <= stepped["exchangeSkewNs"]


async def test_pong_when_frames_sent_then_carries_socket_send_percentiles_and_server_time(desk, connect):
    """A pong echoes clientTsNs, is stamped by the desk, and reports this socket's built → write percentiles."""
    client = await connect()
    await client.send(subscribe={"groups": ["rb"]})
    await _deltas(client, 5)
    sent_ns = time.time_ns()
    await client.send(ping={"clientTsNs": sent_ns})
    pong = await client.recv_until(lambda m: m["which"] == "pong", timeout_s=5.0)
    send = pong["socketSend"]
    assert pong["clientTsNs"] == sent_ns
    assert sent_ns <= pong["envelope"]["sentTsNs"] <= time.time_ns()
    assert send["samples"] >= 5
    assert 0 <= send["p50Ns"] <= send["p95Ns"] <= send["p99Ns"]


async def test_metrics_when_streaming_then_show_exchange_skew_and_session_send_latency(desk, connect, jwt_secret):
    """/metrics has the skew per exchange and each session's built → write quantiles."""
    client = await connect()
    await client.send(subscribe={"groups": ["rb"]})
    await _deltas(client, 5)
    headers = {"Authorization": f"Bearer {mint_token(jwt_secret, 'prometheus', 'admin')}"}
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{desk.port}/metrics",
                                                         headers=headers) as response:
        assert response.status == 200
        families = {family.name: family for family in text_string_to_metric_families(await response.text())}
    skews = {s.labels["exchange"]: s.value for s in families["tickstage_exchange_clock_skew_seconds"].samples}
    assert skews["SHFE"] > 8 * 365 * 86_400
    quantiles = {s.labels["quantile"]: s.value for s in families["tickstage_session_send_latency_seconds"].samples}
    assert set(quantiles) == {"0.5", "0.95", "0.99"}
    assert 0 <= quantiles["0.5"] <= quantiles["0.95"] <= quantiles["0.99"]
