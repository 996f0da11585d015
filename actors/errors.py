"""Errors of the actor runtime, under one root :class:`TickstageError` (schemas/errors.py, re-exported here).

Each error also subclasses the builtin it means and carries its numbers, the
way nats-py makes its timeout also the asyncio one.
"""

from __future__ import annotations

from schemas.errors import TickstageError


class ActorError(TickstageError):
    """Root of the actor runtime's errors."""


class IncompatibleThespianError(ActorError, RuntimeError):
    """The installed Thespian is not the version the runtime driver was validated on.

    Attributes:
        found: installed version.
        required: validated version.
    """

    def __init__(self, found: str, required: str) -> None:
        super().__init__(
            f"thespian {found} is installed; the actor runtime drives private names "
            f"of thespian {required} and refuses to start on another version"
        )
        self.found = found
        self.required = required


class UnknownPathError(ActorError, KeyError):
    """No actor is registered at this path.

    Attributes:
        path: the path asked for, ``"market/group/zz"``.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path

    def __str__(self) -> str:
        return f"no actor at path {self.path!r}"


class ActorDeadError(ActorError, LookupError):
    """The actor at this path is stopped or restarting; an ask fails fast.

    Attributes:
        path: the actor path.
        state: its lifecycle state (``"restarting"``, ``"stopped"``, ...).
    """

    def __init__(self, path: str, state: str) -> None:
        super().__init__(f"actor {path!r} is {state}")
        self.path = path
        self.state = state


class AskTimeoutError(ActorError, TimeoutError):
    """An ask got no reply within its timeout.

    Attributes:
        path: the actor asked.
        timeout_s: the timeout, seconds.
    """

    def __init__(self, path: str, timeout_s: float) -> None:
        super().__init__(f"no reply from {path!r} within {timeout_s} s")
        self.path = path
        self.timeout_s = timeout_s


class PathTokenError(ActorError, ValueError):
    """A token of an actor path is empty, over 128 characters, or holds ``/``, ``*`` or whitespace.

    Such a token would change the path's shape (``orders/a/b``) or turn it into a glob (``sessions/session/*``).

    Attributes:
        token: the refused token.
    """

    def __init__(self, token: str) -> None:
        super().__init__(f"invalid actor path token {token!r}")
        self.token = token


class RuntimeStoppedError(ActorError, RuntimeError):
    """The runtime was shut down; nothing more can be sent."""


__all__ = [
    "ActorDeadError",
    "ActorError",
    "AskTimeoutError",
    "IncompatibleThespianError",
    "PathTokenError",
    "RuntimeStoppedError",
    "TickstageError",
    "UnknownPathError",
]
