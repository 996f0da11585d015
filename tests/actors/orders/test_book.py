"""OrderBook without a runtime: records and indexes, venue events, transitions, recovery, journal rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import structlog
from structlog.testing import capture_logs

from actors.orders.book import OrderBook
from actors.orders.ports import GatewayOrder, GatewayTrade
from actors.orders.record import OrderRecord, reference_of
from actors.risk.rejection import Rejection

ACCOUNT = "acct-01"


@dataclass
class MemoryJournal:
    """A JournalPort in memory: committed rows by client order id, queued rows in order."""

    rows: dict[str, dict] = field(default_factory=dict)
    written: list[tuple[dict, bool]] = field(default_factory=list)
    quarantined_ids: dict[str, str] = field(default_factory=dict)
    quarantine_queue: list[tuple[dict, str]] = field(default_factory=list)

    def write_orders_now(self, rows: list[dict[str, Any]]) -> tuple[bool, str]:
        for row in rows:
            self.rows[row["client_order_id"]] = row
        return True, ""

    def write_order_nowait(self, row: dict[str, Any], *, soon: bool = False) -> None:
        self.written.append((row, soon))
        self.rows[row["client_order_id"]] = row

    def orders(self, account: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self.rows.values() if row["account"] == account]

    def quarantined_orders(self, account: str) -> dict[str, str]:
        return dict(self.quarantined_ids)

    def quarantine_order_nowait(self, row: dict[str, Any], reason: str) -> None:
        self.quarantine_queue.append((row, reason))


@dataclass
class Recorder:
    """OrderEvents that records what the book said, in order."""

    said: list[tuple] = field(default_factory=list)
    log: Any = field(default_factory=lambda: structlog.get_logger("test"))

    def focus(self, record: OrderRecord) -> None:
        self.said.append(("focus", record.client_order_id))

    def decided(self, record: OrderRecord) -> None:
        self.said.append(("decided", record.client_order_id, record.reply_status))

    def push(self, member: str, record: OrderRecord, **extra: Any) -> None:
        self.said.append(("push", member, record.client_order_id))

    def notify(self, kind: str, record: OrderRecord, *, price=None, volume=None, ts_ns: int = 0) -> None:
        self.said.append(("notify", kind, record.client_order_id))

    def of(self, kind: str) -> list[tuple]:
        return [entry for entry in self.said if entry[0] == kind]


def _book(journal: MemoryJournal | None = None, unknown_after_queries: int = 3) -> tuple[OrderBook, Recorder]:
    events = Recorder()
    return OrderBook(ACCOUNT, journal or MemoryJournal(), events, unknown_after_queries=unknown_after_queries), events


def _record(client_order_id: str, **fields) -> OrderRecord:
    values = dict(client_order_id=client_order_id, account=ACCOUNT, vt_symbol="rb1801.SHFE", direction="long",
                  offset="open", order_type="limit", price=3900.0, volume=2.0, created_ns=1, updated_ns=1,
                  group="rb")
    values.update(fields)
    return OrderRecord(**values)


def _sent(book: OrderBook, client_order_id: str, vt_orderid: str, **fields) -> OrderRecord:
    record = _record(client_order_id, state="sent", sent_ns=5, **fields)
    book.add(record)
    book.map_vt(record, vt_orderid)
    return record


def test_apply_status_when_first_answer_then_reply_decided_once_and_accepted_pushed():
    """The first order event past SUBMITTING decides ``accepted``; a later one is an update, not a decision."""
    book, events = _book()
    record = _sent(book, "c-1", "SIM.1")

    book.apply_status(record, "submitting", 0.0)
    book.apply_status(record, "notTraded", 0.0)
    book.apply_status(record, "partTraded", 1.0)

    assert record.state == "working" and record.reply_status == "accepted"
    assert events.of("decided") == [("decided", "c-1", "accepted")]
    assert [e[1] for e in events.of("push")] == ["orderAccepted", "orderUpdated"]
    assert book.open_ids == {"c-1"} and book.journal.rows["c-1"]["state"] == "working"


def test_apply_status_when_exchange_rejects_then_rejected_released_and_counted():
    """An exchange rejection is a Rejection value from ``exchange``; the rules are told gatewayRejected, released."""
    book, events = _book()
    record = _sent(book, "c-1", "SIM.1")

    book.apply_status(record, "rejected", 0.0)

    assert record.state == "rejected" and record.rejection.rule == "exchange" and record.rejected_by_gateway
    assert [e[1] for e in events.of("notify")] == ["gatewayRejected", "released"]
    assert book.counts() == {"open": 0, "unknownOutcomes": 0, "rejections": 1, "orders": 1}


def test_take_fill_when_same_vt_tradeid_twice_then_counted_once():
    """Fills are deduplicated by vt_tradeid and volume-weighted; the first answers the order, later ones after
    the reply only add volume (the venue's order event moves the state)."""
    book, events = _book()
    record = _sent(book, "c-1", "SIM.1")

    book.take_fill(record, "T1", 3900.0, 1.0, 10)
    book.take_fill(record, "T1", 3900.0, 1.0, 10)
    book.take_fill(record, "T2", 3902.0, 1.0, 11)

    assert record.traded == 2.0 and math.isclose(record.avg_price, 3901.0) and book.duplicate_trades == 1
    assert record.state == "working" and record.reply_status == "accepted"
    assert [e[1] for e in events.of("push")] == ["orderFilled", "orderAccepted", "orderFilled"]
    book.apply_status(record, "allTraded", 2.0)
    assert record.state == "filled" and book.open_ids == set()


def test_record_of_when_echo_names_reference_before_vt_orderid_then_mapped():
    """The SUBMITTING echo carries the reference: the vt_orderid is mapped from it; another account's is unrouted."""
    book, events = _book()
    record = _record("c-1", state="sent")
    book.add(record)

    found = book.record_of("SIM.9", reference_of(ACCOUNT, "c-1"))
    stranger = book.record_of("SIM.10", reference_of("acct-02", "c-1"))

    assert found is record and book.by_vt == {"SIM.9": "c-1"} and record.vt_orderid == "SIM.9"
    assert stranger is None and book.unrouted == 1 and ("focus", "c-1") in events.said


def test_map_vt_when_vt_orderid_names_another_open_order_then_collision_and_cancel_collides():
    """A venue reusing a vt_orderid across two open orders is counted; a cancel of either would be refused."""
    book, _ = _book()
    first = _sent(book, "c-1", "SIM.1")
    with capture_logs() as logs:
        second = _sent(book, "c-2", "SIM.1")

    assert book.vt_orderid_collisions == 1 and book.cancel_collides(first) and book.cancel_collides(second)
    assert [line["event"] for line in logs] == ["vt_orderid_collision"]


def test_unknown_then_query_answers_when_venue_does_not_know_then_closed_cancelled_not_rejected():
    """outcomeUnknown is decided once; ``unknown_after_queries`` blank answers close the order cancelled."""
    book, events = _book(unknown_after_queries=2)
    record = _sent(book, "c-1", "SIM.1")

    book.unknown(record, "no exchange answer within 1 s")
    assert book.unresolved == {"c-1"} and book.counts()["unknownOutcomes"] == 1
    book.take_query_answer(record, None)
    book.take_query_answer(record, None)

    assert record.state == "cancelled" and record.reply_status == "outcomeUnknown" and book.closed_unknown == 1
    assert "does not know this order" in record.reason and book.unresolved == set()
    assert events.of("decided") == [("decided", "c-1", "outcomeUnknown")]


def test_take_query_answer_when_venue_knows_order_then_resolved_and_accepted():
    """A query that finds the order resolves it: the reply stays outcomeUnknown, the state is the venue's."""
    book, events = _book()
    record = _record("c-1", state="sent")
    book.add(record)
    book.unknown(record, "no answer")

    book.take_query_answer(record, GatewayOrder("SIM.7", "notTraded", 0.0))

    assert record.state == "working" and record.vt_orderid == "SIM.7" and record.reply_status == "outcomeUnknown"
    assert book.unresolved == set() and ("push", "orderAccepted", "c-1") in events.said


def test_recover_when_rows_sent_pending_final_and_unreadable_then_rebuilt_and_quarantined():
    """Recovery: a sent row is outcomeUnknown and awaits an answer, a final one is kept, an unreadable one is
    quarantined with its id still seen, and fills are rebuilt from the gateway's trades."""
    journal = MemoryJournal()
    for record in (_record("s-1", state="sent", vt_orderid="SIM.1", sent_ns=5),
                   _record("f-1", state="filled", vt_orderid="SIM.2", reply_status="accepted", traded=2.0),
                   _record("r-1", state="rejected", reply_status="rejected")):
        journal.rows[record.client_order_id] = record.row()
    journal.rows["bad-1"] = dict(journal.rows["s-1"], client_order_id="bad-1", state="teleported")
    book, _ = _book(journal)

    awaiting = book.recover([GatewayTrade("T1", "SIM.2", "rb1801.SHFE", "long", "open", 3900.0, 2.0, 9),
                             GatewayTrade("T9", "SIM.404", "rb1801.SHFE", "long", "open", 3900.0, 1.0, 9)])

    assert [record.client_order_id for record in awaiting] == ["s-1"]
    assert book.orders["s-1"].state == "outcomeUnknown" and book.unresolved == {"s-1"} == book.recovered
    assert book.orders["f-1"].trade_ids == {"T1"} and book.orders["f-1"].avg_price == 3900.0
    assert "bad-1" in book.quarantined and [row["client_order_id"] for row, _ in journal.quarantine_queue] == ["bad-1"]
    assert book.counts() == {"open": 1, "unknownOutcomes": 1, "rejections": 1, "orders": 3}


def test_write_when_reply_decided_first_time_then_soon_once():
    """The row first carrying a decided reply is committed soon; later rows wait for the flush."""
    book, _ = _book()
    record = _sent(book, "c-1", "SIM.1")

    book.write(record)
    book.reject(record, Rejection("order_flow", 5.0, 6.0, "too many"))
    book.write(record)

    assert [soon for _, soon in book.journal.written] == [False, True, False]


def test_status_of_all_when_finished_limit_then_open_and_newest_finished():
    """Status of all: every open order and the newest ``finished_limit`` finished ones, oldest first."""
    book, _ = _book()
    for n in range(4):
        book.add(_record(f"d-{n}", state="filled", reply_status="accepted", created_ns=n))
    book.add(_record("o-1", state="working", created_ns=10))

    assert [r.client_order_id for r in book.status_of_all(2)] == ["d-2", "d-3", "o-1"]
    assert [r.client_order_id for r in book.open_records("rb")] == ["o-1"] and book.open_records("cu") == []
