"""OrderActor recovery: poisoned journals, write-ahead rows that may have been sent, orders the venue lost,
venue ids reused across restarts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from actors.orders.errors import VenueUnavailableError
from actors.orders.journal import OrderJournal
from actors.orders.ports import GatewayOrder
from actors.orders.record import OrderRecord
from tests.actors.order_kit import ScriptedPort, damage_rows, harness_config

FAST = {"answer_timeout_s": 0.2, "query_interval_s": 0.02}
RULES = ("order_validity", "active_order", "order_flow", "duplicate_order", "order_cancel", "trade_limit")


def _record(client_order_id: str, **fields) -> OrderRecord:
    values = dict(client_order_id=client_order_id, account="acct-01", vt_symbol="rb1801.SHFE", direction="long",
                  offset="open", order_type="limit", price=3900.0, volume=1.0, created_ns=1, updated_ns=1,
                  group="rb")
    values.update(fields)
    return OrderRecord(**values)


def _journal(path, *records: OrderRecord) -> None:
    journal = OrderJournal.open(path)
    assert journal.write_orders_now([record.row() for record in records])[0]
    journal.close()


@dataclass
class FlakyPort(ScriptedPort):
    """A port whose venue cannot be asked while ``available`` is False."""

    available: bool = True
    queries: int = 0

    def query(self, record):
        self.queries += 1
        if not self.available:
            raise VenueUnavailableError("SIM", "not connected")
        return super().query(record)


async def _until(predicate, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_recover_when_journal_rows_are_poisoned_then_account_keeps_trading_and_refuses_quarantined_ids(
        order_harness, tmp_path):
    """A NULL price and an unknown state in the journal: the order actor starts once (no crash loop), counts
    them quarantined, trades a new id, and never sends a quarantined id again (clear outcomeUnknown reason)."""
    path = tmp_path / "orders.sqlite3"
    _journal(path, _record("good-1", state="rejected", reply_status="rejected", price=float("nan")))
    damage_rows(path, "good-1", {"null-price": {"price": None, "state": "working"},
                                 "bad-state": {"state": "teleported"},
                                 "text-traded": {"traded": "lots", "state": "working"}})

    harness = await order_harness(harness_config(rules=RULES, **FAST), journal_path=path)
    actor = harness.actor("orders/acct-01")
    harness.submit("new-1")
    harness.submit("bad-state")
    await harness.wait_replies(2)

    entry = harness.runtime.registry.entry("orders/acct-01")
    assert entry.restarts == 0 and actor.extra_statistics()["quarantined"] == 3
    assert harness.journal.statistics().quarantined == 3
    assert harness.reply_of("new-1")["status"] == "accepted"
    assert harness.reply_of("bad-state")["status"] == "outcomeUnknown"
    assert harness.port.sent_ids() == ["new-1"]
    (pushed,) = [m for m in harness.pushes("outcomeUnknown") if m["order"]["clientOrderId"] == "bad-state"]
    assert "quarantined" in pushed["reason"] and "never sent again" in pushed["reason"]
    assert "good-1" in actor.orders


async def test_recover_when_write_ahead_row_and_venue_does_not_know_it_then_cancelled_with_reason_not_rejected(
        order_harness, tmp_path):
    """A kill after the write-ahead commit (state pending, sent_ns set, no vt_orderid): the send may have
    happened, so the order is outcomeUnknown, then closed cancelled with a reason; never rejected, never re-sent."""
    path = tmp_path / "orders.sqlite3"
    _journal(path, _record("wa-1", sent_ns=5))
    port = ScriptedPort(answer="none")

    harness = await order_harness(harness_config(**FAST), port=port, journal_path=path)
    harness.submit("wa-1")
    await harness.sink.wait(lambda: any(m["order"]["state"] == "cancelled" for m in harness.pushes("orderUpdated")))
    (reply,) = await harness.wait_replies(1)

    (closed,) = harness.pushes("orderUpdated")
    assert reply["status"] == "outcomeUnknown" and harness.pushes("orderRejected") == []
    assert "does not know this order after the desk restarted" in closed["order"]["reason"]
    assert "send_order may have been called" in closed["order"]["reason"]
    assert port.sends == []
    row = harness.journal.order("acct-01", "wa-1")
    assert (row["state"], row["reply_status"]) == ("cancelled", "outcomeUnknown")


async def test_recover_when_working_order_unknown_to_the_venue_then_closed_not_left_working(order_harness, tmp_path):
    """A working order of an earlier process the venue no longer knows is closed (cancelled, reason), not left open."""
    path = tmp_path / "orders.sqlite3"
    _journal(path, _record("w-1", state="working", status="notTraded", vt_orderid="SIM.1", reply_status="accepted",
                           sent_ns=5))

    harness = await order_harness(harness_config(**FAST), journal_path=path)
    actor = harness.actor("orders/acct-01")
    await _until(lambda: actor.orders["w-1"].state == "cancelled")

    assert "vt_orderid SIM.1" in actor.orders["w-1"].reason
    assert actor.extra_statistics()["closed_unknown"] == 1 and actor.unresolved == set()


async def test_query_when_venue_cannot_be_asked_then_unknown_answers_are_not_counted(order_harness, tmp_path):
    """Queries to a disconnected venue do not count as "unknown": the order stays outcomeUnknown until asked."""
    path = tmp_path / "orders.sqlite3"
    _journal(path, _record("u-1", sent_ns=5))
    port = FlakyPort(available=False)

    harness = await order_harness(harness_config(**FAST), port=port, journal_path=path)
    actor = harness.actor("orders/acct-01")
    await _until(lambda: port.queries >= 5)
    assert actor.orders["u-1"].state == "outcomeUnknown" and actor.orders["u-1"].unknown_queries == 0
    port.available = True
    await _until(lambda: actor.orders["u-1"].state == "cancelled")


async def test_recover_when_venue_answers_then_resolved_from_it(order_harness, tmp_path):
    """A write-ahead row the venue knows (by reference, without a vt_orderid) resolves to its state."""
    path = tmp_path / "orders.sqlite3"
    _journal(path, _record("k-1", sent_ns=5))
    port = ScriptedPort()
    port.query = lambda record: GatewayOrder("SIM.77_1", "notTraded", 0.0)

    harness = await order_harness(harness_config(**FAST), port=port, journal_path=path)
    actor = harness.actor("orders/acct-01")
    await _until(lambda: actor.orders["k-1"].state == "working")

    assert actor.orders["k-1"].vt_orderid == "SIM.77_1" and actor.orders["k-1"].reason == ""


async def test_send_when_venue_reuses_the_vt_orderid_of_an_open_order_then_cancel_refused_and_counted(
        order_harness, tmp_path):
    """The venue hands a new order the vt_orderid of a working one: logged, counted, and a cancel of either
    is refused (it could cancel the other) instead of reaching the venue."""
    path = tmp_path / "orders.sqlite3"
    _journal(path, _record("old-1", state="working", status="notTraded", vt_orderid="SIM.1", reply_status="accepted"))
    port = ScriptedPort()
    port.known["SIM.1"] = GatewayOrder("SIM.1", "notTraded", 0.0)

    harness = await order_harness(harness_config(**FAST), port=port, journal_path=path)
    harness.submit("new-1")
    await harness.wait_replies(1)
    harness.command(cancelOrder={"clientOrderId": "old-1", "account": "acct-01"})
    harness.command(cancelOrder={"clientOrderId": "new-1", "account": "acct-01"})
    await harness.sink.wait(lambda: len(harness.replies(which="cancelReply")) == 2)

    actor = harness.actor("orders/acct-01")
    assert [r["status"] for r in harness.replies(which="cancelReply")] == ["ambiguous", "ambiguous"]
    assert port.cancels == []
    stats = actor.extra_statistics()
    assert (stats["vt_orderid_collisions"], stats["cancels_refused"]) == (1, 2)
