"""FrameBudget: row cap by rows, bytes and build time; window widened on backlog, build time, loop lag."""

from __future__ import annotations

import pytest

from actors.market.budget import FrameBudget


def test_row_cap_when_under_every_budget_then_no_cut_counted():
    """A frame within every budget is not cut and nothing is counted."""
    budget = FrameBudget(33, 50, max_rows=100)
    assert budget.row_cap(100) == (100, None)
    assert budget.statistics().frames_cut_rows == 0


def test_row_cap_when_recent_frames_show_bytes_per_row_then_byte_budget_cuts():
    """With ~100 B a row and a 1,000 B budget the cap is 10 rows and the cut is counted as bytes."""
    budget = FrameBudget(33, 50, max_rows=2000, max_frame_bytes=1000, max_build_ms=100.0)
    budget.observe_frame(rows=50, frame_bytes=5000, build_ns=50_000)
    assert budget.row_cap(500) == (10, "bytes")
    assert budget.statistics().frames_cut_bytes == 1


def test_row_cap_when_rows_are_slow_to_build_then_build_time_budget_cuts():
    """At 100 µs a row and a 2 ms budget the cap is 20 rows, counted as build time."""
    budget = FrameBudget(33, 50, max_rows=2000, max_frame_bytes=1 << 30, max_build_ms=2.0)
    budget.observe_frame(rows=40, frame_bytes=100, build_ns=4_000_000)
    assert budget.row_cap(500) == (20, "build_time")
    assert budget.statistics().frames_cut_build_time == 1


def test_row_cap_when_budget_below_one_row_then_one_row_still_goes():
    """A frame always makes progress: the cap is at least one row."""
    budget = FrameBudget(33, 50, max_frame_bytes=10)
    budget.observe_frame(rows=40, frame_bytes=40_000, build_ns=1)
    assert budget.row_cap(5) == (1, "bytes")


@pytest.mark.parametrize(("backlog", "build_ns", "lateness_ns", "counter"), [
    (3, 0, 0, "widened_backlog"),
    (0, 5_000_000, 0, "widened_build_time"),
    (0, 0, 20_000_000, "widened_loop_lag"),
])
def test_next_window_when_load_measured_then_wide_and_counted_then_narrows(backlog, build_ns, lateness_ns,
                                                                            counter):
    """Backlog, a slow build or a late timer widen the window (counted); a calm flush narrows it."""
    budget = FrameBudget(33, 50, max_build_ms=2.0, late_ms=10.0)
    budget.observe_frame(rows=1, frame_bytes=100, build_ns=build_ns)
    budget.observe_lateness(lateness_ns)
    assert budget.next_window_ms(backlog) == 50
    assert getattr(budget.statistics(), counter) == 1
    budget.observe_frame(rows=1, frame_bytes=100, build_ns=0)
    budget.observe_lateness(0)
    assert budget.next_window_ms(0) == 33
    assert budget.statistics().narrowed == 1


def test_budget_when_config_values_out_of_range_then_clamped_not_raised():
    """A wide window below the normal one means no widening; budgets below 1 count as 1 (never a raise)."""
    budget = FrameBudget(33, 20, max_rows=0, max_frame_bytes=-5, max_build_ms=0.0, late_ms=-1.0)
    assert (budget.window_ms, budget.wide_window_ms, budget.max_rows, budget.max_frame_bytes) == (33, 33, 1, 1)
    assert budget.row_cap(10) == (1, "rows")
    assert budget.next_window_ms(5) == 33


def test_observe_frame_when_few_rows_then_per_row_costs_not_estimated():
    """A frame under ``sample_rows`` rows (its fixed cost would pass for a per-row cost) cuts nothing later."""
    budget = FrameBudget(33, 50, max_frame_bytes=1000, max_build_ms=1.0, sample_rows=32)
    budget.observe_frame(rows=2, frame_bytes=800, build_ns=5_000_000)
    assert budget.row_cap(500) == (2000, None)
    assert budget.statistics().bytes_per_row == 0
