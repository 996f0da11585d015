"""Supervision: restart at the same path after a backoff, intensity and escalation, strategies,
restart types, operator commands, poison messages, hooks and states."""

from __future__ import annotations

import random

import pytest
from structlog.testing import capture_logs
from thespian.actors import ChildActorExited

from actors import (
    ActorRuntime,
    ActorState,
    Backoff,
    ChildCommandAck,
    ChildSpec,
    Restart,
    RestartChild,
    RestartIntensity,
    RestartStrategy,
    StopChild,
    Supervisor,
    TickstageActor,
    start_root,
)
from actors._envelope import encode_actor_message
from actors.errors import ActorDeadError


class Worker(TickstageActor):
    """Crashes on ``crash``; records its starts and failures in shared lists."""

    def on_start(self, restarts):
        self.context.args["starts"].append((self.path, restarts))

    def on_failure(self, exc):
        self.context.args.setdefault("failures", []).append((self.path, str(exc)))

    def _on_crash(self, text, message, sender):
        raise RuntimeError(text)


class PoisonedWorker(Worker):
    """Raises out of Thespian's entry point itself on ``resyncRequest`` (past the dispatcher's guard)."""

    def receiveMessage(self, msg, sender):
        if isinstance(msg, bytes) and b"poison" in msg:
            raise RuntimeError("raised past the dispatcher")
        super().receiveMessage(msg, sender)


class DeafSupervisor(Supervisor):
    """Never hears ChildActorExited: a stop can only end by its shutdown timeout."""

    def on_control(self, msg, sender):
        if not isinstance(msg, ChildActorExited):
            super().on_control(msg, sender)


def _supervisor(strategy, intensity=RestartIntensity(3, 60), backoff=Backoff(), base=Supervisor):
    return type(f"Sup_{strategy.value}", (base,),
                {"strategy": strategy, "intensity": intensity, "backoff": backoff})


async def _start(strategy, names=("a", "b", "c"), intensity=RestartIntensity(3, 60), backoff=Backoff(),
                 restart=Restart.PERMANENT, base=Supervisor, shutdown_timeout_s=5.0, worker=Worker):
    runtime = ActorRuntime()
    starts = []
    args = {"starts": starts}
    children = [ChildSpec(n, worker, args, restart, shutdown_timeout_s) for n in names]
    sup = ChildSpec("sup", _supervisor(strategy, intensity, backoff, base), {"children": children})
    start_root(runtime, Supervisor, {"children": [sup]})
    await runtime.wait_idle()
    starts.clear()
    return runtime, starts


def _running_with(runtime, path, restarts):
    entry = runtime.registry.get(path)
    return entry is not None and entry.state is ActorState.RUNNING and entry.restarts >= restarts


async def _crash(runtime, eventually, path, then=None):
    """Crash ``path`` and wait (bounded) until ``then`` (default: ``path``) runs again, restarted once more."""
    then = then or path
    before = runtime.registry.entry(then).restarts
    runtime.tell_path(path, encode_actor_message("crash", "boom"))
    await eventually(lambda: _running_with(runtime, then, before + 1), what=f"{then} restarted")


def _states(runtime, path):
    return [state for state, _restarts, _ts in runtime.registry.entry(path).transitions]


