"""OrderBook: one account's orders by client order id and by vt_orderid, their states, the venue's events.

The order actor (:class:`~actors.orders.order.OrderActor`) owns one book and
hands it everything that changes an order: a new submission, the venue's
order and trade events, the answer timeout, the answers to gateway queries,
a refusal. The book changes the records, keeps its indexes in step, writes
every change to the journal (through :class:`~actors.orders.ports.JournalPort`)
and says what happened through :class:`OrderEvents` (the reply decided, an
order event for the traders, a lifecycle update for the risk rules); it sends
nothing and arms no timer itself, so it runs without a runtime.

vn.py 4.5 behaviour it follows (its OrderData events): the SUBMITTING echo
carries ``OrderRequest.reference`` and may arrive before or after the
vt_orderid is known, later updates do not carry it, so the vt_orderid ↔
client order id mapping is taken from whichever arrives first; trade and
order events arrive in either order; fills are deduplicated by vt_tradeid.

``outcomeUnknown``: an order sent without an exchange answer within the
answer timeout. It is replied as such and never re-sent; the order actor asks
the gateway about it (by vt_orderid and by reference
``tickstage:<account>:<client order id>``) and hands the answers to
:meth:`OrderBook.take_query_answer` until one says what happened.

Recovery (:meth:`OrderBook.recover`) rebuilds the orders from the journal's
rows. A row that cannot be read is quarantined (kept in the journal, logged,
counted) and its client order id stays seen: a resubmission is never sent.
The write-ahead row is committed before ``send_order`` is called, so an order
journaled as ``pending`` may have reached the venue whatever the kill point:
it is ``outcomeUnknown``, never ``rejected``. When the venue, asked
``unknown_after_queries`` times, knows it neither by vt_orderid nor by
reference (a simulator's book does not survive the process), the order is
closed ``cancelled`` with a ``reason`` saying so: not left open forever, not
re-sent, and not called rejected.

Two open orders mapped to one vt_orderid (a venue reusing ids across
restarts) are a venue id collision: logged, counted, and a cancel of that
vt_orderid is refused (:meth:`OrderBook.cancel_collides`).

The reply is decided once and never changes: every retry gets the original
(``outcomeUnknown`` included); the resolution reaches the trader as order
events (``orderAccepted``, ``orderRejected``) and in ``orderStatusReply``.

Every method runs on the loop thread, inside the order actor's handlers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any, Protocol

from actors.orders.journal_rows import ROW_ERRORS
from actors.orders.ports import GatewayOrder, GatewayTrade, JournalPort
from actors.orders.record import STATE_OF_STATUS, OrderRecord, parse_reference, reference_of
from actors.risk.rejection import Rejection

NAN = math.nan


class OrderEvents(Protocol):
    """What the book tells its owner (the order actor) as orders change (loop thread, never blocking)."""

    @property
    def log(self) -> Any:
        """The structlog logger of the message being handled."""

    def focus(self, record: OrderRecord) -> None:
        """The book is acting on ``record`` now: what follows belongs to that order's submission
        (its correlation id)."""

    def decided(self, record: OrderRecord) -> None:
        """The order's reply was just decided (``record.reply_status``): answer whoever waits for it."""

    def push(self, member: str, record: OrderRecord, **extra: Any) -> None:
        """Tell the account's traders: an orders.capnp order event ``member`` with ``extra`` fields."""

    def notify(self, kind: str, record: OrderRecord, *, price: float | None = None,
               volume: float | None = None, ts_ns: int = 0) -> None:
        """Tell the risk rules observing ``kind`` (an actor.capnp ``RiskUpdateKind`` name)."""


