"""The ``nats_disconnect`` fault for real: a scenario's own nats-server stops and starts again under the desk."""

from __future__ import annotations

import asyncio

import pytest

from sim.harness.nats_server import NatsServerProcess
from sim.harness.runner import run_scenario
from sim.harness.scenario import parse_scenario
from transport.cluster.nats_bus import NatsBus

SCENARIO = """
[scenario]
name = "nats-cut"
duration_s = 4
max_recovery_ms = 3000

[desk]
contracts = 300
rate = 400.0
{nats}

[clients]
probes = 1
busiest = 2

[[fault]]
at_s = 0.5
kind = "nats_disconnect"
duration_ms = 600
{optional}
"""


def _scenario(tmp_path, nats: bool, optional: bool = False):
    text = SCENARIO.format(nats="nats = true" if nats else "", optional="optional = true" if optional else "")
    return parse_scenario(text, tmp_path / "nats-cut.toml")


@pytest.mark.nats
async def test_server_when_stopped_and_started_then_same_url_and_a_client_reconnects(tmp_path) -> None:
    """A stopped server comes back on the same port; a NatsBus on it counts one disconnect and one reconnect."""
    server = NatsServerProcess(tmp_path / "js")
    url = await server.start()
    bus = NatsBus([url], name="probe")
    await bus.connect()
    try:
        await server.stop()
        assert await server.start() == url
        async with asyncio.timeout(10):
            while not (bus.statistics().connected and bus.statistics().reconnects):
                await asyncio.sleep(0.02)
        assert bus.statistics().disconnects >= 1
    finally:
        await bus.close()
        await server.stop()
    assert (server.starts, server.stops) == (2, 2)


@pytest.mark.nats
async def test_run_when_desk_on_nats_then_disconnect_cuts_its_connection_and_it_recovers(tmp_path) -> None:
    """[desk] nats = true: the fault stops the run's nats-server, the desk reconnects, the run passes."""
    report = await run_scenario(_scenario(tmp_path, nats=True))
    fault = report.faults[0]
    assert fault.status == "recovered", (fault, report.failures)
    assert fault.target.startswith("nats://127.0.0.1:")
    assert fault.details["disconnects"] >= 1 and fault.details["reconnects"] >= 1
    assert report.passed, report.failures


@pytest.mark.slow  # ~18 s: two whole runs; the judging is unit-tested in test_scenario.py
async def test_run_when_nats_disconnect_cannot_apply_then_fails_unless_optional(tmp_path) -> None:
    """On a desk without NATS the fault is skipped: the run fails, unless the scenario marks it optional."""
    report = await run_scenario(_scenario(tmp_path, nats=False))
    assert report.faults[0].status == "skipped" and not report.passed
    assert any("skipped" in failure and "optional" in failure for failure in report.failures)
    report = await run_scenario(_scenario(tmp_path, nats=False, optional=True))
    assert report.faults[0].status == "skipped" and report.passed, report.failures
