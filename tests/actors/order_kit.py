"""Helpers of the order path's actor tests: a real runtime, real journal and rule actors,
a scripted gateway port and market, and collectors standing in for sessions.

The fixture ``order_harness`` (tests/actors/conftest.py) starts one."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field

import schemas
from actors._dispatch import TickstageActor
from actors._runtime import ActorRuntime
from actors._supervisor import ChildSpec, Supervisor, start_root
from actors.orders.codec import encode_order_command, encode_vnpy_order, encode_vnpy_trade
from actors.orders.config import AccountSpec, OrdersConfig
from actors.orders.journal import OrderJournal
from actors.orders.ports import GatewayOrder, GatewayTrade, Quote
from actors.orders.record import OrderRecord, reference_of
from actors.orders.tree import order_path_children
from actors.risk.limits import LimitStore
from actors.risk.rules import rule_defaults
from transport.edge.client import client_message

RB = Quote("rb1801.SHFE", "rb", 1.0, 10.0, 3900.0)
"""A contract the scripted market knows: tick 1, multiplier 10, last 3,900."""


class Sink:
    """What collectors received: ServerMessages per session path, pushes per account."""

    def __init__(self) -> None:
        self.replies: defaultdict[str, list[dict]] = defaultdict(list)
        self.pushes: defaultdict[str, list[dict]] = defaultdict(list)
        self._changed = asyncio.Event()

    def add(self, bucket: dict, key: str, payload: bytes) -> None:
        with schemas.stream.ServerMessage.from_bytes(payload) as message:
            member = message.which()
            body = getattr(message, member).to_dict()
        body["which"] = member
        bucket[key].append(body)
        self._changed.set()

    async def wait(self, predicate, timeout_s: float = 5.0) -> None:
        """Wait until ``predicate()`` holds (bounded)."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


class CollectorActor(TickstageActor):
    """Stands in for a session (``outbound``) and for the sessions supervisor (``accountPush``)."""

    def on_start(self, restarts: int) -> None:
        self.sink: Sink = self.context.args["sink"]

    def _on_outbound(self, outbound, message, sender) -> None:
        self.sink.add(self.sink.replies, self.path, outbound.payload)

    def _on_account_push(self, push, message, sender) -> None:
        self.sink.add(self.sink.pushes, push.account, push.payload)


