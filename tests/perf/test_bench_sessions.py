"""perf/bench_sessions.py --quick runs end to end: every step measured, a baseline, JSON and a PNG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~17 s: a benchmark run; the default suite stays under 15 min
def test_bench_sessions_when_quick_then_steps_baseline_json_and_png_written(tmp_path):
    """A CI-sized run reports every step's keys for tickstage, the floor and every baseline, with delivery, and
    plots them."""
    out = tmp_path / "sessions.json"
    subprocess.run([sys.executable, str(REPO / "perf" / "bench_sessions.py"), "--quick", "--steps", "5,10",
                    "--seconds", "1", "--contracts", "800", "--warmup-s", "0.5", "--json", str(out)],
                   cwd=REPO, check=True, timeout=100, capture_output=True)
    document = json.loads(out.read_text())
    for key in ("steps", "floor", "baseline_messages", "baseline", "baseline_aiohttp_send"):
        assert [step["sessions"] for step in document[key]] == [5, 10]
        for step in document[key]:
            assert {"sessions", "lag_p50_ms", "lag_p99_ms", "msgs_per_session_per_s", "rss_mb",
                    "cpu_percent", "delivery"} <= step.keys()
            assert step["msgs_per_session_per_s"] > 0 and step["client_errors"] == 0
    assert out.with_suffix(".png").stat().st_size > 1000
