"""The write-ahead group commit and the send fence (issue 16): an order is sent only after its write-ahead row is
committed, and on a venue-host with a standby only after the replicated journal acknowledged it and while the host
holds the lease of that epoch. First alone (a scripted host and journal), then through a real order actor."""

from __future__ import annotations

import pytest
import structlog

from actors.orders.record import OrderRecord
from actors.orders.write_ahead import WRITE_AHEAD_GROUP, WriteAhead
from tests.actors.order_kit import harness_config, start_harness, stop_harness


class ScriptedJournal:
    """A JournalPort's write-ahead commit: the rows of each transaction, failing when told."""

    def __init__(self, error: str = "") -> None:
        self.error = error
        self.transactions: list[list[dict]] = []

    def write_orders_now(self, rows):
        if self.error:
            return False, self.error
        self.transactions.append([dict(row) for row in rows])
        return True, ""


class ScriptedHost:
    """A WriteAheadHost noting each order sent or refused (with its sent_ns then) and each wake."""

    def __init__(self) -> None:
        self.log = structlog.get_logger()
        self.sent: list[tuple[str, int]] = []
        self.refused: list[tuple[str, str]] = []
        self.woken: list[int] = []

    def send_written(self, record, refusal) -> None:
        if refusal is None:
            self.sent.append((record.client_order_id, record.sent_ns))
        else:
            self.refused.append((record.client_order_id, refusal.rule))

    def wake_replicated(self, batch: int) -> None:
        self.woken.append(batch)


def _record(n: int) -> OrderRecord:
    return OrderRecord(f"w-{n}", "acct-01", "rb1801.SHFE", "long", "open", "limit", 3890.0, 1.0, "", "u")


class ScriptedFence:
    """A SendFence: the lease epoch held now, and the replicated journal's acknowledgements, as the test says."""

    def __init__(self, epoch: int = 7, auto_ack: bool = True) -> None:
        self.held = epoch
        self.auto_ack = auto_ack
        self.batches: list[tuple[list[dict], int]] = []
        self.waiting: list = []
        self.lapse_after: int | None = None   # answers before the lease lapses (None: never)

    def epoch(self) -> int:
        if self.lapse_after is not None:
            if self.lapse_after == 0:
                self.held = 0
            self.lapse_after -= 1
        return self.held

    def replicate_ahead(self, rows, epoch, done) -> None:
        self.batches.append(([dict(row) for row in rows], epoch))
        if self.auto_ack:
            done(True, "")
        else:
            self.waiting.append(done)


def test_commit_when_orders_queued_then_one_transaction_with_sent_ns_and_each_sent_after_it():
    """Queued orders are committed in one transaction whose rows carry sent_ns, then each is sent once."""
    journal, host = ScriptedJournal(), ScriptedHost()
    write_ahead = WriteAhead(journal, None, host)
    for n in range(3):
        write_ahead.queue(_record(n))
    assert host.sent == [] and journal.transactions == []
    write_ahead.commit_and_send()
    (rows,) = journal.transactions
    assert [row["client_order_id"] for row in rows] == ["w-0", "w-1", "w-2"] and all(row["sent_ns"] for row in rows)
    assert [client_order_id for client_order_id, _ in host.sent] == ["w-0", "w-1", "w-2"]
    assert write_ahead.queued == []


def test_queue_when_group_full_then_committed_and_sent_at_once():
    """The 64th queued order commits the group without waiting for the end of the burst."""
    journal, host = ScriptedJournal(), ScriptedHost()
    write_ahead = WriteAhead(journal, None, host)
    for n in range(WRITE_AHEAD_GROUP):
        write_ahead.queue(_record(n))
    assert len(journal.transactions) == 1 and len(host.sent) == WRITE_AHEAD_GROUP and write_ahead.queued == []


def test_commit_when_journal_fails_then_each_refused_by_rule_journal_and_none_sent():
    """A failed commit refuses the whole batch (rule ``journal``), sent_ns back to 0: nothing reaches send_order."""
    host = ScriptedHost()
    write_ahead = WriteAhead(ScriptedJournal(error="disk I/O error"), None, host)
    records = [_record(n) for n in range(2)]
    for record in records:
        write_ahead.queue(record)
    write_ahead.commit_and_send()
    assert host.sent == [] and host.refused == [("w-0", "journal"), ("w-1", "journal")]
    assert all(record.sent_ns == 0 for record in records)


