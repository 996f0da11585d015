"""Retry storms on a whole desk: every client order id reaches the gateway exactly once.

Three sockets of one trader submit the same 1,000 client order ids
concurrently, through every risk rule, while the simulator answers 20 ms
late (and loses an answer now and then). Then the same with the order actor
crashed mid-storm, and with the whole desk stopped and a new one started on
the same journal and venue. Clients behave as the UI does: an id without a
reply is sent again, with the same client order id, until one comes.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest

from actors import encode_actor_message
from tests.transport.orders_kit import HIGH_LIMITS, last_price, order, orders_config, token, venue, venue_setting
from transport.edge.client import client_message
from transport.edge.ws import SocketLimits

ORDERS = 1000
SOCKETS = 3
RETRY_S = 5.0
FAST = SocketLimits(auth_timeout_s=2.0, messages_per_s=1_000_000, message_burst=1_000_000,
                    max_queued_bytes=256 * 1024 * 1024)


class StormClient:
    """One socket: sends every id (in its own order), re-sends unanswered ids, keeps the replies."""

    def __init__(self, socket, ids: list[str], price: float, seed: int) -> None:
        self.socket, self.ids, self.price = socket, list(ids), price
        random.Random(seed).shuffle(self.ids)
        self.replies: dict[str, dict] = {}
        self.progress = asyncio.Event()
        self._frames: dict[str, bytes] = {}

    async def run(self, timeout_s: float = 60.0) -> None:
        reader = asyncio.create_task(self._read())
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    missing = [i for i in self.ids if i not in self.replies]
                    if not missing:
                        return
                    for client_order_id in missing:
                        await self.socket.ws.send_bytes(self._frame(client_order_id))
                    try:
                        await asyncio.wait_for(self._all_answered(), RETRY_S)
                    except TimeoutError:
                        pass
        finally:
            reader.cancel()

    def _frame(self, client_order_id: str) -> bytes:
        """The submitOrder frame of an id, built once: a retry sends the same bytes, as the UI does."""
        frame = self._frames.get(client_order_id)
        if frame is None:
            frame = self._frames[client_order_id] = client_message(
                len(self._frames) + 1, **order(client_order_id, self.price - int(client_order_id[2:]) % 50))
        return frame

    async def _all_answered(self) -> None:
        while len(self.replies) < len(self.ids):
            self.progress.clear()
            await self.progress.wait()

    async def _read(self) -> None:
        while True:
            message = await self.socket.recv(timeout_s=60)
            if message["which"] == "closed":
                return
            if message["which"] == "orderReply":
                self.replies.setdefault(message["clientOrderId"], message)
                self.progress.set()


def _agreeing(clients: list[StormClient], fields=("status", "vtOrderId", "decidedTsNs", "rejection")) -> dict:
    by_id: defaultdict[str, set] = defaultdict(set)
    for client in clients:
        for client_order_id, reply in client.replies.items():
            by_id[client_order_id].add(tuple(repr(reply.get(f)) for f in fields))
    return by_id


async def _storm_desk(desk_factory, tmp_path, venue_name: dict, **orders):
    config = orders_config(tmp_path, limits=HIGH_LIMITS, answer_timeout_s=orders.pop("answer_timeout_s", 1.0),
                           query_interval_s=0.1, **orders)
    return await desk_factory(limits=FAST, orders=config, sim={**venue_name, "speed": 2.0})


async def _clients(desk, open_socket, jwt_secret, ids, price) -> list[StormClient]:
    sockets = [await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"])) for _ in range(SOCKETS)]
    return [StormClient(s, ids, price, seed) for seed, s in enumerate(sockets)]


async def test_retry_storm_when_3_sockets_send_1000_ids_then_1000_gateway_orders_and_3000_agreeing_replies(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """1,000 ids × 3 concurrent sockets, answers delayed: 1,000 orders at the gateway, 3,000 agreeing replies."""
    sim = venue_setting(order_latency_ms=20, order_no_answer_probability=0.01)
    desk = await _storm_desk(desk_factory, tmp_path, sim)
    ids = [f"s-{i}" for i in range(ORDERS)]
    clients = await _clients(desk, open_socket, jwt_secret, ids, await last_price(desk))

    await asyncio.gather(*(client.run() for client in clients))

    stats = venue(desk).statistics()
    assert (stats.orders_received, stats.distinct_references, stats.most_per_reference) == (ORDERS, ORDERS, 1)
    assert sum(len(c.replies) for c in clients) == SOCKETS * ORDERS
    by_id = _agreeing(clients)
    assert len(by_id) == ORDERS and all(len(versions) == 1 for versions in by_id.values())
    statuses = {c.replies[i]["status"] for c in clients for i in ids}
    assert statuses <= {"accepted", "outcomeUnknown"}


async def test_retry_storm_when_order_actor_crashes_mid_storm_then_still_one_gateway_order_per_id(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """The order actor crashes after ~300 replies: its restart recovers from the journal, never re-sends,
    and in-flight orders resolve (no order is left pending, sent or unknown)."""
    sim = venue_setting(order_latency_ms=20)
    desk = await _storm_desk(desk_factory, tmp_path, sim)
    ids = [f"s-{i}" for i in range(ORDERS)]
    clients = await _clients(desk, open_socket, jwt_secret, ids, await last_price(desk))

    async def crash_when_busy() -> None:
        while len(clients[0].replies) < 300:
            clients[0].progress.clear()
            await clients[0].progress.wait()
        desk.runtime.tell_path("orders/acct-01", encode_actor_message("crash", "mid-storm", source="test"))

    await asyncio.gather(crash_when_busy(), *(client.run() for client in clients))
    actor = await _resolved(desk, ids)

    stats = venue(desk).statistics()
    assert desk.runtime.registry.entry("orders/acct-01").restarts == 1
    assert (stats.orders_received, stats.distinct_references, stats.most_per_reference) == (ORDERS, ORDERS, 1)
    by_id = _agreeing(clients, fields=("status", "vtOrderId"))
    assert all(len(versions) == 1 for versions in by_id.values())
    assert {r.state for r in actor.orders.values()} <= {"working", "filled"}


@pytest.mark.slow  # ~48 s; the same property in the default run: tests/transport/process/test_kill_restart.py
async def test_retry_storm_when_process_restarts_mid_storm_then_still_one_gateway_order_per_id(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """The desk stops after ~300 replies; a new desk on the same journal and venue takes every retry:
    still exactly one gateway order per id, and the orders in flight at the stop resolve."""
    sim = venue_setting(order_latency_ms=20)
    first = await _storm_desk(desk_factory, tmp_path, sim)
    ids = [f"s-{i}" for i in range(ORDERS)]
    price = await last_price(first)
    clients = await _clients(first, open_socket, jwt_secret, ids, price)
    runs = [asyncio.create_task(client.run()) for client in clients]
    while len(clients[0].replies) < 300:
        clients[0].progress.clear()
        await asyncio.wait_for(clients[0].progress.wait(), 30)
    await first.stop()
    for run in runs:
        run.cancel()
    answered_before = {i: r for c in clients for i, r in c.replies.items()}

    second = await _storm_desk(desk_factory, tmp_path, sim)
    again = await _clients(second, open_socket, jwt_secret, ids, price)
    await asyncio.gather(*(client.run() for client in again))
    actor = await _resolved(second, ids)

    stats = venue(second).statistics()
    assert (stats.orders_received, stats.distinct_references, stats.most_per_reference) == (ORDERS, ORDERS, 1)
    assert all(len(versions) == 1 for versions in _agreeing(again, fields=("status", "vtOrderId")).values())
    assert all(again[0].replies[i]["vtOrderId"] == r["vtOrderId"] for i, r in answered_before.items())
    assert {r.state for r in actor.orders.values()} <= {"working", "filled"}


async def _resolved(desk, ids, timeout_s: float = 10.0):
    """Wait until the order actor has every id in a state that is not pending, sent or unknown."""
    async with asyncio.timeout(timeout_s):
        while True:
            actor = desk.runtime.registry.entry("orders/acct-01").instance
            states = [actor.orders[i].state if i in actor.orders else "missing" for i in ids]
            if not set(states) & {"missing", "pending", "sent", "outcomeUnknown"}:
                return actor
            await asyncio.sleep(0.05)
