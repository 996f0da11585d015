"""Drive Thespian's in-process simple base from the asyncio (uvloop) loop.

Thespian's ``simpleSystemBase`` runs actors only inside ``tell``/``ask``/
``listen`` on the calling thread, sleeps with ``time.sleep`` while waiting,
fires ``wakeupAfter`` timers only on a later call and keeps its pending
sends in a list popped with ``pop(0)`` (Thespian 4.0.1 source, ``simpleSystemBase``). The
:class:`ActorRuntime` keeps Thespian's actor model (addresses, ``send``,
``createActor``, ``ActorExitRequest``) and replaces the scheduling:

* pending sends live in a ``collections.deque``; a loop callback pumps them
  in bounded slices (``slice_ms``, default 2 ms) and re-arms itself with
  ``loop.call_soon`` while work is left, so aiohttp and nats-py keep running;
* ``wakeupAfter`` is armed with ``loop.call_later`` (the loop's own timer
  heap), so pending timers cost nothing per message;
* coroutines ``await runtime.ask(...)``: a small proxy actor, reused from a
  pool, resolves a future with the reply;
* plain tells from loop code are sent from a sink actor that drops replies
  (Thespian's external requester would keep them forever) and turns a
  ``PoisonMessage`` (a message that failed three deliveries) into a crash
  report to the failing actor's supervisor;
* ``bytes`` go straight to the live actor's ``receiveMessage`` (Thespian's
  send path for the rest); the pops are counted so that an actor can tell
  whether what it queued earlier was handled (:meth:`ActorRuntime.queued_mark`);
* per-actor mailbox depths are counted from the shared deque when someone
  reads them (:meth:`ActorRuntime.mailbox_depths`), so the pump itself does
  no bookkeeping per message.

Everything runs on the loop thread. Another thread (vn.py's EventEngine)
never touches the runtime directly: it uses ``loop.call_soon_threadsafe``.

Private names of thespian 4.0.1 used here (each covered by
tests/actors/test_runtime.py so an upgrade fails loudly):
``ActorSystem._systemBase``, ``ActorSystemBase._pendingSends``,
``ActorSystemBase._runSingleSend``, ``ActorSystemBase.wakeupAfter``,
``ActorSystemBase.actorRegistry``, ``simpleSystemBase.PendingSend``.
"""

from __future__ import annotations

import asyncio
import collections
import importlib.metadata
import logging
import time
import traceback
from typing import Any

import structlog
from thespian.actors import Actor, ActorAddress, ActorSystem, ChildActorExited, PoisonMessage, WakeupMessage
from thespian.system.simpleSystemBase import PendingSend

from actors._registry import DOWN_STATES, Registry
from actors._stats import RuntimeStatistics
from actors.errors import (
    AskTimeoutError,
    IncompatibleThespianError,
    RuntimeStoppedError,
)

THESPIAN_VERSION = "4.0.1"
"""The Thespian release whose private names this driver was validated on."""

_log = structlog.get_logger("actors.runtime")


def check_thespian_version(found: str | None = None) -> None:
    """Refuse to run on a Thespian other than :data:`THESPIAN_VERSION`.

    Raises:
        IncompatibleThespianError: another version is installed.
    """
    found = found or importlib.metadata.version("thespian")
    if found != THESPIAN_VERSION:
        raise IncompatibleThespianError(found, THESPIAN_VERSION)


# -- HELPER ACTORS: the runtime's own two, on the loop thread inside its pump ---------------------

class AskProxy(Actor):
    """Receives the reply of one coroutine ask and resolves its future."""

    future: asyncio.Future | None = None

    runtime: ActorRuntime | None = None

    def receiveMessage(self, msg: Any, sender: ActorAddress) -> None:
        """Resolve the pending future (loop thread)."""
        if isinstance(msg, PoisonMessage) and self.runtime is not None:
            self.runtime.report_poison(sender, msg)
        future, self.future = self.future, None
        if future is not None and not future.done():
            future.set_result(msg)


class TellSink(Actor):
    """Sender of the runtime's tells: drops replies, reports poison."""

    runtime: ActorRuntime | None = None

    def receiveMessage(self, msg: Any, sender: ActorAddress) -> None:
        """Count a reply nobody waits for; report a PoisonMessage as a crash (loop thread)."""
        if self.runtime is None:
            return
        if isinstance(msg, PoisonMessage):
            self.runtime.report_poison(sender, msg)
        else:
            self.runtime.count_reply_dropped()


# -- THE RUNTIME ----------------------------------------------------------------------------------

