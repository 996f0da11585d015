"""OTP-style supervision on Thespian: child specs, strategies, restart intensity.

A :class:`Supervisor` starts its children from :class:`ChildSpec`\\s, binds
each at its stable path in the registry, and on :class:`ChildFailed` applies
its :class:`RestartStrategy` (Erlang/OTP ``supervisor``: ``one_for_one``,
``one_for_all``, ``rest_for_one``). More than
``RestartIntensity.max_restarts`` restarts within ``within_s`` seconds means
the supervisor gives up: it stops its children and escalates the failure to
its own parent, which restarts it (and so its subtree) under its own policy.

A restarted child keeps its path (Thespian gives it a new address; the
registry hides that) and gets ``Start(restarts=n)``, from which it recovers
its state. Children may be added at run time (``start_child``; one session
per socket, one group per product) and survive a restart of their
supervisor, because the spec list lives in the supervisor's context.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from thespian.actors import ActorAddress, ActorExitRequest

from actors._dispatch import ActorContext, ChildFailed, Start, TickstageActor
from actors._registry import ActorState

ROOT_PATH = "root"
"""Path of the root supervisor; its children's paths omit it (``market``)."""


def child_path(parent: str, name: str) -> str:
    """Return the path of child ``name`` under ``parent`` (``market`` + ``group/rb``)."""
    return name if parent == ROOT_PATH else f"{parent}/{name}"


class RestartStrategy(enum.Enum):
    """Which children restart when one fails (Erlang/OTP supervisor)."""

    ONE_FOR_ONE = "one_for_one"    # only the failed child
    ONE_FOR_ALL = "one_for_all"    # every child
    REST_FOR_ONE = "rest_for_one"  # the failed child and those started after it


