"""Supervision: restart at the same path, restart intensity and escalation, strategies."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from actors import (
    ActorRuntime,
    ActorState,
    ChildSpec,
    RestartIntensity,
    RestartStrategy,
    Supervisor,
    TickstageActor,
    start_root,
)
from actors.market.frames import encode_actor_message


class Worker(TickstageActor):
    """Crashes on ``crash``; records its starts in a shared list."""

    def on_start(self, restarts):
        self.context.args["starts"].append((self.path, restarts))

    def _on_crash(self, text, message, sender):
        raise RuntimeError(text)


def _supervisor(strategy, intensity=RestartIntensity(3, 60)):
    return type(f"Sup_{strategy.value}", (Supervisor,), {"strategy": strategy, "intensity": intensity})


async def _start(strategy, names=("a", "b", "c"), intensity=RestartIntensity(3, 60)):
    runtime = ActorRuntime()
    starts = []
    children = [ChildSpec(n, Worker, {"starts": starts}) for n in names]
    sup = ChildSpec("sup", _supervisor(strategy, intensity), {"children": children})
    start_root(runtime, Supervisor, {"children": [sup]})
    await runtime.wait_idle()
    starts.clear()
    return runtime, starts


async def _crash(runtime, path):
    runtime.tell_path(path, encode_actor_message("crash", "boom"))
    await runtime.wait_idle()


async def test_one_for_one_when_child_crashes_then_only_it_restarts_at_same_path():
    """one_for_one: the crashed child is recreated at its path with a new address."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE)
    try:
        old = runtime.registry.address("sup/b")
        with capture_logs() as logs:
            await _crash(runtime, "sup/b")
        assert starts == [("sup/b", 1)]
        assert runtime.registry.address("sup/b") != old
        assert runtime.registry.entry("sup/b").restarts == 1
        assert runtime.registry.entry("sup/b").state is ActorState.RUNNING
        assert any(e["event"] == "actor_crashed" for e in logs)
    finally:
        runtime.shutdown()


async def test_one_for_all_when_child_crashes_then_all_restart():
    """one_for_all: every child restarts, in start order."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ALL)
    try:
        await _crash(runtime, "sup/b")
        assert starts == [("sup/a", 1), ("sup/b", 1), ("sup/c", 1)]
    finally:
        runtime.shutdown()


async def test_rest_for_one_when_child_crashes_then_it_and_later_ones_restart():
    """rest_for_one: the crashed child and those started after it restart."""
    runtime, starts = await _start(RestartStrategy.REST_FOR_ONE)
    try:
        await _crash(runtime, "sup/b")
        assert starts == [("sup/b", 1), ("sup/c", 1)]
    finally:
        runtime.shutdown()


async def test_intensity_when_exceeded_then_supervisor_escalates_and_is_restarted():
    """Past N restarts in T s the supervisor stops its children and its parent restarts it."""
    runtime, starts = await _start(RestartStrategy.ONE_FOR_ONE, names=("a",), intensity=RestartIntensity(2, 60))
    try:
        with capture_logs() as logs:
            for _ in range(3):
                await _crash(runtime, "sup/a")
        assert any(e["event"] == "restart_intensity_exceeded" for e in logs)
        assert runtime.registry.entry("sup").restarts == 1
        assert runtime.registry.entry("sup/a").state is ActorState.RUNNING
        assert starts[-1] == ("sup/a", 0) or starts[-1][0] == "sup/a"
    finally:
        runtime.shutdown()


@pytest.mark.parametrize("strategy", list(RestartStrategy))
async def test_restart_when_messages_follow_then_new_instance_handles_them(strategy):
    """After a restart, messages to the path reach the new instance."""
    runtime, starts = await _start(strategy)
    try:
        await _crash(runtime, "sup/a")
        starts.clear()
        await _crash(runtime, "sup/a")
        assert ("sup/a", 2) in starts
    finally:
        runtime.shutdown()
