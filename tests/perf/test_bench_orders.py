"""perf/bench_orders.py runs end to end: the order path's stages, the floor beside them, JSON and the stages PNG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~5 s: a benchmark run
def test_bench_orders_when_small_run_then_every_stage_and_the_floor_reported_and_plotted(tmp_path):
    """A small run reports each stage of the desk's own overhead for the candidate and the floor (no rules), the
    floor's overhead keys and the commit with threads idle and busy, and writes the stages PNG."""
    out, png = tmp_path / "orders.json", tmp_path / "stages.png"
    subprocess.run([sys.executable, str(REPO / "perf" / "bench_orders.py"), "--orders", "30", "--burst", "10",
                    "--open-sizes", "", "--json", str(out), "--stages-plot", str(png)],
                   cwd=REPO, check=True, timeout=120, capture_output=True)
    document = json.loads(out.read_text())
    stages = ("edge_decode", "session_encode", "hop_in", "admit", "rules", "commit", "send_order", "answer_hop",
              "reply_encode", "reply_hop", "socket_write")
    assert set(stages) <= document["stages"].keys()
    assert all(document["stages"][stage]["n"] > 0 for stage in stages)
    assert "rules" not in document["floor_stages"] and "commit" in document["floor_stages"]
    for key in ("floor_overhead_p50_us", "floor_overhead_p99_us", "overhead_p50_us", "journal_commit_idle_p99_us",
                "journal_commit_busy_p99_us", "answer_floor_p99_us", "answer_dispatcher_p99_us",
                "answer_floor_busy_p99_us", "answer_dispatcher_busy_p99_us"):
        assert document[key] > 0
    assert png.stat().st_size > 1000
