"""A desk restart (SIGTERM, kill -9 of `tickstage run`) during a running algo resumes it paused, never re-run."""

from __future__ import annotations

import asyncio
import re
import signal

import aiohttp
import pytest

from tests.conftest import JWT_SECRET, WsClient
from tests.transport.desk_process import DeskProcess
from tests.transport.orders_kit import SYMBOL, token

REPLAY = "cn_futopt_l1_20171113_0900-1000.csv.gz"


async def _client(http, port: int) -> WsClient:
    client = WsClient(await http.ws_connect(f"ws://127.0.0.1:{port}/ws"))
    await client.send(auth={"token": token(JWT_SECRET, "trader1", ["acct-01"])})
    await client.recv_until(lambda m: m["which"] == "ack")
    return client


async def _last_price(client: WsClient) -> float:
    """The desk's last price of SYMBOL, read from the price_band rule's refusal of a far-off probe order."""
    for attempt in range(50):
        await client.send(submitOrder={"clientOrderId": f"probe-{attempt}", "account": "acct-01", "vtSymbol": SYMBOL,
                                       "direction": "long", "offset": "open", "orderType": "limit", "price": 1.0,
                                       "volumeLots": 1})
        reply = await client.recv_until(lambda m: m["which"] == "orderReply", timeout_s=10)
        found = re.search(r"last price ([0-9.]+)", reply["rejection"]["reason"])
        if found:
            return float(found.group(1))
        await asyncio.sleep(0.1)   # the replay's first tick of SYMBOL not in yet: 50 bare probes took ~30 ms
    raise AssertionError("no last price")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_twap_when_desk_restarted_mid_run_then_resumed_paused_with_its_fills(tmp_path, data_dir, sig):
    """A TWAP (20 lots over 20 s) that traded is interrupted by SIGTERM or kill -9; the restarted desk shows it
    paused with the lots traded before, sends no child until resumed, and stops it on request."""
    args = ["--replay", str(data_dir / REPLAY), "--speed", "20", "--state-dir", str(tmp_path / "state")]
    first = await DeskProcess(args, tmp_path / "first.log").start()
    try:
        async with aiohttp.ClientSession() as http:
            client = await _client(http, first.port)
            price = round(await _last_price(client) * 1.03)
            await client.send(startAlgo={"jobId": "twap-r", "account": "acct-01", "template": "TwapAlgo",
                                         "vtSymbol": SYMBOL, "direction": "long", "offset": "open", "price": price,
                                         "volumeLots": 20, "settings": [{"key": "time", "value": "20"},
                                                                        {"key": "interval", "value": "1"}]})
            before = await client.recv_until(lambda m: m["which"] == "algoProgress" and m["tradedLots"] >= 2
                                             and m["status"] == "running", timeout_s=30)
            await client.recv_until(lambda m: m["which"] == "algoProgress", timeout_s=5)   # journaled by now
    finally:
        await first.stop(sig)
    second = await DeskProcess(args, tmp_path / "second.log").start()
    try:
        async with aiohttp.ClientSession() as http:
            client = await _client(http, second.port)
            resumed = await client.recv_until(lambda m: m["which"] == "algoProgress" and m["jobId"] == "twap-r",
                                              timeout_s=30)
            later = [await client.recv_until(lambda m: m["which"] == "algoProgress", timeout_s=5)
                     for _ in range(3)]
            assert resumed["status"] == "paused" and "restart" in resumed["message"], resumed
            assert resumed["tradedLots"] >= before["tradedLots"] and resumed["volumeLots"] == 20
            assert all(m["status"] == "paused" and m["tradedLots"] == resumed["tradedLots"] for m in later)
            await client.send(stopAlgo={"jobId": "twap-r", "account": "acct-01"})
            await client.recv_until(lambda m: m["which"] == "algoProgress" and m["status"] == "stopped", timeout_s=10)
    finally:
        assert await second.stop() == 0
