"""The per-actor meter: message rates over 1 s and 1 min, handler-time percentiles, fixed memory."""

from __future__ import annotations

from actors._stats import HANDLER_SAMPLES, ActorMeter

S = 1_000_000_000


def test_rates_when_messages_in_two_seconds_then_last_second_and_minute_average():
    """Messages/s over 1 s is the last complete second; over 1 min the 60 s average."""
    meter = ActorMeter()
    for i in range(5):
        meter.record(100 * S + i, 10)
    for i in range(3):
        meter.record(101 * S + i, 10)
    assert meter.rates(102 * S) == (3.0, 8 / 60)
    assert meter.rates(101 * S + 5) == (5.0, 5 / 60)
    assert meter.rates(300 * S) == (0.0, 0.0)


def test_percentiles_when_durations_known_then_p50_and_p99_of_the_last_samples():
    """p50/p99 come from the ring of the last HANDLER_SAMPLES handler times."""
    meter = ActorMeter()
    assert meter.percentiles() == (0, 0)
    for ns in range(1, 101):
        meter.record(S, ns)
    p50, p99 = meter.percentiles()
    assert p50 == 50 and 99 <= p99 <= 100
    for _ in range(HANDLER_SAMPLES):
        meter.record(S, 7)
    assert meter.percentiles() == (7, 7)


def test_record_when_many_messages_then_memory_stays_fixed():
    """A million messages leave the ring and the per-second slots at their fixed sizes."""
    meter = ActorMeter()
    for i in range(1_000_000):
        meter.record(i * 1000, i)
    assert len(meter._samples) == HANDLER_SAMPLES
    assert len(meter._counts) == 60
