"""Stable actor paths resolved to the current Thespian address.

Thespian gives a recreated actor a new address (../shared/FACTS.md), so
nobody holds an address for long: senders name a path
(``market/group/rb``) and the registry resolves it at send time. A
supervisor rebinds the path when it restarts the child. Used on the loop
thread only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from thespian.actors import ActorAddress

from actors.errors import ActorDeadError, UnknownPathError


class ActorState(enum.Enum):
    """Lifecycle state of the actor at a path."""

    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPED = "stopped"


@dataclass
class RegistryEntry:
    """What the registry knows of one path.

    Attributes:
        path: ``"market/group/rb"``.
        address: current Thespian address.
        kind: actor class name, ``"GroupActor"``.
        parent: parent path (``""`` for the root).
        state: lifecycle state.
        restarts: times the supervisor recreated it.
        instance: the live actor object (in process only), for ``statistics()``.
    """

    path: str
    address: ActorAddress
    kind: str
    parent: str
    state: ActorState = ActorState.STARTING
    restarts: int = 0
    instance: object | None = field(default=None, repr=False)


class Registry:
    """Path → current address of every live actor."""

    def __init__(self) -> None:
        self._entries: dict[str, RegistryEntry] = {}

    def bind(self, path: str, address: ActorAddress, kind: str, parent: str) -> RegistryEntry:
        """Bind ``path`` to a (new) address, keeping its restart count."""
        previous = self._entries.get(path)
        entry = RegistryEntry(path, address, kind, parent)
        if previous is not None:
            entry.restarts = previous.restarts
        self._entries[path] = entry
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

    def address(self, path: str) -> ActorAddress:
        """Return the address of a running (or starting) actor.

        Raises:
            UnknownPathError: nothing was ever bound there.
            ActorDeadError: the actor is stopped or restarting.
        """
        entry = self.entry(path)
        if entry.state in (ActorState.STOPPED, ActorState.RESTARTING):
            raise ActorDeadError(path, entry.state.value)
        return entry.address

    def set_state(self, path: str, state: ActorState) -> None:
        """Record a lifecycle change of ``path``."""
        self.entry(path).state = state

    def unbind(self, path: str) -> None:
        """Forget ``path`` (a temporary child that ended)."""
        self._entries.pop(path, None)

    def children(self, path: str) -> list[RegistryEntry]:
        """Return the direct children of ``path`` in binding order."""
        return [e for e in self._entries.values() if e.parent == path]

    def entries(self) -> list[RegistryEntry]:
        """Return every entry, in binding order."""
        return list(self._entries.values())

    def __contains__(self, path: str) -> bool:
        return path in self._entries


__all__ = ["ActorState", "Registry", "RegistryEntry"]
