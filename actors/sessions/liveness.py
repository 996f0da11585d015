"""What one session knows of its groups' liveness (:class:`LivenessBook`), kept apart from the socket.

A session shows its socket, per subscribed group, the worst (actors/market/liveness.py
``SEVERITY``) of three voices:

* the group's own word (``live``, ``closed``, ``ended``, ``sourceDown``): its
  ``status`` outbound, the answer to every ``attach`` and sent on each change;
* the market supervisor's word on the group's actor (``stopped``,
  ``restarting``), or the registry's when an ``attach`` cannot be delivered;
* the session's watchdog: neither a frame nor a heartbeat for
  ``stale_after_s`` is ``stale`` (or ``stopped``/``restarting`` when the
  registry says the actor is down).

Any frame clears ``stale``; the group's own word clears the others. Every
method returns the :class:`StatusChange` to push, or None when what the socket
shows is unchanged. Loop thread only, like the session that owns it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from actors.market.liveness import LIVE, SEVERITY, STALE, Liveness
from actors.paths import group_path


@dataclass(frozen=True)
class StatusChange:
    """A groupStatus the socket should get.

    Attributes:
        group: group name.
        liveness: the state shown, its reason and since when.
        data_ts_ns: last frame from the group, ns since UNIX epoch (0: none yet).
    """

    group: str
    liveness: Liveness
    data_ts_ns: int


@dataclass
class _View:
    source: Liveness = field(default_factory=lambda: Liveness(LIVE, "", time.time_ns()))
    overlay: Liveness | None = None     # stale (watchdog) or stopped/restarting (supervisor, registry)
    heard_ns: int = field(default_factory=time.monotonic_ns)  # last frame or status, monotonic ns
    data_ts_ns: int = 0
    known: bool = False                 # something was said: the socket may be told
    sent: tuple[str, str] | None = None  # (state, reason) last pushed

    def effective(self) -> Liveness:
        if self.overlay is not None and SEVERITY[self.overlay.state] > SEVERITY[self.source.state]:
            return self.overlay
        return self.source


class LivenessBook:
    """The liveness of one session's groups.

    Args:
        stale_after_s: a group silent this long (no frame, no heartbeat) is ``stale``, seconds.
        actor_down: ``actor_down(group)`` → ``"stopped"``/``"restarting"`` when the
            group's actor is down now (the registry), else None.
    """

    def __init__(self, stale_after_s: float, actor_down: Callable[[str], str | None]) -> None:
        self.stale_after_ns = int(stale_after_s * 1e9)
        self._actor_down = actor_down
        self._views: dict[str, _View] = {}
        self.changes = 0

    def track(self, group: str) -> None:
        """Start (or keep) following ``group``; the silence clock starts now for a new one."""
        self._views.setdefault(group, _View())

    def forget(self, group: str) -> None:
        """Stop following ``group`` (unsubscribed)."""
        self._views.pop(group, None)

    def heard(self, group: str, sent_ts_ns: int = 0) -> StatusChange | None:
        """A frame (snapshot, delta, heartbeat) came from ``group``: it is not stale.

        Args:
            sent_ts_ns: when the group handed the frame off, ns since UNIX epoch (the ActorMessage's
                ``sentTsNs``, stamped once for every session); 0: now.
        """
        view = self._views.get(group)
        if view is None:
            return None
        view.heard_ns = time.monotonic_ns()
        view.data_ts_ns = sent_ts_ns or time.time_ns()
        if view.overlay is not None and view.overlay.state == STALE:
            view.overlay = None
            return self._change(group, view)
        return None

    def group_said(self, group: str, liveness: Liveness) -> StatusChange | None:
        """The group's own status: it runs, and says this of itself (always passed on: a new listener may need it)."""
        view = self._views.get(group)
        if view is None:
            return None
        view.source = liveness
        view.overlay = None
        view.known = True
        view.heard_ns = time.monotonic_ns()
        view.sent = None
        return self._change(group, view)

    def actor_said(self, group: str, liveness: Liveness) -> StatusChange | None:
        """The group's actor is down (``stopped``/``restarting``: the supervisor, or the registry)."""
        view = self._views.get(group)
        if view is None or (view.overlay is not None and view.overlay.state == liveness.state):
            return None
        view.overlay = liveness
        view.known = True
        return self._change(group, view)

    def sweep(self) -> list[StatusChange]:
        """The watchdog: mark groups silent for ``stale_after_s`` stale (or down, per the registry)."""
        now = time.monotonic_ns()
        changes = []
        for group, view in self._views.items():
            silent_ns = now - view.heard_ns
            if silent_ns < self.stale_after_ns:
                continue
            down = self._actor_down(group)
            if down is not None:
                if view.overlay is not None and view.overlay.state == down:
                    continue
                view.overlay = Liveness(down, f"{group_path(group)} is {down}", time.time_ns())
            elif view.overlay is None:
                view.overlay = Liveness(STALE, f"no frame or heartbeat for {silent_ns / 1e9:.1f} s", time.time_ns())
            else:
                continue
            view.known = True
            change = self._change(group, view)
            if change is not None:
                changes.append(change)
        return changes

    def shown(self) -> dict[str, str]:
        """Return group → the state the socket was told (statistics, tests)."""
        return {group: view.sent[0] for group, view in self._views.items() if view.sent is not None}

    def _change(self, group: str, view: _View) -> StatusChange | None:
        if not view.known:
            return None
        current = view.effective()
        if view.sent == (current.state, current.reason):
            return None
        view.sent = (current.state, current.reason)
        self.changes += 1
        return StatusChange(group, current, view.data_ts_ns)


__all__ = ["LivenessBook", "StatusChange"]
