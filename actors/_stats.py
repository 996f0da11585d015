"""Meters read by ``statistics()``: per-actor rates, handler-time percentiles, last error; the runtime's counters.

The hot path (one call of :meth:`ActorMeter.record` per delivered message,
~0.1–0.2 µs) writes into fixed-size containers only: a ring of the last
:data:`HANDLER_SAMPLES` handler durations and one counter per second for the
last minute. Nothing grows with the number of messages; the percentiles
and rates are computed when someone reads them (the admin API, ``/metrics``),
never per message.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

HANDLER_SAMPLES = 256
"""Handler durations kept for the p50/p99 (a power of two: the ring index is a mask)."""

_MASK = HANDLER_SAMPLES - 1
_WINDOW_S = 60
_NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class LastError:
    """The last crash or failure of an actor.

    Attributes:
        error_type: exception class name, ``"RuntimeError"``.
        message: ``str(exception)``.
        ts_ns: when, UNIX timestamp (nanoseconds).
    """

    error_type: str
    message: str
    ts_ns: int

    def as_dict(self) -> dict:
        """Return ``{"type", "message", "ts_ns"}`` for JSON."""
        return {"type": self.error_type, "message": self.message, "ts_ns": self.ts_ns}


class ActorMeter:
    """Message rate and handler-time ring of one actor incarnation (loop thread only).

    Times are ``time.perf_counter_ns()`` values (monotonic nanoseconds).
    """

    __slots__ = ("_samples", "_recorded", "_counts", "_stamps", "_second", "_second_end_ns", "_count")

    def __init__(self) -> None:
        self._samples = [0] * HANDLER_SAMPLES  # a list: ~2× cheaper to write than an array
        self._recorded = 0
        self._counts = array("q", bytes(8 * _WINDOW_S))  # messages in second s, at index s % 60
        self._stamps = array("q", bytes(8 * _WINDOW_S))  # which second each slot holds
        self._second = 0  # the second being counted, perf_counter_ns // 1e9
        self._second_end_ns = 0
        self._count = 0

    def record(self, started_ns: int, elapsed_ns: int) -> None:
        """Count one message handled from ``started_ns`` for ``elapsed_ns`` (hot path: ~0.1 µs)."""
        recorded = self._recorded
        self._samples[recorded & _MASK] = elapsed_ns
        self._recorded = recorded + 1
        if started_ns >= self._second_end_ns:
            self._roll(started_ns // _NS_PER_S)
        self._count += 1

    def _roll(self, second: int) -> None:
        slot = self._second % _WINDOW_S
        self._counts[slot] = self._count
        self._stamps[slot] = self._second
        self._second = second
        self._second_end_ns = (second + 1) * _NS_PER_S
        self._count = 0

    def rates(self, now_ns: int) -> tuple[float, float]:
        """Return messages/s over the last complete second and over the last minute.

        Args:
            now_ns: ``time.perf_counter_ns()`` now.
        """
        now = now_ns // _NS_PER_S
        last_second = 0
        total = 0
        for slot in range(_WINDOW_S):
            stamp = self._stamps[slot]
            if now - _WINDOW_S <= stamp < now:
                count = self._counts[slot]
                total += count
                if stamp == now - 1:
                    last_second = count
        if now - _WINDOW_S <= self._second < now:
            total += self._count  # the current-second counter, not rolled yet
            if self._second == now - 1:
                last_second = self._count
        return float(last_second), total / _WINDOW_S

    def percentiles(self) -> tuple[int, int]:
        """Return the handler time p50 and p99 of the last samples, ns (0, 0 when none)."""
        kept = min(self._recorded, HANDLER_SAMPLES)
        if not kept:
            return 0, 0
        ordered = sorted(self._samples[:kept])
        return ordered[(kept - 1) // 2], ordered[min(kept - 1, (kept * 99) // 100)]


@dataclass(frozen=True)
class RuntimeStatistics:
    """Counters of the driver, for the admin API and /metrics.

    Attributes:
        pending: messages queued now (all actors: the shared mailbox depth).
        delivered: messages delivered since start.
        pumps: pump slices run since start.
        slices_cut: slices that stopped at the time budget with work left.
        asks: coroutine asks started.
        ask_timeouts: asks that timed out.
        timers_armed: ``wakeupAfter`` / ``call_later`` timers armed.
        dropped_dead: tells to a stopped or unknown path that were dropped.
        replies_dropped: replies to plain tells (nobody waits for them).
        poison: PoisonMessages seen (a message failed three deliveries).
        thespian_addresses: addresses in Thespian's table now (live actors, ask proxies, its own);
            constant while actors come and go (an exited child's entry is dropped).
    """

    pending: int
    delivered: int
    pumps: int
    slices_cut: int
    asks: int
    ask_timeouts: int
    timers_armed: int
    dropped_dead: int
    replies_dropped: int = 0
    poison: int = 0
    thespian_addresses: int = 0


__all__ = ["ActorMeter", "HANDLER_SAMPLES", "LastError", "RuntimeStatistics"]
