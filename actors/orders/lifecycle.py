"""The order actor's life after the gateway call: events, fills, timeouts, queries, recovery.

A mixin of :class:`~actors.orders.order.OrderActor` (kept apart to keep each
module short). vn.py 4.5 behaviour it follows (its OrderData events): the SUBMITTING
echo carries ``OrderRequest.reference`` and may arrive before or after the
vt_orderid is known, later updates do not carry it, so the vt_orderid ↔ client
order id mapping is taken from whichever arrives first; trade and order events
arrive in either order; fills are deduplicated by vt_tradeid.

``outcomeUnknown``: an order sent without an exchange answer within
``answer_timeout_s``. It is replied as such and never re-sent; every
``query_interval_s`` the actor asks the gateway about it (``OrderPort.query``,
by vt_orderid and by reference ``tickstage:<account>:<client order id>``) and
takes its order events and the trades the venue replays, until one says what
happened.

Recovery (:meth:`OrderLifecycle.recover`) rebuilds the orders from the
journal's rows. A row that cannot be read is quarantined (kept in the journal,
logged, counted) and its client order id stays seen: a resubmission is never
sent. Every order the journal holds as open is asked about. The write-ahead
row is committed before ``send_order`` is called, so an order journaled as
``pending`` may have reached the venue whatever the kill point (a kill -9
after the commit, during the call, or before its next row was written):
it is ``outcomeUnknown``, never ``rejected``. When the venue, asked
``unknown_after_queries`` times, knows it neither by vt_orderid nor by
reference (a simulator's book does not survive the process), the order is
closed ``cancelled`` with a ``reason`` saying so: not left open forever, not
re-sent, and not called rejected. A query the venue cannot answer (not
connected: ``VenueUnavailableError``) does not count.

Two open orders mapped to one vt_orderid (a venue reusing ids across
restarts) are a venue id collision: logged, counted, and a cancel of that
vt_orderid is refused (it could cancel the other order).

The reply is decided once and never changes: every retry gets the original
(``outcomeUnknown`` included); the resolution reaches the trader as order
events (``orderAccepted``, ``orderRejected``) and in ``orderStatusReply``. An
order recovered from the journal without a reply waits for its resolution (or
the answer timeout) before its retries are answered.
"""

from __future__ import annotations

import math
import time

from thespian.actors import ActorAddress

from actors._envelope import encode_actor_message
from actors.orders.errors import VenueUnavailableError
from actors.orders.journal_rows import ROW_ERRORS
from actors.orders.record import STATE_OF_STATUS, OrderRecord, parse_reference, reference_of
from actors.risk.rejection import Rejection

NAN = math.nan


