"""DuplicateOrderRule: identical orders within the window; memory bounded by the window, not the day."""

from __future__ import annotations

from actors.risk.rules.duplicate_order import PRUNE_MIN_KEYS
from tests.actors.order_kit import harness_config


async def test_duplicate_order_when_identical_orders_within_window_then_over_limit_refused(order_harness):
    """The third identical order (limit 2) within the window is refused naming the rule."""
    harness = await order_harness(harness_config(rules=("duplicate_order",),
                                                 limits={"duplicate_order": {"limit": 2, "window_s": 60}}))
    for i in range(3):
        harness.submit(f"d-{i}")
    await harness.wait_replies(3)

    assert [harness.reply_of(f"d-{i}")["status"] for i in range(3)] == ["accepted", "accepted", "rejected"]
    assert harness.reply_of("d-2")["rejection"]["rule"] == "duplicate_order"


async def test_duplicate_order_when_many_distinct_orders_leave_the_window_then_not_remembered(order_harness):
    """Distinct orders whose time left the window are dropped: the rule's memory does not grow all day."""
    harness = await order_harness(harness_config(rules=("duplicate_order",), limits={
        "duplicate_order": {"limit": 2, "window_s": 1e-6}, "active_order": {"limit": 1e6}}))
    orders = 4 * PRUNE_MIN_KEYS
    for i in range(orders):
        harness.submit(f"p-{i}", price=3000.0 + i)
    replies = await harness.wait_replies(orders)

    assert {r["status"] for r in replies} == {"accepted"}
    assert len(harness.actor("risk/duplicate_order/acct-01").recent) <= 2 * PRUNE_MIN_KEYS
