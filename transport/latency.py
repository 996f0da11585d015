"""Latency per hop and the clocks it spans (issue 14).

A tick's stamps travel with it: exchange time (the exchange's clock), venue
receive (the vn.py bridge, the desk's clock), frame built (the aggregator),
written to a socket (per session), decoded and painted (the browser's clock).
A hop between two stamps of one clock is a plain difference; a hop across two
clocks is only meaningful once their offset is known, so this module measures
the offsets and every figure that spans two clocks says so.

* :class:`ExchangeClockSkew`: per exchange, ``venue receive − exchange time``
  over its last ``window_ticks`` ticks, and its minimum as the skew (the
  fastest tick is the best estimate of the offset: a delay only ever adds,
  as in NTP's clock filter). A replay's exchange times are years old and run
  ``speed`` times faster than the wall clock; the simulator's ``clock_skew``
  fault shifts them: the skew shows all of that rather than hiding it. The
  exchange → venue hop of a tick is ``recv − exch − skew`` (≥ 0 by construction
  for the ticks in the window).
* :class:`ClockOffset`: a client's offset to the desk's clock from ping/pong
  (``offset = server time − midpoint of send and receive``), taken from the
  exchange with the smallest round trip among the last ``window`` (NTP's
  clock filter); its error is at most half that round trip.
* :class:`LatencyRing`: the last ``capacity`` samples of one hop and their
  p50/p95/p99, for a session's frame built → socket write hop.

Every time here is in ns since the UNIX epoch, every duration in ns, unless a
name says ``_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SKEW_WINDOW_TICKS = 128
"""Ticks per exchange whose ``recv − exch`` the skew is the minimum of."""
OFFSET_WINDOW = 8
"""Ping/pong exchanges a :class:`ClockOffset` chooses the fastest of."""
QUANTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class HopPercentiles:
    """p50/p95/p99 of one hop over ``samples`` samples, ns (all 0 when ``samples`` is 0)."""

    p50_ns: int
    p95_ns: int
    p99_ns: int
    samples: int

    def as_ms(self) -> dict[str, float | int | None]:
        """Return ``{"p50_ms", "p95_ms", "p99_ms", "samples"}`` (ms rounded to µs; None when no samples)."""
        if not self.samples:
            return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "samples": 0}
        return {"p50_ms": round(self.p50_ns / 1e6, 3), "p95_ms": round(self.p95_ns / 1e6, 3),
                "p99_ms": round(self.p99_ns / 1e6, 3), "samples": self.samples}


NO_SAMPLES = HopPercentiles(0, 0, 0, 0)


def percentiles_of(values_ns) -> HopPercentiles:
    """Return the p50/p95/p99 (nearest rank) of ``values_ns`` (int64[n], ns)."""
    values = np.sort(np.asarray(values_ns, dtype=np.int64))
    n = len(values)
    if n == 0:
        return NO_SAMPLES
    picks = [int(values[min(n - 1, int(q * n))]) for q in QUANTILES]
    return HopPercentiles(*picks, n)


class LatencyRing:
    """The last ``capacity`` durations of one hop (loop thread; O(1) to add).

    Args:
        capacity: samples kept.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._values = np.zeros(capacity, dtype=np.int64)
        self._next = 0
        self.count = 0
        """Samples added in total."""

    def add(self, duration_ns: int) -> None:
        """Record one duration, ns."""
        self._values[self._next] = duration_ns
        self._next = (self._next + 1) % len(self._values)
        self.count += 1

    def percentiles(self) -> HopPercentiles:
        """Return p50/p95/p99 of the kept samples (a sort of at most ``capacity`` values)."""
        return percentiles_of(self._values[:min(self.count, len(self._values))])


class ExchangeClockSkew:
    """Per exchange, the clock skew ``venue receive − exchange time`` of its recent ticks (loop thread).

    Args:
        window_ticks: ticks per exchange the skew is the minimum of.

    Source of the rule: NTP's clock filter (RFC 5905 §10) keeps the sample of
    least delay; for one-way stamps the least ``recv − exch`` is that sample.
    """

    def __init__(self, window_ticks: int = SKEW_WINDOW_TICKS) -> None:
        self.window_ticks = window_ticks
        self._rings: dict[str, tuple[np.ndarray, list[int]]] = {}  # exchange → (offsets, [next, count])
        self._skews: dict[str, int] = {}

    def observe(self, exchange: str, offsets_ns) -> int:
        """Add ticks' ``recv − exch`` (int64[n], ns) of one exchange; return its skew now, ns."""
        offsets = np.asarray(offsets_ns, dtype=np.int64)[-self.window_ticks:]
        entry = self._rings.get(exchange)
        if entry is None:
            entry = self._rings[exchange] = (np.zeros(self.window_ticks, dtype=np.int64), [0, 0])
        ring, state = entry
        n = len(offsets)
        if n == 0:
            return self._skews.get(exchange, 0)
        start = state[0]
        first = min(n, self.window_ticks - start)
        ring[start:start + first] = offsets[:first]
        ring[:n - first] = offsets[first:]
        state[0] = (start + n) % self.window_ticks
        state[1] = min(self.window_ticks, state[1] + n)
        skew = int(ring[:state[1]].min()) if state[1] < self.window_ticks else int(ring.min())
        self._skews[exchange] = skew
        return skew

    def skew_ns(self, exchange: str) -> int:
        """Return the exchange's skew, ns (0: no tick seen from it)."""
        return self._skews.get(exchange, 0)

    def skews_ns(self) -> dict[str, int]:
        """Return exchange → skew, ns, for every exchange seen."""
        return dict(self._skews)


class ClockOffset:
    """A client's offset to the server clock from ping/pong exchanges.

    ``offset = server_ts − (sent + received) / 2``: add it to a local time to
    read the server's clock. Among the last ``window`` exchanges the one of the
    least round trip is used; the offset's error is at most half its round trip.

    Args:
        window: exchanges kept.
    """

    def __init__(self, window: int = OFFSET_WINDOW) -> None:
        self.window = window
        self._samples: list[tuple[int, int]] = []  # (round trip ns, offset ns)

    def observe(self, sent_ns: int, server_ns: int, received_ns: int) -> None:
        """Add one exchange: ping sent and pong received on the local clock, the pong's server stamp, ns.

        A pong that arrives before its ping was sent (a clock stepped backwards) is ignored.
        """
        round_trip = received_ns - sent_ns
        if round_trip < 0 or server_ns <= 0:
            return
        self._samples.append((round_trip, server_ns - (sent_ns + received_ns) // 2))
        del self._samples[:-self.window]

    @property
    def known(self) -> bool:
        """Whether any exchange was observed."""
        return bool(self._samples)

    @property
    def offset_ns(self) -> int:
        """Server clock − local clock, ns (0 before the first exchange)."""
        return min(self._samples)[1] if self._samples else 0

    @property
    def round_trip_ns(self) -> int:
        """The round trip of the exchange the offset comes from, ns (0 before the first)."""
        return min(self._samples)[0] if self._samples else 0


__all__ = ["ClockOffset", "ExchangeClockSkew", "HopPercentiles", "LatencyRing", "NO_SAMPLES", "percentiles_of"]
