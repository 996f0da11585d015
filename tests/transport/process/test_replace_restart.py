"""`tickstage run` killed (SIGKILL) mid-replace, restarted on its journal: the pair's state is true.

The replace of a working order is in flight: the replacing order is held in the
journal (never sent) and the cancel of the replaced order is on its way to the
venue (the simulator answers after 2 s). The process dies there. The venue of
the next process does not know the old order (a simulator's book does not
survive a process); the replacing order was never sent. After the restart the
replaced order is closed ``cancelled`` with the reason, the replacing order is
``rejected`` ("not sent"), the pair stays linked, a retry of the replace gets
that answer, and the venue's drop copy shows the replacing order never reached
a venue.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

import aiohttp

from sim.drop_copy import read_drop_copy
from tests.conftest import WsClient
from tests.transport.desk_process import DeskProcess
from transport.signin.auth import mint_token

ACCOUNT = "acct-01"
SYMBOL = "rb1801.SHFE"


def _config(folder: Path) -> Path:
    path = folder / "desk.toml"
    path.write_text(f"""
[orders]
journal = "{folder / 'orders.sqlite3'}"
answer_timeout_s = 10.0
query_interval_s = 0.2

[orders.sim]
drop_copy = "{folder / 'drop-copy.jsonl'}"
order_latency_ms = 2000

[accounts.{ACCOUNT}]
trader = "trader1"

[risk.limits.trading_hours]
product_sessions = 0
""")
    return path


def _desk(folder: Path, data_dir: Path, run: int) -> DeskProcess:
    return DeskProcess(["--config", str(_config(folder)), "--replay",
                        str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"), "--speed", "20"],
                       folder / f"run-{run}.err", env={"TICKSTAGE_STATE_DIR": str(folder / "state")})


async def _connect(http: aiohttp.ClientSession, desk: DeskProcess, secret: str) -> WsClient:
    client = WsClient(await http.ws_connect(f"ws://127.0.0.1:{desk.port}/ws", max_msg_size=64 * 1024 * 1024))
    await client.send(auth={"token": mint_token(secret, "trader1", "trader", accounts=[ACCOUNT])})
    assert (await client.recv(10))["which"] == "ack"
    return client


async def _last_price(client: WsClient) -> float:
    await client.send(subscribe={"groups": ["rb"]})
    info = await client.recv_until(lambda m: m["which"] == "groupInfo", timeout_s=30)
    index = [i["vtSymbol"] for i in info["instruments"]].index(SYMBOL)
    while True:
        frame = await client.recv_until(lambda m: m["which"] == "groupFrame", timeout_s=30)
        prices = frame["columns"]["lastPrices"]
        if index < len(prices) and prices[index] == prices[index] and prices[index] > 0:
            return float(prices[index])


async def _journaled(path: Path, client_order_id: str, timeout_s: float = 10.0) -> None:
    """Wait (bounded) until the journal holds a committed row of ``client_order_id``."""
    async with asyncio.timeout(timeout_s):
        while True:
            with sqlite3.connect(path) as db:
                if db.execute("SELECT 1 FROM orders WHERE client_order_id = ?", (client_order_id,)).fetchone():
                    return
            await asyncio.sleep(0.05)


async def _views(client: WsClient, ids: list[str]) -> dict[str, dict]:
    await client.send(orderStatusRequest={"account": ACCOUNT, "clientOrderIds": ids})
    reply = await client.recv_until(lambda m: m["which"] == "orderStatusReply", timeout_s=10)
    return {view["clientOrderId"]: view for view in reply["orders"]}


async def test_replace_when_killed_while_the_new_order_is_held_then_the_pair_is_true_after_restart(
        tmp_path, data_dir, jwt_secret):
    """SIGKILL with the replace's cancel in flight: after restart the old order is closed cancelled, the new one
    rejected as never sent, linked both ways; a retry of the replace gets that answer; no venue saw the new one."""
    replace = {"replaceOrder": {"clientOrderId": "o-1", "account": ACCOUNT, "newClientOrderId": "o-1r",
                                "price": 0.0, "volumeLots": 1.0}}
    first = await _desk(tmp_path, data_dir, 0).start()
    try:
        async with aiohttp.ClientSession() as http:
            client = await _connect(http, first, jwt_secret)
            price = await _last_price(client) - 50
            replace["replaceOrder"]["price"] = price - 1
            await client.send(submitOrder={"clientOrderId": "o-1", "account": ACCOUNT, "vtSymbol": SYMBOL,
                                           "direction": "long", "offset": "open", "orderType": "limit",
                                           "price": price, "volumeLots": 1.0})
            reply = await client.recv_until(lambda m: m["which"] == "orderReply", timeout_s=20)
            assert reply["status"] == "accepted", reply
            await client.send(**replace)
            await _journaled(tmp_path / "orders.sqlite3", "o-1r")
        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        await first.stop(signal.SIGKILL)

    second = await _desk(tmp_path, data_dir, 1).start()
    try:
        async with aiohttp.ClientSession() as http:
            client = await _connect(http, second, jwt_secret)
            async with asyncio.timeout(30):
                while (views := await _views(client, ["o-1", "o-1r"]))["o-1"]["state"] != "cancelled":
                    await asyncio.sleep(0.2)
            await client.send(**replace)
            retried = await client.recv_until(lambda m: m["which"] == "replaceReply", timeout_s=10)
            await client.ws.close()
    finally:
        await second.stop(signal.SIGKILL)

    old, new = views["o-1"], views["o-1r"]
    assert (old["state"], old["replacedBy"]) == ("cancelled", "o-1r")
    assert "venue does not know this order" in old["reason"]
    assert (new["state"], new["replaces"], new["vtOrderId"]) == ("rejected", "o-1", "")
    assert new["rejection"]["rule"] == "replace" and "not sent" in new["rejection"]["reason"]
    assert retried["status"] == "rejected" and retried["rejection"]["reason"] == new["rejection"]["reason"]
    references = [line["reference"] for line in read_drop_copy(tmp_path / "drop-copy.jsonl")]
    assert references == [f"tickstage:{ACCOUNT}:o-1"]
