"""OrderActor (``orders/<account>``): idempotent order request-reply for one account.

Sends every order to the exchange exactly once (DESIGN §4):

1. ``submitOrder`` (from a session, ``orderCommand``) with a client order id
   already seen returns that order's reply — at once if decided, else when it
   is — and goes no further. A new id becomes an :class:`OrderRecord`.
2. Every rule actor of the account and the global ones get one ``riskCheck``
   (encoded once); all must approve. A rule actor that is down refuses by its
   absence; one that does not answer within ``check_timeout_s`` refuses too
   (fail-closed). A refusal is a value naming rule, limit and observed value.
3. The approved order is written ahead to the journal (writer thread); only
   the ``journaled`` message that reports it durable lets the order go to
   ``MainEngine.send_order`` (on this, the loop thread), with the client order
   id in ``OrderRequest.reference``. ``""`` back is a local rejection.
4. The reply waits for the exchange's answer (the first order event past
   SUBMITTING, or a fill); none within ``answer_timeout_s`` makes the order
   ``outcomeUnknown``: replied as such, never re-sent, and resolved by gateway
   queries and order events (actors/orders/lifecycle.py). A reply, once
   decided, is what every retry of that client order id gets.

A (re)started actor rebuilds its orders from the journal's committed rows,
marks unresolved ones ``outcomeUnknown``, and replays its orders to its
stateful rules. Every handler runs on the loop thread.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any

from thespian.actors import ActorAddress

import schemas
from actors._dispatch import TickstageActor
from actors.market.frames import encode_actor_message, encode_outbound
from actors.orders.codec import (
    encode_account_push,
    encode_cancel_reply,
    encode_journaled,
    encode_order_event,
    encode_order_reply,
    encode_risk_check,
    encode_status_reply,
    read_rejection,
)
from actors.orders.config import MAX_CLIENT_ORDER_ID_BYTES, OrdersConfig
from actors.orders.lifecycle import OrderLifecycle
from actors.orders.record import OrderRecord, Rejection

NAN = math.nan


@dataclass
class _Check:
    client_order_id: str
    pending: set[str] = field(default_factory=set)


class OrderActor(OrderLifecycle, TickstageActor):
    """Idempotent submission, risk checks, write-ahead journal, one gateway call per order.

    Context args:
        account (str): the strategy account.
        gateway_name (str): vn.py gateway of its primary real account.
        port (OrderPort): the gateway (transport/vnpy_orders.py).
        market (MarketPort): reference data and last prices.
        journal (OrderJournal): the durable journal.
        config (OrdersConfig): timeouts.
        rules (tuple[tuple[str, str], ...]): (rule name, path) of every rule to ask.
        observers (dict[str, tuple[str, ...]]): RiskUpdateKind → paths of the rules observing it.
        stateful (tuple[str, ...]): paths of the rules that rebuild from a replay.
        sessions_path (str): the sessions supervisor (fan-out), default ``"sessions"``.
    """

    def on_start(self, restarts: int) -> None:
        """Rebuild from the journal, resolve what is unknown, replay to the rules (loop thread)."""
        args = self.context.args
        self.account: str = args["account"]
        self.gateway_name: str = args.get("gateway_name", "SIM")
        self.port = args["port"]
        self.market = args["market"]
        self.journal = args["journal"]
        self.config: OrdersConfig = args.get("config") or OrdersConfig()
        self.rule_paths: tuple[tuple[str, str], ...] = tuple(args.get("rules", ()))
        self.observers: dict[str, tuple[str, ...]] = dict(args.get("observers", {}))
        self.stateful_paths: tuple[str, ...] = tuple(args.get("stateful", ()))
        self.sessions_path: str = args.get("sessions_path", "sessions")
        self.orders: dict[str, OrderRecord] = {}
        self.by_vt: dict[str, str] = {}
        self.waiters: dict[str, list[tuple[str, int]]] = {}
        self.checks: dict[int, _Check] = {}
        self.unresolved: set[str] = set()
        self._check_ids = itertools.count(1)
        self._timer_ids = itertools.count(1)
        self._timers: dict[int, str] = {}
        self._query_armed = False
        self.submissions = self.duplicates = self.new_orders = self.rejections = 0
        self.sent = self.unknown_outcomes = self.unrouted = self.duplicate_trades = 0
        self.recover()
        self.replay_to(self.stateful_paths)

    # -- commands from sessions ----------------------------------------------------------

    def _on_order_command(self, command, message, sender: ActorAddress) -> None:
        """Handle a validated submitOrder / cancelOrder / orderStatusRequest from a session."""
        session, user = command.sessionPath, command.user
        with schemas.stream.ClientMessage.from_bytes(
            command.client, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
            nesting_limit=schemas.NESTING_LIMIT,
        ) as client:
            member = client.which()
            correlation = client.envelope.id
            if member == "submitOrder":
                self.submit(client.submitOrder, session, correlation, user)
            elif member == "cancelOrder":
                self.cancel(client.cancelOrder.clientOrderId, session, correlation)
            elif member == "orderStatusRequest":
                wanted = list(client.orderStatusRequest.clientOrderIds)
                records = [self.orders[i] for i in wanted if i in self.orders] if wanted else \
                    sorted(self.orders.values(), key=lambda r: r.created_ns)
                self._to_session(session, encode_status_reply(self.account, records, correlation, self.path))

    def submit(self, order, session: str, correlation: int, user: str) -> None:
        """Start a new order, or answer a seen client order id with its (pending) reply."""
        client_order_id = order.clientOrderId
        self.submissions += 1
        record = self.orders.get(client_order_id)
        if record is not None:
            self.duplicates += 1
            if record.reply_status is not None:
                self._reply(record, session, correlation)
            else:
                self.waiters.setdefault(client_order_id, []).append((session, correlation))
            return
        now = time.time_ns()
        record = OrderRecord(client_order_id, self.account, order.vtSymbol, str(order.direction),
                             str(order.offset), str(order.orderType), order.price, order.volumeLots,
                             order.reference, user, created_ns=now, updated_ns=now)
        quote = self.market.quote(record.vt_symbol)
        record.group = quote.group if quote is not None else ""
        self.orders[client_order_id] = record
        self.waiters[client_order_id] = [(session, correlation)]
        self.new_orders += 1
        problem = self._malformed(order, record)
        if problem is not None:
            self.reject(record, problem)
            return
        if not self.rule_paths:
            self._approved(record)
            return
        check_id = next(self._check_ids)
        payload = encode_risk_check(check_id, record, quote.last_price if quote else NAN,
                                    quote.price_tick if quote else 0.0, quote.multiplier if quote else 0.0,
                                    self.path)
        pending, down = set(), []
        for name, path in self.rule_paths:
            if self.send_path(path, payload):
                pending.add(name)
            else:
                down.append((name, path))
        if down:
            name, path = down[0]
            self.refuse(record, Rejection(name, NAN, NAN, f"risk rule actor {path} is down or restarting: "
                                          "its orders are refused until it is back (fail-closed)"))
            return
        self.checks[check_id] = _Check(client_order_id, pending)
        self.runtime.call_later(self.config.check_timeout_s, self.myAddress, encode_actor_message(
            "timer", {"name": "check", "generation": check_id & 0xFFFFFFFF}, source=self.path))

    def _malformed(self, order, record: OrderRecord) -> Rejection | None:
        if order.account != self.account:
            return Rejection("validity", NAN, NAN, f"order for {order.account} sent to {self.account}")
        size = len(record.client_order_id.encode())
        if not 1 <= size <= MAX_CLIENT_ORDER_ID_BYTES:
            return Rejection("validity", MAX_CLIENT_ORDER_ID_BYTES, size, "client order id must be 1..64 bytes")
        if not record.vt_symbol or "." not in record.vt_symbol:
            return Rejection("validity", NAN, NAN, f"bad vt_symbol {record.vt_symbol!r}")
        if not (math.isfinite(record.volume) and record.volume > 0):
            return Rejection("validity", NAN, record.volume, "volume must be a finite number of lots > 0")
        if not math.isfinite(record.price) or record.price < 0 or (record.price == 0 and record.order_type != "market"):
            return Rejection("validity", NAN, record.price, "price must be finite and > 0 (0 only for market orders)")
        return None

    def _on_risk_verdict(self, verdict, message, sender: ActorAddress) -> None:
        """Collect one rule's verdict; all approved → journal; any refusal → reject."""
        check = self.checks.get(verdict.checkId)
        if check is None:
            return  # late: the order was already refused (or this actor restarted)
        record = self.orders[check.client_order_id]
        if verdict.approved:
            check.pending.discard(verdict.rule)
            if not check.pending:
                del self.checks[verdict.checkId]
                self._approved(record)
            return
        del self.checks[verdict.checkId]
        self.refuse(record, read_rejection(verdict.rejection))

    def _check_timed_out(self, check_id: int) -> None:
        check = self.checks.pop(check_id, None)
        if check is None:
            return
        silent = ", ".join(sorted(check.pending))
        self.refuse(self.orders[check.client_order_id], Rejection(
            sorted(check.pending)[0], NAN, NAN,
            f"risk rule {silent} did not answer within {self.config.check_timeout_s:g} s (fail-closed)"))

    def refuse(self, record: OrderRecord, rejection: Rejection) -> None:
        """Reject after (some) rules approved: they stop counting it (``released``)."""
        self.reject(record, rejection)
        self.notify("released", record)

    # -- write ahead, then send -------------------------------------------------------------

    def _approved(self, record: OrderRecord) -> None:
        record.awaiting_journal = True
        runtime, path, client_order_id = self.runtime, self.path, record.client_order_id

        def durable(ok: bool, error: str) -> None:
            runtime.tell_path(path, encode_journaled(client_order_id, ok, error))

        self.journal.write_order_nowait(record.row(), durable)

    def _on_journaled(self, journaled, message, sender: ActorAddress) -> None:
        """The write-ahead record is durable (or failed): send the order (or refuse it)."""
        record = self.orders.get(journaled.clientOrderId)
        if record is None or not record.awaiting_journal:
            return
        record.awaiting_journal = False
        if not journaled.ok:
            self.refuse(record, Rejection("journal", NAN, NAN, f"journal write failed: {journaled.error}"))
            return
        self.send_to_gateway(record)

    def send_to_gateway(self, record: OrderRecord) -> None:
        """Call ``MainEngine.send_order`` once for this order (loop thread)."""
        self.sent += 1
        vt_orderid = self.port.send(record, self.gateway_name)
        record.sent_ns = record.updated_ns = time.time_ns()
        self.notify("sent", record)
        if not vt_orderid:
            record.rejected_by_gateway = True
            self.notify("gatewayRejected", record)
            self.refuse(record, Rejection("gateway", NAN, NAN,
                                          'vn.py refused the order locally (send_order returned "")'))
            return
        record.vt_orderid = vt_orderid
        self.by_vt[vt_orderid] = record.client_order_id
        if record.state == "pending":
            record.state = "sent"
        self.write(record)
        if record.cancel_on_send:
            self.cancel_now(record)
        if record.reply_status is None:
            self._arm_answer(record)

    # -- cancels ---------------------------------------------------------------------------

    def cancel(self, client_order_id: str, session: str, correlation: int) -> None:
        """Cancel one order for a session; reply ``cancelReply``."""
        record = self.orders.get(client_order_id)
        if record is None:
            status, vt_orderid = "unknownOrder", ""
        elif record.final:
            status, vt_orderid = "notActive", record.vt_orderid
        elif record.vt_orderid:
            self.cancel_now(record)
            status, vt_orderid = "sent", record.vt_orderid
        elif record.state == "pending":
            record.cancel_on_send = True
            status, vt_orderid = "sent", ""
        else:
            status, vt_orderid = "notSent", ""
        self._to_session(session, encode_cancel_reply(client_order_id, self.account, status, vt_orderid,
                                                      correlation, self.path))

    def cancel_now(self, record: OrderRecord) -> None:
        """Send one cancel request for an order with a vt_orderid (idempotent)."""
        if record.cancel_requested:
            return
        record.cancel_requested = True
        record.updated_ns = time.time_ns()
        self.port.cancel(record)
        self.notify("cancelRequested", record)
        self.write(record)

    def _on_cancel_open_orders(self, command, message, sender: ActorAddress) -> None:
        """Kill switch: cancel every open order (of one group, or all); pending ones on send."""
        group, count = command.group, 0
        for record in self.orders.values():
            if record.final or (group and record.group != group):
                continue
            if record.vt_orderid:
                self.cancel_now(record)
                count += 1
            elif record.state == "pending":
                record.cancel_on_send = True
                count += 1
        self.log.warning("open_orders_cancelled", group=group or "*", orders=count, by=command.by,
                         reason=command.reason)

    # -- replies and pushes ------------------------------------------------------------------

    def answer(self, record: OrderRecord) -> None:
        """Send the decided reply to every session waiting on this order."""
        for session, correlation in self.waiters.pop(record.client_order_id, ()):
            self._reply(record, session, correlation)

    def _reply(self, record: OrderRecord, session: str, correlation: int) -> None:
        self._to_session(session, encode_order_reply(record, correlation, self.path))

    def _to_session(self, session: str, payload: bytes) -> None:
        self.send_path(session, encode_outbound(group="", seq=0, kind="control", payload=payload,
                                                source=self.path))

    def push(self, member: str, record: OrderRecord, **extra: Any) -> None:
        """Send an order event to every session granted this account (encoded once)."""
        payload = encode_order_event(member, record, self.path, **extra)
        self.send_path(self.sessions_path, encode_account_push(self.account, payload, self.path))

    def _on_crash(self, text: str, message, sender: ActorAddress) -> None:
        """Fault injection: raise inside the handler."""
        raise RuntimeError(f"injected crash: {text}")

    def extra_statistics(self) -> dict[str, Any]:
        """Orders, rejections, unknown outcomes and the rest of the order counters."""
        return {
            "account": self.account, "orders": self.new_orders, "submissions": self.submissions,
            "duplicates": self.duplicates, "rejections": self.rejections, "sent": self.sent,
            "unknown_outcomes": self.unknown_outcomes, "unresolved": len(self.unresolved),
            "open": sum(1 for r in self.orders.values() if not r.final), "checks_pending": len(self.checks),
            "unrouted_events": self.unrouted, "duplicate_trades": self.duplicate_trades,
        }


__all__ = ["OrderActor"]
