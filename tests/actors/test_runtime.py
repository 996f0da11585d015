"""The loop-driven Thespian runtime: private names, pump, timers, coroutine ask."""

from __future__ import annotations

import asyncio
import collections
import datetime

import pytest
from thespian.actors import Actor, ActorSystem, WakeupMessage
from thespian.system import simpleSystemBase

from actors import ActorRuntime, ChildSpec, Supervisor, TickstageActor, start_root
from actors._envelope import encode_actor_message
from actors._runtime import check_thespian_version
from actors.errors import ActorDeadError, AskTimeoutError, IncompatibleThespianError, UnknownPathError


class Echo(TickstageActor):
    """Replies to ``groupRestarted`` with the text; arms a Thespian wakeup on ``resyncRequest``."""

    def on_start(self, restarts):
        self.wakeups = []

    def _on_group_restarted(self, text, message, sender):
        self.send(sender, f"echo:{text}".encode())

    def _on_resync_request(self, text, message, sender):
        self.asker = sender
        self.wakeupAfter(datetime.timedelta(milliseconds=5), payload=text)

    def on_control(self, msg, sender):
        if isinstance(msg, WakeupMessage):
            self.send(self.asker, f"woke:{msg.payload}".encode())


class Silent(TickstageActor):
    """Never replies."""

    def _on_group_restarted(self, text, message, sender):
        pass


async def _desk(children):
    runtime = ActorRuntime()
    start_root(runtime, Supervisor, {"children": children})
    await runtime.wait_idle()
    return runtime


def test_thespian_private_names_used_by_the_driver_exist():
    """Every private Thespian name the driver touches is still there (an upgrade fails here)."""
    system = ActorSystem("simpleSystemBase", logDefs=False, transientUnique=True)
    try:
        base = system._systemBase
        assert isinstance(base._pendingSends, list)
        assert callable(base._runSingleSend)
        assert callable(base.wakeupAfter)
        assert "System:ExternalRequester" in base.actorRegistry
        pending = simpleSystemBase.PendingSend("s", "m", "t")
        assert (pending.sender, pending.msg, pending.toActor, pending.attempts) == ("s", "m", "t", 0)
    finally:
        system.shutdown()


def test_check_thespian_version_when_other_version_then_refuses():
    """A Thespian other than the validated one is refused at start-up."""
    with pytest.raises(IncompatibleThespianError) as caught:
        check_thespian_version("4.0.2")
    assert caught.value.found == "4.0.2"


async def test_runtime_replaces_the_pending_list_with_a_deque():
    """The O(n) list pop(0) is replaced by a deque the pump drains."""
    runtime = await _desk([])
    try:
        assert isinstance(runtime._base._pendingSends, collections.deque)
    finally:
        runtime.shutdown()


async def test_ask_when_actor_replies_then_returns_reply():
    """A coroutine ask gets the actor's reply without blocking the loop."""
    runtime = await _desk([ChildSpec("echo", Echo)])
    try:
        replies = await asyncio.gather(*(runtime.ask("echo", encode_actor_message("groupRestarted", str(i)))
                                         for i in range(50)))
        assert replies == [f"echo:{i}".encode() for i in range(50)]
    finally:
        runtime.shutdown()


async def test_ask_when_no_reply_then_times_out():
    """An ask without a reply raises AskTimeoutError (also a TimeoutError)."""
    runtime = await _desk([ChildSpec("silent", Silent)])
    try:
        with pytest.raises(TimeoutError):
            await runtime.ask("silent", encode_actor_message("groupRestarted", "x"), timeout_s=0.05)
        assert runtime.statistics().ask_timeouts == 1
    finally:
        runtime.shutdown()


async def test_ask_when_path_unknown_or_stopped_then_fails_fast():
    """Asks to an unknown path or a stopped actor fail at once."""
    runtime = await _desk([ChildSpec("echo", Echo)])
    try:
        with pytest.raises(UnknownPathError):
            await runtime.ask("nobody", b"")
        runtime.registry.set_state("echo", runtime.registry.entry("echo").state.STOPPED)
        with pytest.raises(ActorDeadError):
            await runtime.ask("echo", b"")
    finally:
        runtime.shutdown()


