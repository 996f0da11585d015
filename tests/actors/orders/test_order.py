"""OrderActor: idempotency, write-ahead, one gateway call, outcomeUnknown, restart recovery."""

from __future__ import annotations

import asyncio

from actors._envelope import encode_actor_message
from tests.actors.order_kit import ScriptedPort, harness_config


async def test_submit_order_when_rules_approve_then_sent_once_and_replied_accepted(order_harness):
    """An approved order reaches the gateway once; the exchange's answer makes the reply accepted."""
    harness = await order_harness(harness_config())

    harness.submit("c-1")
    (reply,) = await harness.wait_replies(1)

    assert reply["status"] == "accepted" and reply["vtOrderId"] == "SIM.1"
    assert harness.port.sent_ids() == ["c-1"]
    await asyncio.wait_for(_until(lambda: (harness.journal.order("acct-01", "c-1") or {}).get("state") == "working"), 5)
    assert harness.journal.order("acct-01", "c-1")["vt_orderid"] == "SIM.1"


async def test_submit_order_when_client_order_id_seen_then_returns_original_reply(order_harness):
    """Retries in flight and after the answer get the same reply; the gateway sees one order."""
    port = ScriptedPort(answer="none")
    harness = await order_harness(harness_config(answer_timeout_s=5.0), port=port)

    harness.submit("c-1")
    harness.submit("c-1", client="client/2")
    await harness.runtime.wait_idle()
    await asyncio.wait_for(_until(lambda: port.sends), 5)
    assert harness.replies() == [] and harness.replies("client/2") == []
    record = harness.actor("orders/acct-01").orders["c-1"]
    port.event(record, record.vt_orderid, "notTraded")
    await harness.wait_replies(1)
    await harness.wait_replies(1, "client/2")
    harness.submit("c-1", client="client/3")
    await harness.wait_replies(1, "client/3")

    replies = [harness.reply_of("c-1", c) for c in ("client/1", "client/2", "client/3")]
    assert all(r == replies[0] for r in replies) and replies[0]["status"] == "accepted"
    assert port.sent_ids() == ["c-1"]


async def test_submit_order_when_send_order_returns_empty_then_rejected_by_gateway(order_harness):
    """``""`` from send_order is a local rejection naming the gateway."""
    harness = await order_harness(harness_config(), port=ScriptedPort(refuse={"c-1"}))

    harness.submit("c-1")
    (reply,) = await harness.wait_replies(1)

    assert reply["status"] == "rejected" and reply["rejection"]["rule"] == "gateway"
    assert harness.pushes("orderRejected")


async def test_submit_order_when_no_answer_then_outcome_unknown_then_resolved_by_query(order_harness):
    """No answer within the timeout → outcomeUnknown reply, never re-sent; a query resolves it as an event."""
    port = ScriptedPort(answer="none")
    harness = await order_harness(harness_config(answer_timeout_s=0.05, query_interval_s=0.05), port=port)

    harness.submit("c-1")
    (reply,) = await harness.wait_replies(1)
    await harness.sink.wait(lambda: harness.pushes("orderAccepted"))

    assert reply["status"] == "outcomeUnknown"
    assert harness.pushes("outcomeUnknown")[0]["order"]["state"] == "outcomeUnknown"
    assert harness.pushes("orderAccepted")[0]["order"]["state"] == "working"
    assert port.sent_ids() == ["c-1"]
    harness.submit("c-1")
    await harness.wait_replies(2)
    assert harness.replies()[1] == reply   # the original reply; the resolution came as orderAccepted


async def test_submit_order_when_invalid_volume_then_rejected_by_validity(order_harness):
    """A volume of 0 is refused before any rule or gateway."""
    harness = await order_harness(harness_config())

    harness.submit("c-1", volume=0)
    (reply,) = await harness.wait_replies(1)

    assert reply["rejection"]["rule"] == "order_validity" and harness.port.sends == []
    assert (reply["rejection"]["limit"], reply["rejection"]["observed"]) == (1.0, 0.0)


async def test_order_actor_when_restarted_in_flight_then_never_resends_and_resolves(order_harness):
    """A crash after the write-ahead record: the restarted actor queries instead of sending again."""
    port = ScriptedPort(answer="none")
    harness = await order_harness(harness_config(answer_timeout_s=5.0, query_interval_s=0.05), port=port)
    harness.submit("c-1")
    await asyncio.wait_for(_until(lambda: port.sends), 5)

    harness.runtime.tell_path("orders/acct-01", encode_actor_message("crash", "test", source="test"))
    await asyncio.wait_for(_until(lambda: harness.runtime.registry.entry("orders/acct-01").restarts == 1), 5)
    await harness.sink.wait(lambda: harness.pushes("orderAccepted"))
    harness.submit("c-1")
    (reply,) = await harness.wait_replies(1)

    assert port.sent_ids() == ["c-1"]
    assert reply["status"] == "accepted" and reply["vtOrderId"] == "SIM.1"


