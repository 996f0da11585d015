"""statistics() of any actor: state, mailbox depth, rates, handler percentiles, restarts."""

from __future__ import annotations

from actors import ActorRuntime, ChildSpec, Supervisor, TickstageActor, start_root
from actors._envelope import encode_actor_message


class Counter(TickstageActor):
    """Counts ``groupRestarted`` messages."""

    def on_start(self, restarts):
        self.seen = 0

    def _on_group_restarted(self, text, message, sender):
        self.seen += 1

    def extra_statistics(self):
        return {"seen": self.seen}


async def test_statistics_when_messages_queued_then_mailbox_counts_them_until_delivered():
    """Mailbox depth is the number of messages queued for this actor; it drains to 0."""
    runtime = ActorRuntime()
    start_root(runtime, Supervisor, {"children": [ChildSpec("counter", Counter), ChildSpec("other", Counter)]})
    await runtime.wait_idle()
    try:
        actor = runtime.registry.entry("counter").instance
        message = encode_actor_message("groupRestarted", "x")
        for _ in range(5):
            runtime.tell_path("counter", message)
        runtime.tell_path("other", message)
        queued = actor.statistics()
        assert queued.mailbox == 5
        assert runtime.mailbox_depth(runtime.registry.address("other")) == 1
        await runtime.wait_idle()
        stats = actor.statistics()
        assert stats.mailbox == 0
        assert stats.extra == {"seen": 5}
        assert stats.state == "running" and stats.restarts == 0 and stats.last_error is None
        assert stats.messages == 6  # Start and five messages
        assert 0 < stats.handler_ns_p50 <= stats.handler_ns_p99 <= stats.handler_ns_max
    finally:
        runtime.shutdown()


async def test_tell_when_actor_replies_then_reply_is_dropped_and_counted():
    """Replies to plain tells go to the runtime's sink (counted), not into an unbounded list."""
    runtime = ActorRuntime()
    start_root(runtime, Supervisor, {"children": [ChildSpec("counter", Counter)]})
    await runtime.wait_idle()
    try:
        runtime.tell_path("counter", encode_actor_message("socketDrained", None))  # answered with failure
        await runtime.wait_idle()
        assert runtime.statistics().replies_dropped == 1
    finally:
        runtime.shutdown()


async def test_crash_message_when_told_to_any_actor_then_it_restarts_and_supervisors_refuse_it(eventually):
    """The fault hook lives once in the dispatch base: an actor that defines no crash handler of its own still
    raises on ``ActorMessage{crash}`` and restarts under its supervisor; a supervisor refuses it (unknown
    message, counted), its fault being ``kill``."""
    runtime = ActorRuntime()
    start_root(runtime, Supervisor, {"children": [ChildSpec("counter", Counter), ChildSpec(
        "inner", Supervisor, {"children": [ChildSpec("leaf", Counter)]})]})
    await runtime.wait_idle()
    try:
        assert "_on_crash" not in Counter.__dict__ and Counter.takes_crash and not Supervisor.takes_crash
        runtime.tell_path("counter", encode_actor_message("crash", "fault 0"))
        await eventually(lambda: runtime.registry.entry("counter").restarts == 1, what="counter restarted")
        assert runtime.registry.entry("counter").last_error.message == "injected crash: fault 0"
        inner = runtime.registry.entry("inner").instance
        runtime.tell_path("inner", encode_actor_message("crash", "fault 1"))
        await runtime.wait_idle()
        assert inner.statistics().unknown == 1 and runtime.registry.entry("inner").restarts == 0
    finally:
        runtime.shutdown()


async def test_handling_when_inline_call_nested_or_raising_then_the_callers_context_is_restored():
    """An in-line call runs under its own msg_type and correlation id (``handling`` or the ``enter_handling`` /
    ``exit_handling`` pair the rules use per check); the caller's context, and its bound logger, come back after it,
    also when the call raises."""
    runtime = ActorRuntime()
    start_root(runtime, Supervisor, {"children": [ChildSpec("counter", Counter)]})
    await runtime.wait_idle()
    try:
        actor = runtime.registry.entry("counter").instance
        actor.msg_type, actor.correlation_id = "orderCommand", 7
        outer_log = actor.log
        with actor.handling("riskCheck", 9):
            assert (actor.msg_type, actor.correlation_id) == ("riskCheck", 9)
            saved = actor.enter_handling("riskUpdate", 11)
            assert (actor.msg_type, actor.correlation_id) == ("riskUpdate", 11)
            actor.exit_handling(saved)
            assert (actor.msg_type, actor.correlation_id) == ("riskCheck", 9)
        assert (actor.msg_type, actor.correlation_id) == ("orderCommand", 7) and actor.log is outer_log
        try:
            with actor.handling("riskCheck", 9):
                raise ValueError("a raising in-line call")
        except ValueError:
            pass
        assert (actor.msg_type, actor.correlation_id) == ("orderCommand", 7) and actor.log is outer_log
    finally:
        runtime.shutdown()
