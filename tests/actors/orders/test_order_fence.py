"""The order actor's send fence (issue 16): a venue-host with a standby sends an order only after its
write-ahead row is acknowledged by the replicated journal, and only while it holds the lease of that epoch."""

from __future__ import annotations

import pytest

from tests.actors.order_kit import harness_config, start_harness, stop_harness


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
    assert harness.port.sends == [] and harness.actor("orders/acct-01").fenced == 1


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
    assert actor.fenced == 1 and actor.extra_statistics()["replicating"] == 0


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