class ActorRuntime:
    """Thespian's simple base, pumped by the running asyncio loop.

    Args:
        loop: the loop whose thread runs every actor (default: the running one).
        slice_ms: most time one pump callback spends delivering messages.

    Raises:
        IncompatibleThespianError: Thespian is not :data:`THESPIAN_VERSION`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, slice_ms: float = 2.0) -> None:
        check_thespian_version()
        self.loop = loop or asyncio.get_running_loop()
        self.registry = Registry()
        self._slice_ns = int(slice_ms * 1_000_000)
        self._system = ActorSystem("simpleSystemBase", logDefs=False, transientUnique=True)
        base = self._system._systemBase
        self._base = base
        self._queue: collections.deque = collections.deque(base._pendingSends)
        base._pendingSends = self._queue
        base.wakeupAfter = self._wakeup_after
        self._run_single_send = base._runSingleSend
        self._registry_of_addresses = base.actorRegistry
        self._external = self._system.createActor(TellSink)
        self._base.actorRegistry[self._external.actorAddressString].instance.runtime = self
        self._scheduled = False
        self._stopped = False
        self._proxies: list[ActorAddress] = []
        self.root_failure: Any = None
        self._delivered = self._pumps = self._slices_cut = 0
        self._asks = self._ask_timeouts = self._timers = self._dropped = 0
        self._replies_dropped = self._poison = 0
        self._depths: dict[str, int] = {}
        self._depths_key: tuple[int, int, int] | None = None
        self._interceptor: Any = None
        self._popped = 0
        self.fifo = True
        """No interceptor was ever installed, so messages are delivered in queue order (actors/orders/risk_gate.py)."""

    # -- sending ---------------------------------------------------------

    def tell(self, address: ActorAddress, msg: Any, sender: ActorAddress | None = None) -> None:
        """Queue ``msg`` for ``address`` and make sure a pump runs (loop thread).

        Raises:
            RuntimeStoppedError: after :meth:`shutdown`.
        """
        if self._stopped:
            raise RuntimeStoppedError("actor runtime is shut down")
        self._queue.append(PendingSend(sender or self._external, msg, address))
        self.schedule()

    def tell_path(self, path: str, msg: Any) -> bool:
        """Queue ``msg`` for the actor at ``path``; drop it if that actor is down.

        Returns:
            True if queued, False if the path is unknown, stopped or restarting
            (counted in ``dropped_dead``).
        """
        entry = self.registry.get(path)
        if entry is None or entry.state in DOWN_STATES:
            self._dropped += 1
            return False
        self.tell(entry.address, msg)
        return True

    async def ask(self, path: str, msg: Any, timeout_s: float = 5.0) -> Any:
        """Send ``msg`` to the actor at ``path`` and wait for its reply.

        Never blocks the loop: the reply is delivered by a later pump.

        Args:
            path: actor path, ``"market/group/rb"``.
            msg: the message (Cap'n Proto bytes, or an in-process control value).
            timeout_s: seconds to wait.

        Returns:
            The first message the actor sends back to the asker.

        Raises:
            UnknownPathError: no such path.
            ActorDeadError: the actor is restarting, stopping, stopped or escalated (fails fast).
            AskTimeoutError: no reply within ``timeout_s``.
        """
        address = self.registry.address(path)
        proxy = self._proxies.pop() if self._proxies else self._system.createActor(AskProxy)
        instance = self._base.actorRegistry[proxy.actorAddressString].instance
        instance.runtime = self
        future = self.loop.create_future()
        instance.future = future
        self._asks += 1
        self.tell(address, msg, sender=proxy)
        try:
            reply = await asyncio.wait_for(future, timeout_s)
        except asyncio.TimeoutError:
            # The proxy is retired, not reused: a late reply must not answer a later ask.
            instance.future = None
            self._ask_timeouts += 1
            raise AskTimeoutError(path, timeout_s) from None
        self._proxies.append(proxy)
        return reply

    def call_later(self, delay_s: float, address: ActorAddress, msg: Any) -> asyncio.TimerHandle:
        """Deliver ``msg`` to ``address`` after ``delay_s`` seconds, via the loop's timer heap."""
        self._timers += 1
        return self.loop.call_later(delay_s, self._deliver_timer, address, msg)

    # -- creating --------------------------------------------------------

    def create_top_level(self, actor_class: type) -> ActorAddress:
        """Create an actor directly under the actor system (the root supervisor)."""
        address = self._system.createActor(actor_class)
        self.schedule()
        return address

    def instance(self, address: ActorAddress) -> Actor | None:
        """Return the live actor object at ``address`` (in process), or ``None``."""
        ref = self._base.actorRegistry.get(address.actorAddressString)
        return ref.instance if ref is not None else None

    # -- the pump --------------------------------------------------------

    def schedule(self) -> None:
        """Have the pump deliver the queued messages soon (loop thread).

        For code that queues outside a handler (a bridge draining vn.py's events, :func:`~actors.spawn`): the
        pump runs once per loop turn, never re-entrantly.
        """
        if not self._scheduled and not self._stopped:
            self._scheduled = True
            self.loop.call_soon(self._pump)

    def _pump(self) -> None:
        """Deliver queued messages for at most ``slice_ms`` (loop thread)."""
        self._scheduled = False
        self._pumps += 1
        queue = self._queue
        deadline = time.perf_counter_ns() + self._slice_ns
        delivered = 0
        intercept = self._interceptor
        deliver = self._deliver
        if intercept is None:  # the plain loop: no per-message cost without faults (perf/bench_sim.py)
            while queue:
                pending = queue.popleft()
                self._popped += 1   # before the handler runs: queued_mark() arithmetic
                deliver(pending)
                delivered += 1
                if delivered % 32 == 0 and time.perf_counter_ns() > deadline:
                    break
        else:
            while queue:
                pending = queue.popleft()
                self._popped += 1
                if not intercept(pending):
                    deliver(pending)
                delivered += 1
                if delivered % 32 == 0 and time.perf_counter_ns() > deadline:
                    break
        self._delivered += delivered
        if queue:
            self._slices_cut += 1
            self.schedule()

    def _deliver(self, pending: PendingSend) -> None:
        """Hand one message to its actor: a first delivery of ``bytes`` to a live actor directly (~1 µs, not
        Thespian's ~5 µs of a debug log and address comparisons), the rest through ``_runSingleSend``
        (control values, exits, retries, dead letters). A raising handler gets Thespian's treatment:
        logged, queued again, a ``PoisonMessage`` after three attempts."""
        if pending.attempts or type(pending.msg) is not bytes:
            self._run_single_send(pending)
            if type(pending.msg) is ChildActorExited:
                self._forget_exited(pending.msg.childAddress)
            return
        ref = self._registry_of_addresses.get(pending.toActor.actorAddressString)
        instance = ref.instance if ref is not None else None
        if instance is None:
            self._run_single_send(pending)
            return
        try:
            instance.receiveMessage(pending.msg, pending.sender)
        except Exception:  # noqa: BLE001 - as thespian's _callActorWithMessage
            logging.getLogger("Thespian").warning("Failure of Actor %s during message processing (attempt %s)",
                                                  ref.address, pending.attempts, exc_info=True)
            pending.attempts += 1
            pending.fail_details = traceback.format_exc()
            self._queue.append(pending)

    def _forget_exited(self, address: ActorAddress) -> None:
        """Drop the ``None`` Thespian leaves in its address table for an exited child (~245 bytes each,
        one per closed socket's session otherwise, forever)."""
        key = address.actorAddressString
        if key in self._registry_of_addresses and self._registry_of_addresses[key] is None:
            del self._registry_of_addresses[key]

    def set_interceptor(self, interceptor: Any) -> None:
        """Install a hook that sees every message before delivery, or remove it with ``None`` (loop thread).

        ``interceptor(pending)`` receives Thespian's ``PendingSend`` (``toActor``,
        ``msg``, ``sender``) and returns True when it took the message (dropped
        it, or holds it to :meth:`requeue` later); the pump then skips it.
        sim/harness/faults.py uses it to stall actors and to drop, duplicate, delay or
        corrupt messages on a route. Without a hook the pump runs its plain
        loop (perf/bench_sim.py measures both).
        """
        self._interceptor = interceptor
        if interceptor is not None:
            self.fifo = False

    # -- delivery order ----------------------------------------------------

    def count_dropped(self) -> None:
        """Count one message not sent because its path was down or unknown (``dropped_dead``; loop thread)."""
        self._dropped += 1

    def count_reply_dropped(self) -> None:
        """Count one reply to a tell-only sender that nobody takes (``replies_dropped``; loop thread)."""
        self._replies_dropped += 1

    def queued_mark(self) -> int:
        """Return the mark of the message queued last (pops so far + queue length; loop thread).

        The pump delivers the shared queue in order, so that message is handled
        once :meth:`delivered_through` holds for the mark. Meaningful while :attr:`fifo`.
        """
        return self._popped + len(self._queue)

    def queued(self) -> int:
        """Return how many messages wait in the shared queue now (all actors; loop thread)."""
        return len(self._queue)

    def next_is_for(self, address: ActorAddress) -> bool:
        """Return whether the next message the pump delivers goes to ``address`` (loop thread)."""
        queue = self._queue
        return bool(queue) and queue[0].toActor.actorAddressString == address.actorAddressString

    def delivered_through(self, mark: int) -> bool:
        """Return whether every message queued up to ``mark`` was handled (loop thread, one message at a time)."""
        return self._popped >= mark

    def requeue(self, pending: Any) -> None:
        """Queue a ``PendingSend`` an interceptor held (or copied) for delivery (loop thread)."""
        if self._stopped:
            return
        self._queue.append(pending)
        self.schedule()

    def _wakeup_after(self, address: ActorAddress, period, payload: Any) -> None:
        """Replacement for ``ActorSystemBase.wakeupAfter``: arm the loop's timer."""
        seconds = period.total_seconds() if hasattr(period, "total_seconds") else float(period)
        msg = WakeupMessage(period, payload)
        self.call_later(seconds, address, msg)

    def _deliver_timer(self, address: ActorAddress, msg: Any) -> None:
        if self._stopped:
            return
        self._queue.append(PendingSend(address, msg, address))
        self.schedule()

    def report_poison(self, failed: ActorAddress, poison: PoisonMessage) -> None:
        """Report a message that failed three deliveries as a crash of the actor at ``failed``.

        Thespian retries a message whose handler raised, then returns it to
        its sender as a ``PoisonMessage``; the actor itself is never
        restarted. Here the failing actor's supervisor hears ``ChildFailed``
        and applies its strategy (loop thread).
        """
        from actors._dispatch import ChildFailed  # the dispatcher imports this module

        self._poison += 1
        path = self.registry.path_of(failed)
        entry = self.registry.get(path) if path else None
        details = str(getattr(poison, "details", "") or "").strip().splitlines()
        message = details[-1] if details else f"{type(poison.poisonMessage).__name__} failed 3 deliveries"
        _log.error("message_poisoned", actor_path=path, poisoned_type=type(poison.poisonMessage).__name__,
                   error=message)
        if entry is None or entry.state in DOWN_STATES:
            return
        failure = ChildFailed(path, "PoisonMessage", message, time.time_ns(), failed)
        if entry.parent:
            self.tell_path(entry.parent, failure)
        else:
            self.on_root_failed(failure)

    def on_root_failed(self, failure: Any) -> None:
        """Record that the root supervisor itself crashed or escalated past its intensity."""
        self.root_failure = failure
        _log.critical("root_failed", actor_path=failure.path, error_type=failure.error_type)

    # -- status ----------------------------------------------------------

    def mailbox_depths(self) -> dict[str, int]:
        """Return messages queued per target address string (loop thread).

        Counted from the shared deque when read, not per message: the pump
        stays free of bookkeeping. The count is reused while nothing was
        delivered or queued since (one scan serves a whole admin tree).
        Cost: one pass over the pending messages (perf note in CHANGELOG).
        """
        key = (self._delivered, self._pumps, len(self._queue))
        if key != self._depths_key:
            depths: dict[str, int] = {}
            for pending in self._queue:
                target = pending.toActor.actorAddressString
                depths[target] = depths.get(target, 0) + 1
            self._depths, self._depths_key = depths, key
        return self._depths

    def mailbox_depth(self, address: ActorAddress) -> int:
        """Return how many messages are queued for ``address`` now (loop thread)."""
        return self.mailbox_depths().get(address.actorAddressString, 0)

    def statistics(self) -> RuntimeStatistics:
        """Return the driver's counters now."""
        return RuntimeStatistics(
            pending=len(self._queue),
            delivered=self._delivered,
            pumps=self._pumps,
            slices_cut=self._slices_cut,
            asks=self._asks,
            ask_timeouts=self._ask_timeouts,
            timers_armed=self._timers,
            dropped_dead=self._dropped,
            replies_dropped=self._replies_dropped,
            poison=self._poison,
            thespian_addresses=len(self._registry_of_addresses),
        )

    async def wait_idle(self, timeout_s: float = 5.0) -> None:
        """Wait until no message is queued (tests and shutdown).

        Raises:
            TimeoutError: still busy after ``timeout_s``.
        """
        async with asyncio.timeout(timeout_s):
            while self._queue or self._scheduled:
                await asyncio.sleep(0)

    def shutdown(self) -> None:
        """Stop pumping and shut the actor system down. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._queue.clear()
        self._base._pendingSends = []
        self._system.shutdown()


__all__ = ["ActorRuntime", "RuntimeStatistics", "THESPIAN_VERSION", "check_thespian_version"]
