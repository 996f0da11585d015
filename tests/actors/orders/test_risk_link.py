"""RiskLink: rule actors called in-line or by message, with the same verdicts, fail-closed either way."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from tests.actors.order_kit import ScriptedPort, harness_config

PATHS = pytest.mark.parametrize("inline", [True, False], ids=["inline", "by_message"])


def _force_messages(harness, inline: bool) -> None:
    """Take the message path as a fault interceptor would (the runtime no longer promises queue order)."""
    if not inline:
        harness.runtime.fifo = False


@PATHS
async def test_active_order_when_burst_of_10_against_limit_3_then_exactly_3_accepted_on_both_paths(
        order_harness, inline):
    """In-flight orders count at submission whichever way the rule is asked."""
    harness = await order_harness(harness_config(rules=("active_order", "order_flow"),
                                                 limits={"active_order": {"limit": 3}}))
    _force_messages(harness, inline)

    for i in range(10):
        harness.submit(f"b-{i}")
    replies = await harness.wait_replies(10)

    assert sum(r["status"] == "accepted" for r in replies) == 3 and len(harness.port.sends) == 3
    assert {r["rejection"]["rule"] for r in replies if r["status"] == "rejected"} == {"active_order"}
    assert (harness.actor("orders/acct-01").inline_checks > 0) is inline


@PATHS
async def test_submit_order_when_global_kill_switch_halted_then_refused_on_both_paths(order_harness, inline):
    """The account's and the desk's kill switch are both asked (both are named kill_switch)."""
    harness = await order_harness(harness_config(rules=("kill_switch", "active_order"),
                                                 global_rules=("kill_switch",)))
    _force_messages(harness, inline)
    harness.limits.set_kill_switch_nowait("global", "global", "halted", "ops", "test")

    harness.submit("k-1")
    (reply,) = await harness.wait_replies(1)

    assert reply["status"] == "rejected" and reply["rejection"]["rule"] == "kill_switch"
    assert harness.port.sends == []


async def test_submit_order_when_rule_check_raises_then_refused_and_rule_restarted(order_harness):
    """A rule that fails in-line crashes alone (its supervisor restarts it) and the order is refused."""
    harness = await order_harness(harness_config(rules=("order_volume", "active_order")))

    def broken(order):
        raise ValueError("bug in a rule")

    harness.actor("risk/order_volume/acct-01").check = broken
    harness.submit("r-1")
    (reply,) = await harness.wait_replies(1)
    await asyncio.wait_for(_until(lambda: harness.runtime.registry.entry("risk/order_volume/acct-01").restarts == 1
                                  and harness.runtime.registry.entry("risk/order_volume/acct-01").state.value
                                  == "running"), 5)
    harness.submit("r-2")
    await harness.wait_replies(2)

    assert reply["status"] == "rejected" and reply["rejection"]["rule"] == "order_volume"
    assert harness.reply_of("r-2")["status"] == "accepted" and harness.port.sent_ids() == ["r-2"]


async def test_submit_order_when_sent_then_its_write_ahead_row_was_committed_before(order_harness, tmp_path):
    """At the moment send_order is called, another connection already reads the order's row from the file."""
    seen = []

    class CheckingPort(ScriptedPort):
        def send(self, record, gateway_name):
            with sqlite3.connect(tmp_path / "orders.sqlite3") as other:
                seen.append(other.execute("SELECT state FROM orders WHERE client_order_id = ?",
                                          (record.client_order_id,)).fetchone())
            return super().send(record, gateway_name)

    harness = await order_harness(harness_config(), port=CheckingPort())
    for i in range(5):
        harness.submit(f"w-{i}")
    await harness.wait_replies(5)

    assert seen == [("pending",)] * 5


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.001)
