"""perf/soak.py's heap figures: pymalloc's arenas read from ``sys._debugmallocstats()``, RSS split by kind."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

REPORT_3_11 = """Small block threshold = 512, in 32 size classes.

class   size   num pools   blocks in use  avail blocks
-----   ----   ---------   -------------  ------------
    0     16           1             100           920
    1     32          40          20,000           360

# arenas allocated total           =                  180
# arenas reclaimed                 =                   40
# arenas highwater mark            =                  150
# arenas allocated current         =                  140
140 arenas * 1048576 bytes/arena   =          146,800,640

# bytes in allocated blocks        =          125,829,120
# bytes in available blocks        =           10,485,760
3 unused pools * 16384 bytes       =               49,152
# bytes lost to pool headers       =              100,000
# bytes lost to quantization       =              200,000
# bytes lost to arena alignment    =                    0
Total                              =          146,800,640

arena map counts
# arena map mid nodes              =                    1
# bytes lost to arena map root     =              262,144
Total                              =              655,360

          3 free PyDictObjects * 48 bytes each =                  144
"""


def _soak():
    """perf/soak.py as a module (perf/ is a folder of scripts, not a package; its imports resolve from perf/)."""
    sys.path.insert(0, str(REPO / "perf"))
    try:
        spec = importlib.util.spec_from_file_location("perf_soak_under_test", REPO / "perf" / "soak.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "perf"))


def test_parse_mallocstats_when_report_then_arenas_live_and_free_bytes():
    """The arenas' counts, their size (the first Total, not the arena map's), live and free bytes are read."""
    figures = _soak().parse_mallocstats(REPORT_3_11)
    assert figures == {"arenas": 140, "arenas_highwater": 150, "arena_mb": 140.0, "arena_used_mb": 120.0,
                       "arena_free_mb": round((10_485_760 + 49_152) / 2**20, 2)}


def test_parse_mallocstats_when_pymalloc_off_or_garbage_then_empty():
    """``PYTHONMALLOC=malloc`` prints only the free lists; stray stderr lines are ignored."""
    soak = _soak()
    assert soak.parse_mallocstats("          3 free PyDictObjects * 48 bytes each =                  144\n") == {}
    assert soak.parse_mallocstats("a warning from another thread = not a number\n\n") == {}


def test_mallocstats_text_when_called_then_this_interpreters_report_captured_and_stderr_restored(capfd):
    """The report written to fd 2 is captured, parsed to this process's arenas, and fd 2 writes go on after."""
    soak = _soak()
    figures = soak.parse_mallocstats(soak.mallocstats_text())
    if sys.flags.dev_mode or not figures:  # PYTHONMALLOC=malloc (or debug hooks): no arenas to read
        return
    assert figures["arenas"] >= 1 and figures["arenas_highwater"] >= figures["arenas"]
    assert 0 < figures["arena_used_mb"] <= figures["arena_mb"]
    print("after", file=sys.stderr, flush=True)
    captured = capfd.readouterr()
    assert "arenas allocated" not in captured.err and "after" in captured.err


def test_rss_parts_when_linux_then_anonymous_and_file_backed_mb():
    """RssAnon and RssFile come from /proc/self/status, in MB."""
    parts = _soak().rss_parts_mb()
    assert parts.keys() == {"rss_anon_mb", "rss_file_mb"} and parts["rss_anon_mb"] > 0


def test_pass_counter_when_exchange_time_jumps_back_hours_then_one_more_pass():
    """The tape's restart (exchange time back by hours) counts; a clock skew of seconds or no row yet does not."""
    counter = _soak().PassCounter()
    hour = 3_600 * 10**9
    assert [counter.observe(t) for t in (0, 10 * hour, 10 * hour + 5, 10 * hour - 60 * 10**9, 19 * hour)] == [
        0, 0, 0, 0, 0]
    assert counter.observe(10 * hour + 1) == 1   # back to the night session's start
    assert counter.observe(0) == 1 and counter.observe(12 * hour) == 1


def _rows(passes: list[int], rss: list[float]) -> list[dict]:
    return [{"t_s": float(i), "rss_mb": mb, "loop_lag_max_ms": 1.0, "replay_pass": p}
            for i, (p, mb) in enumerate(zip(passes, rss, strict=True))]


def _args(**overrides):
    import argparse

    return argparse.Namespace(**{"warmup_pass": True, "max_growth": 0.02, "max_stall_ms": 50.0, **overrides})


def test_judge_when_state_lands_in_the_first_pass_then_judged_from_the_second():
    """Memory that arrives during the first pass (contracts' first ticks, the busiest session's rate) is
    warm-up; the second pass, flat, passes (it failed when judged after the time warm-up alone)."""
    soak = _soak()
    rows = _rows([0] * 40 + [1] * 40, [100.0 + i * 0.5 for i in range(40)] + [120.0] * 40)
    verdict = soak.judge(rows, (), 10.0, 0.0, _args())
    assert verdict["passed"] and verdict["warmup_end_s"] == 40.0 and verdict["rss_growth"] == 0.0
    assert not soak.judge(rows, (), 10.0, 0.0, _args(warmup_pass=False))["passed"]


def test_judge_when_the_first_pass_never_ends_then_fails_saying_why():
    """A run shorter than the tape cannot tell bounded state from growth: the verdict fails and names it."""
    soak = _soak()
    verdict = soak.judge(_rows([0] * 60, [100.0] * 60), (), 10.0, 0.0, _args())
    assert not verdict["passed"] and "second pass" in verdict["failures"][0]
    assert verdict["rss_growth"] == 0.0   # still measured after --warmup-s, for the diagnosis


def test_judge_when_growth_in_the_second_pass_then_fails():
    """Growth after the first pass is growth."""
    rows = _rows([0] * 20 + [1] * 50, [100.0] * 20 + [100.0 + i * 0.2 for i in range(50)])
    verdict = _soak().judge(rows, (), 5.0, 0.0, _args())
    assert not verdict["passed"] and "RSS grew" in verdict["failures"][0]
