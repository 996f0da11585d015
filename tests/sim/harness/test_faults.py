"""Faults in a running desk (sim.harness.faults) and on message routes (sim.harness.routes)."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from thespian.actors import Actor

from actors import ActorRuntime
from actors.market.frames import encode_tick_batch
from sim.harness.faults import FaultInjector
from sim.harness.routes import RouteFaults, RouteRule
from sim.harness.scenario import FaultSpec

WAIT_S = 5.0


class Inbox(Actor):
    """Keeps every message it receives (a plain Thespian actor)."""

    received: list

    def receiveMessage(self, msg, sender) -> None:  # noqa: N802 - Thespian's name
        """Record the message (loop thread)."""
        self.received.append(msg)


async def _until(condition, timeout_s: float = WAIT_S) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
async def inbox():
    """A runtime with one recording actor bound at ``test/inbox``, and route faults on it."""
    runtime = ActorRuntime()
    address = runtime.create_top_level(Inbox)
    instance = runtime.instance(address)
    instance.received = []
    runtime.registry.bind("test/inbox", address, "Inbox", "")
    try:
        yield runtime, instance, RouteFaults(runtime, seed=3)
    finally:
        runtime.shutdown()


async def test_route_when_stalled_then_messages_wait_and_arrive_in_order_after(inbox) -> None:
    """A stall holds messages without blocking the loop, then delivers them in their order."""
    runtime, actor, routes = inbox
    rule = routes.add(RouteRule("stall", "test/inbox"))
    for i in range(5):
        runtime.tell_path("test/inbox", f"m{i}".encode())
    await runtime.wait_idle()
    assert actor.received == [] and len(rule.held) == 5
    routes.remove(rule)
    await runtime.wait_idle()
    assert actor.received == [b"m0", b"m1", b"m2", b"m3", b"m4"]
    assert runtime._interceptor is None


async def test_route_when_drop_duplicate_corrupt_then_bytes_change_and_controls_pass(inbox) -> None:
    """Drop loses bytes messages, duplicate delivers them twice, corrupt flips bytes; other values pass."""
    runtime, actor, routes = inbox
    for action, copies in (("drop", 0), ("duplicate", 2)):
        actor.received.clear()
        rule = routes.add(RouteRule(action, "test/*"))
        runtime.tell_path("test/inbox", b"payload-1234")
        runtime.tell_path("test/inbox", ("control", 1))
        await runtime.wait_idle()
        routes.remove(rule)
        assert actor.received.count(b"payload-1234") == copies
        assert actor.received.count(("control", 1)) == 1
    actor.received.clear()
    rule = routes.add(RouteRule("corrupt", "test/inbox", corrupt_bytes=3))
    runtime.tell_path("test/inbox", b"0123456789abcdef")
    await runtime.wait_idle()
    routes.remove(rule)
    assert len(actor.received) == 1 and actor.received[0] != b"0123456789abcdef"
    assert actor.received[0][:8] == b"01234567"  # the segment table is left alone
    assert rule.matched == rule.affected == 1


async def test_route_when_delayed_then_message_arrives_later_without_blocking(inbox) -> None:
    """A delayed message is not delivered at once; it arrives after its delay; the loop stays free."""
    runtime, actor, routes = inbox
    rule = routes.add(RouteRule("delay", "test/inbox", delay_ms=50))
    runtime.tell_path("test/inbox", b"late")
    await runtime.wait_idle()
    assert actor.received == []
    await _until(lambda: actor.received == [b"late"])
    routes.remove(rule)


async def test_inject_when_crash_group_then_restarted_and_fault_ends(desk) -> None:
    """A crash fault restarts market/group/rb once; the record ends with the new incarnation's time."""
    await _until(lambda: "market/group/rb" in desk.runtime.registry)
    injector = FaultInjector(desk)
    before = desk.runtime.registry.entry("market/group/rb").restarts
    record = await injector.inject(FaultSpec(0, "crash", "market/group/rb"))
    await asyncio.wait_for(record.ended, WAIT_S)
    assert (record.status, record.groups, record.details["restarts"]) == ("injected", ("rb",), 1)
    assert desk.runtime.registry.entry("market/group/rb").restarts == before + 1
    assert record.injected_ns == record.ended_ns <= record.ready_ns


