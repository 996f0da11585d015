"""The desk under load in a real headless Chromium: 5 tabs × 100 rows at ~4,000 ticks/s for 30 s.

Issue 8's acceptance, through the same machinery as ``perf/bench_browser.py``
(a ``tickstage run`` subprocess replaying the recorded CTP day at speed 27,
a byte-counting relay, one browser context). Headless on a shared machine is
noisy, so the test asserts medians and counts, never maxima; the p95/p99
figures are the benchmark's to record.

Long tasks: the app's own are counted apart (``app_long_tasks``: scripts of
the desk's origin over 50 ms, from the Long Animation Frames API), since a
main-thread task also grows long from garbage collection, from this test's
own ``evaluate()`` or from a renderer the OS did not schedule. On the 2-core
machine an animation frame's callback takes 0.1 ms at p50 and ~5 ms at p99
(``draw_*``), yet about one run in four still shows one ~51 ms paint: the
test allows the required budget, < 0.1 % of frames, and the benchmark
records the count against the goal of none.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from perf.bench_browser import CHROMIUM, REPLAY, main, parse_args

# slow: 2 minutes of a 4,000 ticks/s replay and five tabs (the default suite stays under 15 minutes); run with
# `pytest -m slow`, and perf/bench_browser.py records the same figures
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

FPS_MIN_TAB_MEDIAN = 58.0
PAINT_P50_MS = 40.0
BYTES_PER_S_PER_GROUP = 62_500  # 0.5 Mbps
LONG_TASK_FRAME_FRACTION = 0.001  # required: long tasks on < 0.1 % of frames (goal: none)


@pytest.fixture(scope="module")
def load_run():
    """One 30 s measured run per server mode: plain and permessage-deflate, the shared worker only."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (.ci/run does)")
    if not REPLAY.exists():
        pytest.fail(f"recorded data not found: {REPLAY}")
    return asyncio.run(main(parse_args(["--seconds", "30", "--no-baseline"])))


def test_desk_load_when_4000_ticks_per_s_for_30_s_then_every_tab_paints_at_58_fps_within_40_ms(load_run):
    """Median FPS ≥ 58 in every tab, tick → paint p50 ≤ 40 ms, the app's long tasks on < 0.1 % of frames,
    one socket."""
    shared = load_run["runs"]["shared"]
    assert shared["tabs"] == 5 and shared["sockets"] == 1
    assert shared["visible_rows_per_tab"] >= 100
    assert shared["ticks_per_s"] is None or shared["ticks_per_s"] >= 3_000
    assert shared["decode_errors"] == 0
    assert shared["fps_p50_min_tab"] >= FPS_MIN_TAB_MEDIAN, shared
    assert shared["paint_p50_ms"] <= PAINT_P50_MS, shared
    assert shared["app_long_tasks_observed"] is True  # the Long Animation Frames API counted them
    assert shared["app_long_tasks"] < LONG_TASK_FRAME_FRACTION * shared["frames"], shared


def test_desk_load_when_4000_ticks_per_s_then_one_group_costs_at_most_half_a_megabit(load_run):
    """Wire bytes per active group ≤ 0.5 Mbps, with and without permessage-deflate."""
    assert load_run["bytes_per_s_per_group"] <= BYTES_PER_S_PER_GROUP, load_run["runs"]["shared"]
    assert load_run["bytes_per_s_per_group_deflate"] <= BYTES_PER_S_PER_GROUP, load_run["runs"]["shared_deflate"]