class Restart(enum.Enum):
    """When a child is restarted (Erlang/OTP child restart type)."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after a crash (every stop here is by request)
    TEMPORARY = "temporary"  # never: a crashed temporary child is removed


class ExitReason(enum.Enum):
    """Why an actor instance ended."""

    NORMAL = "normal"
    SHUTDOWN = "shutdown"
    CRASHED = "crashed"
    RESTARTED = "restarted"
    ESCALATED = "escalated"


@dataclass(frozen=True)
class RestartIntensity:
    """At most ``max_restarts`` restarts within ``within_s`` seconds, then escalate."""

    max_restarts: int = 3
    within_s: float = 5.0


@dataclass(frozen=True)
class ChildSpec:
    """How to start one child.

    Attributes:
        name: path suffix under the supervisor, ``"group/rb"``.
        actor_class: a :class:`TickstageActor` subclass.
        args: kind-specific settings and in-process handles, passed in its context.
        restart: when to restart it.
    """

    name: str
    actor_class: type
    args: Mapping[str, Any] = field(default_factory=dict)
    restart: Restart = Restart.PERMANENT


@dataclass(frozen=True)
class StopChild:
    """Operator → supervisor: stop the child ``name`` and forget its spec."""

    name: str


@dataclass(frozen=True)
class RestartChild:
    """Operator → supervisor: restart the child ``name`` now (not counted as a crash)."""

    name: str


class Supervisor(TickstageActor):
    """Starts, watches and restarts children. Override the class attributes to tune.

    Context args: ``children`` — a list of :class:`ChildSpec` (kept across
    restarts of this supervisor; ``start_child`` appends to it).
    """

    strategy: RestartStrategy = RestartStrategy.ONE_FOR_ONE
    intensity: RestartIntensity = RestartIntensity()

    def on_start(self, restarts: int) -> None:
        """Start every child in spec order (loop thread)."""
        self._restart_times: deque[float] = deque()
        self._specs: list[ChildSpec] = self.context.args.setdefault("children", [])
        self._addresses: dict[str, ActorAddress] = {}
        for spec in list(self._specs):
            self._spawn(spec)

    def start_child(self, spec: ChildSpec) -> str:
        """Add and start a child now; return its path (loop thread only).

        Callable by this actor's handlers and by loop-thread code outside the
        pump (through :func:`spawn`): Thespian's ``createActor`` is synchronous
        on the simple base, so the child is bound before this returns and
        messages sent to its path afterwards queue behind its ``Start``.
        """
        self._specs.append(spec)
        return self._spawn(spec)

    def on_control(self, msg: Any, sender: ActorAddress) -> None:
        """Handle ChildFailed / StopChild / RestartChild (loop thread)."""
        if isinstance(msg, ChildFailed):
            self._child_failed(msg)
        elif isinstance(msg, StopChild):
            self._stop_child(msg.name, forget=True)
        elif isinstance(msg, RestartChild):
            spec = self._spec(msg.name)
            if spec is not None:
                self._restart([spec], counted=False)

    def on_stop(self) -> None:
        """Stop every child before this supervisor goes (loop thread)."""
        for spec in reversed(self._specs):
            self._stop_child(spec.name, forget=False)

    # -- internals -------------------------------------------------------

    def _spec(self, name: str) -> ChildSpec | None:
        return next((s for s in self._specs if s.name == name), None)

    def _spawn(self, spec: ChildSpec, restarts: int = 0) -> str:
        path = child_path(self.path, spec.name)
        address = self.createActor(spec.actor_class)
        entry = self.runtime.registry.bind(path, address, spec.actor_class.__name__, self.path)
        entry.restarts = restarts
        self._addresses[spec.name] = address
        context = ActorContext(self.runtime, path, self.path, spec.args)
        self.send(address, Start(context, restarts))
        return path

    def _stop_child(self, name: str, forget: bool) -> None:
        address = self._addresses.pop(name, None)
        path = child_path(self.path, name)
        if address is not None:
            self.send(address, ActorExitRequest())
        if path in self.runtime.registry:
            self.runtime.registry.set_state(path, ActorState.STOPPED)
        if forget:
            self._specs[:] = [s for s in self._specs if s.name != name]

    def _child_failed(self, failure: ChildFailed) -> None:
        name = next(
            (s.name for s in self._specs if child_path(self.path, s.name) == failure.path), None
        )
        if name is None:
            return
        spec = self._spec(name)
        self.log.warning("child_failed", child_path=failure.path, error_type=failure.error_type)
        if spec.restart is Restart.TEMPORARY:
            self._stop_child(name, forget=True)
            self.runtime.registry.unbind(failure.path)
            return
        now = time.monotonic()
        self._restart_times.append(now)
        while self._restart_times and now - self._restart_times[0] > self.intensity.within_s:
            self._restart_times.popleft()
        if len(self._restart_times) > self.intensity.max_restarts:
            self._escalate(failure)
            return
        index = self._specs.index(spec)
        if self.strategy is RestartStrategy.ONE_FOR_ONE:
            affected = [spec]
        elif self.strategy is RestartStrategy.ONE_FOR_ALL:
            affected = list(self._specs)
        else:
            affected = self._specs[index:]
        self._restart(affected, counted=True)

    def _restart(self, specs: list[ChildSpec], counted: bool) -> None:
        for spec in reversed(specs):
            self._stop_child(spec.name, forget=False)
        for spec in specs:
            path = child_path(self.path, spec.name)
            previous = self.runtime.registry.get(path)
            restarts = (previous.restarts if previous else 0) + 1
            self._spawn(spec, restarts)
            self.log.info("actor_restarted", child_path=path, restarts=restarts, counted=counted)

    def _escalate(self, failure: ChildFailed) -> None:
        self.log.error(
            "restart_intensity_exceeded",
            child_path=failure.path,
            max_restarts=self.intensity.max_restarts,
            within_s=self.intensity.within_s,
        )
        for spec in reversed(self._specs):
            self._stop_child(spec.name, forget=False)
        self._crashed = True
        escalation = ChildFailed(self.path, "RestartIntensityExceeded", failure.message, time.time_ns())
        if self.context.parent:
            self.send_path(self.context.parent, escalation)
        else:
            self.runtime.on_root_failed(escalation)


def spawn(runtime, parent_path: str, spec: ChildSpec) -> str:
    """Start a child under the supervisor at ``parent_path`` from loop-thread code.

    Returns:
        The child's path.

    Raises:
        UnknownPathError: no supervisor at ``parent_path``.
        TypeError: the actor there is not a running :class:`Supervisor`.
    """
    entry = runtime.registry.entry(parent_path)
    supervisor = entry.instance
    if not isinstance(supervisor, Supervisor):
        raise TypeError(f"{parent_path!r} is not a running Supervisor")
    path = supervisor.start_child(spec)
    runtime._schedule()
    return path




def start_root(runtime, actor_class: type, args: Mapping[str, Any] | None = None) -> ActorAddress:
    """Create the root supervisor under the actor system and start it at :data:`ROOT_PATH`."""
    address = runtime.create_top_level(actor_class)
    runtime.registry.bind(ROOT_PATH, address, actor_class.__name__, "")
    runtime.tell(address, Start(ActorContext(runtime, ROOT_PATH, "", dict(args or {}))))
    return address


__all__ = [
    "ChildSpec",
    "ExitReason",
    "ROOT_PATH",
    "Restart",
    "RestartChild",
    "RestartIntensity",
    "RestartStrategy",
    "StopChild",
    "Supervisor",
    "child_path",
    "spawn",
    "start_root",
]
