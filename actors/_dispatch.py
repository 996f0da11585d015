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
restart strategy. ``on_stop`` runs on ``ActorExitRequest``.

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
from actors._registry import ActorState

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
        error_type: exception class name.
        message: ``str(exception)``.
        ts_ns: when, ns since UNIX epoch.
    """

    path: str
    error_type: str
    message: str
    ts_ns: int


@dataclass(frozen=True)
class LastError:
    """The last crash or failure of an actor: type, message, ns since epoch."""

    error_type: str
    message: str
    ts_ns: int


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
        last_error: last crash, or ``None``.
        extra: the kind's own figures (frames, rows, bytes ...).
    """

    path: str
    kind: str
    messages: int
    unknown: int
    handler_ns_total: int
    handler_ns_max: int
    last_error: LastError | None
    extra: Mapping[str, Any]


class TickstageActor(Actor):
    """Base class: Start handling, ``which()`` dispatch, crash reporting.

    Subclasses define ``_on_<member>(self, body, message, sender)`` for the
    ``ActorMessage`` members they take and may override ``on_start``,
    ``on_stop``, ``on_control`` and ``extra_statistics``. Every hook runs on
    the loop thread, inside the runtime's pump.
    """

    _handlers: ClassVar[dict[str, Callable]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._handlers = {
            member: getattr(cls, handler_name(member))
            for member in schemas.actor.ActorMessage.schema.union_fields
            if hasattr(cls, handler_name(member))
        }

    def __init__(self) -> None:
        super().__init__()
        self.context: ActorContext | None = None
        self.path = ""
        self.log = structlog.get_logger("actors")
        self._crashed = False
        self._messages = self._unknown = 0
        self._handler_ns_total = self._handler_ns_max = 0
        self._last_error: LastError | None = None
        self.current_bytes = b""
        """The raw bytes of the message being handled (for numpy column views)."""

    # -- hooks -----------------------------------------------------------

    def on_start(self, restarts: int) -> None:
        """Run once after :class:`Start` (loop thread). ``restarts`` > 0 after a crash."""

    def on_stop(self) -> None:
        """Run once before Thespian removes the actor (loop thread)."""

    def on_control(self, msg: Any, sender: ActorAddress) -> None:
        """Handle an in-process control value (loop thread); default: ignore it."""

    def extra_statistics(self) -> Mapping[str, Any]:
        """Return the kind's own figures for :meth:`statistics`."""
        return {}

    # -- helpers for subclasses -------------------------------------------

    @property
    def runtime(self) -> ActorRuntime:
        """The driver that runs this actor."""
        assert self.context is not None
        return self.context.runtime

    def send_path(self, path: str, msg: Any) -> bool:
        """Send to the actor currently at ``path``; False if it is down (counted)."""
        entry = self.runtime.registry.get(path)
        if entry is None or entry.state in (ActorState.STOPPED, ActorState.RESTARTING):
            self.runtime._dropped += 1
            return False
        self.send(entry.address, msg)
        return True

    def statistics(self) -> ActorStatistics:
        """Return this actor's counters now."""
        return ActorStatistics(
            path=self.path,
            kind=type(self).__name__,
            messages=self._messages,
            unknown=self._unknown,
            handler_ns_total=self._handler_ns_total,
            handler_ns_max=self._handler_ns_max,
            last_error=self._last_error,
            extra=dict(self.extra_statistics()),
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
            elif isinstance(msg, (ChildActorExited, WakeupMessage, PoisonMessage)):
                self.on_control(msg, sender)
            else:
                self.on_control(msg, sender)
        except Exception as exc:  # noqa: BLE001 - a crash is reported, not raised
            self._crash(exc)
        finally:
            elapsed = time.perf_counter_ns() - started
            self._messages += 1
            self._handler_ns_total += elapsed
            if elapsed > self._handler_ns_max:
                self._handler_ns_max = elapsed

    def _start(self, start: Start) -> None:
        self.context = start.context
        self.path = start.context.path
        self.log = structlog.get_logger("actors").bind(actor_path=self.path)
        entry = self.runtime.registry.get(self.path)
        if entry is not None:
            entry.instance = self
            entry.state = ActorState.RUNNING
        self.on_start(start.restarts)

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
            handler = self._handlers.get(member)
            if handler is None:
                self._on_unknown(member, sender)
                return
            self.current_bytes = data
            handler(self, getattr(message, member), message, sender)
        finally:
            self.current_bytes = b""
            opened.__exit__(None, None, None)

    def _on_unknown(self, member: str, sender: ActorAddress) -> None:
        """Count a message this actor does not take and reply ``failure`` to its sender."""
        self._unknown += 1
        self.log.warning("message_refused", msg_type=member)
        reply = schemas.actor.ActorMessage.new_message(
            failure={"code": "unknown_message", "message": f"{type(self).__name__} does not take {member}"},
            source=self.path,
            sentTsNs=time.time_ns(),
        )
        self.send(sender, reply.to_bytes())

    def _crash(self, exc: BaseException) -> None:
        self._crashed = True
        self._last_error = LastError(type(exc).__name__, str(exc), time.time_ns())
        self.log.error("actor_crashed", error_type=type(exc).__name__, exc_info=exc)
        if self.context is None:
            return
        failure = ChildFailed(self.path, type(exc).__name__, str(exc), time.time_ns())
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
