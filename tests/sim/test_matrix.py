"""The fault matrix end to end: `tickstage sim --scenario sim/scenarios/matrix.toml --report r.json`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # ~60 s and load-sensitive; run with `pytest -m slow` (see README)

from sim.scenario import FAULT_KINDS

MATRIX = Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "matrix.toml"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tickstage_sim_when_matrix_then_report_passes_with_nothing_lost(tmp_path: Path, data_dir: Path) -> None:
    """Every fault kind against a 20,000-contract desk: the report's own verdict passes, exit status 0."""
    report_path = tmp_path / "r.json"
    run = subprocess.run(
        [sys.executable, "-m", "transport.cli", "--log-level", "error", "sim", "--scenario", str(MATRIX),
         "--report", str(report_path)],
        capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["passed"] is True and report["failures"] == []
    assert (report["orders_lost"], report["orders_duplicated"], report["unknown_outcomes_unresolved"]) == (0, 0, 0)
    assert report["process_alive"] is True and report["orders_submitted"] > 0
    assert {fault["kind"] for fault in report["faults"]} == set(FAULT_KINDS)
    assert all(f["status"] == "recovered" for f in report["faults"] if f["kind"] != "nats_disconnect")
    assert run.stdout.strip().splitlines()[-1] == "PASS"