class OrderLifecycle:
    """Order events, fills, the answer timeout, gateway queries, recovery and rule replays."""

    # -- recovery -------------------------------------------------------------------------

    def recover(self) -> None:
        """Rebuild the orders from the journal's committed rows; unanswered ones become outcomeUnknown
        (resolved by queries and events; their reply waits for that, or the answer timeout). A row that
        cannot be read is quarantined: its client order id stays seen, the other orders load."""
        now = time.time_ns()
        self.quarantined = self.journal.quarantined_orders(self.account)
        for row in self.journal.orders(self.account):
            try:
                record = OrderRecord.from_row(row)
            except ROW_ERRORS as exc:
                reason = f"{type(exc).__name__}: {exc}"
                client_order_id = row.get("client_order_id")
                if isinstance(client_order_id, str):
                    self.quarantined[client_order_id] = reason
                self.journal.quarantine_order_nowait(row, reason)
                continue
            record.trade_volume, record.avg_price = 0.0, 0.0   # rebuilt from the fills below (deduplicated)
            self.orders[record.client_order_id] = record
            self.track(record)
            if record.vt_orderid:
                self.map_vt(record, record.vt_orderid)
            if record.final:
                continue
            self.unresolved.add(record.client_order_id)
            self.recovered.add(record.client_order_id)
            if record.state in ("pending", "sent"):
                record.state, record.updated_ns = "outcomeUnknown", now
                record.reason = ("recovered from the journal: send_order may have been called before the desk "
                                 "stopped; asking the venue")
                self.write(record)
            if record.reply_status is None:
                self._arm_answer(record)
        for trade in self.port.trades_for(self.account):
            record = self.orders.get(self.by_vt.get(trade.vt_orderid, ""))
            if record is not None and trade.vt_tradeid not in record.trade_ids:
                self._add_fill(record, trade.vt_tradeid, trade.price, trade.volume)
        self.rejections = sum(1 for record in self.orders.values() if record.state == "rejected")
        if self.orders or self.quarantined:
            self.log.info("orders_recovered", orders=len(self.orders), unresolved=len(self.unresolved),
                          quarantined=len(self.quarantined))
        if self.unresolved:
            self._arm_query()

    def map_vt(self, record: OrderRecord, vt_orderid: str) -> None:
        """Map ``vt_orderid`` to ``record``; one already naming another open order is a venue id collision
        (logged, counted; cancels of that vt_orderid are refused from now on)."""
        other_id = self.by_vt.get(vt_orderid)
        if other_id is not None and other_id != record.client_order_id:
            other = self.orders.get(other_id)
            if other is not None and not other.final:
                self.ambiguous_vt.add(vt_orderid)
                self.vt_orderid_collisions += 1
                self.log.error("vt_orderid_collision", vt_orderid=vt_orderid, client_order_id=record.client_order_id,
                               other_client_order_id=other_id)
        record.vt_orderid = vt_orderid
        self.by_vt[vt_orderid] = record.client_order_id

    def _on_risk_resync_request(self, rule_path: str, message, sender: ActorAddress) -> None:
        """A rule actor (re)started: checks it had not answered are lost, refuse them (fail-closed);
        replay the orders to it."""
        rule = next((name for name, path in self.rule_paths if path == rule_path), None)
        for check_id, check in list(self.checks.items()):
            if rule_path in check.pending:
                del self.checks[check_id]
                self.refuse(self.orders[check.client_order_id], Rejection(
                    rule, NAN, NAN, f"risk rule {rule} restarted before answering (fail-closed)"))
        self.replay_to([rule_path])

    def _on_rule_status_request(self, _body, message, sender: ActorAddress) -> None:
        """The account actor's 1 s poll: answer the order counts.

        Every count comes from the records (the journal's rows after a restart, counted once by
        :meth:`recover`), as the blotter does, so the account panel and the risk summary agree with
        it across restarts; kept up to date per state change, never by scanning the day's orders.
        """
        reply = encode_actor_message("orderCounts", {
            "open": len(self.open_ids), "unknownOutcomes": len(self.unknown_ids),
            "rejections": self.rejections, "orders": len(self.orders)}, source=self.path)
        self.send(sender, reply)

    # -- events from the gateway --------------------------------------------------------------

    def _record_of(self, vt_orderid: str, reference: str = "") -> OrderRecord | None:
        client_order_id = self.by_vt.get(vt_orderid)
        if client_order_id is None and reference:
            parsed = parse_reference(reference)
            if parsed is not None and parsed[0] == self.account:
                client_order_id = parsed[1]
        record = self.orders.get(client_order_id) if client_order_id is not None else None
        if record is None:
            self.unrouted += 1
            return None
        self.adopt_correlation(record.correlation_id)   # the event belongs to that submission
        if not record.vt_orderid and vt_orderid:
            self.map_vt(record, vt_orderid)    # the SUBMITTING echo arrived first
        return record

    def _on_vnpy_order(self, order, message, sender: ActorAddress) -> None:
        """Take one vn.py order update (routed by the order bridge)."""
        record = self._record_of(order.vtOrderId, order.reference)
        if record is not None:
            self.apply_status(record, str(order.status), order.tradedLots)

    def _on_vnpy_trade(self, trade, message, sender: ActorAddress) -> None:
        """Take one fill, once per vt_tradeid; a fill is also an answer."""
        record = self._record_of(trade.vtOrderId)
        if record is None:
            return
        if trade.vtTradeId in record.trade_ids:
            self.duplicate_trades += 1
            return
        self._add_fill(record, trade.vtTradeId, trade.price, trade.volumeLots)
        self.notify("filled", record, price=trade.price, volume=trade.volumeLots, ts_ns=trade.tsNs)
        self.push("orderFilled", record, vtTradeId=trade.vtTradeId, price=trade.price,
                  volumeLots=trade.volumeLots, tsNs=trade.tsNs)
        if record.reply_status is None or record.state in ("sent", "outcomeUnknown"):
            self.apply_status(record, "allTraded" if record.traded >= record.volume else "partTraded",
                              record.traded)
        else:
            self.write(record)

    def _add_fill(self, record: OrderRecord, vt_tradeid: str, price: float, volume: float) -> None:
        record.trade_ids.add(vt_tradeid)
        total = record.avg_price * record.trade_volume + price * volume
        record.trade_volume += volume
        record.avg_price = total / record.trade_volume if record.trade_volume else 0.0
        record.traded = max(record.traded, record.trade_volume)
        record.updated_ns = time.time_ns()

    def decide(self, record: OrderRecord, status: str) -> None:
        """Decide the reply (once: ``accepted``, ``rejected`` or ``outcomeUnknown``) and answer the waiters."""
        if record.reply_status is None:
            record.reply_status, record.decided_ns = status, time.time_ns()
            self.answer(record)

    def apply_status(self, record: OrderRecord, status: str, traded: float) -> None:
        """Move the order to what vn.py reports; the first answer decides the reply."""
        if status == "submitting" or record.final:
            return
        self.adopt_correlation(record.correlation_id)
        changed = status != record.status or traded > record.traded
        record.status = status
        record.traded = max(record.traded, traded)
        record.updated_ns = time.time_ns()
        state = STATE_OF_STATUS[status]
        if state == "working" and record.traded >= record.volume:
            state, record.status = "filled", "allTraded"
        previous = record.state
        was_unknown = previous == "outcomeUnknown"
        if state == "rejected":
            record.rejected_by_gateway = True
            self.notify("gatewayRejected", record)
            self.reject(record, Rejection("exchange", NAN, NAN, "rejected by the exchange (see the gateway log)"))
            self.notify("released", record)
            return
        record.state, record.reason = state, ""
        self.decide(record, "accepted")
        if previous in ("pending", "sent", "outcomeUnknown"):
            self.push("orderAccepted", record)
            if was_unknown:
                self.log.info("outcome_resolved", client_order_id=record.client_order_id, state=state)
        elif changed:
            self.push("orderUpdated", record)
        self.unresolved.discard(record.client_order_id)
        if record.final:
            self.notify("released", record)
        self.write(record)

    def reject(self, record: OrderRecord, rejection: Rejection) -> None:
        """Make the order rejected, reply and tell the traders (a rejection is a value)."""
        self.adopt_correlation(record.correlation_id)
        record.state, record.rejection = "rejected", rejection
        record.updated_ns = time.time_ns()
        self.rejections += 1
        self.unresolved.discard(record.client_order_id)
        self.log.info("order_rejected", client_order_id=record.client_order_id, rule=rejection.rule,
                      limit=rejection.limit, observed=rejection.observed, reason=rejection.reason)
        self.decide(record, "rejected")
        self.write(record)
        self.push("orderRejected", record)

    # -- timeouts and queries ------------------------------------------------------------------

    def _on_timer(self, timer, message, sender: ActorAddress) -> None:
        """Check timeout, answer timeout, or the periodic query of unresolved orders."""
        name = timer.name
        if name == "check":
            self._check_timed_out(timer.generation)
        elif name == "answer":
            self._answers_due()
        elif name == "query":
            self._query_armed = False
            self._query_unresolved()

    def unknown(self, record: OrderRecord, reason: str) -> None:
        """Sent, unanswered: reply ``outcomeUnknown``, never re-send, start resolving."""
        self.adopt_correlation(record.correlation_id)
        record.state, record.reason = "outcomeUnknown", reason
        record.updated_ns = time.time_ns()
        self.unknown_outcomes += 1
        self.unresolved.add(record.client_order_id)
        self.log.warning("order_outcome_unknown", client_order_id=record.client_order_id,
                         vt_orderid=record.vt_orderid, reason=reason)
        self.decide(record, "outcomeUnknown")
        self.write(record)
        self.push("outcomeUnknown", record, sinceTsNs=record.sent_ns or record.created_ns, reason=reason)
        self._arm_query()

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
            record = self.orders.get(deadlines.popleft()[1])
            if record is not None and record.reply_status is None and not record.final:
                since = " since the desk restarted" if record.client_order_id in self.recovered else ""
                self.unknown(record, f"no exchange answer within {self.config.answer_timeout_s:g} s{since}")
        if deadlines:
            self._arm_answer_timer(max(deadlines[0][0] - now, 0.001))

    def _arm_query(self) -> None:
        if not self._query_armed:
            self._query_armed = True
            self.runtime.call_later(self.config.query_interval_s, self.myAddress, encode_actor_message(
                "timer", {"name": "query", "generation": 0}, source=self.path))

    def _query_unresolved(self) -> None:
        for client_order_id in list(self.unresolved):
            record = self.orders[client_order_id]
            if record.final:
                self.unresolved.discard(client_order_id)
                continue
            try:
                known = self.port.query(record)
            except VenueUnavailableError:
                continue    # not an answer: only a venue that was asked can say it does not know an order
            if known is not None:
                record.unknown_queries = 0
                if not record.vt_orderid:
                    self.map_vt(record, known.vt_orderid)
                if known.status != "submitting":
                    self.apply_status(record, known.status, known.traded)
                continue
            record.unknown_queries += 1
            if record.unknown_queries >= self.config.unknown_after_queries:
                self.close_unknown(record)
        if self.unresolved:
            self._arm_query()

    def close_unknown(self, record: OrderRecord) -> None:
        """Close an open order the venue does not know: ``cancelled`` with the reason, reply
        ``outcomeUnknown`` if none was decided (it may have reached the venue: never ``rejected``)."""
        after = " after the desk restarted" if record.client_order_id in self.recovered else ""
        record.reason = (
            f"closed: the venue does not know this order{after} (asked {record.unknown_queries} times by "
            f"vt_orderid {record.vt_orderid or '(none)'} and by reference "
            f"{reference_of(record.account, record.client_order_id)}); send_order may have been called, "
            "so it is not re-sent and not called rejected (a simulator's book does not survive a restart)")
        record.state, record.updated_ns = "cancelled", time.time_ns()
        self.closed_unknown += 1
        self.unresolved.discard(record.client_order_id)
        self.log.warning("order_closed_unknown", client_order_id=record.client_order_id,
                         vt_orderid=record.vt_orderid, reason=record.reason)
        self.decide(record, "outcomeUnknown")
        self.push("orderUpdated", record)
        self.notify("released", record)
        self.write(record)

    # -- helpers ---------------------------------------------------------------------------------

    def track(self, record: OrderRecord) -> None:
        """Keep the open and outcomeUnknown sets in step with the record's state (O(1): the 1 s order counts and
        the statistics read their sizes instead of scanning every order of the day)."""
        client_order_id = record.client_order_id
        if record.final:
            self.open_ids.discard(client_order_id)
        else:
            self.open_ids.add(client_order_id)
        if record.state == "outcomeUnknown":
            self.unknown_ids.add(client_order_id)
        else:
            self.unknown_ids.discard(client_order_id)

    def write(self, record: OrderRecord) -> None:
        """Journal the record's current state (no wait: only the write-ahead record is waited for); the row
        that first carries the decided reply is committed in the loop's next turn. Every state change ends
        here, so the open and outcomeUnknown sets are updated here too."""
        self.track(record)
        soon = record.reply_status is not None and not record.reply_journaled
        record.reply_journaled = record.reply_journaled or soon
        self.journal.write_order_nowait(record.row(), soon=soon)


__all__ = ["OrderLifecycle"]
