"""Replacements without a runtime: the hold, the fill race, refusals, the answers, recovery of a held order."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import schemas
import structlog

from actors.orders.book import OrderBook
from actors.orders.record import OrderRecord
from actors.orders.replace import Replacements
from tests.actors.orders.test_book import ACCOUNT, MemoryJournal, Recorder


@dataclass
class Host:
    """A ReplaceHost that records cancels, replies and admissions (admitted orders are approved at once)."""

    account: str = ACCOUNT
    path: str = f"orders/{ACCOUNT}"
    log: Any = field(default_factory=lambda: structlog.get_logger("test"))
    cancels: list[str] = field(default_factory=list)
    replies: list[dict] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    cancel_ok: bool = True
    replacements: Replacements | None = None

    def cancel_now(self, record: OrderRecord) -> bool:
        if self.cancel_ok:
            self.cancels.append(record.client_order_id)
            record.cancel_requested = True
            self.replacements.book.write(record)   # as OrderActor.cancel_now journals it
        return self.cancel_ok

    def send_reply(self, session: str, payload: bytes) -> None:
        with schemas.stream.ServerMessage.from_bytes(payload) as message:
            self.replies.append(message.replaceReply.to_dict())

    def admit(self, record: OrderRecord, account_sent: str) -> None:
        self.approve(record)

    def approve(self, record: OrderRecord) -> None:
        if not self.replacements.hold(record):
            self.sent.append(record.client_order_id)


@dataclass
class Events(Recorder):
    """The book's events as the order actor handles them for replaces: a decision answers the replace."""

    replacements: Replacements | None = None

    def decided(self, record: OrderRecord) -> None:
        super().decided(record)
        if record.replaces:
            self.replacements.decided(record)


def _desk(journal: MemoryJournal | None = None) -> tuple[OrderBook, Replacements, Host, Recorder]:
    events = Events()
    book = OrderBook(ACCOUNT, journal or MemoryJournal(), events, unknown_after_queries=2)
    host = Host()
    host.replacements = events.replacements = Replacements(book, host)
    return book, host.replacements, host, events


def _working(book: OrderBook, client_order_id: str = "a", volume: float = 5.0) -> OrderRecord:
    record = OrderRecord(client_order_id, ACCOUNT, "rb1801.SHFE", "long", "open", "limit", 3900.0, volume,
                         group="rb", created_ns=1, updated_ns=1, sent_ns=1)
    book.add(record)
    book.map_vt(record, f"SIM.{client_order_id}")
    book.apply_status(record, "notTraded", 0.0)
    return record


def _request(old: str = "a", new: str = "b", price: float = 3899.0, volume: float = 5.0) -> SimpleNamespace:
    return SimpleNamespace(clientOrderId=old, account=ACCOUNT, newClientOrderId=new, price=price, volumeLots=volume)


def test_replace_when_approved_then_held_until_the_old_order_ends_and_sent_for_the_lots_left():
    """The new order is journaled held and the old one cancelled; 2 lots fill first, so 3 are sent."""
    book, replacements, host, _ = _desk()
    old = _working(book)

    replacements.replace(_request(), "trader1", "s", 1)
    held_row = book.journal.rows["b"]
    book.apply_status(old, "cancelled", 2.0)
    replacements.released(old, host.approve)

    new = book.orders["b"]
    assert (held_row["state"], held_row["sent_ns"], held_row["replaces"]) == ("pending", 0, "a")
    assert host.cancels == ["a"] and host.sent == ["b"]
    assert (new.volume, new.replaces, old.replaced_by) == (3.0, "a", "b")


def test_replace_when_the_old_order_filled_first_then_rejected_filled_before_replace_and_nothing_sent():
    """Nothing left after the fills: the new order is refused with the reason and the lots, never sent."""
    book, replacements, host, _ = _desk()
    old = _working(book, volume=2.0)

    replacements.replace(_request(volume=2.0), "trader1", "s", 1)
    book.apply_status(old, "allTraded", 2.0)
    replacements.released(old, host.approve)

    (reply,) = host.replies
    assert host.sent == []
    assert reply["status"] == "rejected" and reply["filledBeforeLots"] == 2.0
    assert reply["rejection"]["rule"] == "replace" and reply["rejection"]["reason"].startswith("filled before replace")


