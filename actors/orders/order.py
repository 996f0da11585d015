"""OrderActor (``orders/<account>``): idempotent order request-reply for one account.

Sends every order to the exchange exactly once (actors/README.md, "Orders, risk and accounts"):

1. ``submitOrder`` (from a session, ``orderCommand``) with a client order id
   already seen returns that order's reply — at once if decided, else when it
   is — and goes no further. A new id becomes an :class:`OrderRecord`.
2. Every rule actor of the account and the global ones checks it; all must
   approve. In process the check is an in-line call of the rule actor, when
   that sees exactly what a ``riskCheck`` message would; otherwise a
   ``riskCheck`` message (encoded once) and a ``riskVerdict`` back
   (actors/orders/risk_link.py). A rule actor that is down or crashed refuses
   by its absence; one that does not answer within ``check_timeout_s``
   refuses too (fail-closed). A refusal is a value naming rule, limit and
   observed value.
3. The approved order is written ahead to the journal: committed (SQLite
   WAL) before ``MainEngine.send_order`` is called, in the same handler on
   the loop thread (actors/orders/journal.py says why there), with the
   client order id in ``OrderRequest.reference``. A failed commit refuses the
   order; ``""`` back from ``send_order`` is a local rejection.
4. The reply waits for the exchange's answer (the first order event past
   SUBMITTING, or a fill); none within ``answer_timeout_s`` makes the order
   ``outcomeUnknown``: replied as such, never re-sent, and resolved by gateway
   queries and order events (actors/orders/lifecycle.py). A reply, once
   decided, is what every retry of that client order id gets.

The write-ahead row carries ``sent_ns`` (the moment ``send_order`` is about to
be called), so the journal says "the send may have happened" at any kill
point. A (re)started actor rebuilds its orders from the journal's committed
rows (quarantining any it cannot read: their client order ids stay seen and
are never sent again), marks unresolved ones ``outcomeUnknown``, reconciles
them with the venue, and replays its orders to its stateful rules. Every
handler runs on the loop thread.
"""

from __future__ import annotations

import collections
import itertools
import math
import time
from typing import Any

from thespian.actors import ActorAddress

import schemas
from actors._dispatch import TickstageActor
from actors._envelope import encode_outbound
from actors.orders.codec import (
    encode_account_push,
    encode_cancel_reply,
    encode_order_event,
    encode_order_reply,
    encode_status_reply,
    read_rejection,
)
from actors.orders.config import OrdersConfig
from actors.orders.lifecycle import OrderLifecycle
from actors.orders.record import OrderRecord
from actors.orders.risk_link import PendingCheck, RiskLink
from actors.orders.tally import OrderTally
from actors.orders.validity import check_record
from actors.risk.rejection import Rejection

NAN = math.nan
WRITE_AHEAD_GROUP = 64
"""Most orders committed in one write-ahead transaction (group commit of a burst; bounds the first one's wait)."""


