"""The verdict of a scenario run: what broke, how long recovery took, whether anything was lost.

:class:`SimReport` is written as JSON (``tickstage sim --report FILE``) and
printed as a table. :func:`judge` decides pass or fail: no order lost or
duplicated, no unknown order outcome left, the process alive, and every
injected fault recovered within the scenario's ``max_recovery_ms``. A
skipped fault (a NATS disconnect on a desk without NATS) fails the run
unless the scenario marks it ``optional = true``; an optional one is listed
and does not fail it.

What ``recovery_ms`` measures, per fault (sim/harness/runner.py, sim/harness/clients.py):

- **the clock stops** when the first *healthy* message reaches the client
  that shows the fault (in process, so the client's read is included): for a
  market fault, a group frame of the target's groups (any probe group when
  the fault names none) built after the fault's end (after the new
  incarnation was bound, for a crash or kill) that is a snapshot or the next
  delta in sequence with no gap open; for an order, risk or account actor,
  the trader's next ``orderReply``.
- **the clock starts** at the fault's end: the end of ``duration_ms`` for a
  timed fault, the injection itself for a crash or kill (so the restart, its
  backoff, the resync and the snapshot all count), the desk closing a
  garbage client. One exception: when the frame that stops the clock is a
  delta showing only ticks emitted after the first tick the feed emitted for
  those groups after the end (``details.market_wait_ms`` after it), or a
  periodic snapshot (the next in sequence) carrying such a tick, the clock
  starts at that tick: a quiet market (rb ticks on SHFE's 500 ms grid; a
  replayed product between sessions) is not the desk's delay, and the desk
  cannot show a tick before it exists. A snapshot sent on demand (attach,
  restart, gap repair) always counts from the end.
  Likewise a trader that owed no reply at the end starts the clock at its
  next submission. ``details.clock_from`` says which start was used.

So ``recovery_ms`` includes the 33 ms conflation window, restart backoff,
resyncs, snapshot round trips, the loop's lateness and the socket; it does
not include waiting for a tick that had not happened yet. Beside it,
``details.loop_lag_max_ms`` is the latest a 10 ms loop timer ran between the
injection and the recovery (a process starved of CPU shows there, not only
in the recovery), and ``details.restart_ms`` a crash or kill's restart.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FaultOutcome:
    """One fault's result.

    Attributes:
        index: position in the timeline.
        at_s: when it was injected, seconds after the warm-up.
        kind: fault kind.
        target: actor path or client name.
        status: ``"recovered"``, ``"unrecovered"``, ``"skipped"`` or ``"failed"``.
        recovery_ms: from the fault's end (or the first tick after it, when the market was
            quiet: module docstring) to the next healthy frame at the client, ms; None when none came.
        reason: why it was skipped, failed or not recovered.
        details: kind-specific figures (messages held or dropped, close code, restarts ...).
        optional: the scenario marked it ``optional``: skipped, it does not fail the run.
    """

    index: int
    at_s: float
    kind: str
    target: str
    status: str
    recovery_ms: float | None
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    optional: bool = False


@dataclass
class SimReport:
    """Everything ``tickstage sim`` reports (the issue's verdict fields and a few more).

    Attributes:
        scenario: scenario name.
        seed: scenario seed.
        duration_s: timeline length, seconds.
        max_recovery_ms: the recovery bound faults are judged against, ms.
        faults_injected: faults applied (skipped ones excluded).
        faults: every fault's :class:`FaultOutcome`.
        restarts: actor restarts during the run (registry counts).
        frames_conflated: deltas sessions dropped for slow sockets.
        seq_gaps: sequence gaps the clients saw.
        seq_gaps_healed: gaps closed by a snapshot.
        frames_received: group frames the clients received.
        ticks_emitted: ticks the simulator gateway emitted.
        orders_submitted: orders the simulated traders submitted (0: no trader ran).
        orders_at_gateway: distinct orders the gateway received.
        orders_lost: submitted orders that never reached the gateway nor got a final reply.
        orders_duplicated: client order ids the gateway saw more than once.
        unknown_outcomes_unresolved: orders whose outcome stayed unknown at the end.
        order_path: ``"exercised"``, or why no trader ran.
        process_alive: the root supervisor never gave up, the feed is alive, the probes' sockets are open.
        max_rss_mb: peak resident memory of the process, MiB.
        loop_lag_p99_ms: p99 lateness of a 10 ms loop timer over the run, ms.
        loop_lag_max_ms: worst lateness, ms.
        passed: the verdict.
        failures: why it failed (empty when passed).
    """

    scenario: str
    seed: int
    duration_s: float
    max_recovery_ms: float
    faults_injected: int
    faults: list[FaultOutcome]
    restarts: int
    frames_conflated: int
    seq_gaps: int
    seq_gaps_healed: int
    frames_received: int
    ticks_emitted: int
    orders_submitted: int = 0
    orders_at_gateway: int = 0
    orders_lost: int = 0
    orders_duplicated: int = 0
    unknown_outcomes_unresolved: int = 0
    order_path: str = "not exercised"
    process_alive: bool = True
    max_rss_mb: float = 0.0
    loop_lag_p99_ms: float = 0.0
    loop_lag_max_ms: float = 0.0
    passed: bool = False
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-able values."""
        return asdict(self)

    def write(self, path: str | Path) -> None:
        """Write the report as indented JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")

    def render(self) -> str:
        """Return the printed form: one line per fault, the totals, and the pass/fail line."""
        lines = [f"scenario {self.scenario} (seed {self.seed}, {self.duration_s:g} s, "
                 f"recovery bound {self.max_recovery_ms:g} ms)"]
        lines.append(f"  {'#':>3} {'at_s':>6} {'kind':<19} {'target':<28} {'status':<12} {'recovery_ms':>11}")
        for fault in self.faults:
            recovery = f"{fault.recovery_ms:.1f}" if fault.recovery_ms is not None else "-"
            lines.append(f"  {fault.index:>3} {fault.at_s:>6g} {fault.kind:<19} {fault.target[:28]:<28} "
                         f"{fault.status:<12} {recovery:>11}" + (f"  {fault.reason}" if fault.reason else ""))
        lines.append(
            f"faults_injected={self.faults_injected} restarts={self.restarts} "
            f"frames_conflated={self.frames_conflated} seq_gaps={self.seq_gaps} "
            f"seq_gaps_healed={self.seq_gaps_healed} frames_received={self.frames_received} "
            f"ticks_emitted={self.ticks_emitted}")
        lines.append(
            f"orders_submitted={self.orders_submitted} orders_at_gateway={self.orders_at_gateway} "
            f"orders_lost={self.orders_lost} orders_duplicated={self.orders_duplicated} "
            f"unknown_outcomes_unresolved={self.unknown_outcomes_unresolved} ({self.order_path})")
        lines.append(
            f"process_alive={str(self.process_alive).lower()} max_rss_mb={self.max_rss_mb:.0f} "
            f"loop_lag_p99_ms={self.loop_lag_p99_ms:.1f} loop_lag_max_ms={self.loop_lag_max_ms:.1f}")
        verdict = "PASS" if self.passed else "FAIL: " + "; ".join(self.failures)
        lines.append(f"{verdict}")
        return "\n".join(lines)


def judge(report: SimReport) -> SimReport:
    """Set ``passed`` and ``failures`` from the report's figures; return the report."""
    failures = []
    if report.orders_lost:
        failures.append(f"orders_lost={report.orders_lost}")
    if report.orders_duplicated:
        failures.append(f"orders_duplicated={report.orders_duplicated}")
    if report.unknown_outcomes_unresolved:
        failures.append(f"unknown_outcomes_unresolved={report.unknown_outcomes_unresolved}")
    if not report.process_alive:
        failures.append("process not alive")
    for fault in report.faults:
        if fault.status == "skipped":
            if not fault.optional:
                failures.append(f"fault {fault.index} ({fault.kind}) skipped: {fault.reason} "
                                "(mark it optional = true to allow that)")
            continue
        if fault.status != "recovered":
            failures.append(f"fault {fault.index} ({fault.kind}) {fault.status}: {fault.reason}")
        elif fault.recovery_ms is None or fault.recovery_ms >= report.max_recovery_ms:
            failures.append(f"fault {fault.index} ({fault.kind}) recovered in {fault.recovery_ms:.0f} ms "
                            f"(bound {report.max_recovery_ms:g} ms)")
    report.failures = failures
    report.passed = not failures
    return report


__all__ = ["FaultOutcome", "SimReport", "judge"]
