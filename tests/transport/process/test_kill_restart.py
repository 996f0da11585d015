"""`tickstage run` killed (SIGKILL) or stopped (SIGTERM) in the middle of an order burst, restarted on its journal.

A real process, a real vn.py MainEngine with the simulator gateway, orders over
/ws. Venue orders are counted from the venue's side: the simulator's drop copy
(``[orders.sim] drop_copy``) gets one line per order it receives, written by
the venue's own thread, and survives every kill. After the last restart every
client order id is submitted again, as a UI retries: the venue must have seen
each id at most once (0 duplicates), every id gets a reply, and no order the
venue received is answered ``rejected`` (these orders are valid: nothing here
is rejected by the venue, so any rejection would be a false one, such as the
old "never reached the gateway" for orders that had).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from sim.drop_copy import read_drop_copy
from tests.conftest import WsClient
from transport.signin.auth import mint_token

SYMBOL = "rb1801.SHFE"
BURST = 240
"""Orders per burst: sent ~20 per 10 ms, so a burst lasts ~0.15 s (kills land inside it and after it)."""
ACCOUNT = "acct-01"
LIMITS = ("active_order", "order_flow", "duplicate_order", "position_limit", "trade_limit", "order_cancel")


def _config(folder: Path) -> Path:
    limits = "\n".join(f"[risk.limits.{rule}]\nlimit = 1000000\n" for rule in LIMITS)
    limits += "\n[risk.limits.trading_hours]\nproduct_sessions = 0\n"   # a recorded day replays at any hour
    path = folder / "desk.toml"
    path.write_text(f"""
[orders]
journal = "{folder / 'orders.sqlite3'}"
answer_timeout_s = 1.0
query_interval_s = 0.2

[orders.sim]
drop_copy = "{folder / 'drop-copy.jsonl'}"
order_latency_ms = 5

[limits]
messages_per_s = 1000000
message_burst = 1000000
max_queued_bytes = 268435456

[accounts.{ACCOUNT}]
trader = "trader1"

{limits}
""")
    return path


class Desk:
    """One `tickstage run` process on the folder's journal and drop copy."""

    started: list[Desk] = []

    def __init__(self, folder: Path, data_dir: Path, secret: str, run: int) -> None:
        self.folder, self.secret = folder, secret
        self.out = folder / f"run-{run}.out"
        self.err = folder / f"run-{run}.err"
        env = {**os.environ, "TICKSTAGE_JWT_SECRET": secret, "TICKSTAGE_STATE_DIR": str(folder / "state")}
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "transport.process.cli", "--log-level", "warning", "run", "--config",
                 str(_config(folder)), "--port", "0", "--replay",
                 str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"), "--speed", "20"],
                stdout=out, stderr=err, env=env)
        self.port = 0
        Desk.started.append(self)

    async def wait_listening(self, timeout_s: float = 60.0) -> None:
        async with asyncio.timeout(timeout_s):
            while True:
                found = re.search(r"listening http://127\.0\.0\.1:(\d+)/", self.out.read_text())
                if found:
                    self.port = int(found.group(1))
                    return
                assert self.process.poll() is None, self.err.read_text()[-3000:]
                await asyncio.sleep(0.05)

    async def connect(self, http: aiohttp.ClientSession) -> WsClient:
        ws = await http.ws_connect(f"ws://127.0.0.1:{self.port}/ws", max_msg_size=64 * 1024 * 1024)
        client = WsClient(ws)
        await client.send(auth={"token": mint_token(self.secret, "trader1", "trader", accounts=[ACCOUNT])})
        assert (await client.recv(10))["which"] == "ack"
        return client

    def wait_exit(self, timeout_s: float = 30.0) -> int:
        return self.process.wait(timeout=timeout_s)


@pytest.fixture(autouse=True)
def _reap_desks():
    """Kill whatever desk process a failed test left running."""
    yield
    while Desk.started:
        process = Desk.started.pop().process
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def _rb_price(client: WsClient) -> float:
    """The last price of rb1801 from the desk's first rb snapshot carrying it."""
    await client.send(subscribe={"groups": ["rb"]})
    info = await client.recv_until(lambda m: m["which"] == "groupInfo", timeout_s=30)
    index = [i["vtSymbol"] for i in info["instruments"]].index(SYMBOL)
    while True:
        frame = await client.recv_until(lambda m: m["which"] == "groupFrame", timeout_s=30)
        price = frame["columns"]["lastPrices"][index] if index < len(frame["columns"]["lastPrices"]) else np.nan
        if np.isfinite(price) and price > 0:
            return float(price)


def _order(client_order_id: str, last: float) -> dict:
    """A buy 20–29 ticks under the last price: it rests at the venue (so a killed venue loses working orders)."""
    price = last - 20 - int(client_order_id.rpartition("-")[2]) % 10
    return {"submitOrder": {"clientOrderId": client_order_id, "account": ACCOUNT, "vtSymbol": SYMBOL,
                            "direction": "long", "offset": "open", "orderType": "limit", "price": price,
                            "volumeLots": 1.0}}


async def _read_replies(client: WsClient, replies: dict[str, list[dict]], states: dict[str, dict]) -> None:
    """Keep every orderReply and the latest order view of each id until the socket closes."""
    while True:
        try:
            message = await client.recv(timeout_s=120)
        except (TimeoutError, aiohttp.ClientError):
            return
        which = message["which"]
        if which == "closed":
            return
        if which == "orderReply":
            replies.setdefault(message["clientOrderId"], []).append(message)
        elif which in ("orderAccepted", "orderRejected", "orderUpdated", "orderFilled", "outcomeUnknown"):
            states[message["order"]["clientOrderId"]] = message["order"]
        elif which == "orderStatusReply":
            for view in message["orders"]:
                states[view["clientOrderId"]] = view


