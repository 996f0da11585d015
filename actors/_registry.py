"""Stable actor paths resolved to the current Thespian address.

Thespian 4.0.1 gives a recreated actor a new address (measured on its simple base), so
nobody holds an address for long: senders name a path
(``market/group/rb``) and the registry resolves it at send time. A
supervisor rebinds the path when it restarts the child. What belongs to the
path rather than to one incarnation (restart count, last error, the recent
state transitions) survives a rebind. Used on the loop thread only.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from dataclasses import dataclass, field

from thespian.actors import ActorAddress

from actors._stats import LastError
from actors.errors import ActorDeadError, UnknownPathError

TRANSITIONS_KEPT = 16
"""State transitions remembered per path (for the admin tree)."""


class ActorState(enum.Enum):
    """Lifecycle state of the actor at a path.

    ``starting`` (created, ``Start`` queued) → ``running`` → on a crash
    ``restarting`` (stopped, waiting out the backoff) → ``starting`` …; on a
    requested stop ``stopping`` → ``stopped``; a supervisor past its restart
    intensity is ``escalated`` until its own parent restarts it.
    """

    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ESCALATED = "escalated"


DOWN_STATES = frozenset({ActorState.RESTARTING, ActorState.STOPPING, ActorState.STOPPED, ActorState.ESCALATED})
"""States in which sends to the path are dropped and asks fail fast."""


@dataclass
class RegistryEntry:
    """What the registry knows of one path.

    Attributes:
        path: ``"market/group/rb"``.
        address: current Thespian address.
        kind: actor class name, ``"GroupActor"``.
        parent: parent path (``""`` for the root).
        state: lifecycle state (change it with :meth:`Registry.set_state`).
        restarts: times the supervisor recreated it.
        instance: the live actor object (in process only), for ``statistics()``;
            ``None`` while stopped or restarting.
        last_error: the last crash at this path, kept across restarts.
        transitions: the last :data:`TRANSITIONS_KEPT` ``(state, restarts,
            UNIX timestamp ns)`` changes, oldest first.
    """

    path: str
    address: ActorAddress
    kind: str
    parent: str
    state: ActorState = ActorState.STARTING
    restarts: int = 0
    instance: object | None = field(default=None, repr=False)
    last_error: LastError | None = None
    transitions: deque = field(default_factory=lambda: deque(maxlen=TRANSITIONS_KEPT), repr=False)


class Registry:
    """Path → current address of every live actor."""

    def __init__(self) -> None:
        self._entries: dict[str, RegistryEntry] = {}
        self._paths: dict[str, str] = {}  # address string → path

    def bind(self, path: str, address: ActorAddress, kind: str, parent: str,
             restarts: int | None = None) -> RegistryEntry:
        """Bind ``path`` to a (new) address in state ``starting``, keeping what belongs to the path.

        Args:
            restarts: the path's restart count from now on (default: kept).
        """
        previous = self._entries.get(path)
        entry = RegistryEntry(path, address, kind, parent)
        if previous is not None:
            entry.restarts = previous.restarts
            entry.last_error = previous.last_error
            entry.transitions = previous.transitions
            self._paths.pop(previous.address.actorAddressString, None)
        if restarts is not None:
            entry.restarts = restarts
        self._entries[path] = entry
        self._paths[address.actorAddressString] = path
        entry.transitions.append((entry.state.value, entry.restarts, time.time_ns()))
        return entry

    def entry(self, path: str) -> RegistryEntry:
        """Return the entry of ``path``.

        Raises:
            UnknownPathError: nothing was ever bound there.
        """
        try:
            return self._entries[path]
        except KeyError:
            raise UnknownPathError(path) from None

    def get(self, path: str) -> RegistryEntry | None:
        """Return the entry of ``path`` or ``None``."""
        return self._entries.get(path)

    def path_of(self, address: ActorAddress) -> str | None:
        """Return the path currently bound to ``address``, or ``None``."""
        return self._paths.get(address.actorAddressString)

    def address(self, path: str) -> ActorAddress:
        """Return the address of a running (or starting) actor.

        Raises:
            UnknownPathError: nothing was ever bound there.
            ActorDeadError: the actor is restarting, stopping, stopped or escalated.
        """
        entry = self.entry(path)
        if entry.state in DOWN_STATES:
            raise ActorDeadError(path, entry.state.value)
        return entry.address

    def set_state(self, path: str, state: ActorState) -> None:
        """Record a lifecycle change of ``path`` (a no-op when unchanged).

        Raises:
            UnknownPathError: nothing was ever bound there.
        """
        entry = self.entry(path)
        if entry.state is not state:
            entry.state = state
            entry.transitions.append((state.value, entry.restarts, time.time_ns()))

    def unbind(self, path: str) -> None:
        """Forget ``path`` (a transient or temporary child that ended)."""
        entry = self._entries.pop(path, None)
        if entry is not None:
            self._paths.pop(entry.address.actorAddressString, None)

    def children(self, path: str) -> list[RegistryEntry]:
        """Return the direct children of ``path`` in binding order."""
        return [e for e in self._entries.values() if e.parent == path]

    def entries(self) -> list[RegistryEntry]:
        """Return every entry, in binding order."""
        return list(self._entries.values())

    def __contains__(self, path: str) -> bool:
        return path in self._entries


__all__ = ["ActorState", "DOWN_STATES", "Registry", "RegistryEntry", "TRANSITIONS_KEPT"]
