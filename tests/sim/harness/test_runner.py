"""The scenario runner (sim/harness/runner.py): what it keeps over a long run, and faults judged at its end."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import sim.harness.clients as clients
from sim.harness.runner import LAG_RESOLUTION_MS, LoopLag, run_scenario
from sim.harness.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "sim" / "harness" / "scenarios"


async def test_loop_lag_when_an_hour_is_sampled_then_memory_is_bounded_and_figures_match_every_sample() -> None:
    """An hour of 10 ms samples (360,000) keeps one worst lag per second and one count per 0.1 ms step, not
    every sample (an hour's soak counted ~26 MB of kept samples as the desk's RSS growth); p99, max and
    the worst lag of a window agree with the full samples."""
    lag = LoopLag()
    rng = np.random.default_rng(7)
    samples = rng.exponential(2.0, 360_000)
    samples[200_000] = 1234.5   # one stall, 2,000 s in
    start_ns = 1_700_000_000 * 10**9
    times = start_ns + np.arange(len(samples), dtype=np.int64) * 10_000_000
    for value, at_ns in zip(samples.tolist(), times.tolist(), strict=True):
        lag.add(value, at_ns)
    assert len(lag.seconds) == 3600
    assert len(lag.counts) <= samples.max() / LAG_RESOLUTION_MS + 1 and len(lag.counts) < 1_000
    assert lag.max_ms() == pytest.approx(1234.5)
    assert lag.percentile(99) == pytest.approx(float(np.percentile(samples, 99)), abs=LAG_RESOLUTION_MS)
    stall_ns = int(times[200_000])
    assert lag.worst_ms(stall_ns - 10**9, stall_ns + 10**9) == pytest.approx(1234.5)
    assert lag.worst_ms(stall_ns + 5 * 10**9, stall_ns + 60 * 10**9) < 100
    assert LoopLag().percentile(99) == 0.0 and LoopLag().worst_ms(0, 1) == 0.0


@pytest.mark.timeout(120)
async def test_run_scenario_when_faults_are_older_than_the_frames_kept_then_each_is_judged_on_its_own_recovery(
        data_dir, monkeypatch) -> None:
    """Faults are judged at the end of the run: with clients keeping 1 s of frames, a crash 6 s before the end
    is still judged on the first healthy frame after it (watched when it ended), not on the first kept one."""
    monkeypatch.setattr(clients, "HEALTHY_KEPT_NS", 1_000_000_000)
    scenario = load_scenario(SCENARIOS / "crash.toml")
    scenario = dataclasses.replace(scenario, duration_s=9, desk=dataclasses.replace(scenario.desk, contracts=2000),
                                   faults=tuple(dataclasses.replace(f, at_s=1 + i) for i, f in enumerate(scenario.faults)))
    report = await run_scenario(scenario)
    assert [f.status for f in report.faults] == ["recovered", "recovered"], report.render()
    assert all(f.recovery_ms < 3000 for f in report.faults), report.render()
    assert report.loop_lag_max_ms >= report.loop_lag_p99_ms >= 0
