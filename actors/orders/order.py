"""OrderActor (``orders/<account>``): idempotent order request-reply for one account.

Sends every order to the exchange exactly once (actors/README.md, "Orders, risk and accounts"):

1. ``submitOrder`` (from a session, ``orderCommand``) with a client order id
   already seen returns that order's reply — at once if decided, else when it
   is — and goes no further. A new id becomes an :class:`OrderRecord`.
2. Every rule actor of the account and the global ones checks it; all must
   approve. In process the check is an in-line call of the rule actor, when
   that sees exactly what a ``riskCheck`` message would; otherwise a
   ``riskCheck`` message (encoded once) and a ``riskVerdict`` back
   (actors/orders/risk_gate.py). A rule actor that is down or crashed refuses
   by its absence; one that does not answer within ``check_timeout_s``
   refuses too (fail-closed). A refusal is a value naming rule, limit and
   observed value.
3. The approved order is written ahead to the journal: committed (SQLite
   WAL) before ``MainEngine.send_order`` is called, in the same handler on
   the loop thread (actors/orders/journal.py says why there), with the
   client order id in ``OrderRequest.reference``. A failed commit refuses the
   order; ``""`` back from ``send_order`` is a local rejection. With a
   ``fence`` (a NATS venue-host with a standby) the write-ahead rows are
   first acknowledged by the replicated journal under the venue-host lease's
   epoch, and sent only while that lease is held (else refused, rule
   ``lease``); a new id reaching a host without the lease is not taken.
4. The reply waits for the exchange's answer (the first order event past
   SUBMITTING, or a fill); none within ``answer_timeout_s`` makes the order
   ``outcomeUnknown``: replied as such, never re-sent, and resolved by gateway
   queries and order events (actors/orders/book.py). A reply, once
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
import math
import time
from typing import Any

from thespian.actors import ActorAddress

import schemas
from actors._dispatch import TickstageActor
from actors._envelope import encode_actor_message, encode_error, encode_outbound
from actors.orders.book import OrderBook
from actors.orders.codec import (
    encode_account_push,
    encode_cancel_all_reply,
    encode_cancel_reply,
    encode_order_event,
    encode_order_reply,
    encode_status_reply,
    read_rejection,
)
from actors.orders.config import OrdersConfig
from actors.orders.errors import VenueUnavailableError
from actors.orders.flatten import Flattens
from actors.orders.ports import JournalPort, MarketPort, OrderPort
from actors.orders.record import OrderRecord
from actors.orders.replace import Replacements
from actors.orders.risk_gate import PendingCheck, RiskGate
from actors.orders.routing import route_gateway
from actors.orders.tally import OrderTally
from actors.orders.validity import check_record
from actors.orders.write_ahead import WriteAhead
from actors.risk.limits import LimitStore
from actors.risk.rejection import Rejection
from actors.risk.rules.venue import VenueStatePort, venue_refusal

NAN = math.nan


class OrderActor(TickstageActor):
    """Idempotent submission, risk checks, write-ahead journal, one gateway call per order.

    A table of handlers (``ActorMessage`` member → ``_on_<member>``) over three objects: the
    :class:`~actors.orders.book.OrderBook` (the records, their transitions, the journal rows), the
    :class:`~actors.orders.risk_gate.RiskGate` (the rule checks and updates) and the
    :class:`~actors.orders.write_ahead.WriteAhead` (the write-ahead group commit and the send fence). The
    actor keeps what needs the runtime: the sessions waiting for replies, the gateway calls and the timers.
    It is the book's :class:`~actors.orders.book.OrderEvents` and the write-ahead's
    :class:`~actors.orders.write_ahead.WriteAheadHost`.

    Context args:
        account (str): the strategy account.
        gateway_name (str): vn.py gateway of its primary real account.
        real (tuple[str, ...]), route (dict[str, str]): its real accounts and routing rule; each order goes to
            ``route_gateway(real, route, vt_symbol)`` (actors/orders/routing.py).
        port (OrderPort): the gateway (transport/venue/vnpy_orders.py).
        market (MarketPort): reference data and last prices.
        journal (JournalPort): the durable journal (actors/orders/journal.py).
        config (OrdersConfig): timeouts.
        rules (tuple[tuple[str, str], ...]): (rule name, path) of every rule to ask.
        observers (dict[str, tuple[str, ...]]): RiskUpdateKind → paths of the rules observing it.
        stateful (tuple[str, ...]): paths of the rules that rebuild from a replay.
        sessions_path (str): the sessions supervisor (fan-out), default ``"sessions"``.
        venues (VenueStatePort | None): the venues' states when the account has the ``venue`` rule: asked
            before the contract check, so an order for a gateway not ``contractsReady`` (one that never
            logged in knows no contract) is refused by rule ``venue`` naming the gateway and its state.
        fence (SendFence | None): the venue-host lease of a NATS venue-host with a standby
            (transport/cluster/order_stream.py): write-ahead rows are replicated under the lease's epoch and
            sent only once acknowledged and while the same lease is held; ``None`` (one process): sent at once.
    """

    write_ahead: WriteAhead | None = None   # from on_start; read after every message

    def on_start(self, restarts: int) -> None:
        """Rebuild from the journal, resolve what is unknown, replay to the rules (loop thread)."""
        args = self.context.args
        self.account: str = args["account"]
        self.gateway_name: str = args.get("gateway_name", "SIM")
        self.real: tuple[str, ...] = tuple(args.get("real") or (self.gateway_name,))
        self.route: dict[str, str] = dict(args.get("route") or {})
        self.port: OrderPort = args["port"]
        self.market: MarketPort = args["market"]
        self.journal: JournalPort = args["journal"]
        self.config: OrdersConfig = args.get("config") or OrdersConfig()
        self.stateful_paths: tuple[str, ...] = tuple(args.get("stateful", ()))
        self.sessions_path: str = args.get("sessions_path", "sessions")
        self.venues: VenueStatePort | None = args.get("venues")
        self.limit_store: LimitStore | None = args.get("limits")
        self.write_ahead = WriteAhead(self.journal, args.get("fence"), self)
        self.book = OrderBook(self.account, self.journal, self,
                              unknown_after_queries=self.config.unknown_after_queries)
        self.gate = RiskGate(self.runtime, self, args.get("rules", ()), args.get("observers", {}))
        self.replacements = Replacements(self.book, self)
        self.flattens = Flattens(self.book, self)
        self.cancel_alls: dict[str, list[str]] = {}   # cancelAll request id → the client order ids it cancelled
        self.waiters: dict[str, list[tuple[str, int]]] = {}
        self.tally = OrderTally()
        self._answer_deadlines: collections.deque[tuple[float, str]] = collections.deque()
        self._answer_armed = False
        self._answer_due = 0.0   # time.monotonic() at which the armed answer timer is due
        self._query_armed = False
        self.submissions = self.duplicates = self.new_orders = 0
        self.sent = self.cancels_refused = self.quarantined_resubmits = 0
        for record in self.book.recover(self.port.trades_for(self.account)):
            self._arm_answer(record)
        self.replacements.recover()
        if self.book.unresolved:
            self._arm_query()
        self.gate.replay_to(self.stateful_paths, self.book.orders.values())
        # in-line calls wait until whatever a previous incarnation left queued to a rule was handled
        self.gate.queued_to([path for _, path in self.gate.rules])

    # -- the book's and the gate's state, for tests, benchmarks and statistics ----------------

    @property
    def orders(self) -> dict[str, OrderRecord]:
        """Client order id → record, every order of the day (the book's; read only)."""
        return self.book.orders

    @property
    def unresolved(self) -> set[str]:
        """Client order ids the gateway is asked about (the book's; read only)."""
        return self.book.unresolved

    @property
    def unknown_outcomes(self) -> int:
        """Orders made ``outcomeUnknown`` by the answer timeout in this incarnation."""
        return self.book.unknown_outcomes

    @property
    def checks(self) -> dict[int, PendingCheck]:
        """Checks waiting for verdicts by message (the gate's; read only)."""
        return self.gate.checks

    @property
    def inline_checks(self) -> int:
        """Rule checks answered by an in-line call."""
        return self.gate.inline_checks

    # -- HANDLERS: commands from sessions ------------------------------------------------------

    def _on_order_command(self, command, message, sender: ActorAddress) -> None:
        """Handle a validated order ClientMessage (config.ORDER_KEYS) from a session (loop thread)."""
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
                records = self.book.records(wanted) if wanted else self.book.status_of_all(request.finishedLimit)
                self._to_session(session, encode_status_reply(self.account, records, correlation, self.path))
            elif member == "replaceOrder":
                self.replacements.replace(client.replaceOrder, user, session, correlation)
            elif member == "cancelAll":
                self.cancel_all(client.cancelAll, session, correlation)
            elif member == "flattenPosition":
                self.flattens.flatten(client.flattenPosition, user, session, correlation)

    def _on_cancel_open_orders(self, command, message, sender: ActorAddress) -> None:
        """Kill switch: cancel every open order (of one group, or all); pending ones on send (loop thread)."""
        group, count = command.group, 0
        for record in self.book.open_records(group):
            if self.replacements.cancel_held(record, f"cancelled by the kill switch ({command.reason}) before it "
                                                     "was sent"):
                count += 1
            elif record.vt_orderid:
                self.cancel_now(record)
                count += 1
            elif record.state == "pending":
                record.cancel_on_send = True
                count += 1
        self.log.warning("open_orders_cancelled", group=group or "*", orders=count, by=command.by,
                         reason=command.reason)

    # -- HANDLERS: risk rules ------------------------------------------------------------------

    def _on_risk_verdict(self, verdict, message, sender: ActorAddress) -> None:
        """Collect one rule's verdict; all approved → journal; any refusal → reject (loop thread)."""
        rejection = None if verdict.approved else read_rejection(verdict.rejection)
        decided = self.gate.take_verdict(verdict.checkId, self.runtime.registry.path_of(sender), rejection)
        if decided is None:
            return
        record = self.book.orders[decided[0]]
        if decided[1] is None:
            self._approved(record)
        else:
            self.book.refuse(record, decided[1])

    def _on_risk_resync_request(self, rule_path: str, message, sender: ActorAddress) -> None:
        """A rule actor (re)started: checks it had not answered are lost, refuse them (fail-closed);
        replay the orders to it (loop thread)."""
        for client_order_id, rejection in self.gate.rule_restarted(rule_path):
            self.book.refuse(self.book.orders[client_order_id], rejection)
        self.gate.replay_to([rule_path], self.book.orders.values())

    def _on_rule_status_request(self, _body, message, sender: ActorAddress) -> None:
        """The account actor's 1 s poll: answer the order counts (the book's, kept per state change;
        loop thread)."""
        self.send(sender, encode_actor_message("orderCounts", self.book.counts(), source=self.path))

    # -- HANDLERS: events from the gateway -----------------------------------------------------

    def _on_vnpy_order(self, order, message, sender: ActorAddress) -> None:
        """Take one vn.py order update (routed by the order bridge; loop thread)."""
        record = self.book.record_of(order.vtOrderId, order.reference)
        if record is not None:
            self.book.apply_status(record, str(order.status), order.tradedLots)

    def _on_vnpy_trade(self, trade, message, sender: ActorAddress) -> None:
        """Take one fill, once per vt_tradeid; a fill is also an answer (loop thread)."""
        record = self.book.record_of(trade.vtOrderId)
        if record is not None:
            self.book.take_fill(record, trade.vtTradeId, trade.price, trade.volumeLots, trade.tsNs)

    # -- HANDLERS: timers ----------------------------------------------------------------------

    def _on_timer(self, timer, message, sender: ActorAddress) -> None:
        """Check timeout, answer timeout, the periodic query of unresolved orders, or a replicated write-ahead
        batch acknowledged (loop thread)."""
        name = timer.name
        if name == "check":
            timed_out = self.gate.time_out(timer.generation, self.config.check_timeout_s)
            if timed_out is not None:
                self.book.refuse(self.book.orders[timed_out[0]], timed_out[1])
        elif name == "answer":
            self._answers_due()
        elif name == "query":
            self._query_armed = False
            self._query_unresolved()
        elif name == "replicated":
            self.write_ahead.replicated(timer.generation)

    # -- submissions -----------------------------------------------------------------------------

    def submit(self, order, session: str, correlation: int, user: str) -> None:
        """Start a new order, or answer a seen client order id with its (pending) reply."""
        client_order_id = order.clientOrderId
        self.submissions += 1
        if client_order_id in self.book.quarantined:
            self._refuse_quarantined(order, session, correlation, user)
            return
        record = self.book.get(client_order_id)
        if record is not None:
            self.duplicates += 1
            if record.reply_status is not None:
                self._reply(record, session, correlation)
            else:
                self.waiters.setdefault(client_order_id, []).append((session, correlation))
            return
        if not self.write_ahead.takes_new_orders():
            self._to_session(session, encode_error(
                "internal", self.write_ahead.not_taken_reason(client_order_id), correlation, self.path))
            return
        now = time.time_ns()
        record = OrderRecord(client_order_id, self.account, order.vtSymbol, str(order.direction),
                             str(order.offset), str(order.orderType), order.price, order.volumeLots,
                             order.reference, user, created_ns=now, updated_ns=now)
        quote = self.market.quote(record.vt_symbol)
        record.group = quote.group if quote is not None else ""
        record.correlation_id = self.correlation_id
        self.book.add(record)
        self.log.debug("order_submitted", client_order_id=client_order_id, vt_symbol=record.vt_symbol)
        self.waiters[client_order_id] = [(session, correlation)]
        self._admit(record, order.account, quote)

    def admit(self, record: OrderRecord, account_sent: str) -> None:
        """Take a new order, already in the book, through validity and every risk rule; approved, it is queued
        for the write-ahead commit (a replacing order: actors/orders/replace.py)."""
        record.correlation_id = record.correlation_id or self.correlation_id
        self._admit(record, account_sent, self.market.quote(record.vt_symbol))

    def _admit(self, record: OrderRecord, account_sent: str, quote) -> None:
        self.new_orders += 1
        problem = self._venue_refusal(record) or check_record(record, account_sent, quote)
        if problem is not None:
            self.book.reject(record, problem)
            return
        if not self.gate.rules:
            self._approved(record)
            return
        verdict = self.gate.check(record, quote)
        if verdict is None:
            self._approved(record)
        elif isinstance(verdict, Rejection):
            self.book.refuse(record, verdict)
        else:
            self.runtime.call_later(self.config.check_timeout_s, self.myAddress, encode_actor_message(
                "timer", {"name": "check", "generation": verdict.check_id & 0xFFFFFFFF}, source=self.path))

    def _venue_refusal(self, record: OrderRecord) -> Rejection | None:
        """The ``venue`` rule's refusal for the gateway ``record`` is routed to, asked before the contract check;
        ``None`` when the gateway is ready, no venue is followed, or the rule's ``limit`` is 0 (off), read from
        the LimitStore the rule reads too."""
        if self.venues is None:
            return None
        limit = float(self.limit_store.limits("venue", self.account).get("limit", 1.0)) if self.limit_store else 1.0
        return (venue_refusal(self.venues, route_gateway(self.real, self.route, record.vt_symbol), limit)
                if limit else None)

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
                         f"({self.book.quarantined[client_order_id]}); its first submission may have reached "
                         "the venue, so this id is never sent again: check the venue, use a new client order id")
        self.log.warning("quarantined_order_resubmitted", client_order_id=client_order_id, reason=record.reason)
        self._reply(record, session, correlation)
        self.push("outcomeUnknown", record, sinceTsNs=now, reason=record.reason)

    # -- write ahead, then send -------------------------------------------------------------

    def _approved(self, record: OrderRecord) -> None:
        """Queue the order for the write-ahead commit at the end of this handler (or of the next ones, while
        the runtime's next message is this actor's too: group commit of a burst); a replacing order waits
        for the order it replaces to end (:meth:`Replacements.hold`)."""
        if self.replacements.hold(record):
            return
        self.write_ahead.queue(record)

    def receiveMessage(self, msg: Any, sender: ActorAddress) -> None:
        """Handle a message, then commit and send the approved orders unless this actor's next message is
        already next in the runtime's queue (loop thread)."""
        super().receiveMessage(msg, sender)
        write_ahead = self.write_ahead
        if write_ahead is not None and write_ahead.queued and not self.crashed \
                and not self.runtime.next_is_for(self.myAddress):
            try:
                write_ahead.commit_and_send()
            except Exception as exc:  # noqa: BLE001 - a crash, as inside a handler
                self._crash(exc)

    def send_written(self, record: OrderRecord, refusal: Rejection | None) -> None:
        """Send an order whose write-ahead row is committed, or refuse it with ``refusal`` (never sent), in the
        order's log context (the write-ahead's :class:`~actors.orders.write_ahead.WriteAheadHost`; loop thread)."""
        with self.handling(self.msg_type or "writeAhead", record.correlation_id):
            if refusal is None:
                self.send_to_gateway(record)
            else:
                self.book.refuse(record, refusal)

    def wake_replicated(self, batch: int) -> None:
        """Tell this actor that replicated write-ahead batch ``batch`` was answered (loop thread, outside any
        handler): its timer ``replicated`` sends or refuses the batch."""
        self.runtime.tell(self.myAddress, encode_actor_message(
            "timer", {"name": "replicated", "generation": batch}, source=self.path))

    def send_to_gateway(self, record: OrderRecord) -> None:
        """Call ``MainEngine.send_order`` once for this order (loop thread)."""
        self.sent += 1
        vt_orderid = self.port.send(record, route_gateway(self.real, self.route, record.vt_symbol))
        record.updated_ns = time.time_ns()
        self.notify("sent", record)
        if not vt_orderid:
            record.rejected_by_gateway = True
            self.notify("gatewayRejected", record)
            self.book.refuse(record, Rejection("gateway", NAN, NAN,
                                               'vn.py refused the order locally (send_order returned "")'))
            return
        self.book.map_vt(record, vt_orderid)
        if record.state == "pending":
            record.state = "sent"
        self.book.write(record)
        if record.cancel_on_send:
            self.cancel_now(record)
        if record.reply_status is None:
            self._arm_answer(record)

    # -- cancels ---------------------------------------------------------------------------

    def cancel(self, client_order_id: str, session: str, correlation: int) -> None:
        """Cancel one order for a session; reply ``cancelReply``."""
        record = self.book.get(client_order_id)
        if record is None:
            status, vt_orderid = "unknownOrder", ""
        elif self.replacements.cancel_held(record, "cancelled before it was sent (held for its replace)"):
            status, vt_orderid = "sent", ""
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

    def cancel_all(self, request, session: str, correlation: int) -> None:
        """Cancel every open order of the account, of ``request.vtSymbol`` (``""``: all) and of
        ``request.direction`` when ``request.byDirection``; reply ``cancelAllReply`` with the orders named.

        Idempotent by ``request.requestId``: a retry gets the first reply and sends nothing (within this
        incarnation; each order's cancel is sent once whatever the retries, ``cancel_requested`` is journaled).
        A held replacing order is refused (never sent); a pending one is cancelled once it has a vt_orderid.
        """
        request_id = request.requestId
        done = self.cancel_alls.get(request_id)
        if done is None:
            vt_symbol, direction = request.vtSymbol, str(request.direction) if request.byDirection else ""
            done = []
            for record in sorted(self.book.open_records(), key=lambda r: r.created_ns):
                if (vt_symbol and record.vt_symbol != vt_symbol) or (direction and record.direction != direction):
                    continue
                if self.replacements.cancel_held(record, f"cancelled by cancelAll {request_id!r} before it was sent"):
                    done.append(record.client_order_id)
                elif record.vt_orderid:
                    if self.cancel_now(record):
                        done.append(record.client_order_id)
                elif record.state == "pending":
                    record.cancel_on_send = True
                    done.append(record.client_order_id)
            self.cancel_alls[request_id] = done
            self.log.info("cancel_all_sent", request_id=request_id, vt_symbol=vt_symbol or "*",
                          direction=direction or "*", orders=len(done))
        self._to_session(session, encode_cancel_all_reply(request_id, self.account, done, correlation, self.path))

    def cancel_now(self, record: OrderRecord) -> bool:
        """Send one cancel request for an order with a vt_orderid (idempotent); return False, sending
        nothing, when that vt_orderid also names another open order (it could cancel that one)."""
        if self.book.cancel_collides(record):
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
        self.book.write(record)
        return True

    # -- timeouts and queries ------------------------------------------------------------------

    def _arm_answer(self, record: OrderRecord) -> None:
        """Start the order's answer timeout: one deadline in a queue (every order waits the same
        ``answer_timeout_s``, so deadlines come in order) and one loop timer for the earliest."""
        self._answer_deadlines.append((time.monotonic() + self.config.answer_timeout_s, record.client_order_id))
        if not self._answer_armed:
            self._arm_answer_timer(self.config.answer_timeout_s)

    def _arm_answer_timer(self, delay_s: float) -> None:
        self._answer_armed = True
        self._answer_due = time.monotonic() + delay_s
        self.runtime.call_later(delay_s, self.myAddress, encode_actor_message(
            "timer", {"name": "answer", "generation": 0}, source=self.path))

    def _answers_due(self) -> None:
        """Make every order whose answer deadline passed before this timer fired, and still unanswered,
        ``outcomeUnknown``.

        The cut-off is the timer's due time, not the time this message is handled: an answer that reached
        this actor's mailbox before the timer fired is ahead of it in the runtime's FIFO queue, so it was
        handled already. Behind a backlog (a burst of 10,000 orders) ``now`` is seconds past the deadlines
        of orders whose answers are queued behind this message; comparing with ``now`` made hundreds of
        answered orders ``outcomeUnknown`` (perf/bench_orders.py, the open-orders sweep).
        """
        self._answer_armed = False
        deadlines, now = self._answer_deadlines, time.monotonic()
        cutoff = min(now, self._answer_due)
        while deadlines and deadlines[0][0] <= cutoff:
            record = self.book.get(deadlines.popleft()[1])
            if record is not None and record.reply_status is None and not record.final:
                since = " since the desk restarted" if record.client_order_id in self.book.recovered else ""
                self.book.unknown(record, f"no exchange answer within {self.config.answer_timeout_s:g} s{since}")
                self._arm_query()
        if deadlines:
            self._arm_answer_timer(max(deadlines[0][0] - now, 0.001))

    def _arm_query(self) -> None:
        if not self._query_armed:
            self._query_armed = True
            self.runtime.call_later(self.config.query_interval_s, self.myAddress, encode_actor_message(
                "timer", {"name": "query", "generation": 0}, source=self.path))

    def _query_unresolved(self) -> None:
        """Ask the gateway about every unresolved order; the book takes the answers."""
        book = self.book
        for client_order_id in list(book.unresolved):
            record = book.orders[client_order_id]
            if record.final:
                book.unresolved.discard(client_order_id)
                continue
            try:
                known = self.port.query(record)
            except VenueUnavailableError:
                continue    # not an answer: only a venue that was asked can say it does not know an order
            book.take_query_answer(record, known)
        if book.unresolved:
            self._arm_query()

    # -- the book's events (OrderEvents) and replies ---------------------------------------------

    def focus(self, record: OrderRecord) -> None:
        """What the handler does next belongs to ``record``'s submission: adopt its correlation id."""
        self.adopt_correlation(record.correlation_id)

    def decided(self, record: OrderRecord) -> None:
        """Send the decided reply to every session waiting on this order."""
        for session, correlation in self.waiters.pop(record.client_order_id, ()):
            self._reply(record, session, correlation)
        if record.replaces:
            self.replacements.decided(record)

    def notify(self, kind: str, record: OrderRecord, *, price: float | None = None,
               volume: float | None = None, ts_ns: int = 0) -> None:
        """Tell the rule actors observing ``kind`` (through the gate); an order released (final) may let the
        order replacing it go."""
        self.gate.notify(kind, record, price=price, volume=volume, ts_ns=ts_ns)
        if kind == "released" and record.replaced_by:
            self.replacements.released(record, self._approved)

    def push(self, member: str, record: OrderRecord, **extra: Any) -> None:
        """Send an order event to every session granted this account (encoded once)."""
        payload = encode_order_event(member, record, self.path, **extra)
        self.tally.observe(member, record, extra)
        self.send_path(self.sessions_path, encode_account_push(self.account, payload, self.path,
                                                               record.correlation_id))

    def _reply(self, record: OrderRecord, session: str, correlation: int) -> None:
        self._to_session(session, encode_order_reply(record, correlation, self.path))

    def send_reply(self, session: str, payload: bytes) -> None:
        """Send a ServerMessage (a reply) to one session (loop thread)."""
        self._to_session(session, payload)

    def _to_session(self, session: str, payload: bytes) -> None:
        self.send_path(session, encode_outbound(group="", seq=0, kind="control", payload=payload,
                                                source=self.path, correlation_id=self.correlation_id))

    def extra_statistics(self) -> dict[str, Any]:
        """Orders, rejections, unknown outcomes and the rest of the order counters."""
        book, gate = self.book, self.gate
        return {
            "account": self.account, "orders": self.new_orders, "submissions": self.submissions,
            "duplicates": self.duplicates, "rejections": book.rejections, "sent": self.sent,
            "unknown_outcomes": book.unknown_outcomes, "unresolved": len(book.unresolved),
            "open": len(book.open_ids), "checks_pending": len(gate.checks),
            "unrouted_events": book.unrouted, "duplicate_trades": book.duplicate_trades,
            "inline_checks": gate.inline_checks, "quarantined": len(book.quarantined),
            "quarantined_resubmits": self.quarantined_resubmits, "closed_unknown": book.closed_unknown,
            "vt_orderid_collisions": book.vt_orderid_collisions, "cancels_refused": self.cancels_refused,
            "outcomes": self.tally.statistics().as_dict(), "replaces": self.replacements.replaces,
            "replaces_filled_before": self.replacements.filled_before, "cancel_alls": len(self.cancel_alls),
            "flattens": self.flattens.flattens, "fenced": self.write_ahead.fenced,
            "not_taken": self.write_ahead.not_taken, "replicating": self.write_ahead.replicating,
        }


__all__ = ["OrderActor"]
