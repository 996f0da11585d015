"""transport/latency.py: the exchange clock skew, the ping/pong clock offset and the hop percentile ring."""

from __future__ import annotations

import numpy as np

from transport.latency import ClockOffset, ExchangeClockSkew, LatencyRing, percentiles_of

YEAR_NS = 365 * 86_400 * 10**9


def test_skew_when_ticks_delayed_differently_then_skew_is_the_least_recv_minus_exchange():
    """The skew is the fastest tick's recv − exch: a delay only ever adds to the clocks' offset."""
    skew = ExchangeClockSkew(window_ticks=8)
    offset = 9 * YEAR_NS  # a replay's recorded stamps are years old
    assert skew.observe("SHFE", [offset + 5_000_000, offset + 1_000_000, offset + 30_000_000]) == offset + 1_000_000
    assert skew.skew_ns("SHFE") == offset + 1_000_000


def test_skew_when_exchanges_differ_then_each_has_its_own():
    """Each exchange's skew comes from its own ticks only."""
    skew = ExchangeClockSkew()
    skew.observe("SHFE", [100])
    skew.observe("DCE", [-50, 70])
    assert skew.skews_ns() == {"SHFE": 100, "DCE": -50}
    assert skew.skew_ns("CZCE") == 0


def test_skew_when_old_ticks_leave_the_window_then_follows_the_clock_back():
    """After a step of the exchange clock (the simulator's clock_skew fault ending), the old minimum leaves
    the window once ``window_ticks`` newer ticks came; before that it is kept."""
    skew = ExchangeClockSkew(window_ticks=4)
    skew.observe("SHFE", [10, 11])
    skew.observe("SHFE", [-60_000, -59_999])  # exchange stamps shifted 60 µs later
    assert skew.skew_ns("SHFE") == -60_000
    skew.observe("SHFE", [12, 13, 14])  # shift over: three new ticks, the window still holds -59_999
    assert skew.skew_ns("SHFE") == -59_999
    skew.observe("SHFE", [15])
    assert skew.skew_ns("SHFE") == 12


def test_skew_when_one_drain_brings_more_than_the_window_then_keeps_the_newest():
    """A drain of more ticks than the window keeps only its newest ``window_ticks``."""
    skew = ExchangeClockSkew(window_ticks=3)
    skew.observe("SHFE", np.arange(10, 0, -1))  # 10 .. 1, newest last
    assert skew.skew_ns("SHFE") == 1
    skew.observe("SHFE", [50, 60, 70, 80])
    assert skew.skew_ns("SHFE") == 60


def test_clock_offset_when_round_trips_differ_then_the_fastest_exchange_wins():
    """NTP's clock filter: the offset of the least round trip; server − midpoint of send and receive."""
    clock = ClockOffset(window=4)
    assert not clock.known and clock.offset_ns == 0
    clock.observe(sent_ns=1_000, server_ns=5_000 + 2_000, received_ns=9_000)  # rtt 8,000, queued pong: +2,000
    clock.observe(sent_ns=20_000, server_ns=21_500 + 700, received_ns=23_000)  # rtt 3,000: offset 700
    clock.observe(sent_ns=30_000, server_ns=0, received_ns=30_100)  # no server stamp: ignored
    clock.observe(sent_ns=40_000, server_ns=1, received_ns=39_000)  # pong before ping: ignored
    assert clock.known
    assert (clock.offset_ns, clock.round_trip_ns) == (700, 3_000)


def test_clock_offset_when_window_passes_then_old_exchanges_forgotten():
    """Only the last ``window`` exchanges count, so a clock that was stepped is followed."""
    clock = ClockOffset(window=2)
    clock.observe(0, 50 + 1_000, 100)  # rtt 100, offset 1,000
    clock.observe(200, 400 - 5, 600)  # rtt 400
    clock.observe(700, 1_000 - 5, 1_300)  # rtt 600
    assert clock.offset_ns == -5


def test_latency_ring_when_more_than_capacity_then_percentiles_of_the_newest():
    """p50/p95/p99 by nearest rank over the newest ``capacity`` samples."""
    ring = LatencyRing(capacity=100)
    for value in range(1_000, 1_100):
        ring.add(10**9)  # old samples, overwritten below
    for value in range(1, 101):
        ring.add(value * 1_000)
    figures = ring.percentiles()
    assert (figures.p50_ns, figures.p95_ns, figures.p99_ns, figures.samples) == (51_000, 96_000, 100_000, 100)
    assert ring.count == 200


def test_percentiles_when_empty_then_zero_samples_and_none_in_ms():
    """No samples: zeros, and None in the ms form."""
    assert percentiles_of([]).samples == 0
    assert percentiles_of([]).as_ms() == {"p50_ms": None, "p95_ms": None, "p99_ms": None, "samples": 0}
    assert percentiles_of([2_000_000]).as_ms()["p95_ms"] == 2.0
