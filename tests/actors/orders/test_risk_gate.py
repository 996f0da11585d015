"""RiskGate: rule actors called in-line or by message, with the same verdicts, fail-closed either way.

The first tests drive the gate alone (a fake registry and mail, rule objects called in-line, no runtime);
the rest go through a real runtime with the order path's actors."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import pytest

from actors._registry import ActorState, RegistryEntry
from actors.orders.ports import Quote
from actors.orders.record import OrderRecord
from actors.orders.risk_gate import PendingCheck, RiskGate
from actors.risk._rule import RiskRule
from actors.risk.rejection import Rejection
from tests.actors.order_kit import ScriptedPort, harness_config

QUOTE = Quote("rb1801.SHFE", "rb", 1.0, 10.0, 3900.0)


class CountingRule(RiskRule):
    """A rule object called in-line: refuses orders above ``max_lots``; records the updates it is given."""

    rule = "order_volume"

    def __init__(self, max_lots: float = 10.0) -> None:
        super().__init__()
        self.max_lots, self.seen, self.updates = max_lots, [], []

    def check_now(self, order, correlation_id: int = 0) -> Rejection | None:
        self.seen.append(order)
        if order.volumeLots > self.max_lots:
            return Rejection(self.rule, self.max_lots, order.volumeLots, "too many lots")
        return None

    def update_now(self, update, correlation_id: int = 0) -> None:
        self.updates.append(update)


@dataclass
class FakeRegistry:
    entries: dict[str, RegistryEntry] = field(default_factory=dict)

    def get(self, path: str) -> RegistryEntry | None:
        return self.entries.get(path)


@dataclass
class FakeRuntime:
    """A RuleRuntime: marks count queued messages; ``delivered`` is how many were delivered."""

    fifo: bool = True
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    queued: int = 0
    delivered: int = 0
    dropped: int = 0

    def queued_mark(self) -> int:
        return self.queued

    def delivered_through(self, mark: int) -> bool:
        return self.delivered >= mark

    def count_dropped(self) -> None:
        self.dropped += 1


@dataclass
class FakeMail:
    """RuleMail: records what the gate sent as the order actor."""

    runtime: FakeRuntime
    path: str = "orders/acct-01"
    sent: list[tuple[Any, bytes]] = field(default_factory=list)

    def send(self, address, message) -> None:
        self.runtime.queued += 1
        self.sent.append((address, message))

    def send_path(self, path: str, message) -> bool:
        self.runtime.queued += 1
        self.sent.append((path, message))
        return True


def _gate(*rules: tuple[str, str, Any], observers=None) -> tuple[RiskGate, FakeRuntime, FakeMail]:
    runtime = FakeRuntime()
    for name, path, instance in rules:
        runtime.registry.entries[path] = RegistryEntry(path, f"addr:{path}", "Rule", "risk",
                                                       ActorState.RUNNING, instance=instance)
    mail = FakeMail(runtime)
    return RiskGate(runtime, mail, [(name, path) for name, path, _ in rules], observers or {}), runtime, mail


def _record(client_order_id: str = "c-1", volume: float = 1.0) -> OrderRecord:
    return OrderRecord(client_order_id, "acct-01", "rb1801.SHFE", "long", "open", "limit", 3900.0, volume,
                       group="rb", created_ns=1, updated_ns=1)


def test_check_when_every_rule_callable_in_line_then_verdict_without_messages():
    """Running rules on a FIFO runtime are called in-line: approval is ``None``, a refusal names its rule."""
    rule = CountingRule(max_lots=5.0)
    gate, _, mail = _gate(("order_volume", "risk/order_volume/acct-01", rule))

    assert gate.check(_record("a-1", 1.0), QUOTE) is None
    refusal = gate.check(_record("a-2", 9.0), QUOTE)

    assert isinstance(refusal, Rejection) and (refusal.rule, refusal.limit, refusal.observed) == ("order_volume", 5.0, 9.0)
    assert mail.sent == [] and gate.inline_checks == 2 and rule.seen[0].lastPrice == 3900.0


def test_check_when_runtime_not_fifo_then_by_message_and_verdicts_decide():
    """Without queue order the rules are asked by message; the last approval decides, a late verdict is ignored."""
    gate, runtime, mail = _gate(("order_volume", "risk/a", CountingRule()), ("order_flow", "risk/b", CountingRule()))
    runtime.fifo = False

    pending = gate.check(_record(), QUOTE)

    assert isinstance(pending, PendingCheck) and pending.pending == {"risk/a", "risk/b"}
    assert [address for address, _ in mail.sent] == ["addr:risk/a", "addr:risk/b"]
    assert gate.take_verdict(pending.check_id, "risk/zzz", None) is None   # not a rule this check waits for
    assert gate.take_verdict(pending.check_id, "risk/a", None) is None
    assert gate.take_verdict(pending.check_id, "risk/b", None) == ("c-1", None)
    assert gate.take_verdict(pending.check_id, "risk/b", None) is None and gate.checks == {}


def test_check_when_message_queued_to_rule_not_delivered_then_message_path_until_it_is():
    """A rule with this actor's message still queued is not called in-line (it would see an older state)."""
    rule = CountingRule()
    gate, runtime, _ = _gate(("order_volume", "risk/a", rule))
    gate.replay_to(["risk/a"], [_record("old-1")])

    assert isinstance(gate.check(_record("n-1"), QUOTE), PendingCheck)
    runtime.delivered = runtime.queued
    assert gate.check(_record("n-2"), QUOTE) is None and [view.clientOrderId for view in rule.seen] == ["n-2"]


def test_check_when_rule_down_or_crashed_then_refused_fail_closed():
    """A rule actor absent, restarting or crashed refuses the order, naming the rule."""
    gate, runtime, _ = _gate(("order_volume", "risk/a", CountingRule()))
    runtime.registry.entries["risk/a"].state = ActorState.RESTARTING

    refusal = gate.check(_record(), QUOTE)

    assert isinstance(refusal, Rejection) and refusal.rule == "order_volume" and "fail-closed" in refusal.reason


def test_time_out_and_rule_restarted_when_check_pending_then_refused_once():
    """A silent rule refuses after the timeout; a restarted one refuses what it had not answered; once each."""
    gate, runtime, _ = _gate(("order_volume", "risk/a", CountingRule()), ("order_flow", "risk/b", CountingRule()))
    runtime.fifo = False
    first, second = gate.check(_record("t-1"), QUOTE), gate.check(_record("t-2"), QUOTE)

    client_order_id, rejection = gate.time_out(first.check_id, 2.0)
    restarted = gate.rule_restarted("risk/b")

    assert client_order_id == "t-1" and rejection.rule == "order_volume" and rejection.limit == 2.0
    assert [(i, r.rule) for i, r in restarted] == [("t-2", "order_flow")]
    assert gate.time_out(first.check_id, 2.0) is None and gate.checks == {}


def test_notify_when_observer_in_line_or_down_then_updated_or_dropped():
    """Observers get the update in-line; a down one is counted as a dropped message."""
    rule = CountingRule()
    gate, runtime, mail = _gate(("order_volume", "risk/a", rule), ("order_flow", "risk/b", CountingRule()),
                                observers={"filled": ("risk/a", "risk/b")})
    runtime.registry.entries["risk/b"].state = ActorState.STOPPED

    gate.notify("filled", _record(), price=3901.0, volume=1.0, ts_ns=7)
    gate.notify("sent", _record())

    assert [(u.kind, u.price, u.volumeLots, u.tsNs) for u in rule.updates] == [("filled", 3901.0, 1.0, 7)]
    assert runtime.dropped == 1 and mail.sent == []

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