def test_replace_when_retried_then_one_new_order_and_the_same_answer():
    """A retry with the same newClientOrderId adds no order and gets the decided answer."""
    book, replacements, host, _ = _desk()
    old = _working(book)

    replacements.replace(_request(), "trader1", "s", 1)
    replacements.replace(_request(), "trader1", "s", 2)
    book.apply_status(old, "cancelled", 0.0)
    replacements.released(old, host.approve)
    book.apply_status(book.orders["b"], "notTraded", 0.0)
    replacements.replace(_request(), "trader1", "s", 3)

    assert host.sent == ["b"] and host.cancels == ["a"]
    assert [r["status"] for r in host.replies] == ["accepted"] * 3


def test_replace_when_unknown_final_or_already_replaced_then_refused_and_nothing_cancelled():
    """An unknown id, a final order and one already being replaced are refused with their status."""
    book, replacements, host, _ = _desk()
    _working(book, "a")
    done = _working(book, "c")
    book.apply_status(done, "cancelled", 0.0)

    replacements.replace(_request("nope", "b1"), "trader1", "s", 1)
    replacements.replace(_request("c", "b2"), "trader1", "s", 2)
    replacements.replace(_request("a", "b3"), "trader1", "s", 3)
    replacements.replace(_request("a", "b4"), "trader1", "s", 4)

    assert [r["status"] for r in host.replies] == ["unknownOrder", "notWorking", "notWorking"]
    assert "already being replaced by 'b3'" in host.replies[-1]["rejection"]["reason"]
    assert host.cancels == ["a"]


def test_replace_when_the_cancel_is_refused_then_the_new_order_is_rejected():
    """A cancel refused (vt_orderid collision) ends the replace rejected; nothing is sent."""
    book, replacements, host, _ = _desk()
    _working(book)
    host.cancel_ok = False

    replacements.replace(_request(), "trader1", "s", 1)

    assert host.sent == [] and host.replies[0]["status"] == "rejected"
    assert "cancel of 'a' was refused" in host.replies[0]["rejection"]["reason"]


def test_recover_when_a_held_new_order_is_in_the_journal_then_rejected_not_sent_and_linked():
    """After a restart a held order (sent_ns 0) is rejected as never sent; the pair stays linked."""
    journal = MemoryJournal()
    book, replacements, host, _ = _desk(journal)
    _working(book)
    replacements.replace(_request(), "trader1", "s", 1)

    book2, replacements2, host2, _ = _desk(journal)
    book2.recover([])
    replacements2.recover()

    new, old = book2.orders["b"], book2.orders["a"]
    assert (new.state, new.reply_status, new.rejection.rule) == ("rejected", "rejected", "replace")
    assert "not sent" in new.rejection.reason and "b" not in book2.unresolved
    assert old.replaced_by == "b" and old.state == "working" and "a" in book2.unresolved


def test_cancel_held_when_the_new_order_waits_then_refused_and_never_sent_after_the_old_one_ends():
    """A cancel (cancelOrder, cancelAll, kill switch) of a held new order refuses it; the old order's end sends
    nothing."""
    book, replacements, host, _ = _desk()
    old = _working(book)
    replacements.replace(_request(), "trader1", "s", 1)

    assert replacements.cancel_held(book.orders["b"], "cancelled before it was sent")
    book.apply_status(old, "cancelled", 0.0)
    replacements.released(old, host.approve)

    assert host.sent == [] and book.orders["b"].state == "rejected"
    assert host.replies[0]["rejection"]["reason"] == "cancelled before it was sent"
    assert not replacements.cancel_held(book.orders["b"], "again")
