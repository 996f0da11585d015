"""Faults on message routes: stall an actor, drop, duplicate, delay, corrupt or tamper with its messages.

A :class:`RouteFaults` is the runtime's interceptor
(:meth:`actors._runtime.ActorRuntime.set_interceptor`): while at least one
:class:`RouteRule` is active it sees every message the pump is about to
deliver, resolves the target's path through the registry (so a restarted
actor stays targeted) and applies the first matching rule. Nothing ever
blocks the loop: a stalled actor's messages are held in a list and queued
again, in order, when the stall ends; a delayed message comes back through
``loop.call_later``. When the last rule ends the interceptor is removed and
the pump is back to its plain loop.

``tamper`` is the quiet cousin of ``corrupt``: it changes a value inside a
group's delta on its way to a session (``lastPrices`` of its first row, +1
quote currency) and re-encodes it, so the frame decodes and its sequence
number is intact; only the state hash the group sends (GroupFrame.stateCrc32)
can tell. Other messages pass untouched.

Only Cap'n Proto ``bytes`` messages between two actors are dropped,
duplicated, delayed or corrupted; in-process control values (``Start``,
``ChildFailed``, Thespian's exit requests) and an actor's messages to itself
(its loop timers: not a route) pass, so supervision and timers are never the
casualty. (A GroupActor whose flush timer is lost stops emitting for good:
it waits for a timer it believes armed.) A stall holds everything, control
and timers included, as a stuck actor would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import structlog
from thespian.system.simpleSystemBase import PendingSend

import schemas

ACTIONS = ("stall", "drop", "duplicate", "delay", "corrupt", "tamper")
"""What a rule does to the messages of its route."""

_MARK = "tickstage_fault_passed"
_SEGMENT_TABLE_BYTES = 8
_log = structlog.get_logger("sim.harness.routes")


@dataclass
class RouteRule:
    """One active fault on a route.

    Attributes:
        action: one of :data:`ACTIONS`.
        target: an actor path (``"market/group/rb"``), or a prefix ending in
            ``*`` (``"sessions/session/*"``).
        probability: share of matching messages affected (stall: all).
        delay_ms: how long ``delay`` holds each message, ms.
        corrupt_bytes: bytes flipped per corrupted message.
        matched: messages seen on the route while active.
        affected: messages dropped, duplicated, delayed, corrupted, tampered with or held.
    """

    action: str
    target: str
    probability: float = 1.0
    delay_ms: float = 0.0
    corrupt_bytes: int = 4
    matched: int = 0
    affected: int = 0
    held: list = field(default_factory=list, repr=False)

    def matches(self, path: str) -> bool:
        """Whether the actor at ``path`` is on this rule's route."""
        if self.target.endswith("*"):
            return path.startswith(self.target[:-1])
        return path == self.target


class RouteFaults:
    """The runtime interceptor applying :class:`RouteRule`\\ s (loop thread only).

    Args:
        runtime: the :class:`actors._runtime.ActorRuntime`.
        seed: seed of the choices (which messages, which bytes).
    """

    def __init__(self, runtime: Any, seed: int = 0) -> None:
        self.runtime = runtime
        self._rng = random.Random(seed)
        self.rules: list[RouteRule] = []

    def add(self, rule: RouteRule) -> RouteRule:
        """Activate a rule now; install the interceptor when it is the first.

        Raises:
            ValueError: unknown action or a probability outside [0, 1].
        """
        if rule.action not in ACTIONS or not 0.0 <= rule.probability <= 1.0:
            raise ValueError(f"bad route rule: {rule.action!r} with probability {rule.probability}")
        self.rules.append(rule)
        self.runtime.set_interceptor(self)
        _log.info("route_fault_started", action=rule.action, target=rule.target)
        return rule

    def remove(self, rule: RouteRule) -> None:
        """End a rule: a stall releases what it held, in order; the last rule removes the interceptor."""
        if rule not in self.rules:
            return
        self.rules.remove(rule)
        held, rule.held = rule.held, []
        for pending in held:
            self._requeue(pending)
        if not self.rules:
            self.runtime.set_interceptor(None)
        _log.info("route_fault_ended", action=rule.action, target=rule.target,
                  matched=rule.matched, affected=rule.affected, released=len(held))

    def clear(self) -> None:
        """End every rule."""
        for rule in list(self.rules):
            self.remove(rule)

    def _requeue(self, pending: PendingSend) -> None:
        setattr(pending, _MARK, True)
        self.runtime.requeue(pending)

    def __call__(self, pending: PendingSend) -> bool:
        """The interceptor: return True when the message was taken (loop thread, inside the pump)."""
        if getattr(pending, _MARK, False):
            return False
        path = self.runtime.registry.path_of(pending.toActor)
        if path is None:
            return False
        for rule in self.rules:
            if rule.matches(path):
                rule.matched += 1
                return self._apply(rule, pending)
        return False

    def _apply(self, rule: RouteRule, pending: PendingSend) -> bool:
        if rule.action == "stall":
            rule.affected += 1
            rule.held.append(pending)
            return True
        if (not isinstance(pending.msg, bytes) or pending.sender == pending.toActor
                or self._rng.random() >= rule.probability):
            return False
        if rule.action == "tamper":
            tampered = _tampered_delta(pending.msg)
            if tampered is None:
                return False
            rule.affected += 1
            pending.msg = tampered
            return False
        rule.affected += 1
        if rule.action == "drop":
            return True
        if rule.action == "duplicate":
            self._requeue(PendingSend(pending.sender, pending.msg, pending.toActor))
            return False
        if rule.action == "delay":
            setattr(pending, _MARK, True)
            self.runtime.loop.call_later(rule.delay_ms / 1000, self.runtime.requeue, pending)
            return True
        pending.msg = self._corrupted(pending.msg, rule.corrupt_bytes)
        return False

    def _corrupted(self, data: bytes, count: int) -> bytes:
        """Return ``data`` with ``count`` random bytes past the segment table flipped."""
        if len(data) <= _SEGMENT_TABLE_BYTES:
            return data
        damaged = bytearray(data)
        for _ in range(count):
            at = self._rng.randrange(_SEGMENT_TABLE_BYTES, len(damaged))
            damaged[at] ^= self._rng.randrange(1, 256)
        return bytes(damaged)


def _tampered_delta(data: bytes) -> bytes | None:
    """Return an ``outbound`` delta with its first row's last price moved +1, re-encoded; None for other messages."""
    try:
        with schemas.actor.ActorMessage.from_bytes(data) as message:
            if message.which() != "outbound" or str(message.outbound.kind) != "delta":
                return None
            builder = message.as_builder()
        with schemas.stream.ServerMessage.from_bytes(bytes(builder.outbound.payload)) as server:
            if server.which() != "groupFrame" or len(server.groupFrame.rows.indexes) == 0:
                return None
            frame = server.as_builder()
    except Exception:  # noqa: BLE001 - not a message this fault understands: pass it on
        return None
    prices = frame.groupFrame.rows.lastPrices
    value = prices[0]
    prices[0] = (value if value == value else 0.0) + 1.0
    builder.outbound.payload = frame.to_bytes()
    return builder.to_bytes()


__all__ = ["ACTIONS", "RouteFaults", "RouteRule"]
