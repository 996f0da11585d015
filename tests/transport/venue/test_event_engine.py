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


def test_direct_handler_when_dispatcher_is_busy_then_called_on_the_putting_thread_before_put_returns():
    """A direct handler does not wait behind the dispatcher's queue: it runs inside put on the caller's thread
    while the dispatcher thread is held by a slow handler, and the dispatcher's own handlers still get the event,
    after the ones queued before it."""
    engine = PromptEventEngine(interval=3600)
    release, busy = threading.Event(), threading.Event()
    direct, dispatched, done = [], [], threading.Event()

    def slow_tick(event: Event) -> None:
        dispatched.append(event.type)
        busy.set()
        release.wait(10)

    def on_order(event: Event) -> None:
        dispatched.append(event.data)
        done.set()

    engine.register("eTick.", slow_tick)
    engine.register("eOrder.", on_order)
    engine.register_direct("eOrder.", lambda event: direct.append((event.data, threading.get_ident())))
    engine.start()
    try:
        engine.put(Event("eTick."))
        assert busy.wait(10)
        engine.put(Event("eOrder.", "o-1"))
        assert direct == [("o-1", threading.get_ident())]   # before put returned, with the dispatcher held
        assert dispatched == ["eTick."]
        release.set()
        assert done.wait(10)
        assert dispatched == ["eTick.", "o-1"]
    finally:
        release.set()
        engine.stop()


def test_direct_handlers_when_several_registered_then_each_called_once_in_registration_order():
    engine = PromptEventEngine(interval=3600)
    calls = []
    engine.register_direct("eTrade.", lambda event: calls.append(("first", event.data)))
    engine.register_direct("eTrade.", lambda event: calls.append(("second", event.data)))
    engine.put(Event("eTrade.", "t-1"))
    engine.put(Event("eOrder.", "o-1"))   # no direct handler for this type: queued only
    assert calls == [("first", "t-1"), ("second", "t-1")]
    assert engine._queue.qsize() == 2


def test_unregister_direct_when_registered_then_no_longer_called_and_others_stay():
    engine = PromptEventEngine(interval=3600)
    calls = []

    def first(event: Event) -> None:
        calls.append("first")

    engine.register_direct("eOrder.", first)
    engine.register_direct("eOrder.", lambda event: calls.append("second"))
    engine.unregister_direct("eOrder.", first)
    engine.unregister_direct("eTrade.", first)   # never registered: nothing happens
    engine.put(Event("eOrder.", "o-1"))
    assert calls == ["second"]
