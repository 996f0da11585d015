"""The ``restart_desk`` fault: the whole desk restarted on its journal under trading traders (sim/harness/scenarios/restart-desk.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.harness.runner import run_scenario
from sim.harness.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[3] / "sim" / "harness" / "scenarios" / "restart-desk.toml"


@pytest.mark.timeout(120)
async def test_run_scenario_when_desk_restarts_under_traders_then_nothing_lost_or_duplicated(data_dir) -> None:
    """Clients disconnect, a new desk starts on the same journal, port and venue, clients reconnect: the report
    passes with every order answered once at the venue and the probes' frames back."""
    report = await run_scenario(load_scenario(SCENARIO))

    (fault,) = report.faults
    assert report.passed, report.render()
    assert (fault.kind, fault.status, fault.details["clients"]) == ("restart_desk", "recovered", 3)
    assert fault.details["restart_ms"] > 0
    assert report.orders_submitted > 0 and report.orders_at_gateway > 0
    assert (report.orders_lost, report.orders_duplicated, report.unknown_outcomes_unresolved) == (0, 0, 0)