@dataclass
class ScriptedPort:
    """A gateway port: counts sends, answers as scripted (through the order actor's own messages)."""

    runtime: object = None
    answer: str = "ack"             # "ack" | "none" | "reject" | "fill"
    refuse: set = field(default_factory=set)   # client order ids send_order refuses ("")
    sends: list = field(default_factory=list)  # (client order id, vt_orderid)
    cancels: list = field(default_factory=list)
    known: dict = field(default_factory=dict)  # vt_orderid → GatewayOrder
    trades: list = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def send(self, record: OrderRecord, gateway_name: str) -> str:
        if record.client_order_id in self.refuse:
            self.sends.append((record.client_order_id, ""))
            return ""
        vt_orderid = f"{gateway_name}.{next(self._ids)}"
        self.sends.append((record.client_order_id, vt_orderid))
        status = {"ack": "notTraded", "none": "notTraded", "reject": "rejected", "fill": "allTraded"}[self.answer]
        self.known[vt_orderid] = GatewayOrder(vt_orderid, status, record.volume if status == "allTraded" else 0.0)
        if self.answer != "none":
            self.event(record, vt_orderid, status)
        return vt_orderid

    def event(self, record: OrderRecord, vt_orderid: str, status: str, traded: float = 0.0) -> None:
        """Deliver a vn.py order update to the record's order actor (as the bridge would)."""
        self.runtime.tell_path(f"orders/{record.account}", encode_vnpy_order(
            vt_orderid=vt_orderid, reference=reference_of(record.account, record.client_order_id),
            vt_symbol=record.vt_symbol, direction=record.direction, offset=record.offset,
            order_type=record.order_type, price=record.price, volume=record.volume,
            traded=record.volume if status == "allTraded" else traded, status=status, ts_ns=time.time_ns(),
            gateway_name="SIM", account=record.account))

    def trade(self, account: str, vt_orderid: str, vt_tradeid: str, price: float, volume: float,
              direction: str = "long", offset: str = "open", vt_symbol: str = "rb1801.SHFE") -> None:
        """Deliver a fill to the order and account actors (as the bridge would)."""
        self.trades.append(GatewayTrade(vt_tradeid, vt_orderid, vt_symbol, direction, offset, price, volume,
                                        time.time_ns()))
        payload = encode_vnpy_trade(vt_tradeid=vt_tradeid, vt_orderid=vt_orderid, vt_symbol=vt_symbol,
                                    direction=direction, offset=offset, price=price, volume=volume,
                                    ts_ns=time.time_ns(), gateway_name="SIM", account=account)
        self.runtime.tell_path(f"orders/{account}", payload)
        self.runtime.tell_path(f"accounts/{account}", payload)

    def cancel(self, record: OrderRecord) -> None:
        self.cancels.append(record.client_order_id)
        self.event(record, record.vt_orderid, "cancelled")

    def query(self, record: OrderRecord) -> GatewayOrder | None:
        return self.known.get(record.vt_orderid) if record.vt_orderid else None

    def trades_for(self, account: str) -> list[GatewayTrade]:
        return list(self.trades)

    def account_data(self, gateway_name: str):
        return (1_000_000.0, 100_000.0, 900_000.0)

    def sent_ids(self) -> list[str]:
        """Client order ids that reached send_order, in order (with repeats, if any)."""
        return [client_order_id for client_order_id, _ in self.sends]


class ScriptedMarket:
    """A market port knowing ``quotes`` (vt_symbol → Quote)."""

    def __init__(self, *quotes: Quote) -> None:
        self.quotes = {q.vt_symbol: q for q in quotes}

    def quote(self, vt_symbol: str) -> Quote | None:
        return self.quotes.get(vt_symbol)

    def set_last(self, vt_symbol: str, last: float) -> None:
        self.quotes[vt_symbol] = self.quotes[vt_symbol]._replace(last_price=last)


class OrderHarness:
    """A runtime with the order path's subtrees, collectors at ``sessions`` and ``client/<n>``."""

    def __init__(self, runtime, config, port, market, journal, limits, sink) -> None:
        self.runtime, self.config, self.port, self.market = runtime, config, port, market
        self.journal, self.limits, self.sink = journal, limits, sink
        self._ids = itertools.count(1)

    def submit(self, client_order_id: str, *, account: str = "acct-01", client: str = "client/1",
               vt_symbol: str = "rb1801.SHFE", direction: str = "long", offset: str = "open",
               price: float = 3900.0, volume: float = 1.0, order_type: str = "limit") -> int:
        """Send a submitOrder as a session would; return its envelope id."""
        envelope_id = next(self._ids)
        data = client_message(envelope_id, submitOrder={
            "clientOrderId": client_order_id, "account": account, "vtSymbol": vt_symbol,
            "direction": direction, "offset": offset, "orderType": order_type, "price": price,
            "volumeLots": volume})
        self.runtime.tell_path(f"orders/{account}", encode_order_command(client, "trader1", data, client))
        return envelope_id

    def command(self, account: str = "acct-01", client: str = "client/1", **member) -> int:
        """Send any order ClientMessage member (cancelOrder, orderStatusRequest) as a session would."""
        envelope_id = next(self._ids)
        data = client_message(envelope_id, **member)
        self.runtime.tell_path(f"orders/{account}", encode_order_command(client, "trader1", data, client))
        return envelope_id

    def replies(self, client: str = "client/1", which: str = "orderReply") -> list[dict]:
        return [m for m in self.sink.replies[client] if m["which"] == which]

    def reply_of(self, client_order_id: str, client: str = "client/1") -> dict | None:
        return next((m for m in self.replies(client) if m["clientOrderId"] == client_order_id), None)

    def pushes(self, which: str, account: str = "acct-01") -> list[dict]:
        return [m for m in self.sink.pushes[account] if m["which"] == which]

    async def wait_replies(self, n: int, client: str = "client/1", timeout_s: float = 5.0) -> list[dict]:
        await self.sink.wait(lambda: len(self.replies(client)) >= n, timeout_s)
        return self.replies(client)

    def actor(self, path: str):
        return self.runtime.registry.entry(path).instance