async def _burst_then_stop(desk: Desk, ids: list[str], price: float, stop_after_s: float, how: signal.Signals,
                           replies: dict, states: dict) -> None:
    """Send ``ids`` ~20 per 10 ms; ``stop_after_s`` after the first send, signal the process; read until it dies."""
    async with aiohttp.ClientSession() as http:
        client = await desk.connect(http)
        reader = asyncio.create_task(_read_replies(client, replies, states))
        loop = asyncio.get_running_loop()
        loop.call_later(stop_after_s, desk.process.send_signal, how)
        for start in range(0, len(ids), 20):
            for client_order_id in ids[start:start + 20]:
                try:
                    await client.send(**_order(client_order_id, price))
                except (ConnectionError, aiohttp.ClientError, RuntimeError):
                    break
            await asyncio.sleep(0.01)
        if how == signal.SIGTERM:
            await asyncio.sleep(0.2)
            await client.ws.close()   # an open socket holds a graceful stop for up to a minute
        status = await asyncio.to_thread(desk.wait_exit)
        assert status == (-signal.SIGKILL if how == signal.SIGKILL else 0), desk.err.read_text()[-3000:]
        reader.cancel()


async def _settle(desk: Desk, ids: list[str], price: float, replies: dict, states: dict) -> None:
    """Submit every id again (the UI's retry); wait for a reply to each and for every order to be settled."""
    async with aiohttp.ClientSession() as http:
        client = await desk.connect(http)
        reader = asyncio.create_task(_read_replies(client, replies, states))
        answered: set[str] = set()
        before = {i: len(replies.get(i, ())) for i in ids}
        async with asyncio.timeout(60):
            while True:
                answered = {i for i in ids if len(replies.get(i, ())) > before[i]}
                missing = [i for i in ids if i not in answered]
                if not missing:
                    break
                for client_order_id in missing:
                    await client.send(**_order(client_order_id, price))
                await asyncio.sleep(2.0)
            while True:   # outcomeUnknown orders resolve from the venue or close with a reason
                await client.send(orderStatusRequest={"account": ACCOUNT, "clientOrderIds": ids})
                await asyncio.sleep(0.5)
                if all(states.get(i, {}).get("state") not in (None, "pending", "sent", "outcomeUnknown") for i in ids):
                    break
        await client.ws.close()
        reader.cancel()
    desk.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(desk.wait_exit) == 0


def _check(folder: Path, ids: list[str], replies: dict, states: dict) -> None:
    received = Counter(line["reference"] for line in read_drop_copy(folder / "drop-copy.jsonl"))
    at_venue = {ref.rpartition(":")[2] for ref in received}
    assert received and max(received.values()) == 1, received.most_common(3)      # 0 duplicates at the venue
    assert at_venue <= set(ids)
    assert all(replies.get(i) for i in ids)                                          # every id answered
    false = {i: r[-1].get("rejection") for i, r in replies.items() for reply in r if reply["status"] == "rejected"}
    assert false == {}                                                               # 0 (false) rejections
    final = Counter(states[i]["state"] for i in ids)
    assert set(final) <= {"working", "cancelled", "filled"}, final
    closed = [states[i] for i in ids if states[i]["state"] == "cancelled"]
    assert closed and all("does not know this order" in view["reason"] for view in closed)
    assert all(states[i]["state"] == "cancelled" for i in ids if i not in at_venue)  # never sent: closed, not rejected


@pytest.mark.timeout(300)
async def test_tickstage_run_when_killed_mid_burst_then_restart_sends_each_id_at_most_once_and_rejects_none(
        tmp_path, data_dir, jwt_secret):
    """SIGKILL at 0.05, 0.1 and 0.3 s into three bursts, each on a restart of the last: every id resubmitted
    after the final restart is answered, the drop copy shows each at most once, and none is rejected."""
    replies: dict[str, list[dict]] = {}
    states: dict[str, dict] = {}
    ids: list[str] = []
    price = 0.0
    for run, kill_after_s in enumerate((0.05, 0.1, 0.3)):
        desk = Desk(tmp_path, data_dir, jwt_secret, run)
        await desk.wait_listening()
        if not price:
            async with aiohttp.ClientSession() as http:
                price = await _rb_price(await desk.connect(http))
        burst = ids + [f"k{run}-{i}" for i in range(BURST)]   # earlier ids again (retries), then new ones
        ids = sorted(set(burst), key=burst.index)
        await _burst_then_stop(desk, burst, price, kill_after_s, signal.SIGKILL, replies, states)

    final = Desk(tmp_path, data_dir, jwt_secret, 3)
    await final.wait_listening()
    await _settle(final, ids, price, replies, states)

    _check(tmp_path, ids, replies, states)


@pytest.mark.timeout(200)
async def test_tickstage_run_when_stopped_by_sigterm_mid_burst_then_restart_answers_every_id_once(
        tmp_path, data_dir, jwt_secret):
    """SIGTERM 0.1 s into a burst: the process exits 0; after a restart every id is answered, none is rejected,
    and the venue saw each at most once."""
    replies: dict[str, list[dict]] = {}
    states: dict[str, dict] = {}
    desk = Desk(tmp_path, data_dir, jwt_secret, 0)
    await desk.wait_listening()
    async with aiohttp.ClientSession() as http:
        price = await _rb_price(await desk.connect(http))
    ids = [f"t-{i}" for i in range(BURST)]
    await _burst_then_stop(desk, ids, price, 0.1, signal.SIGTERM, replies, states)

    again = Desk(tmp_path, data_dir, jwt_secret, 1)
    await again.wait_listening()
    await _settle(again, ids, price, replies, states)

    _check(tmp_path, ids, replies, states)