class OrderBook:
    """The orders of one account, their indexes and counters, and every state transition.

    Args:
        account: the strategy account.
        journal: where every change is written (no wait; the write-ahead row is the order actor's).
        events: the owner told of decisions, order events and risk updates.
        unknown_after_queries: gateway queries that do not know an open order before it is closed.

    Attributes:
        orders: client order id → record (every order of the day, final ones included).
        by_vt: vt_orderid → client order id.
        open_ids: client order ids of orders not final.
        unknown_ids: client order ids of orders ``outcomeUnknown`` now.
        unresolved: client order ids the gateway is asked about (sent, no answer yet).
        recovered: open orders recovered from the journal.
        ambiguous_vt: vt_orderids naming two open orders (cancels refused).
        quarantined: client order id → why its journal row was quarantined.
    """

    def __init__(self, account: str, journal: JournalPort, events: OrderEvents, *,
                 unknown_after_queries: int) -> None:
        self.account = account
        self.journal = journal
        self.events = events
        self.unknown_after_queries = unknown_after_queries
        self.orders: dict[str, OrderRecord] = {}
        self.by_vt: dict[str, str] = {}
        self.open_ids: set[str] = set()
        self.unknown_ids: set[str] = set()
        self.unresolved: set[str] = set()
        self.recovered: set[str] = set()
        self.ambiguous_vt: set[str] = set()
        self.quarantined: dict[str, str] = {}
        self.rejections = self.unknown_outcomes = self.unrouted = self.duplicate_trades = 0
        self.vt_orderid_collisions = self.closed_unknown = 0

    # -- records and indexes --------------------------------------------------------------

    def add(self, record: OrderRecord) -> None:
        """Take a new order (its client order id not seen before)."""
        self.orders[record.client_order_id] = record
        self.track(record)

    def get(self, client_order_id: str) -> OrderRecord | None:
        """Return the order with ``client_order_id``, ``None`` when not seen."""
        return self.orders.get(client_order_id)

    def records(self, client_order_ids: Iterable[str]) -> list[OrderRecord]:
        """Return the known orders among ``client_order_ids``, in that order."""
        return [self.orders[i] for i in client_order_ids if i in self.orders]

    def status_of_all(self, finished_limit: int) -> list[OrderRecord]:
        """Every open order and the newest ``finished_limit`` finished ones (0: all), oldest first."""
        ordered = sorted(self.orders.values(), key=lambda r: r.created_ns)
        if not finished_limit:
            return ordered
        finished = [r for r in ordered if r.final]
        kept = {id(r) for r in finished[-finished_limit:]}
        return [r for r in ordered if not r.final or id(r) in kept]

    def open_records(self, group: str = "") -> list[OrderRecord]:
        """Return the orders not final, of contract group ``group`` (``""``: all)."""
        return [r for r in (self.orders[i] for i in self.open_ids)
                if not r.final and (not group or r.group == group)]

    def counts(self) -> dict[str, int]:
        """Return the actor.capnp ``OrderCounts`` fields: open, unknownOutcomes, rejections, orders.

        Every count comes from the records (the journal's rows after a restart, counted once by
        :meth:`recover`), as the blotter does; kept up to date per state change, never by scanning.
        """
        return {"open": len(self.open_ids), "unknownOutcomes": len(self.unknown_ids),
                "rejections": self.rejections, "orders": len(self.orders)}

    def map_vt(self, record: OrderRecord, vt_orderid: str) -> None:
        """Map ``vt_orderid`` to ``record``; one already naming another open order is a venue id collision
        (logged, counted; cancels of that vt_orderid are refused from now on)."""
        other_id = self.by_vt.get(vt_orderid)
        if other_id is not None and other_id != record.client_order_id:
            other = self.orders.get(other_id)
            if other is not None and not other.final:
                self.ambiguous_vt.add(vt_orderid)
                self.vt_orderid_collisions += 1
                self.events.log.error("vt_orderid_collision", vt_orderid=vt_orderid,
                                      client_order_id=record.client_order_id, other_client_order_id=other_id)
        record.vt_orderid = vt_orderid
        self.by_vt[vt_orderid] = record.client_order_id

    def cancel_collides(self, record: OrderRecord) -> bool:
        """Whether ``record``'s vt_orderid also names another open order (a cancel could cancel that one)."""
        return record.vt_orderid in self.ambiguous_vt and any(   # rare: a scan only after a venue id collision
            other is not record and other.vt_orderid == record.vt_orderid and not other.final
            for other in self.orders.values())

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

    # -- recovery -------------------------------------------------------------------------

    def recover(self, trades: Iterable[GatewayTrade]) -> list[OrderRecord]:
        """Rebuild the orders from the journal's committed rows and the fills routed so far.

        Unanswered open orders become ``outcomeUnknown`` and unresolved (to be asked about). A row
        that cannot be read is quarantined: its client order id stays seen, the other orders load.

        Args:
            trades: every fill the gateway routed to this account (deduplicated by vt_tradeid).

        Returns:
            The recovered orders without a decided reply: their answer timeouts are to be started.
        """
        now = time.time_ns()
        awaiting: list[OrderRecord] = []
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
            self.add(record)
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
                awaiting.append(record)
        for trade in trades:
            record = self.orders.get(self.by_vt.get(trade.vt_orderid, ""))
            if record is not None and trade.vt_tradeid not in record.trade_ids:
                self.add_fill(record, trade.vt_tradeid, trade.price, trade.volume)
        self.rejections = sum(1 for record in self.orders.values() if record.state == "rejected")
        if self.orders or self.quarantined:
            self.events.log.info("orders_recovered", orders=len(self.orders), unresolved=len(self.unresolved),
                                 quarantined=len(self.quarantined))
        return awaiting

    # -- events from the venue --------------------------------------------------------------

    def record_of(self, vt_orderid: str, reference: str = "") -> OrderRecord | None:
        """Return the order a venue event names (by vt_orderid, else by ``reference``), mapping the
        vt_orderid when the SUBMITTING echo arrives first; ``None`` (counted as unrouted) when not this
        account's."""
        client_order_id = self.by_vt.get(vt_orderid)
        if client_order_id is None and reference:
            parsed = parse_reference(reference)
            if parsed is not None and parsed[0] == self.account:
                client_order_id = parsed[1]
        record = self.orders.get(client_order_id) if client_order_id is not None else None
        if record is None:
            self.unrouted += 1
            return None
        self.events.focus(record)   # the event belongs to that submission
        if not record.vt_orderid and vt_orderid:
            self.map_vt(record, vt_orderid)    # the SUBMITTING echo arrived first
        return record

    def take_fill(self, record: OrderRecord, vt_tradeid: str, price: float, volume: float, ts_ns: int) -> None:
        """Take one fill, once per vt_tradeid; a fill is also an answer.

        Args:
            vt_tradeid: vn.py trade id.
            price: fill price, quote currency.
            volume: lots filled.
            ts_ns: trade time, ns since UNIX epoch.
        """
        if vt_tradeid in record.trade_ids:
            self.duplicate_trades += 1
            return
        self.add_fill(record, vt_tradeid, price, volume)
        self.events.notify("filled", record, price=price, volume=volume, ts_ns=ts_ns)
        self.events.push("orderFilled", record, vtTradeId=vt_tradeid, price=price, volumeLots=volume, tsNs=ts_ns)
        if record.reply_status is None or record.state in ("sent", "outcomeUnknown"):
            self.apply_status(record, "allTraded" if record.traded >= record.volume else "partTraded",
                              record.traded)
        else:
            self.write(record)

    def add_fill(self, record: OrderRecord, vt_tradeid: str, price: float, volume: float) -> None:
        """Add a fill to the record's traded volume and average price (no event, no journal row)."""
        record.trade_ids.add(vt_tradeid)
        total = record.avg_price * record.trade_volume + price * volume
        record.trade_volume += volume
        record.avg_price = total / record.trade_volume if record.trade_volume else 0.0
        record.traded = max(record.traded, record.trade_volume)
        record.updated_ns = time.time_ns()

    # -- state transitions ------------------------------------------------------------------

    def decide(self, record: OrderRecord, status: str) -> None:
        """Decide the reply (once: ``accepted``, ``rejected`` or ``outcomeUnknown``) and tell the owner."""
        if record.reply_status is None:
            record.reply_status, record.decided_ns = status, time.time_ns()
            self.events.decided(record)

    def apply_status(self, record: OrderRecord, status: str, traded: float) -> None:
        """Move the order to what vn.py reports (orders.capnp ``OrderStatus`` name, ``traded`` lots); the
        first answer decides the reply."""
        if status == "submitting" or record.final:
            return
        self.events.focus(record)
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
            self.events.notify("gatewayRejected", record)
            self.refuse(record, Rejection("exchange", NAN, NAN, "rejected by the exchange (see the gateway log)"))
            return
        record.state, record.reason = state, ""
        self.decide(record, "accepted")
        if previous in ("pending", "sent", "outcomeUnknown"):
            self.events.push("orderAccepted", record)
            if was_unknown:
                self.events.log.info("outcome_resolved", client_order_id=record.client_order_id, state=state)
        elif changed:
            self.events.push("orderUpdated", record)
        self.unresolved.discard(record.client_order_id)
        if record.final:
            self.events.notify("released", record)
        self.write(record)

    def reject(self, record: OrderRecord, rejection: Rejection) -> None:
        """Make the order rejected, reply and tell the traders (a rejection is a value)."""
        self.events.focus(record)
        record.state, record.rejection = "rejected", rejection
        record.updated_ns = time.time_ns()
        self.rejections += 1
        self.unresolved.discard(record.client_order_id)
        self.events.log.info("order_rejected", client_order_id=record.client_order_id, rule=rejection.rule,
                             limit=rejection.limit, observed=rejection.observed, reason=rejection.reason)
        self.decide(record, "rejected")
        self.write(record)
        self.events.push("orderRejected", record)

    def refuse(self, record: OrderRecord, rejection: Rejection) -> None:
        """Reject after (some) rules approved: they stop counting it (``released``)."""
        self.reject(record, rejection)
        self.events.notify("released", record)

    def unknown(self, record: OrderRecord, reason: str) -> None:
        """Sent, unanswered: reply ``outcomeUnknown``, never re-send, start resolving (``unresolved``)."""
        self.events.focus(record)
        record.state, record.reason = "outcomeUnknown", reason
        record.updated_ns = time.time_ns()
        self.unknown_outcomes += 1
        self.unresolved.add(record.client_order_id)
        self.events.log.warning("order_outcome_unknown", client_order_id=record.client_order_id,
                                vt_orderid=record.vt_orderid, reason=reason)
        self.decide(record, "outcomeUnknown")
        self.write(record)
        self.events.push("outcomeUnknown", record, sinceTsNs=record.sent_ns or record.created_ns, reason=reason)

    def take_query_answer(self, record: OrderRecord, known: GatewayOrder | None) -> None:
        """Take what the venue said of an unresolved order when asked: its state, or ``None`` (it does not
        know it; the ``unknown_after_queries``-th such answer closes the order)."""
        if known is not None:
            record.unknown_queries = 0
            if not record.vt_orderid:
                self.map_vt(record, known.vt_orderid)
            if known.status != "submitting":
                self.apply_status(record, known.status, known.traded)
            return
        record.unknown_queries += 1
        if record.unknown_queries >= self.unknown_after_queries:
            self.close_unknown(record)

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
        self.events.log.warning("order_closed_unknown", client_order_id=record.client_order_id,
                                vt_orderid=record.vt_orderid, reason=record.reason)
        self.decide(record, "outcomeUnknown")
        self.events.push("orderUpdated", record)
        self.events.notify("released", record)
        self.write(record)


__all__ = ["OrderBook", "OrderEvents"]