def test_backoff_when_attempts_grow_then_delay_doubles_within_jitter_and_stops_at_cap():
    """The n-th delay lies in [ceiling/2, ceiling] with ceiling = min(cap, base·2^(n-1))."""
    backoff, rng = Backoff(base_s=0.01, cap_s=1.0), random.Random(7)
    for attempt in range(1, 15):
        ceiling = min(1.0, 0.01 * 2 ** (attempt - 1))
        delays = [backoff.delay_s(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
    assert backoff.delay_s(10_000, rng) <= 1.0


async def test_one_for_one_when_child_crashes_then_only_it_restarts_at_same_path(eventually):
    """one_for_one: the crashed child is recreated at its path with a new address, after its backoff."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE)
    try:
        old = runtime.registry.address("sup/b")
        with capture_logs() as logs:
            await _crash(runtime, eventually, "sup/b")
        assert starts == [("sup/b", 1)]
        assert runtime.registry.address("sup/b") != old
        assert runtime.registry.entry("sup/b").restarts == 1
        assert _states(runtime, "sup/b")[-4:] == ["running", "restarting", "starting", "running"]
        events = [e["event"] for e in logs]
        assert events.index("actor_crashed") < events.index("restart_scheduled") < events.index("actor_restarted")
        crashed = next(e for e in logs if e["event"] == "actor_crashed")
        assert crashed["msg_type"] == "crash"
    finally:
        runtime.shutdown()


async def test_one_for_all_when_child_crashes_then_all_restart(eventually):
    """one_for_all: every child restarts, in start order."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ALL)
    try:
        await _crash(runtime, eventually, "sup/b", then="sup/c")
        assert starts == [("sup/a", 1), ("sup/b", 1), ("sup/c", 1)]
    finally:
        runtime.shutdown()


async def test_rest_for_one_when_child_crashes_then_it_and_later_ones_restart(eventually):
    """rest_for_one: the crashed child and those started after it restart."""
    runtime, starts = await _start(RestartStrategy.REST_FOR_ONE)
    try:
        await _crash(runtime, eventually, "sup/b", then="sup/c")
        assert starts == [("sup/b", 1), ("sup/c", 1)]
        assert runtime.registry.entry("sup/a").restarts == 0
    finally:
        runtime.shutdown()


async def test_intensity_when_exceeded_then_supervisor_escalates_and_is_restarted(eventually):
    """Past N restarts in T s the supervisor stops its children, turns escalated, and its parent restarts it."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE, names=("a",), intensity=RestartIntensity(2, 60))
    try:
        with capture_logs() as logs:
            for _ in range(3):
                await _crash(runtime, eventually, "sup/a")
        assert any(e["event"] == "restart_intensity_exceeded" for e in logs)
        assert runtime.registry.entry("sup").restarts == 1
        assert "escalated" in _states(runtime, "sup")
        assert runtime.registry.entry("sup").last_error.error_type == "RestartIntensityExceeded"
        assert runtime.registry.entry("sup/a").state is ActorState.RUNNING
        assert starts[-1] == ("sup/a", 3)  # a restarted subtree recovers like a restarted child
    finally:
        runtime.shutdown()


async def test_root_when_intensity_exceeded_then_escalated_and_reported_to_the_runtime(eventually):
    """A root past its intensity ends escalated, its children stopped, and the runtime records it."""
    runtime = ActorRuntime()
    starts = []
    root = _supervisor(RestartStrategy.ONE_FOR_ONE, RestartIntensity(0, 60))
    start_root(runtime, root, {"children": [ChildSpec("a", Worker, {"starts": starts})]})
    await runtime.wait_idle()
    try:
        runtime.tell_path("a", encode_actor_message("crash", "boom"))
        await eventually(lambda: runtime.root_failure is not None, what="root failure")
        assert runtime.registry.entry("root").state is ActorState.ESCALATED
        assert runtime.registry.entry("a").state is ActorState.STOPPED
    finally:
        runtime.shutdown()


@pytest.mark.parametrize("strategy", list(RestartStrategy))
async def test_restart_when_messages_follow_then_new_instance_handles_them(strategy, eventually):
    """After a restart, messages to the path reach the new instance."""
    runtime, starts = await _start(strategy)
    try:
        await _crash(runtime, eventually, "sup/a", then="sup/a")
        starts.clear()
        await _crash(runtime, eventually, "sup/a", then="sup/a")
        assert ("sup/a", 2) in starts
    finally:
        runtime.shutdown()


async def test_restart_when_backing_off_then_child_is_restarting_and_asks_fail_fast(eventually):
    """During the backoff the path is restarting: asks raise ActorDeadError at once, tells are dropped."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE, backoff=Backoff(base_s=60.0, cap_s=60.0))
    try:
        runtime.tell_path("sup/a", encode_actor_message("crash", "boom"))
        await eventually(lambda: runtime.registry.entry("sup/a").state is ActorState.RESTARTING)
        with pytest.raises(ActorDeadError):
            await runtime.ask("sup/a", encode_actor_message("groupRestarted", "x"))
        assert runtime.tell_path("sup/a", encode_actor_message("groupRestarted", "x")) is False
        assert starts == []
        stats = runtime.registry.entry("sup").instance.statistics()
        assert stats.extra["pending_restarts"] == 1
        ack = await runtime.ask("sup", RestartChild("a"))  # an operator does not wait out the backoff
        assert ack == ChildCommandAck("sup/a", "restart", "restarted")
        await eventually(lambda: _running_with(runtime, "sup/a", 1))
        assert starts == [("sup/a", 1)]
    finally:
        runtime.shutdown()


async def test_on_failure_when_handler_raises_then_runs_before_the_restart(eventually):
    """on_failure gets the exception of the crashed incarnation; last_error survives the restart."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE, names=("a",))
    try:
        await _crash(runtime, eventually, "sup/a")
        entry = runtime.registry.entry("sup/a")
        assert entry.instance.context.args["failures"] == [("sup/a", "boom")]
        stats = entry.instance.statistics()
        assert (stats.last_error.error_type, stats.last_error.message) == ("RuntimeError", "boom")
        assert stats.restarts == 1 and stats.state == "running"
    finally:
        runtime.shutdown()


async def test_poison_message_when_delivery_fails_three_times_then_counts_as_a_crash(eventually):
    """A handler raising past the dispatcher makes Thespian return a PoisonMessage: the child is restarted."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE, names=("a",), worker=PoisonedWorker)
    try:
        with capture_logs() as logs:
            runtime.tell_path("sup/a", encode_actor_message("resyncRequest", "poison"))
            await eventually(lambda: _running_with(runtime, "sup/a", 1), what="restart after poison")
        assert runtime.registry.entry("sup/a").last_error.error_type == "PoisonMessage"
        assert runtime.statistics().poison == 1
        assert any(e["event"] == "message_poisoned" for e in logs)
    finally:
        runtime.shutdown()


async def test_stop_when_child_is_permanent_then_stays_stopped_until_restarted(eventually):
    """A requested stop of a permanent child: stopping → stopped, spec kept; a restart brings it back."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE)
    try:
        ack = await runtime.ask("sup", StopChild("b"))
        assert ack == ChildCommandAck("sup/b", "stop", "stopping")
        await eventually(lambda: runtime.registry.entry("sup/b").state is ActorState.STOPPED)
        assert _states(runtime, "sup/b")[-2:] == ["stopping", "stopped"]
        with pytest.raises(ActorDeadError):
            runtime.registry.address("sup/b")
        await runtime.ask("sup", RestartChild("b"))
        await eventually(lambda: _running_with(runtime, "sup/b", 1))
        assert starts == [("sup/b", 1)]
    finally:
        runtime.shutdown()


async def test_one_for_all_when_a_sibling_was_stopped_on_request_then_it_stays_stopped(eventually):
    """Strategies restart only children that were running: a held child is not started behind the operator."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ALL)
    try:
        await runtime.ask("sup", StopChild("b"))
        await _crash(runtime, eventually, "sup/a", then="sup/c")
        assert [path for path, _ in starts] == ["sup/a", "sup/c"]
        assert runtime.registry.entry("sup/b").state is ActorState.STOPPED
    finally:
        runtime.shutdown()


async def test_stop_when_child_is_transient_then_not_restarted_and_forgotten(eventually):
    """A transient child ends on a requested stop: its spec and path are gone; a crash still restarts it."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE, names=("a", "b"), restart=Restart.TRANSIENT)
    try:
        await _crash(runtime, eventually, "sup/a")
        assert starts == [("sup/a", 1)]
        await runtime.ask("sup", StopChild("b"))
        await eventually(lambda: "sup/b" not in runtime.registry, what="sup/b forgotten")
        assert await runtime.ask("sup", RestartChild("b")) == ChildCommandAck("sup/b", "restart", "unknown_child")
    finally:
        runtime.shutdown()


async def test_crash_when_child_is_temporary_then_removed_not_restarted(eventually):
    """A temporary child that crashes is removed, never restarted."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE, names=("a",), restart=Restart.TEMPORARY)
    try:
        runtime.tell_path("sup/a", encode_actor_message("crash", "boom"))
        await eventually(lambda: "sup/a" not in runtime.registry, what="sup/a removed")
        await runtime.wait_idle()
        assert starts == []
    finally:
        runtime.shutdown()


async def test_stop_when_exit_notice_never_comes_then_stopped_after_shutdown_timeout(eventually):
    """A child whose exit is not confirmed within shutdown_timeout_s is marked stopped anyway (logged)."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE, names=("a",), base=DeafSupervisor,
                                   shutdown_timeout_s=0.05)
    try:
        with capture_logs() as logs:
            await runtime.ask("sup", StopChild("a"))
            assert runtime.registry.entry("sup/a").state is ActorState.STOPPING
            await eventually(lambda: runtime.registry.entry("sup/a").state is ActorState.STOPPED)
        exited = next(e for e in logs if e["event"] == "child_exited")
        assert exited["reason"] == "shutdown_timeout"
    finally:
        runtime.shutdown()