class ScriptedVenues:
    """The ``venue`` rule's port (``venue_state(gateway_name)``), with states set by the test.

    Args:
        states: gateway name → state (``"contractsReady"``, ``"reconnecting"`` ...).
    """

    def __init__(self, **states: str) -> None:
        self.states = {name: (state, time.time_ns()) for name, state in states.items()}

    def set(self, name: str, state: str) -> None:
        """Move a gateway to ``state`` now."""
        self.states[name] = (state, time.time_ns())

    def venue_state(self, gateway_name: str) -> tuple[str, int] | None:
        """Return ``(state, since_ns)``, or None for a gateway not set."""
        return self.states.get(gateway_name)


def harness_config(rules=("active_order",), limits=None, **kwargs) -> OrdersConfig:
    """An OrdersConfig with one account (acct-01, trader1) and the given rules."""
    return OrdersConfig(accounts=(AccountSpec("acct-01", "trader1"),), rules=tuple(rules),
                        global_rules=kwargs.pop("global_rules", ()),
                        account_limits={"acct-01": limits or {}}, **kwargs)


async def start_harness(tmp_path, config: OrdersConfig, port: ScriptedPort | None = None, market=None,
                        journal_path=None, venues=None, fence=None) -> OrderHarness:
    """Start an order path on a new runtime on the running loop."""
    runtime = ActorRuntime()
    port = port or ScriptedPort()
    port.runtime = runtime
    market = market or ScriptedMarket(RB)
    journal = OrderJournal.open(journal_path or tmp_path / "orders.sqlite3")
    journal.start(runtime.loop)
    limits = LimitStore(config, rule_defaults(), journal)
    sink = Sink()
    children = [ChildSpec("sessions", CollectorActor, {"sink": sink}),
                ChildSpec("client", Supervisor, {"children": [
                    ChildSpec(str(i), CollectorActor, {"sink": sink}) for i in (1, 2, 3)]})]
    children += order_path_children(config, journal=journal, limits=limits, port=port, market=market,
                                    venues=venues, fence=fence)
    start_root(runtime, Supervisor, {"children": children})
    await runtime.wait_idle()
    return OrderHarness(runtime, config, port, market, journal, limits, sink)


async def stop_harness(harness: OrderHarness) -> None:
    """Shut the runtime down and close the journal."""
    harness.runtime.shutdown()
    await asyncio.to_thread(harness.journal.close)


def damage_rows(path, base_id: str, damaged: dict[str, dict], account: str = "acct-01") -> None:
    """Insert, with plain SQL (as a bad tool would), copies of order ``base_id`` under new client order ids
    with some cells replaced: ``{"bad-1": {"price": None}}``."""
    connection = sqlite3.connect(path)
    cursor = connection.execute("SELECT * FROM orders WHERE account = ? AND client_order_id = ?", (account, base_id))
    base = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
    for client_order_id, cells in damaged.items():
        row = base | {"client_order_id": client_order_id} | cells
        connection.execute(f"INSERT INTO orders ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                           list(row.values()))
    connection.commit()
    connection.close()


__all__ = ["OrderHarness", "RB", "ScriptedMarket", "ScriptedPort", "Sink", "damage_rows", "harness_config",
           "start_harness", "stop_harness"]
