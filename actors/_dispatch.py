"""The base of every tickstage actor: start, dispatch on ``which()``, crash.

Thespian dispatches on the Python class, and every pycapnp reader shares one
class, so :class:`TickstageActor` opens each ``bytes`` message as an
``ActorMessage`` (schemas/actor.capnp) and dispatches on the union's
``which()`` through a table built once per class: member ``tickBatch`` goes
to ``_on_tick_batch(body, message, sender)``. An unknown member goes to
``_on_unknown``, which counts it and replies ``failure``; it never raises.

Lifecycle (OTP semantics, pykka's hook names): the supervisor creates the
actor and sends :class:`Start`; ``on_start`` runs; an exception escaping a
handler is a crash: it is logged with its traceback, the actor stops taking
messages and its supervisor hears :class:`ChildFailed` and applies its
restart strategy (after ``on_failure`` ran). ``on_stop`` runs on
``ActorExitRequest``. A ``PoisonMessage`` (Thespian's word for a message
that failed three deliveries at its target) counts as a crash of that target.

Every message is metered (:class:`actors._stats.ActorMeter`: a fixed ring
of handler times and per-second counts); :meth:`TickstageActor.statistics`
turns that, the registry entry and the runtime's mailbox count into one
frozen :class:`ActorStatistics`.

Correlation: while a handler runs, :attr:`TickstageActor.correlation_id` is
the message's ``ActorMessage.correlationId`` (0: none) and
:attr:`TickstageActor.log` is bound with ``actor_path``, ``msg_type`` and
``correlation_id`` (``None`` when 0), so every log line about a client's
command carries its id, crash lines included. A handler that learns the
command behind a message from its own state (an order event of an order)
adopts that command's id with :meth:`TickstageActor.adopt_correlation`; an
actor called in-line by another one's handler takes the caller's id for the
call with :meth:`TickstageActor.handling`. Messages caused by a command carry
its id (``encode_actor_message(..., correlation_id=self.correlation_id)``).

Only in-process control values (``Start``, ``ChildFailed``, supervisor
commands) are Python objects; everything else is Cap'n Proto bytes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import capnp
import structlog
from thespian.actors import (
    Actor,
    ActorAddress,
    ActorExitRequest,
    ChildActorExited,
    PoisonMessage,
    WakeupMessage,
)

import schemas
from actors._registry import DOWN_STATES, ActorState
from actors._stats import ActorMeter, LastError

if TYPE_CHECKING:
    from actors._runtime import ActorRuntime

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def handler_name(member: str) -> str:
    """Return the handler method name of a union member: ``tickBatch`` → ``_on_tick_batch``."""
    return "_on_" + _CAMEL.sub("_", member).lower()


@dataclass(frozen=True)
class ActorContext:
    """Everything an actor gets at start (in process only).

    Attributes:
        runtime: the driver; for timers (``call_later``) and path lookups.
        path: this actor's stable path, ``"market/group/rb"``.
        parent: the supervisor's path (``""`` for the root).
        args: kind-specific settings and in-process handles.
    """

    runtime: ActorRuntime
    path: str
    parent: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Start:
    """Supervisor → new child: your context; ``restarts`` > 0 after a crash."""

    context: ActorContext
    restarts: int = 0


@dataclass(frozen=True)
class ChildFailed:
    """Child → supervisor: I crashed (or a subtree escalated).

    Attributes:
        path: the failed actor's path.
        error_type: exception class name (``"PoisonMessage"``, ``"RestartIntensityExceeded"``).
        message: ``str(exception)``.
        ts_ns: when, ns since UNIX epoch.
        address: the failed incarnation's address; a supervisor ignores a
            report about an incarnation it already replaced.
    """

    path: str
    error_type: str
    message: str
    ts_ns: int
    address: Any = None


@dataclass(frozen=True)
class ActorStatistics:
    """Counters every actor exposes (``statistics()``).

    Attributes:
        path: actor path.
        kind: class name.
        messages: messages handled since start of this incarnation.
        unknown: messages with an unknown union member or undecodable bytes.
        handler_ns_total: time spent in handlers, ns.
        handler_ns_max: slowest handler, ns.
        last_error: last crash at this path (kept across restarts), or ``None``.
        extra: the kind's own figures (frames, rows, bytes ...).
        state: lifecycle state name (``"running"``, ``"restarting"`` ...).
        restarts: times this path was restarted.
        mailbox: messages queued for this actor now.
        msgs_per_s_1s: messages handled in the last complete second.
        msgs_per_s_1m: messages/s averaged over the last minute.
        handler_ns_p50: median handler time of the last 256 messages, ns.
        handler_ns_p99: 99th percentile of the same, ns.
    """

    path: str
    kind: str
    messages: int
    unknown: int
    handler_ns_total: int
    handler_ns_max: int
    last_error: LastError | None
    extra: Mapping[str, Any]
    state: str = "running"
    restarts: int = 0
    mailbox: int = 0
    msgs_per_s_1s: float = 0.0
    msgs_per_s_1m: float = 0.0
    handler_ns_p50: int = 0
    handler_ns_p99: int = 0


class _Handling:
    """The context manager of :meth:`TickstageActor.handling` (loop thread)."""

    __slots__ = ("_actor", "_msg_type", "_correlation_id", "_saved")

    def __init__(self, actor: TickstageActor, msg_type: str, correlation_id: int) -> None:
        self._actor, self._msg_type, self._correlation_id = actor, msg_type, correlation_id
        self._saved: tuple = ()

    def __enter__(self) -> None:
        self._saved = self._actor.enter_handling(self._msg_type, self._correlation_id)

    def __exit__(self, *exc_info: object) -> bool:
        self._actor.exit_handling(self._saved)
        return False


class TickstageActor(Actor):
    """Base class: Start handling, ``which()`` dispatch, crash reporting.

    Subclasses define ``_on_<member>(self, body, message, sender)`` for the
    ``ActorMessage`` members they take and may override ``on_start``,
    ``on_stop``, ``on_failure``, ``on_control`` and ``extra_statistics``.
    Every hook runs on the loop thread, inside the runtime's pump.
    """

    _handlers: ClassVar[dict[str, Callable]] = {}
    takes_crash: ClassVar[bool] = True
    """Whether ``ActorMessage{crash}`` (fault injection) makes this actor raise; supervisors set False (a
    supervisor's fault is ``kill``: its parent restarts the subtree)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {
            member: getattr(cls, handler_name(member))
            for member in schemas.actor.ActorMessage.schema.union_fields
            if hasattr(cls, handler_name(member)) and (member != "crash" or cls.takes_crash)
        }

    def __init__(self) -> None:
        super().__init__()
        self.context: ActorContext | None = None
        self.path = ""
        self._base_log = structlog.get_logger("actors")
        self._message_log = None
        self.msg_type = ""
        """The union member of the message being handled (``""`` outside a handler)."""
        self.correlation_id = 0
        """The correlation id of the command behind the message being handled (0: none), UInt64."""
        self._crashed = False
        self._messages = self._unknown = 0
        self._handler_ns_total = self._handler_ns_max = 0
        self._last_error: LastError | None = None
        self._meter = ActorMeter()
        self._failed_message: tuple[str, int] = ("", 0)
        self.current_bytes = b""
        """The raw bytes of the message being handled (for numpy column views)."""

    # -- hooks -----------------------------------------------------------

    def on_start(self, restarts: int) -> None:
        """Run once after :class:`Start` (loop thread). ``restarts`` > 0 after a crash."""

    def on_stop(self) -> None:
        """Run once before Thespian removes the actor (loop thread)."""

    def on_failure(self, exc: BaseException) -> None:
        """Run once when a handler raised, before the supervisor hears of it (loop thread).

        The actor takes no more messages afterwards; release what must not
        wait for the restart here. Source: pykka ``Actor.on_failure``.
        """

    def on_control(self, msg: Any, sender: ActorAddress) -> None:
        """Handle an in-process control value (loop thread); default: ignore it."""

    def extra_statistics(self) -> Mapping[str, Any]:
        """Return the kind's own figures for :meth:`statistics`."""
        return {}

    def _on_crash(self, text: str, message, sender: ActorAddress) -> None:
        """Fault injection, defined once for every actor: raise inside the handler (loop thread).

        The raise is an ordinary crash: logged, ``on_failure``, ``ChildFailed`` to the supervisor.

        Raises:
            RuntimeError: always, ``injected crash: <text>``.
        """
        raise RuntimeError(f"injected crash: {text}")

    # -- helpers for subclasses -------------------------------------------

    @property
    def log(self):
        """structlog logger bound with ``actor_path``, and inside a handler ``msg_type`` and ``correlation_id``.

        Bound lazily, once per message, when the handler first logs (the hot path logs nothing).
        """
        log = self._message_log
        if log is None:
            log = self._base_log
            if self.msg_type or self.correlation_id:
                log = log.bind(msg_type=self.msg_type, correlation_id=self.correlation_id or None)
            self._message_log = log
        return log

    def adopt_correlation(self, correlation_id: int) -> None:
        """Make ``correlation_id`` (UInt64, 0: none) the current message's for the rest of the handler.

        For a message whose cause this actor knows from its own state: an order
        event carries no id, but the order's submission had one.
        """
        if correlation_id != self.correlation_id:
            self.correlation_id = correlation_id
            self._message_log = None

    def handling(self, msg_type: str, correlation_id: int) -> _Handling:
        """Run an in-line call (another actor's handler calling a method of this one) as if handling
        ``msg_type`` with ``correlation_id``; the previous context is restored after it (loop thread).

        A context manager. A plain class rather than ``contextlib.contextmanager``: the order path enters it once
        per rule per order (16 in-line checks), where a generator-based one cost ~1.3 µs against ~0.2 µs
        (perf/bench_orders.py, stage ``rules``). :meth:`enter_handling` / :meth:`exit_handling` are the same pair
        without the object, for the hottest callers."""
        return _Handling(self, msg_type, correlation_id)

    def enter_handling(self, msg_type: str, correlation_id: int) -> tuple:
        """Start handling as :meth:`handling` does; return the context to give :meth:`exit_handling` (loop thread)."""
        saved = (self.msg_type, self.correlation_id, self._message_log)
        self.msg_type, self.correlation_id, self._message_log = msg_type, correlation_id, None
        return saved

    def exit_handling(self, saved: tuple) -> None:
        """Restore the context :meth:`enter_handling` returned (loop thread; call it in a ``finally``)."""
        self.msg_type, self.correlation_id, self._message_log = saved

    @property
    def crashed(self) -> bool:
        """Whether this instance crashed and waits for its supervisor to restart it (it handles nothing more)."""
        return self._crashed

    @property
    def runtime(self) -> ActorRuntime:
        """The driver that runs this actor."""
        assert self.context is not None
        return self.context.runtime

    def send_path(self, path: str, msg: Any) -> bool:
        """Send to the actor currently at ``path``; False if it is down (counted)."""
        entry = self.runtime.registry.get(path)
        if entry is None or entry.state in DOWN_STATES:
            self.runtime.count_dropped()
            return False
        self.send(entry.address, msg)
        return True

    def statistics(self) -> ActorStatistics:
        """Return this actor's counters now (loop thread; reads, never waits)."""
        entry = self.runtime.registry.get(self.path) if self.context is not None else None
        mine = entry is not None and entry.address == self.myAddress
        per_1s, per_1m = self._meter.rates(time.perf_counter_ns())
        p50, p99 = self._meter.percentiles()
        return ActorStatistics(
            path=self.path,
            kind=type(self).__name__,
            messages=self._messages,
            unknown=self._unknown,
            handler_ns_total=self._handler_ns_total,
            handler_ns_max=self._handler_ns_max,
            last_error=(entry.last_error if entry is not None else None) or self._last_error,
            extra=dict(self.extra_statistics()),
            state=entry.state.value if mine else ("stopped" if self.context is not None else "starting"),
            restarts=entry.restarts if entry is not None else 0,
            mailbox=self.runtime.mailbox_depth(self.myAddress) if self.context is not None else 0,
            msgs_per_s_1s=per_1s,
            msgs_per_s_1m=per_1m,
            handler_ns_p50=p50,
            handler_ns_p99=p99,
        )

    # -- Thespian entry point --------------------------------------------

    def receiveMessage(self, msg: Any, sender: ActorAddress) -> None:
        """Thespian entry point (loop thread, inside the runtime's pump)."""
        if self._crashed:
            return
        started = time.perf_counter_ns()
        try:
            if isinstance(msg, bytes):
                self._dispatch(msg, sender)
            elif isinstance(msg, Start):
                self._start(msg)
            elif isinstance(msg, ActorExitRequest):
                self.on_stop()
            elif isinstance(msg, PoisonMessage):
                if self.context is not None:
                    self.runtime.report_poison(sender, msg)
                self.on_control(msg, sender)
            else:
                self.on_control(msg, sender)  # ChildActorExited, WakeupMessage, control values
        except Exception as exc:  # noqa: BLE001 - a crash is reported, not raised
            self._crash(exc)
        finally:
            elapsed = time.perf_counter_ns() - started
            self._messages += 1
            self._handler_ns_total += elapsed
            if elapsed > self._handler_ns_max:
                self._handler_ns_max = elapsed
            self._meter.record(started, elapsed)

    def _start(self, start: Start) -> None:
        self.context = start.context
        self.path = start.context.path
        self._base_log = structlog.get_logger("actors").bind(actor_path=self.path)
        self._message_log = None
        entry = self.runtime.registry.get(self.path)
        mine = entry is not None and entry.address == self.myAddress
        if mine:
            entry.instance = self
        self.on_start(start.restarts)
        if mine and entry.state is ActorState.STARTING:
            self.runtime.registry.set_state(self.path, ActorState.RUNNING)

    def _dispatch(self, data: bytes, sender: ActorAddress) -> None:
        try:
            opened = schemas.actor.ActorMessage.from_bytes(
                data,
                traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                nesting_limit=schemas.NESTING_LIMIT,
            )
            message = opened.__enter__()
        except (capnp.KjException, ValueError) as exc:
            self._on_unknown(f"undecodable ({exc.__class__.__name__})", sender)
            return
        try:
            try:
                member = message.which()
            except (capnp.KjException, ValueError):
                member = "?"
            self.msg_type, self.correlation_id, self._message_log = member, message.correlationId, None
            handler = self._handlers.get(member)
            if handler is None:
                self._on_unknown(member, sender)
                return
            self.current_bytes = data
            try:
                handler(self, getattr(message, member), message, sender)
            except Exception:
                self._failed_message = (member, self.correlation_id)  # the reader dies below
                raise
        finally:
            self.current_bytes = b""
            self.msg_type, self.correlation_id, self._message_log = "", 0, None
            opened.__exit__(None, None, None)

    def _on_unknown(self, member: str, sender: ActorAddress) -> None:
        """Count a message this actor does not take and reply ``failure`` to its sender.

        A refused ``failure`` is only counted and logged, never answered: two actors that each refuse the
        other's message would otherwise trade ``failure`` replies for ever (a hot loop on both mailboxes)."""
        self._unknown += 1
        self.log.warning("message_refused", msg_type=member)
        if member == "failure":
            return
        reply = schemas.actor.ActorMessage.new_message(
            failure={"code": "unknown_message", "message": f"{type(self).__name__} does not take {member}"},
            source=self.path,
            sentTsNs=time.time_ns(),
            correlationId=self.correlation_id,
        )
        self.send(sender, reply.to_bytes())

    def _crash(self, exc: BaseException) -> None:
        self._crashed = True
        now = time.time_ns()
        self._last_error = LastError(type(exc).__name__, str(exc), now)
        msg_type, correlation_id = self._failed_message if self._failed_message[0] else (
            self.msg_type, self.correlation_id)  # an in-line call (handling()) or a post-handler step
        self.log.error("actor_crashed", error_type=type(exc).__name__, msg_type=msg_type or None,
                       correlation_id=correlation_id or None, exc_info=exc)
        if self.context is None:
            return
        entry = self.runtime.registry.get(self.path)
        if entry is not None and entry.address == self.myAddress:
            entry.last_error = self._last_error
        try:
            self.on_failure(exc)
        except Exception as hook_exc:  # noqa: BLE001 - the crash is reported regardless
            self.log.error("failure_hook_failed", error_type=type(hook_exc).__name__, exc_info=hook_exc)
        failure = ChildFailed(self.path, type(exc).__name__, str(exc), now, self.myAddress)
        if self.context.parent:
            self.send_path(self.context.parent, failure)
        else:
            self.runtime.on_root_failed(failure)


__all__ = [
    "ActorContext",
    "ActorStatistics",
    "ChildFailed",
    "LastError",
    "Start",
    "TickstageActor",
    "handler_name",
]
