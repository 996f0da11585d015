"""The values of supervision: strategies, restart types, intensity, backoff, child specs, commands.

Frozen values shared by :mod:`actors._supervisor`, the admin API and tests
(Erlang/OTP ``supervisor`` vocabulary, pykka's hook names).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class RestartStrategy(enum.Enum):
    """Which children restart when one fails (Erlang/OTP supervisor)."""

    ONE_FOR_ONE = "one_for_one"    # only the failed child
    ONE_FOR_ALL = "one_for_all"    # every child
    REST_FOR_ONE = "rest_for_one"  # the failed child and those started after it


class Restart(enum.Enum):
    """When a child is restarted (Erlang/OTP child restart type)."""

    PERMANENT = "permanent"  # after a crash; a requested stop keeps it stopped (restartable)
    TRANSIENT = "transient"  # after a crash; a requested stop ends it (spec forgotten)
    TEMPORARY = "temporary"  # never: a crashed or stopped temporary child is removed


class ExitReason(enum.Enum):
    """Why an actor instance ended (the ``reason`` of ``child_exited`` log events)."""

    NORMAL = "normal"
    SHUTDOWN = "shutdown"
    CRASHED = "crashed"
    RESTARTED = "restarted"
    ESCALATED = "escalated"
    SHUTDOWN_TIMEOUT = "shutdown_timeout"


@dataclass(frozen=True)
class RestartIntensity:
    """At most ``max_restarts`` restarts within ``within_s`` seconds, then escalate."""

    max_restarts: int = 3
    within_s: float = 5.0


@dataclass(frozen=True)
class Backoff:
    """Jittered, bounded exponential delay before a counted restart.

    The n-th restart within the intensity window waits between half and all
    of ``min(cap_s, base_s * 2 ** (n - 1))`` seconds ("equal jitter": never
    zero, never in lockstep with a sibling). Source: AWS Architecture Blog,
    "Exponential Backoff and Jitter".

    Attributes:
        base_s: delay ceiling of the first restart, seconds.
        cap_s: largest delay ceiling, seconds.
    """

    base_s: float = 0.01
    cap_s: float = 1.0

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Return the delay of restart number ``attempt`` (≥ 1), seconds."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** max(0, min(attempt - 1, 62)))
        return ceiling / 2 + rng.random() * ceiling / 2


@dataclass(frozen=True)
class ChildSpec:
    """How to start one child.

    Attributes:
        name: path suffix under the supervisor, ``"group/rb"``.
        actor_class: a :class:`TickstageActor` subclass.
        args: kind-specific settings and in-process handles, passed in its context.
        restart: when to restart it.
        shutdown_timeout_s: how long a requested stop waits for the child to
            exit before it is marked stopped anyway, seconds.
    """

    name: str
    actor_class: type
    args: Mapping[str, Any] = field(default_factory=dict)
    restart: Restart = Restart.PERMANENT
    shutdown_timeout_s: float = 5.0


@dataclass(frozen=True)
class StopChild:
    """Operator → supervisor: stop the child ``name`` (a transient child's spec is forgotten)."""

    name: str


@dataclass(frozen=True)
class RestartChild:
    """Operator → supervisor: restart the child ``name`` now (not counted as a crash)."""

    name: str


@dataclass(frozen=True)
class ChildCommandAck:
    """Supervisor → sender of a :class:`StopChild` / :class:`RestartChild`.

    Attributes:
        path: the child's path.
        action: ``"stop"`` or ``"restart"``.
        result: ``"restarted"``, ``"stopping"``, ``"stopped"`` or ``"unknown_child"``.
    """

    path: str
    action: str
    result: str


__all__ = [
    "Backoff",
    "ChildCommandAck",
    "ChildSpec",
    "ExitReason",
    "Restart",
    "RestartChild",
    "RestartIntensity",
    "RestartStrategy",
    "StopChild",
]
