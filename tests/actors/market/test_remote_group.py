"""RemoteGroupActor (an edge node's stand-in for a group led by an aggregator): what a local client sends it."""

from __future__ import annotations

import pytest

from actors import ActorRuntime, ChildSpec, Supervisor, start_root
from actors._envelope import encode_actor_message
from actors.errors import AskTimeoutError
from actors.market.remote_group import RemoteGroupActor


async def test_remote_group_when_a_page_sends_its_viewport_then_counted_and_not_refused():
    """The page sends ``viewport`` to its group on every scroll; on an edge node the group is a RemoteGroupActor,
    which takes it (counted, not forwarded: the aggregator's frames serve every edge) instead of refusing it with
    a ``failure`` (which its session refused in turn: a failure ping-pong)."""
    asked = []
    runtime = ActorRuntime()
    start_root(runtime, Supervisor, {"children": [ChildSpec("rb", RemoteGroupActor, {
        "group": "rb", "request_snapshot": asked.append})]})
    await runtime.wait_idle()
    try:
        viewport = encode_actor_message("viewport", {"group": "rb", "firstRow": 0, "rowCount": 20}, source="probe")
        with pytest.raises(AskTimeoutError):   # no answer at all, and no failure
            await runtime.ask("rb", viewport, timeout_s=0.3)
        actor = runtime.registry.entry("rb").instance
        assert actor.statistics().unknown == 0 and actor.extra_statistics()["viewports_ignored"] == 1
        assert asked == []   # nothing asked of the aggregator for it
    finally:
        runtime.shutdown()
