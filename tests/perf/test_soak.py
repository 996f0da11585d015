"""perf/soak.py runs the recorded day with faults and writes its samples, verdict and a PNG.

The verdict itself (RSS growth, loop stalls) is wall-clock and machine bound: the test checks
that it is computed and written, not that a shared CI machine meets it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~35 s: a soak is a long run by nature
def test_soak_when_short_run_then_samples_verdict_and_png_written(tmp_path):
    """A 30 s soak samples RSS, loop lag and send p99 every second and judges them."""
    out = tmp_path / "soak.json"
    done = subprocess.run([sys.executable, str(REPO / "perf" / "soak.py"), "--minutes", "0.5", "--warmup-s", "5",
                           "--json", str(out)], cwd=REPO, timeout=110, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    document = json.loads(out.read_text())
    assert len(document["samples"]) >= 20
    assert {"t_s", "rss_mb", "loop_lag_max_ms", "send_p99_ms", "replay_pass"} <= document["samples"][0].keys()
    assert {"arenas", "arena_used_mb", "rss_anon_mb"} <= document["samples"][0].keys()
    verdict = document["verdict"]
    assert {"passed", "failures", "rss_growth", "max_stall_ms", "warmup_end_s"} <= verdict.keys()
    assert done.returncode == (0 if verdict["passed"] else 1)
    assert "crash" in document["faults"] and out.with_suffix(".png").stat().st_size > 1000
