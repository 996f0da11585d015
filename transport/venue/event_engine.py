"""vn.py's EventEngine, stopped at once, with a direct lane for the order path's events.

vn.py 4.5's ``EventEngine.stop()`` clears its active flag and joins its two
threads: the timer thread, which sleeps a whole ``interval`` (1 s) between
``EVENT_TIMER`` events and notices the flag only when it wakes, and the
dispatcher thread, which waits on its queue with a 1 s timeout. So every
``MainEngine.close()`` took ~1 s doing nothing (measured 0.98 s on this
machine): every desk stop, a SIGTERM'd desk's shutdown, and each of the
hundreds of desks the test suite starts and stops.

:class:`PromptEventEngine` keeps everything else of vn.py's engine (same
queue, same handlers, same ``EVENT_TIMER`` every ``interval`` seconds) and
changes only how it waits: the timer waits on a :class:`threading.Event`
that :meth:`PromptEventEngine.stop` sets, and the stop wakes the dispatcher
with one :data:`EVENT_STOP` event, which no handler is registered for
(general handlers, which tickstage does not use, would see it once, last).

**Direct handlers** (:meth:`PromptEventEngine.register_direct`): vn.py's engine
runs every handler on its one dispatcher thread, in the order of one
unbounded queue, so an order's answer put by a gateway waits behind every
tick queued before it, then for the dispatcher thread to be scheduled and to
take the GIL (vn.py put → handler p99 6–17 ms with a CPU-bound Python thread
in the process, against 26–43 µs quiet, measured for vn.py 4.5 on a 2-core
machine; the order path's share is in perf/README.md). A direct handler is called inside :meth:`~PromptEventEngine.put`
itself, on the thread that puts the event (a gateway's API thread, the
simulator's threads, or the desk's loop inside ``send_order``), before the
event is queued for the dispatcher's handlers, which still get it in vn.py's
order (vn.py's OmsEngine, its apps). A direct handler must be quick,
thread-safe and never raise (wrap it: transport/venue/vnpy_bridge.py
``guarded``); the order bridge's appends to a locked list and wakes the loop
at most once per batch (transport/venue/vnpy_orders.py). Events a gateway puts
from one thread reach a direct handler in that order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from vnpy.event import EVENT_TIMER, Event, EventEngine

EVENT_STOP = "eTickstageStop."
"""The event type that wakes the dispatcher thread at :meth:`PromptEventEngine.stop`: handled by nobody."""


class PromptEventEngine(EventEngine):
    """A vn.py ``EventEngine`` whose ``stop()`` returns as soon as its threads finish the event in hand.

    Args:
        interval: seconds between ``EVENT_TIMER`` events, as vn.py's (default 1).
    """

    def __init__(self, interval: int = 1) -> None:
        super().__init__(interval)
        self._stopping = threading.Event()
        self._direct: dict[str, tuple[Callable[[Event], None], ...]] = {}

    def register_direct(self, event_type: str, handler: Callable[[Event], None]) -> None:
        """Call ``handler(event)`` inside :meth:`put` for every event of ``event_type``, on the putting thread,
        before the dispatcher thread's handlers get it (see the module docstring). Register before the engine's
        gateways start; ``handler`` must be thread-safe and never raise."""
        self._direct[event_type] = (*self._direct.get(event_type, ()), handler)

    def unregister_direct(self, event_type: str, handler: Callable[[Event], None]) -> None:
        """Stop calling ``handler`` for ``event_type`` in :meth:`put` (no error when it was not registered)."""
        left = tuple(h for h in self._direct.get(event_type, ()) if h is not handler)
        if left:
            self._direct[event_type] = left
        else:
            self._direct.pop(event_type, None)

    def put(self, event: Event) -> None:
        """Hand ``event`` to its direct handlers now, then queue it for the dispatcher thread (vn.py's put)."""
        direct = self._direct.get(event.type)
        if direct is not None:
            for handler in direct:
                handler(event)
        self._queue.put(event)

    def _run_timer(self) -> None:
        """Put ``EVENT_TIMER`` every interval until :meth:`stop` (vn.py's loop, with an interruptible wait)."""
        while not self._stopping.wait(self._interval):
            self.put(Event(EVENT_TIMER))

    def stop(self) -> None:
        """Stop both threads and wait for them: the timer at once, the dispatcher after the event in hand."""
        self._stopping.set()
        self._active = False
        self.put(Event(EVENT_STOP))
        if self._timer.is_alive():
            self._timer.join()
        if self._thread.is_alive():
            self._thread.join()