async def test_inject_when_kill_then_parent_restarts_the_subtree(desk) -> None:
    """A kill fault makes the market supervisor restart rb (RestartChild), not counted as a crash."""
    await _until(lambda: "market/group/rb" in desk.runtime.registry)
    injector = FaultInjector(desk)
    record = await injector.inject(FaultSpec(0, "kill", "market/group/rb"))
    await asyncio.wait_for(record.ended, WAIT_S)
    assert record.status == "injected" and record.details["restarts"] == 1


async def test_inject_when_stall_ends_then_interceptor_is_removed(desk) -> None:
    """A 200 ms stall of rb holds its messages, then releases them; the pump is back to its plain loop."""
    await _until(lambda: "market/group/rb" in desk.runtime.registry)
    injector = FaultInjector(desk)
    record = await injector.inject(FaultSpec(0, "stall", "market/group/rb", duration_ms=200))
    assert desk.runtime._interceptor is injector.routes
    await asyncio.wait_for(record.ended, WAIT_S)
    assert record.details["affected"] >= 1
    assert desk.runtime._interceptor is None


@pytest.mark.parametrize(("spec", "status"), [
    (FaultSpec(0, "crash", "market/group/nosuch"), "failed"),
    (FaultSpec(0, "crash", "market-source"), "failed"),
    (FaultSpec(0, "nats_disconnect"), "skipped"),
    (FaultSpec(0, "slow_client"), "failed"),
    (FaultSpec(0, "restart_desk"), "failed"),
])
async def test_inject_when_fault_cannot_apply_then_record_says_why(desk, spec: FaultSpec, status: str) -> None:
    """An unknown path, an actor without a crash handler, NATS absent or no client factory: no exception."""
    record = await FaultInjector(desk).inject(spec)
    assert record.status == status and record.reason
    assert record.ended.done()


async def test_group_when_tick_batch_names_unknown_rows_then_resyncs_instead_of_crashing(desk) -> None:
    """Rows past the group's instruments are dropped and counted, and the group asks for a resync."""
    await _until(lambda: "market/group/rb" in desk.runtime.registry)
    entry = desk.runtime.registry.entry("market/group/rb")
    await _until(lambda: entry.instance is not None and entry.instance.table.size > 0)
    group, restarts = entry.instance, entry.restarts
    one = np.ones(1)
    columns = {"indexes": np.array([100_000], dtype=np.uint32), "lastPrices": one, "bidPrices": one,
               "askPrices": one, "bidVolumesLots": one, "askVolumesLots": one, "volumesLots": one,
               "openInterestsLots": one, "exchangeTsNs": np.zeros(1, np.int64),
               "gatewayRecvTsNs": np.zeros(1, np.int64)}
    desk.runtime.tell_path("market/group/rb", encode_tick_batch("rb", columns))
    await _until(lambda: group.resyncs_requested >= 1)
    assert group.rows_unknown == 1
    assert desk.runtime.registry.entry("market/group/rb").restarts == restarts


async def test_group_when_resync_reply_was_lost_then_asks_again_after_a_second_not_before(desk) -> None:
    """A resync whose reply never came (refused as corrupt) does not latch: after 1 s unknown rows ask again."""
    from actors.market.group import RESYNC_RETRY_NS

    await _until(lambda: "market/group/rb" in desk.runtime.registry)
    entry = desk.runtime.registry.entry("market/group/rb")
    await _until(lambda: entry.instance is not None and entry.instance.table.size > 0)
    group = entry.instance
    one = np.ones(1)
    columns = {"indexes": np.array([100_000], dtype=np.uint32), "lastPrices": one, "bidPrices": one,
               "askPrices": one, "bidVolumesLots": one, "askVolumesLots": one, "volumesLots": one,
               "openInterestsLots": one, "exchangeTsNs": np.zeros(1, np.int64),
               "gatewayRecvTsNs": np.zeros(1, np.int64)}
    group._resync_pending, group._resync_asked_ns = True, time.monotonic_ns() + 10**10  # asked, reply still due
    asked = group.resyncs_requested
    desk.runtime.tell_path("market/group/rb", encode_tick_batch("rb", columns))
    await _until(lambda: group.rows_unknown >= 1)
    assert group.resyncs_requested == asked
    group._resync_pending, group._resync_asked_ns = True, time.monotonic_ns() - RESYNC_RETRY_NS - 1  # reply lost
    desk.runtime.tell_path("market/group/rb", encode_tick_batch("rb", columns))
    await _until(lambda: group.resyncs_requested == asked + 1)
