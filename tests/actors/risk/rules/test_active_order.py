"""ActiveOrderRule: in-flight orders count at submission."""

from __future__ import annotations

import math

from tests.actors.order_kit import ScriptedPort, harness_config


async def test_active_order_when_burst_of_10_against_limit_3_then_exactly_3_accepted(order_harness):
    """Ten orders at once against a limit of 3: exactly 3 accepted, 7 rejected naming the rule."""
    harness = await order_harness(harness_config(rules=("active_order",), limits={"active_order": {"limit": 3}}),
                                  port=ScriptedPort(answer="ack"))

    for i in range(10):
        harness.submit(f"b-{i}")
    replies = await harness.wait_replies(10)

    accepted = [r for r in replies if r["status"] == "accepted"]
    rejected = [r for r in replies if r["status"] == "rejected"]
    assert len(accepted) == 3 and len(harness.port.sends) == 3
    assert len(rejected) == 7
    assert {r["rejection"]["rule"] for r in rejected} == {"active_order"}
    assert rejected[0]["rejection"]["limit"] == 3 and rejected[0]["rejection"]["observed"] == 4


async def test_active_order_when_an_order_ends_then_its_slot_frees(order_harness):
    """Under the limit an order passes; a cancelled order stops counting."""
    harness = await order_harness(harness_config(rules=("active_order",), limits={"active_order": {"limit": 1}}))
    harness.submit("a-1")
    await harness.wait_replies(1)
    harness.submit("a-2")
    await harness.wait_replies(2)
    assert harness.reply_of("a-2")["rejection"]["rule"] == "active_order"

    harness.command(cancelOrder={"clientOrderId": "a-1", "account": "acct-01"})
    await harness.sink.wait(lambda: any(m["order"]["state"] == "cancelled" for m in harness.pushes("orderUpdated")))
    harness.submit("a-3")
    await harness.wait_replies(3)

    assert harness.reply_of("a-1")["status"] == "accepted"
    assert harness.reply_of("a-3")["status"] == "accepted"
    assert not math.isnan(harness.reply_of("a-2")["rejection"]["limit"])
