"""Group liveness: the states, which one is worse, trading windows: the screen never shows old data as live.

Who decides a group's state (``market.GroupLiveness``):

* the GroupActor knows ``live``, ``closed`` (none of its contracts is in a
  trading session), ``preOpen`` (none has opened yet this trading day) and what the vn.py bridge tells it of the venue (``sourceDown``,
  ``ended`` when a replay finished); it sends a heartbeat frame when
  nothing changed, so silence means trouble;
* the market supervisor knows when a group's actor is ``stopped`` or
  ``restarting`` and tells the sessions (the actor cannot say it is dead);
* a session marks a group ``stale`` when neither a frame nor a heartbeat
  came within ``stale_after_s``;
* on a NATS edge node the RemoteGroupActor marks ``sourceDown`` when the
  aggregator's frames and heartbeats stop.

A session shows the worst of what it heard (:data:`SEVERITY`).

Trading sessions: per-product trading sessions are not in vn.py's
ContractData; the group reads its products' published sessions
(actors/market/trading_sessions.py; ``[market] product_sessions``, on by default
for a replay or a live venue, off on the synthetic market)
at the exchange's clock (the replay's for a replay, the wall clock for a live
venue). Configured windows override them (``[market] trading_windows =
["09:00-11:30", "13:30-15:00", "21:00-23:00"]``, exchange local time,
Asia/Shanghai for the Chinese exchanges, or a table per group:
``[market.trading_windows] rb = [...]``, ``"*"`` for the rest).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo
from actors.paths import group_of

LIVE, STALE, STOPPED, RESTARTING, SOURCE_DOWN, CLOSED, ENDED, PRE_OPEN = (
    "live", "stale", "stopped", "restarting", "sourceDown", "closed", "ended", "preOpen")

SEVERITY = {LIVE: 0, PRE_OPEN: 1, CLOSED: 1, ENDED: 2, STALE: 3, SOURCE_DOWN: 4, RESTARTING: 5, STOPPED: 6}
"""How bad each state is for a trader watching the group: the worst one heard is shown."""

EXCHANGE_TZ = ZoneInfo("Asia/Shanghai")
"""Time zone of the trading windows (the CTP exchanges' local time, UTC+8)."""


@dataclass(frozen=True)
class Liveness:
    """One group's state as a value.

    Attributes:
        state: a ``market.GroupLiveness`` name.
        reason: why, for people.
        since_ts_ns: when it entered this state, ns since UNIX epoch.
    """

    state: str
    reason: str
    since_ts_ns: int


def worst(states: Iterable[str]) -> str:
    """Return the most severe of ``states`` (``live`` for none)."""
    return max(states, key=SEVERITY.__getitem__, default=LIVE)


@dataclass(frozen=True)
class TradingWindows:
    """Daily trading windows in exchange local time; an empty set is always open.

    Attributes:
        windows: ``(start_minute, end_minute)`` of the day; end < start wraps midnight (a night session).
    """

    windows: tuple[tuple[int, int], ...] = ()

    @classmethod
    def parse(cls, specs: Sequence[str] | None) -> TradingWindows:
        """Build from ``"HH:MM-HH:MM"`` strings.

        Raises:
            ValueError: a window is not ``HH:MM-HH:MM`` with valid hours and minutes.
        """
        windows = []
        for spec in specs or ():
            try:
                start, end = (_minute(part) for part in str(spec).split("-"))
            except ValueError as exc:
                raise ValueError(f"trading window {spec!r} is not HH:MM-HH:MM: {exc}") from None
            windows.append((start, end))
        return cls(tuple(windows))

    def is_open(self, ts_ns: int) -> bool:
        """Whether ``ts_ns`` (ns since UNIX epoch) falls inside a window."""
        if not self.windows:
            return True
        local = dt.datetime.fromtimestamp(ts_ns / 1e9, EXCHANGE_TZ)
        minute = local.hour * 60 + local.minute
        for start, end in self.windows:
            if start <= end and start <= minute < end:
                return True
            if end < start and (minute >= start or minute < end):
                return True
        return False

    def describe(self) -> str:
        """Return the windows as ``"09:00-11:30, 13:30-15:00"``."""
        return ", ".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in self.windows)


def group_liveness(entry) -> str | None:
    """Return the liveness of the group at a registry entry, or None when the entry is not a group.

    ``stopped``/``restarting`` from the registry when the actor is down,
    else the actor's own word (its statistics' ``liveness``: ``live``,
    ``closed``, ``ended``, ``sourceDown``). What the ops page and
    ``/metrics`` show; a session's ``stale`` is the session's own view.

    Args:
        entry: an ``actors._registry`` entry (``path``, ``state``, ``instance``).
    """
    if group_of(entry.path) is None:
        return None
    state = entry.state.value
    if state in ("stopping", "stopped"):
        return STOPPED
    if state in ("restarting", "starting", "escalated"):
        return RESTARTING
    instance = entry.instance
    if instance is None or not hasattr(instance, "statistics"):
        return RESTARTING
    return instance.statistics().extra.get("liveness", LIVE)


def _minute(text: str) -> int:
    hours, minutes = text.strip().split(":")
    hour, minute = int(hours), int(minutes)
    if not (0 <= hour <= 24 and 0 <= minute < 60):
        raise ValueError(f"{text!r} is not a time of day")
    return hour * 60 + minute


__all__ = ["CLOSED", "ENDED", "EXCHANGE_TZ", "LIVE", "Liveness", "PRE_OPEN", "RESTARTING", "SEVERITY", "SOURCE_DOWN", "STALE",
           "STOPPED", "TradingWindows", "group_liveness", "worst"]