def test_replicated_when_acknowledged_under_a_changed_epoch_then_refused_by_rule_lease():
    """A batch acknowledged after the lease moved to another epoch is fenced: refused, counted, never sent."""
    fence, host = ScriptedFence(epoch=7, auto_ack=False), ScriptedHost()
    write_ahead = WriteAhead(ScriptedJournal(), fence, host)
    write_ahead.queue(_record(1))
    write_ahead.commit_and_send()
    assert write_ahead.replicating == 1 and host.sent == []
    fence.held = 9
    fence.waiting.pop()(True, "")
    (batch,) = host.woken
    write_ahead.replicated(batch)
    assert host.refused == [("w-1", "lease")] and write_ahead.fenced == 1 and write_ahead.replicating == 0


@pytest.fixture
async def fenced(tmp_path):
    started = []

    async def _start(fence):
        harness = await start_harness(tmp_path, harness_config(), fence=fence)
        started.append(harness)
        return harness

    yield _start
    for harness in started:
        await stop_harness(harness)


async def test_send_when_lease_held_and_write_ahead_acknowledged_then_sent_once_under_the_epoch(fenced):
    """The write-ahead row (sent_ns set) is replicated under the held epoch before send_order; then sent once."""
    fence = ScriptedFence(epoch=7)
    harness = await fenced(fence)
    harness.submit("f-1")
    (reply,) = await harness.wait_replies(1)
    assert reply["status"] == "accepted"
    assert harness.port.sent_ids() == ["f-1"]
    ((rows, epoch),) = fence.batches
    assert epoch == 7 and rows[0]["client_order_id"] == "f-1" and rows[0]["sent_ns"] > 0


async def test_submit_when_lease_not_held_then_not_taken_and_a_retry_under_the_lease_is_sent(fenced):
    """A new id reaching a host without the venue-host lease is not taken (an error asking for a retry with the
    same id, nothing journaled or sent); once the host holds the lease the retry is taken and sent once."""
    fence = ScriptedFence(epoch=0)
    harness = await fenced(fence)
    harness.submit("f-2")
    await harness.sink.wait(lambda: harness.replies(which="error"), 5)
    (error,) = harness.replies(which="error")
    assert error["code"] == "internal" and "retry with the same clientOrderId" in error["message"]
    assert harness.port.sends == [] and harness.journal.order("acct-01", "f-2") is None
    fence.held = 8
    harness.submit("f-2")
    (reply,) = await harness.wait_replies(1)
    assert reply["status"] == "accepted" and harness.port.sent_ids() == ["f-2"]


async def test_send_when_lease_lapses_after_approval_then_refused_by_rule_lease_and_never_sent(fenced):
    """A lease that lapses between the order's approval and its write-ahead commit refuses it (rule ``lease``)."""
    fence = ScriptedFence(epoch=7)
    fence.lapse_after = 1   # held when the order is taken, lapsed when it is about to be written ahead
    harness = await fenced(fence)
    harness.submit("f-5")
    (reply,) = await harness.wait_replies(1)
    assert reply["status"] == "rejected" and reply["rejection"]["rule"] == "lease"
    assert "fenced" in reply["rejection"]["reason"]
    assert harness.port.sends == [] and harness.actor("orders/acct-01").write_ahead.fenced == 1


async def test_send_when_lease_lost_before_acknowledgement_then_refused_and_never_sent(fenced):
    """A lease that lapses (or changes epoch) while the write-ahead row is being acknowledged fences the send."""
    fence = ScriptedFence(epoch=7, auto_ack=False)
    harness = await fenced(fence)
    harness.submit("f-3")
    await harness.sink.wait(lambda: fence.waiting, 5)
    fence.held = 0   # paused past the TTL: the lease is no longer ours by our own clock
    fence.waiting.pop()(True, "")
    (reply,) = await harness.wait_replies(1)
    assert reply["rejection"]["rule"] == "lease" and reply["rejection"]["limit"] == 7.0
    assert harness.port.sends == []
    actor = harness.actor("orders/acct-01")
    assert actor.write_ahead.fenced == 1 and actor.extra_statistics()["replicating"] == 0


async def test_send_when_replicated_journal_does_not_acknowledge_then_refused_and_never_sent(fenced):
    """No acknowledgement from the stream: the order is refused (rule ``journal``) rather than sent unknown to the
    standby; a retry of its id gets the same refusal and is not sent."""
    fence = ScriptedFence(epoch=7, auto_ack=False)
    harness = await fenced(fence)
    harness.submit("f-4")
    await harness.sink.wait(lambda: fence.waiting, 5)
    fence.waiting.pop()(False, "TimeoutError from the ORDERS stream")
    (reply,) = await harness.wait_replies(1)
    assert reply["rejection"]["rule"] == "journal" and "did not acknowledge" in reply["rejection"]["reason"]
    harness.submit("f-4")
    replies = await harness.wait_replies(2)
    assert replies[1]["status"] == "rejected" and harness.port.sends == []
