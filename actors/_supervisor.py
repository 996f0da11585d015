"""OTP-style supervision on Thespian: child specs, strategies, restart intensity, backoff.

A :class:`Supervisor` starts its children from :class:`ChildSpec`\\s, binds
each at its stable path in the registry, and on :class:`ChildFailed` applies
its :class:`RestartStrategy` (Erlang/OTP ``supervisor``: ``one_for_one``,
``one_for_all``, ``rest_for_one``). A counted restart waits a jittered,
bounded exponential :class:`Backoff` on the loop's timer heap, the children
``restarting`` in the registry meanwhile (asks to them fail fast), so a
crash loop cannot spin. More than ``RestartIntensity.max_restarts``
restarts within ``within_s`` seconds means the supervisor gives up: it stops
its children, turns ``escalated`` and reports the failure to its own
parent, which restarts it (and so its subtree) under its own policy.

Operators send :class:`RestartChild` / :class:`StopChild` (the admin API);
the supervisor answers each with a :class:`ChildCommandAck`. An operator's
restart is immediate and not counted; a requested stop waits for Thespian's
``ChildActorExited`` at most ``ChildSpec.shutdown_timeout_s``.

A restarted child keeps its path (Thespian gives it a new address; the
registry hides that) and gets ``Start(restarts=n)``, from which it recovers
its state. Children may be added at run time (``start_child``; one session
per socket, one group per product) and survive a restart of their
supervisor, because the spec list lives in the supervisor's context.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from thespian.actors import ActorAddress, ActorExitRequest, ChildActorExited

from actors._dispatch import ActorContext, ChildFailed, Start, TickstageActor
from actors._envelope import encode_actor_message
from actors._registry import DOWN_STATES, ActorState
from actors._specs import (
    Backoff,
    ChildCommandAck,
    ChildSpec,
    ExitReason,
    Restart,
    RestartChild,
    RestartIntensity,
    RestartStrategy,
    StopChild,
)
from actors._stats import LastError
from actors.errors import ActorDeadError

ROOT_PATH = "root"
"""Path of the root supervisor; its children's paths omit it (``market``)."""


def child_path(parent: str, name: str) -> str:
    """Return the path of child ``name`` under ``parent`` (``market`` + ``group/rb``)."""
    return name if parent == ROOT_PATH else f"{parent}/{name}"


