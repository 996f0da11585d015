"""Which groups one session is attaching, and those it holds while the desk warms up (:class:`GroupAttachments`).

A session subscribes a group by sending its actor (``market/group/<g>``) an ``attach``; the group
answers with its info, a snapshot and its status. Two rules keep that attach from being lost:

* Retry: an attach the group does not answer (no frame of any kind within ``ATTACH_RETRY_S``: the
  message was lost or refused as corrupt, or the group was restarting) is sent again, the wait
  doubling up to ``ATTACH_RETRY_MAX_S``; a group that had lost its subscriber list would otherwise
  stay silent for this session until something else restarted (found by
  sim/harness/scenarios/corrupt.toml). Each attach carries a new tag (``generation``, UInt32,
  wrapping), which is also the retry timer's generation, so the timer of an attach that was
  answered or superseded does nothing.
* Warm-up: while the desk may still create groups (``groups_warming()``: its venue's contracts
  are arriving, after a start or while a gateway is not ready), a subscribe to a valid group name
  that has no actor yet is held, not refused: the group is subscribed and attached (the session
  shows it ``sourceDown``, waiting) and its subscribe's correlation kept. A browser reconnecting to
  a restarted desk, or to one whose venue is still logging in, so keeps its panels. At each retry
  of a held group: once it exists it is attached as any other (no longer held); once the desk is
  warm and it still does not exist it is refused ``unknownGroup`` late, exactly once, with that
  correlation (0 for a group a restarted session held: its subscribe was answered before), and
  unsubscribed. On a warm desk an absent group is refused at once, in the subscribe's answer.

Loop thread only, like the session that owns it.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass

from actors.paths import group_path, is_token

ATTACH_RETRY_S = 0.25
"""First wait for a group's answer to ``attach`` before sending it again, seconds."""
ATTACH_RETRY_MAX_S = 4.0
"""Longest wait between attach retries (the wait doubles from ATTACH_RETRY_S), seconds."""


@dataclass(frozen=True)
class LateRefusal:
    """A held group refused once the desk is warm: the ``unknownGroup`` error its subscribe gets now.

    Attributes:
        group: the group name, already unsubscribed.
        correlation: the subscribe's envelope id (0: the subscribe was answered by an earlier incarnation).
        reason: for the trader, and the group's ``stopped`` status.
    """

    group: str
    correlation: int
    reason: str


class GroupAttachments:
    """Attaches one session's subscribed groups, retrying unanswered attaches and holding groups not created yet.

    Args:
        subscribed: the session's subscribed groups (``SessionState.groups``, kept across restarts of the
            session actor); added to by :meth:`subscribe`, removed from by :meth:`unsubscribe` and a late refusal.
        registry: the actor registry (``group_path(g) in registry``: the group's actor exists on this node).
        groups_warming: ``groups_warming() -> bool``: the desk may still create groups.
        send_attach: ``send_attach(group, tag)``: send the group an ``attach`` carrying ``tag``.
        arm_retry: ``arm_retry(group, generation, wait_s)``: call :meth:`retry` with these in ``wait_s`` seconds.

    Attributes:
        generation: the tag of the latest attach (UInt32, 0 before the first).
        retries: attaches sent again because the group did not answer.
    """

    def __init__(self, subscribed: dict[str, None], registry: Container[str], groups_warming: Callable[[], bool],
                 send_attach: Callable[[str, int], None], arm_retry: Callable[[str, int, float], None]) -> None:
        self._subscribed = subscribed
        self._registry = registry
        self._groups_warming = groups_warming
        self._send_attach = send_attach
        self._arm_retry = arm_retry
        self._attaching: dict[str, tuple[int, float]] = {}  # group → (timer generation, wait s)
        self._held: dict[str, int] = {}  # group not created yet → its subscribe's correlation (desk warming)
        self.generation = 0
        self.retries = 0

    def restore(self) -> None:
        """On start, attach every subscribed group (a restarted session's state keeps them); while the desk warms
        up, hold (correlation 0) those whose actor does not exist yet, so they are still refused once it is warm."""
        warming = self._groups_warming()
        for group in self._subscribed:
            if warming and group_path(group) not in self._registry:
                self._held[group] = 0
            self.attach(group)

    def subscribe(self, groups: list[str], correlation: int) -> list[str]:
        """Subscribe and attach each of ``groups`` not subscribed yet; return those refused now.

        A group refused now is an invalid name, or one without an actor on a warm desk; while the desk
        warms up, a valid name without an actor is held (see the module docstring).

        Args:
            groups: group names as the client sent them (not checked yet).
            correlation: the subscribe's envelope id, kept for a late refusal.

        Returns:
            The names to refuse ``unknownGroup`` in the subscribe's answer, in the order given.
        """
        absent = [g for g in groups if not is_token(g) or group_path(g) not in self._registry]
        warming = bool(absent) and self._groups_warming()
        unknown = [g for g in absent if not (warming and is_token(g))]
        for group in groups:
            if group not in unknown and group not in self._subscribed:
                if group in absent:
                    self._held[group] = correlation
                self._subscribed[group] = None
                self.attach(group)
        return unknown

    def unsubscribe(self, group: str) -> bool:
        """Stop attaching ``group``; return whether it was subscribed (then the group needs a ``detach``)."""
        was_subscribed = self._subscribed.pop(group, 0) is None
        self._forget(group)
        return was_subscribed

    def attach(self, group: str, wait_s: float = ATTACH_RETRY_S) -> None:
        """Send ``attach`` with a new tag and arm its retry in ``wait_s`` seconds unless the group answers first."""
        self.generation = (self.generation + 1) & 0xFFFFFFFF
        self._attaching[group] = (self.generation, wait_s)
        self._send_attach(group, self.generation)
        self._arm_retry(group, self.generation, wait_s)

    def answered(self, group: str) -> None:
        """A frame of any kind came from ``group``: it has this session as a subscriber."""
        if self._attaching:
            self._attaching.pop(group, None)

    def retry(self, group: str, generation: int) -> LateRefusal | None:
        """An attach retry timer fired: attach again if it is the latest attach and still unanswered.

        A held group is attached again while it exists (no longer held) or the desk warms up; once the desk is
        warm and it still does not exist it is unsubscribed and refused.

        Returns:
            The refusal to send the client, or None.
        """
        pending = self._attaching.get(group)
        if pending is None or pending[0] != generation or group not in self._subscribed:
            return None
        if group in self._held:
            if group_path(group) in self._registry:
                del self._held[group]
            elif not self._groups_warming():
                correlation = self._held[group]
                self._subscribed.pop(group, None)
                self._forget(group)
                return LateRefusal(group, correlation, f"no such group: {group} (the venue's contracts have all "
                                   "arrived and none makes it)")
        self.retries += 1
        self.attach(group, wait_s=min(pending[1] * 2, ATTACH_RETRY_MAX_S))
        return None

    def held(self, group: str) -> bool:
        """Return whether ``group`` is held: subscribed while the desk warms up, its actor not seen yet."""
        return group in self._held

    def attaching(self) -> list[str]:
        """Return the groups whose latest attach is unanswered (statistics)."""
        return list(self._attaching)

    def _forget(self, group: str) -> None:
        self._attaching.pop(group, None)
        self._held.pop(group, None)


__all__ = ["ATTACH_RETRY_MAX_S", "ATTACH_RETRY_S", "GroupAttachments", "LateRefusal"]