async def test_cancel_order_when_working_then_cancel_sent_once_and_order_cancelled(order_harness):
    """Two cancels of a working order send one cancel request; a cancel after the end is notActive."""
    harness = await order_harness(harness_config())
    harness.submit("c-1")
    await harness.wait_replies(1)

    harness.command(cancelOrder={"clientOrderId": "c-1", "account": "acct-01"})
    harness.command(cancelOrder={"clientOrderId": "c-1", "account": "acct-01"})
    await harness.sink.wait(lambda: any(m["order"]["state"] == "cancelled" for m in harness.pushes("orderUpdated")))
    harness.command(cancelOrder={"clientOrderId": "c-1", "account": "acct-01"})
    await harness.sink.wait(lambda: len(harness.replies(which="cancelReply")) == 3)

    assert [r["status"] for r in harness.replies(which="cancelReply")] == ["sent", "sent", "notActive"]
    assert harness.port.cancels == ["c-1"]


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.001)


async def test_order_status_request_when_finished_limit_then_open_orders_and_newest_finished_ones(order_harness):
    """Empty ids: every open order plus the newest ``finishedLimit`` finished ones (0: all); ids: just those."""
    harness = await order_harness(harness_config(rules=()))
    for i in range(1, 5):
        harness.submit(f"c-{i}")
        await harness.wait_replies(i)
    for i in range(1, 4):
        harness.command(cancelOrder={"clientOrderId": f"c-{i}", "account": "acct-01"})
    await harness.sink.wait(lambda: sum(m["order"]["state"] == "cancelled" for m in harness.pushes("orderUpdated")) == 3)

    harness.command(orderStatusRequest={"account": "acct-01", "finishedLimit": 1})
    harness.command(orderStatusRequest={"account": "acct-01"})
    harness.command(orderStatusRequest={"account": "acct-01", "clientOrderIds": ["c-2", "nope"]})
    await harness.sink.wait(lambda: len(harness.replies(which="orderStatusReply")) == 3)

    capped, everything, chosen = (
        [order["clientOrderId"] for order in reply["orders"]] for reply in harness.replies(which="orderStatusReply")
    )
    assert capped == ["c-3", "c-4"]
    assert everything == ["c-1", "c-2", "c-3", "c-4"]
    assert chosen == ["c-2"]


async def test_answer_timeout_when_answers_queued_behind_a_late_timer_then_not_outcome_unknown(order_harness):
    """An answer queued behind the answer timer (a backlog) is taken before a later order's deadline is judged:
    the timer's due time is the cut-off, not the time a busy actor handles it."""
    import schemas

    port = ScriptedPort(answer="none")
    harness = await order_harness(harness_config(rules=(), answer_timeout_s=0.1), port=port)
    harness.submit("c-1")
    await asyncio.wait_for(_until(lambda: len(port.sends) == 1), 5)
    harness.submit("c-2")
    await asyncio.wait_for(_until(lambda: len(port.sends) == 2), 5)
    actor = harness.actor("orders/acct-01")
    held = []

    def backlog(pending) -> bool:
        """From the answer timer on, hold every message of the order actor (it is busy elsewhere)."""
        if pending.toActor != actor.myAddress or type(pending.msg) is not bytes:
            return False
        if not held:
            with schemas.actor.ActorMessage.from_bytes(pending.msg) as message:
                if message.which() != "timer" or message.timer.name != "answer":
                    return False
        held.append(pending)
        return True

    harness.runtime.set_interceptor(backlog)
    await asyncio.wait_for(_until(lambda: held), 5)            # c-1's deadline passed: the timer fired
    port.event(actor.orders["c-2"], actor.orders["c-2"].vt_orderid, "notTraded")   # c-2's answer, behind it
    await asyncio.wait_for(_until(lambda: len(held) == 2), 5)
    await asyncio.sleep(0.2)                                  # handled late: c-2's deadline has passed too
    harness.runtime.set_interceptor(None)
    for pending in held:
        harness.runtime.requeue(pending)
    await harness.wait_replies(2)

    assert harness.reply_of("c-1")["status"] == "outcomeUnknown"   # no answer at all: unknown, as before
    assert harness.reply_of("c-2")["status"] == "accepted"
    assert actor.unknown_outcomes == 1


async def test_order_counts_when_many_orders_then_counted_without_scanning_them(order_harness, monkeypatch):
    """The 1 s ``orderCounts`` answer is right (open, outcomeUnknown) and reads no order record: its cost does
    not grow with the day's orders."""
    import schemas
    from actors.orders.record import OrderRecord

    port = ScriptedPort(answer="none")
    harness = await order_harness(harness_config(rules=(), answer_timeout_s=0.05, query_interval_s=60.0),
                                  port=port)
    for n in range(30):
        harness.submit(f"u-{n}")                          # no answer: outcomeUnknown
    await harness.wait_replies(30)
    port.answer = "ack"
    for n in range(20):
        harness.submit(f"w-{n}")                          # working
    harness.submit("bad", volume=0.0)                     # rejected
    await harness.wait_replies(51)
    actor = harness.actor("orders/acct-01")
    port.event(actor.orders["w-0"], actor.orders["w-0"].vt_orderid, "cancelled")
    await asyncio.wait_for(_until(lambda: actor.orders["w-0"].final), 5)
    reads = []
    final = OrderRecord.final
    monkeypatch.setattr(OrderRecord, "final", property(lambda record: reads.append(1) or final.fget(record)))

    reply = await harness.runtime.ask("orders/acct-01", encode_actor_message("ruleStatusRequest", None))

    with schemas.actor.ActorMessage.from_bytes(reply) as message:
        counts = message.orderCounts
        assert (counts.open, counts.unknownOutcomes, counts.rejections, counts.orders) == (49, 30, 1, 51)
    assert reads == []
    assert actor.extra_statistics()["open"] == 49