class Supervisor(TickstageActor):
    """Starts, watches and restarts children. Override the class attributes to tune.

    Context args: ``children`` — a list of :class:`ChildSpec` (kept across
    restarts of this supervisor; ``start_child`` appends to it). After a
    restart of the supervisor every child starts with ``Start(restarts=n+1)``,
    so it recovers its state as after its own restart.
    """

    takes_crash = False   # a supervisor's fault is ``kill`` (RestartChild to its parent), not ``crash``
    strategy: RestartStrategy = RestartStrategy.ONE_FOR_ONE
    intensity: RestartIntensity = RestartIntensity()
    backoff: Backoff = Backoff()

    def on_start(self, restarts: int) -> None:
        """Start every child in spec order (loop thread)."""
        self._restart_times: deque[float] = deque()
        self._specs: list[ChildSpec] = self.context.args.setdefault("children", [])
        self._addresses: dict[str, ActorAddress] = {}  # name → running incarnation
        self._held: set[str] = set()  # permanent children stopped on request
        self._pending: dict[str, int] = {}  # name → backoff timer waiting to restart it
        self._stopping: dict[str, tuple[str, bool, int]] = {}  # address → (name, forget, timer)
        self._timers = itertools.count(1)
        self._rng = random.Random()
        self.restarts_counted = self.restarts_requested = self.escalations = 0
        registry = self.runtime.registry
        for spec in list(self._specs):
            previous = registry.get(child_path(self.path, spec.name))
            self._spawn(spec, previous.restarts + 1 if previous is not None else 0)

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
        """Handle ChildFailed, StopChild, RestartChild and ChildActorExited (loop thread)."""
        if isinstance(msg, ChildFailed):
            self._child_failed(msg)
        elif isinstance(msg, StopChild):
            self.send(sender, self._stop_requested(msg.name))
        elif isinstance(msg, RestartChild):
            self.send(sender, self._restart_requested(msg.name))
        elif isinstance(msg, ChildActorExited):
            self._child_exited(msg.childAddress.actorAddressString, ExitReason.SHUTDOWN)

    def on_stop(self) -> None:
        """Stop every child before this supervisor goes (loop thread)."""
        self._stop_all()

    def on_failure(self, exc: BaseException) -> None:
        """A supervisor's own handler raised: stop its children before its parent restarts it."""
        self._stop_all()

    def _on_timer(self, timer, message, sender: ActorAddress) -> None:
        """A backoff delay ended (``restart``) or a stop took too long (``shutdown``)."""
        if timer.name == "restart":
            self._restart_due(timer.generation)
        elif timer.name == "shutdown":
            for key, (_name, _forget, generation) in list(self._stopping.items()):
                if generation == timer.generation:
                    self._child_exited(key, ExitReason.SHUTDOWN_TIMEOUT)

    def extra_statistics(self) -> dict[str, Any]:
        """Strategy, intensity, children, restarts counted and requested, escalations."""
        return {
            "strategy": self.strategy.value,
            "max_restarts": self.intensity.max_restarts,
            "within_s": self.intensity.within_s,
            "children": len(self._specs),
            "running_children": len(self._addresses),
            "restarts_in_window": len(self._restart_times),
            "pending_restarts": len(self._pending),
            "restarts_counted": self.restarts_counted,
            "restarts_requested": self.restarts_requested,
            "escalations": self.escalations,
        }

    # -- internals -------------------------------------------------------

    def _spec(self, name: str) -> ChildSpec | None:
        return next((s for s in self._specs if s.name == name), None)

    def _spawn(self, spec: ChildSpec, restarts: int = 0) -> str:
        path = child_path(self.path, spec.name)
        address = self.createActor(spec.actor_class)
        self.runtime.registry.bind(path, address, spec.actor_class.__name__, self.path, restarts)
        self._addresses[spec.name] = address
        context = ActorContext(self.runtime, path, self.path, spec.args)
        self.send(address, Start(context, restarts))
        return path

    def _respawn(self, spec: ChildSpec, counted: bool) -> None:
        path = child_path(self.path, spec.name)
        previous = self.runtime.registry.get(path)
        restarts = (previous.restarts if previous else 0) + 1
        self._spawn(spec, restarts)
        self.log.info("actor_restarted", child_path=path, restarts=restarts, counted=counted)

    def _stop_child(self, name: str, state: ActorState) -> ActorAddress | None:
        """Send the running incarnation ``ActorExitRequest``; mark the path ``state``."""
        address = self._addresses.pop(name, None)
        path = child_path(self.path, name)
        entry = self.runtime.registry.get(path)
        if address is not None:
            self.send(address, ActorExitRequest())
            if entry is not None and entry.address == address:
                entry.instance = None
        if entry is not None and entry.parent == self.path:
            self.runtime.registry.set_state(path, state)
        if address is not None:
            self.on_child_down(name, state)
        return address

    def on_child_down(self, name: str, state: ActorState) -> None:
        """Hook: a running child was just told to exit, its path now ``state`` (loop thread).

        ``STOPPING``/``STOPPED``: stopped on request or with this supervisor;
        ``RESTARTING``: it failed, or an operator restarts it. Default: nothing.
        """

    def _stop_all(self) -> None:
        self._pending.clear()
        for spec in reversed(self._specs):
            self._stop_child(spec.name, ActorState.STOPPED)

    def _forget(self, name: str) -> None:
        self._specs[:] = [s for s in self._specs if s.name != name]
        self._held.discard(name)
        self.runtime.registry.unbind(child_path(self.path, name))

    def _stop_requested(self, name: str) -> ChildCommandAck:
        path = child_path(self.path, name)
        spec = self._spec(name)
        if spec is None:
            return ChildCommandAck(path, "stop", "unknown_child")
        self._pending.pop(name, None)
        forget = spec.restart is not Restart.PERMANENT
        if forget:
            self._specs[:] = [s for s in self._specs if s.name != name]
        else:
            self._held.add(name)
        address = self._stop_child(name, ActorState.STOPPING)
        if address is None:
            if forget:
                self._forget(name)
            elif path in self.runtime.registry:
                self.runtime.registry.set_state(path, ActorState.STOPPED)
            return ChildCommandAck(path, "stop", "stopped")
        generation = next(self._timers)
        self._stopping[address.actorAddressString] = (name, forget, generation)
        self.runtime.call_later(spec.shutdown_timeout_s, self.myAddress, encode_actor_message(
            "timer", {"name": "shutdown", "generation": generation}, source=self.path))
        self.log.info("child_stop_requested", child_path=path, forget=forget)
        return ChildCommandAck(path, "stop", "stopping")

    def _child_exited(self, address_key: str, reason: ExitReason) -> None:
        stopping = self._stopping.pop(address_key, None)
        if stopping is None:
            return
        name, forget, _ = stopping
        path = child_path(self.path, name)
        entry = self.runtime.registry.get(path)
        if entry is not None and entry.address.actorAddressString == address_key:
            if forget:
                self._forget(name)
            else:
                self.runtime.registry.set_state(path, ActorState.STOPPED)
        log = self.log.warning if reason is ExitReason.SHUTDOWN_TIMEOUT else self.log.info
        log("child_exited", child_path=path, reason=reason.value)

    def _restart_requested(self, name: str) -> ChildCommandAck:
        path = child_path(self.path, name)
        spec = self._spec(name)
        if spec is None:
            return ChildCommandAck(path, "restart", "unknown_child")
        self._pending.pop(name, None)
        self._held.discard(name)
        self._stop_child(name, ActorState.RESTARTING)
        self.restarts_requested += 1
        self._respawn(spec, counted=False)
        return ChildCommandAck(path, "restart", "restarted")

    def _child_failed(self, failure: ChildFailed) -> None:
        name = next((s.name for s in self._specs if child_path(self.path, s.name) == failure.path), None)
        current = self._addresses.get(name) if name is not None else None
        if current is None or (failure.address is not None and failure.address != current):
            return  # an incarnation already stopped or replaced
        spec = self._spec(name)
        entry = self.runtime.registry.get(failure.path)
        if entry is not None:
            entry.last_error = LastError(failure.error_type, failure.message, failure.ts_ns)
        self.log.warning("child_failed", child_path=failure.path, error_type=failure.error_type,
                         error=failure.message)
        if spec.restart is Restart.TEMPORARY:
            self._stop_child(name, ActorState.STOPPED)
            self._forget(name)
            self.log.info("child_exited", child_path=failure.path, reason=ExitReason.CRASHED.value)
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
        affected = [s for s in affected if s.name not in self._held]
        for s in reversed(affected):
            self._stop_child(s.name, ActorState.RESTARTING)
        delay_s = self.backoff.delay_s(len(self._restart_times), self._rng)
        generation = next(self._timers)
        for s in affected:
            self._pending[s.name] = generation
        self.runtime.call_later(delay_s, self.myAddress, encode_actor_message(
            "timer", {"name": "restart", "generation": generation}, source=self.path))
        self.log.info("restart_scheduled", child_path=failure.path, delay_ms=round(delay_s * 1000, 3),
                      restarts_in_window=len(self._restart_times), affected=[s.name for s in affected])

    def _restart_due(self, generation: int) -> None:
        due = {name for name, pending in self._pending.items() if pending == generation}
        for spec in list(self._specs):
            if spec.name in due and spec.name not in self._addresses:
                del self._pending[spec.name]
                self.restarts_counted += 1
                self._respawn(spec, counted=True)

    def _escalate(self, failure: ChildFailed) -> None:
        self.log.error(
            "restart_intensity_exceeded",
            child_path=failure.path,
            max_restarts=self.intensity.max_restarts,
            within_s=self.intensity.within_s,
        )
        self._stop_all()
        self._crashed = True
        self.escalations += 1
        escalation = ChildFailed(self.path, "RestartIntensityExceeded", f"{failure.path}: {failure.message}",
                                 time.time_ns(), self.myAddress)
        entry = self.runtime.registry.get(self.path)
        if entry is not None and entry.address == self.myAddress:
            entry.last_error = LastError(escalation.error_type, escalation.message, escalation.ts_ns)
            self.runtime.registry.set_state(self.path, ActorState.ESCALATED)
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
        ActorDeadError: that supervisor is restarting, stopped or escalated.
        TypeError: the actor there is not a running :class:`Supervisor`.
    """
    entry = runtime.registry.entry(parent_path)
    supervisor = entry.instance
    if entry.state in DOWN_STATES or getattr(supervisor, "crashed", False):
        raise ActorDeadError(parent_path, entry.state.value)
    if not isinstance(supervisor, Supervisor):
        raise TypeError(f"{parent_path!r} is not a running Supervisor")
    path = supervisor.start_child(spec)
    runtime.schedule()
    return path


def start_root(runtime, actor_class: type, args: Mapping[str, Any] | None = None) -> ActorAddress:
    """Create the root supervisor under the actor system and start it at :data:`ROOT_PATH`."""
    address = runtime.create_top_level(actor_class)
    runtime.registry.bind(ROOT_PATH, address, actor_class.__name__, "")
    runtime.tell(address, Start(ActorContext(runtime, ROOT_PATH, "", dict(args or {}))))
    return address


__all__ = [
    "Backoff",
    "ChildCommandAck",
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
