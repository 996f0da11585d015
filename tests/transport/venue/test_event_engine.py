"""transport/venue/event_engine.py: vn.py's EventEngine that stops at once, timer events unchanged."""

from __future__ import annotations

import threading

from vnpy.event import EVENT_TIMER, Event

from transport.venue.event_engine import EVENT_STOP, PromptEventEngine


def test_stop_when_timer_interval_is_an_hour_then_returns_with_both_threads_ended():
    """vn.py's own stop would sleep out the hour; this one returns at once (the test's timeout bounds it)."""
    engine = PromptEventEngine(interval=3600)
    engine.start()
    engine.stop()
    assert not engine._thread.is_alive() and not engine._timer.is_alive()


def test_timer_when_running_then_ticks_each_interval_and_none_after_stop():
    engine = PromptEventEngine(interval=0.01)
    ticks, enough = [], threading.Event()

    def on_timer(event: Event) -> None:
        ticks.append(event.type)
        if len(ticks) >= 3:
            enough.set()

    engine.register(EVENT_TIMER, on_timer)
    engine.start()
    assert enough.wait(10)
    engine.stop()
    seen = len(ticks)
    engine._timer.join(0.05)    # a timer that outlived stop would tick again within its 10 ms interval
    assert len(ticks) == seen and set(ticks) == {EVENT_TIMER}


def test_events_when_put_then_handled_and_the_stop_event_is_the_last_a_general_handler_sees():
    engine = PromptEventEngine(interval=3600)
    seen, done = [], threading.Event()
    engine.register("eOrder.", lambda event: done.set())
    engine.register_general(lambda event: seen.append(event.type))
    engine.start()
    engine.put(Event("eOrder.", "o-1"))
    assert done.wait(10)
    engine.stop()
    assert seen == ["eOrder.", EVENT_STOP]


def test_stop_when_never_started_then_returns():
    PromptEventEngine().stop()