async def test_wakeup_after_when_armed_then_fires_from_loop_timer():
    """Thespian's wakeupAfter fires from the loop's timer, with no later tell needed."""
    runtime = await _desk([ChildSpec("echo", Echo)])
    try:
        reply = await runtime.ask("echo", encode_actor_message("resyncRequest", "t1"), timeout_s=5)
        assert reply == b"woke:t1"
        assert runtime.statistics().timers_armed >= 1
    finally:
        runtime.shutdown()


async def test_pump_when_backlog_large_then_yields_to_the_loop():
    """A large backlog is delivered in slices, letting other callbacks run in between."""
    runtime = await _desk([ChildSpec("silent", Silent)])
    try:
        address = runtime.registry.address("silent")
        message = encode_actor_message("groupRestarted", "x")
        ticks = 0

        async def other_work():
            nonlocal ticks
            while runtime.statistics().pending:
                ticks += 1
                await asyncio.sleep(0)

        for _ in range(50_000):
            runtime.tell(address, message)
        await asyncio.wait_for(asyncio.gather(other_work(), runtime.wait_idle(30)), 60)
        stats = runtime.statistics()
        assert stats.delivered >= 50_000
        assert stats.slices_cut > 0 and ticks > 0
    finally:
        runtime.shutdown()


async def test_unknown_member_when_received_then_counted_and_answered():
    """An ActorMessage member the actor does not take is counted and answered with failure."""
    runtime = await _desk([ChildSpec("echo", Echo)])
    try:
        reply = await runtime.ask("echo", encode_actor_message("socketDrained", None))
        import schemas

        with schemas.actor.ActorMessage.from_bytes(reply) as message:
            assert message.which() == "failure"
            assert message.failure.code == "unknown_message"
        garbage = await runtime.ask("echo", b"\x00garbage")
        assert b"unknown_message" in garbage
        assert runtime.registry.entry("echo").instance.statistics().unknown == 2
    finally:
        runtime.shutdown()


async def test_unknown_member_when_it_is_a_failure_then_counted_and_never_answered():
    """A refused ``failure`` gets no ``failure`` back: two actors that refuse each other's message would otherwise
    trade failures for ever (seen on an edge node: a page's viewport refused by the RemoteGroupActor, the session
    refusing the failure, the group refusing that one ... 228,000 log lines in 30 s)."""
    runtime = await _desk([ChildSpec("echo", Echo)])
    try:
        failure = encode_actor_message("failure", {"code": "unknown_message", "message": "x does not take y"})
        with pytest.raises(AskTimeoutError):
            await runtime.ask("echo", failure, timeout_s=0.3)
        assert runtime.registry.entry("echo").instance.statistics().unknown == 1
    finally:
        runtime.shutdown()


class Raising(Actor):
    """A plain Thespian actor (its exceptions reach the runtime): raises on every bytes message."""

    attempts = 0

    def receiveMessage(self, msg, sender):
        if isinstance(msg, bytes):
            Raising.attempts += 1
            raise RuntimeError("boom")


async def test_queued_mark_when_pump_passes_it_then_delivered_through():
    """A mark taken after a tell is passed once that message was handled, in queue order."""
    runtime = await _desk([ChildSpec("echo", Echo), ChildSpec("silent", Silent)])
    try:
        message = encode_actor_message("groupRestarted", "x")
        runtime.tell(runtime.registry.address("silent"), message)
        first = runtime.queued_mark()
        runtime.tell(runtime.registry.address("silent"), message)
        second = runtime.queued_mark()

        assert second == first + 1 and not runtime.delivered_through(first)
        await runtime.wait_idle()
        assert runtime.delivered_through(second) and runtime.queued() == 0
        assert runtime.fifo
        runtime.set_interceptor(lambda pending: False)
        runtime.set_interceptor(None)
        assert not runtime.fifo   # an interceptor may have held messages: order is no longer promised
    finally:
        runtime.shutdown()


async def test_pump_when_plain_actor_raises_on_bytes_then_retried_and_poisoned_as_thespian_does():
    """The direct delivery of bytes keeps Thespian's failure handling: three attempts, then PoisonMessage."""
    runtime = ActorRuntime()
    try:
        Raising.attempts = 0
        address = runtime._system.createActor(Raising)
        runtime.tell(address, b"payload")
        await runtime.wait_idle()

        assert Raising.attempts == 3
        assert runtime.statistics().poison == 1
    finally:
        runtime.shutdown()