class OrderActor(OrderLifecycle, RiskLink, TickstageActor):
    """Idempotent submission, risk checks, write-ahead journal, one gateway call per order.

    Context args:
        account (str): the strategy account.
        gateway_name (str): vn.py gateway of its primary real account.
        port (OrderPort): the gateway (transport/venue/vnpy_orders.py).
        market (MarketPort): reference data and last prices.
        journal (OrderJournal): the durable journal.
        config (OrdersConfig): timeouts.
        rules (tuple[tuple[str, str], ...]): (rule name, path) of every rule to ask.
        observers (dict[str, tuple[str, ...]]): RiskUpdateKind → paths of the rules observing it.
        stateful (tuple[str, ...]): paths of the rules that rebuild from a replay.
        sessions_path (str): the sessions supervisor (fan-out), default ``"sessions"``.
    """

    _write_ahead: list[OrderRecord] | tuple = ()   # a list from on_start; read after every message

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
        self.open_ids: set[str] = set()      # client order ids of orders not final (lifecycle.track)
        self.unknown_ids: set[str] = set()   # client order ids of orders outcomeUnknown now
        self.by_vt: dict[str, str] = {}
        self.quarantined: dict[str, str] = {}      # client order id → why its journal row was quarantined
        self.recovered: set[str] = set()           # open orders recovered from the journal
        self.ambiguous_vt: set[str] = set()        # vt_orderids naming two open orders: cancels refused
        self.waiters: dict[str, list[tuple[str, int]]] = {}
        self.checks: dict[int, PendingCheck] = {}
        self._rule_marks: dict[str, int] = {}
        self._write_ahead: list[OrderRecord] = []
        self.inline_checks = 0
        self.tally = OrderTally()
        self.unresolved: set[str] = set()
        self._check_ids = itertools.count(1)
        self._answer_deadlines: collections.deque[tuple[float, str]] = collections.deque()
        self._answer_armed = False
        self._answer_due = 0.0   # time.monotonic() at which the armed answer timer is due
        self._query_armed = False
        self.submissions = self.duplicates = self.new_orders = self.rejections = 0
        self.sent = self.unknown_outcomes = self.unrouted = self.duplicate_trades = 0
        self.vt_orderid_collisions = self.cancels_refused = self.closed_unknown = self.quarantined_resubmits = 0
        self.recover()
        self.replay_to(self.stateful_paths)
        # in-line calls wait until whatever a previous incarnation left queued to a rule was handled
        self._queued_to([path for _, path in self.rule_paths])

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
                request = client.orderStatusRequest
                wanted = list(request.clientOrderIds)
                records = [self.orders[i] for i in wanted if i in self.orders] if wanted else \
                    self.status_of_all(request.finishedLimit)
                self._to_session(session, encode_status_reply(self.account, records, correlation, self.path))

    def status_of_all(self, finished_limit: int) -> list[OrderRecord]:
        """Every open order and the newest ``finished_limit`` finished ones (0: all), oldest first."""
        ordered = sorted(self.orders.values(), key=lambda r: r.created_ns)
        if not finished_limit:
            return ordered
        finished = [r for r in ordered if r.final]
        kept = {id(r) for r in finished[-finished_limit:]}
        return [r for r in ordered if not r.final or id(r) in kept]

    def submit(self, order, session: str, correlation: int, user: str) -> None:
        """Start a new order, or answer a seen client order id with its (pending) reply."""
        client_order_id = order.clientOrderId
        self.submissions += 1
        if client_order_id in self.quarantined:
            self._refuse_quarantined(order, session, correlation, user)
            return
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
        record.correlation_id = self.correlation_id
        self.orders[client_order_id] = record
        self.track(record)
        self.log.debug("order_submitted", client_order_id=client_order_id, vt_symbol=record.vt_symbol)
        self.waiters[client_order_id] = [(session, correlation)]
        self.new_orders += 1
        problem = check_record(record, order.account, quote)
        if problem is not None:
            self.reject(record, problem)
            return
        if not self.rule_paths:
            self._approved(record)
            return
        self.ask_rules(record, quote)

    def _refuse_quarantined(self, order, session: str, correlation: int, user: str) -> None:
        """A client order id whose journal row was quarantined: never sent again; reply ``outcomeUnknown``
        (the first order may have reached the venue) and push the reason to the account's sessions."""
        self.quarantined_resubmits += 1
        client_order_id, now = order.clientOrderId, time.time_ns()
        record = OrderRecord(client_order_id, self.account, order.vtSymbol, str(order.direction),
                             str(order.offset), str(order.orderType), order.price, order.volumeLots,
                             order.reference, user, state="outcomeUnknown", reply_status="outcomeUnknown",
                             decided_ns=now, created_ns=now, updated_ns=now)
        record.reason = (f"not sent: the journal row of client order id {client_order_id} was quarantined "
                         f"({self.quarantined[client_order_id]}); its first submission may have reached the "
                         "venue, so this id is never sent again: check the venue, use a new client order id")
        self.log.warning("quarantined_order_resubmitted", client_order_id=client_order_id, reason=record.reason)
        self._reply(record, session, correlation)
        self.push("outcomeUnknown", record, sinceTsNs=now, reason=record.reason)

    def _on_risk_verdict(self, verdict, message, sender: ActorAddress) -> None:
        """Collect one rule's verdict; all approved → journal; any refusal → reject."""
        check = self.checks.get(verdict.checkId)
        if check is None:
            return  # late: the order was already refused (or this actor restarted)
        path = self.runtime.registry.path_of(sender)
        if path not in check.pending:
            return  # not a rule this check waits for (a previous incarnation's answer)
        record = self.orders[check.client_order_id]
        if verdict.approved:
            check.pending.discard(path)
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
        rule = dict((path, name) for name, path in self.rule_paths).get(min(check.pending), "risk")
        waited_s = self.config.check_timeout_s
        self.refuse(self.orders[check.client_order_id], Rejection(
            rule, waited_s, waited_s, f"risk rule {silent} did not answer within {waited_s:g} s (fail-closed)"))

    def refuse(self, record: OrderRecord, rejection: Rejection) -> None:
        """Reject after (some) rules approved: they stop counting it (``released``)."""
        self.reject(record, rejection)
        self.notify("released", record)

    # -- write ahead, then send -------------------------------------------------------------

    def _approved(self, record: OrderRecord) -> None:
        """Queue the order for the write-ahead commit at the end of this handler (or of the next ones, while
        the runtime's next message is this actor's too: group commit of a burst)."""
        self._write_ahead.append(record)
        if len(self._write_ahead) >= WRITE_AHEAD_GROUP:
            self._commit_and_send()

    def receiveMessage(self, msg: Any, sender: ActorAddress) -> None:
        """Handle a message, then commit and send the approved orders unless this actor's next message is
        already next in the runtime's queue (loop thread)."""
        super().receiveMessage(msg, sender)
        if self._write_ahead and not self._crashed and not self.runtime.next_is_for(self.myAddress):
            try:
                self._commit_and_send()
            except Exception as exc:  # noqa: BLE001 - a crash, as inside a handler
                self._crash(exc)

    def _commit_and_send(self) -> None:
        """Commit the queued orders' write-ahead records (one transaction), then send each; a failed commit
        refuses them all (loop thread)."""
        records, self._write_ahead = self._write_ahead, []
        if not records:
            return
        sending_ns = time.time_ns()
        for record in records:   # the write-ahead row says "send_order may be called from now on"
            record.sent_ns = sending_ns
        ok, error = self.journal.write_orders_now([record.row() for record in records])
        for record in records:
            with self.handling(self.msg_type or "writeAhead", record.correlation_id):
                if ok:
                    self.send_to_gateway(record)
                else:
                    record.sent_ns = 0
                    self.refuse(record, Rejection("journal", NAN, NAN, f"journal write failed: {error}"))

    def send_to_gateway(self, record: OrderRecord) -> None:
        """Call ``MainEngine.send_order`` once for this order (loop thread)."""
        self.sent += 1
        vt_orderid = self.port.send(record, self.gateway_name)
        record.updated_ns = time.time_ns()
        self.notify("sent", record)
        if not vt_orderid:
            record.rejected_by_gateway = True
            self.notify("gatewayRejected", record)
            self.refuse(record, Rejection("gateway", NAN, NAN,
                                          'vn.py refused the order locally (send_order returned "")'))
            return
        self.map_vt(record, vt_orderid)
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
            status = "sent" if self.cancel_now(record) else "ambiguous"
            vt_orderid = record.vt_orderid
        elif record.state == "pending":
            record.cancel_on_send = True
            status, vt_orderid = "sent", ""
        else:
            status, vt_orderid = "notSent", ""
        self._to_session(session, encode_cancel_reply(client_order_id, self.account, status, vt_orderid,
                                                      correlation, self.path))

    def cancel_now(self, record: OrderRecord) -> bool:
        """Send one cancel request for an order with a vt_orderid (idempotent); return False, sending
        nothing, when that vt_orderid also names another open order (it could cancel that one)."""
        if record.vt_orderid in self.ambiguous_vt and any(   # rare: a scan only after a venue id collision
                other is not record and other.vt_orderid == record.vt_orderid and not other.final
                for other in self.orders.values()):
            self.cancels_refused += 1
            self.log.error("cancel_refused", client_order_id=record.client_order_id, vt_orderid=record.vt_orderid,
                           reason="the vt_orderid also names another open order of this account")
            return False
        if record.cancel_requested:
            return True
        record.cancel_requested = True
        record.updated_ns = time.time_ns()
        self.port.cancel(record)
        self.notify("cancelRequested", record)
        self.write(record)
        return True

    def _on_cancel_open_orders(self, command, message, sender: ActorAddress) -> None:
        """Kill switch: cancel every open order (of one group, or all); pending ones on send."""
        group, count = command.group, 0
        for record in [self.orders[i] for i in self.open_ids]:
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
                                                source=self.path, correlation_id=self.correlation_id))

    def push(self, member: str, record: OrderRecord, **extra: Any) -> None:
        """Send an order event to every session granted this account (encoded once)."""
        payload = encode_order_event(member, record, self.path, **extra)
        self.tally.observe(member, record, extra)
        self.send_path(self.sessions_path, encode_account_push(self.account, payload, self.path,
                                                               record.correlation_id))

    def extra_statistics(self) -> dict[str, Any]:
        """Orders, rejections, unknown outcomes and the rest of the order counters."""
        return {
            "account": self.account, "orders": self.new_orders, "submissions": self.submissions,
            "duplicates": self.duplicates, "rejections": self.rejections, "sent": self.sent,
            "unknown_outcomes": self.unknown_outcomes, "unresolved": len(self.unresolved),
            "open": len(self.open_ids), "checks_pending": len(self.checks),
            "unrouted_events": self.unrouted, "duplicate_trades": self.duplicate_trades,
            "inline_checks": self.inline_checks, "quarantined": len(self.quarantined),
            "quarantined_resubmits": self.quarantined_resubmits, "closed_unknown": self.closed_unknown,
            "vt_orderid_collisions": self.vt_orderid_collisions, "cancels_refused": self.cancels_refused,
            "outcomes": self.tally.statistics().as_dict(),
        }


__all__ = ["OrderActor"]
