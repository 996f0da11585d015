"""Run a scenario: start a desk in process, attach simulated clients, play the faults, judge.

:func:`run_scenario` is what ``tickstage sim --scenario FILE`` runs, on the
process's (uvloop) loop:

1. start a :class:`transport.process.app.Desk` on loopback with the scenario's
   market (synthetic or replay) and a generated JWT secret;
2. connect ``probes`` clients subscribed to the scenario's groups, every
   fault target's group and the busiest groups, wait for their first frames,
   then for the loop to settle (:func:`wait_settled`);
3. inject each fault at its ``at_s`` (sim/harness/faults.py), sampling loop lag,
   memory and session conflation meanwhile;
   A ``restart_desk`` fault replaces the desk with a new one on the same
   journal, port and simulator venue (:func:`run_scenario`'s ``restart_desk``);
   the report reads the desk running at the end, the venue's counters span both;
4. wait for every fault to end, then find each one's recovery: the first
   healthy frame (a snapshot, or the next delta in sequence) built after the
   fault ended, at the client that shows it (:class:`sim.harness.faults.FaultRecord`),
   timed from the fault's end or, when the market was quiet, from the first
   tick after it (what ``recovery_ms`` measures: sim/harness/report.py);
5. stop everything and return the judged :class:`sim.harness.report.SimReport`.
"""

from __future__ import annotations

import array
import asyncio
import collections
import dataclasses
import resource
import secrets
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import structlog

from sim.harness.clients import ClientFactory, SimClient
from sim.harness.faults import FaultInjector, FaultRecord, group_of
from sim.harness.nats_server import NatsServerProcess
from sim.harness.report import FaultOutcome, SimReport, judge
from sim.harness.scenario import Scenario
from sim.harness.traders import Quote, TraderClient, order_figures

WARMUP_TIMEOUT_S = 20.0
"""Longest wait for the groups and the probes' first frames, seconds."""

END_GRACE_S = 5.0
"""Longest wait after the timeline for faults to end and frames to show recovery, seconds."""

LAG_INTERVAL_S = 0.01
"""Loop-lag sampling period, seconds."""

LAG_RESOLUTION_MS = 0.1
"""Loop lag is counted in steps of this many ms (:class:`LoopLag`)."""

SETTLE_QUIET_S = 1.0
"""The timeline starts once the loop has been this long without a late timer, seconds."""

SETTLE_LAG_MS = 50.0
"""A loop timer later than this means the desk is still busy starting, ms."""

_log = structlog.get_logger("sim.harness.runner")


class LoopLag:
    """Samples how late a ``LAG_INTERVAL_S`` loop timer runs, in memory bounded over any run length (loop thread).

    It keeps a count per :data:`LAG_RESOLUTION_MS` of lateness (for :meth:`percentile` and
    :meth:`max_ms`) and each second's worst (for :meth:`worst_ms`), not every sample: an hour's
    soak took 360,000 samples, ~26 MB of floats and ints that the soak's RSS counted as growth.
    """

    def __init__(self) -> None:
        self.counts: collections.Counter[int] = collections.Counter()
        """Lateness in :data:`LAG_RESOLUTION_MS` steps (rounded down) → samples."""
        self.seconds: array.array = array.array("d")
        """The worst lateness in each UNIX second from :attr:`first_second` on, ms (0 when none was sampled)."""
        self.first_second = 0
        self._loop = asyncio.get_running_loop()
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start sampling."""
        self._due = self._loop.time() + LAG_INTERVAL_S
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        now = self._loop.time()
        self.add(max(0.0, now - self._due) * 1000, time.time_ns())
        self._due = now + LAG_INTERVAL_S
        self._handle = self._loop.call_at(self._due, self._tick)

    def add(self, lag_ms: float, at_ns: int) -> None:
        """Count one sample: a timer ran ``lag_ms`` late at ``at_ns`` (UNIX ns)."""
        self.counts[int(lag_ms / LAG_RESOLUTION_MS)] += 1
        second = at_ns // 1_000_000_000
        if not self.seconds:
            self.first_second = second
        index = second - self.first_second
        if index >= len(self.seconds):
            self.seconds.extend([0.0] * (index + 1 - len(self.seconds)))
        if index >= 0 and lag_ms > self.seconds[index]:
            self.seconds[index] = lag_ms

    def stop(self) -> None:
        """Stop sampling."""
        if self._handle is not None:
            self._handle.cancel()

    def worst_ms(self, start_ns: int, end_ns: int) -> float:
        """Return the latest a timer ran in the whole seconds spanning ``start_ns`` .. ``end_ns`` (UNIX ns), ms
        (0 without samples); to the second: a stall up to a second before or after the span counts."""
        first = max(0, start_ns // 1_000_000_000 - self.first_second)
        last = end_ns // 1_000_000_000 - self.first_second
        return max(self.seconds[first:last + 1], default=0.0) if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        """Return the ``q``-th percentile (0-100) of the samples, ms, to :data:`LAG_RESOLUTION_MS` below
        (nearest rank; 0 without samples)."""
        total = sum(self.counts.values())
        rank = max(1, -(-total * q // 100))
        seen = 0
        for step in sorted(self.counts):
            seen += self.counts[step]
            if seen >= rank:
                return step * LAG_RESOLUTION_MS
        return 0.0

    def max_ms(self) -> float:
        """Return the worst sample, ms (0 without samples)."""
        return max(self.seconds, default=0.0)


class ConflationMeter:
    """Totals the sessions' conflated deltas across restarts and closes (sampled, loop thread)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self._last: dict[int, int] = {}
        self._baseline: dict[int, int] = {}
        self.sample()
        self._baseline = dict(self._last)

    def sample(self) -> None:
        """Read every live session's ``conflated`` counter."""
        for entry in self.runtime.registry.children("sessions"):
            instance = entry.instance
            if instance is not None and hasattr(instance, "conflated"):
                self._last[id(instance)] = int(instance.conflated)

    @property
    def total(self) -> int:
        """Deltas conflated by every session instance seen."""
        return sum(value - self._baseline.get(key, 0) for key, value in self._last.items())


def _desk_config(scenario: Scenario, secret: str, state_dir: Path) -> Any:
    from actors.orders.config import AccountSpec
    from transport.process.app import DEVELOPMENT_ORDERS, DeskConfig
    from transport.edge.limits import SocketLimits

    spec = scenario.desk
    replay = scenario.resolve(spec.replay)
    instruments = scenario.resolve(spec.instruments)
    if instruments and not Path(instruments).is_file():
        _log.warning("instruments_missing", path=instruments, fallback="built-in templates")
        instruments = ""
    sim = {"peak": spec.peak, "copies": spec.copies, "loop": spec.loop, "shift_s": spec.shift_s, "max_gap_s": spec.max_gap_s,
           "instruments": instruments, "venue": f"sim-{scenario.name}-{secrets.token_hex(4)}"}
    accounts = tuple(AccountSpec(f"acct-{i + 1:02d}", f"trader{i + 1}") for i in range(max(1, scenario.clients.traders)))
    orders = dataclasses.replace(DEVELOPMENT_ORDERS, accounts=accounts, journal=state_dir / "orders.sqlite3")
    return DeskConfig(
        orders=orders,
        port=0, replay=(replay,) if replay else (), speed=spec.speed, contracts=spec.contracts,
        rate=spec.rate, seed=spec.seed, jwt_secret=secret, progress_interval_s=0, sim=sim,
        limits=SocketLimits(high_water_bytes=spec.high_water_bytes, low_water_bytes=spec.low_water_bytes),
    )


def trader_quotes(desk: Any, groups: list[str]) -> list[Quote]:
    """Futures of ``groups`` (else any) at their settlement price: where traders order."""
    market = getattr(desk.engine.gateway(), "market", None)
    if market is None:
        return []
    universe = market.universe
    futures = [i for i, ref in enumerate(universe.refs) if ref.product_class == "F"]
    chosen = [i for i in futures if universe.refs[i].product in groups] or futures
    return [Quote(f"{universe.refs[i].symbol}.{universe.refs[i].exchange}",
                  round(float(universe.settle_ticks[i] * universe.price_ticks[i]), 8),
                  float(universe.price_ticks[i])) for i in chosen[:20]]


def busiest_groups(desk: Any, count: int) -> list[str]:
    """Return the ``count`` groups carrying the most ticks (synthetic weights, else instrument counts)."""
    gateway = desk.engine.gateway() if desk.engine else None
    market = getattr(gateway, "market", None)
    if market is not None:
        weight: dict[str, float] = defaultdict(float)
        for ref, share in zip(market.instruments, market.weights.tolist(), strict=True):
            weight[ref.product] += share
        ranked = sorted(weight, key=weight.__getitem__, reverse=True)
    else:
        groups = desk.bridge.groups()
        ranked = sorted(groups, key=groups.__getitem__, reverse=True)
    return ranked[:count]


async def wait_settled(timeout_s: float, quiet_s: float = SETTLE_QUIET_S, lag_ms: float = SETTLE_LAG_MS) -> bool:
    """Wait until no ``LAG_INTERVAL_S`` loop timer ran over ``lag_ms`` late for ``quiet_s``; False at ``timeout_s``.

    A 20,000-contract desk spends its first seconds encoding instruments and
    first snapshots (on a loaded 2-core machine the loop was blocked ~8 s):
    faults injected meanwhile would be judged on the start-up, not on recovery.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    quiet_since = loop.time()
    while loop.time() < deadline:
        before = loop.time()
        await asyncio.sleep(LAG_INTERVAL_S)
        now = loop.time()
        if (now - before - LAG_INTERVAL_S) * 1000 > lag_ms:
            quiet_since = now
        elif now - quiet_since >= quiet_s:
            return True
    return False


async def _wait(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout_s:g} s")
        await asyncio.sleep(0.02)


def _watch_recovery(record: FaultRecord, clients: dict[str, SimClient], probes: list[str]) -> None:
    """Once ``record`` ends, have the clients that show its recovery keep the first healthy frame after it
    (:meth:`SimClient.watch`): faults are judged at the end of the run, and clients keep only the last
    minute of frames."""
    def ended(_: asyncio.Future) -> None:
        if record.status != "injected" or not record.ended_ns:
            return
        for name in [record.client] if record.client else probes:
            if (client := clients.get(name)) is not None:
                client.watch(record.ready_ns, record.groups)

    if record.ended is not None:
        record.ended.add_done_callback(ended)


def _outcome(record: FaultRecord, clients: dict[str, SimClient], probes: list[str], at_s: float,
             lag: LoopLag | None = None) -> FaultOutcome:
    spec = record.spec
    outcome = FaultOutcome(record.index, at_s, spec.kind, record.target or spec.target, record.status, None,
                           record.reason, dict(record.details), optional=spec.optional)
    if record.status != "injected":
        return outcome
    if not record.ended_ns:
        outcome.status, outcome.reason = "failed", "did not end"
        return outcome
    watchers = [record.client] if record.client else probes
    market_ns = record.market.first_ns if record.market is not None else 0
    if market_ns:
        outcome.details["market_wait_ms"] = round(max(0, market_ns - record.ended_ns) / 1e6, 3)
    found = [clients[name].recovery(record.ended_ns, record.ready_ns, record.groups, market_ns)
             for name in watchers if name in clients]
    found = [f for f in found if f is not None]
    if not found:
        outcome.status = "unrecovered"
        where = ",".join(record.groups) or "any group"
        outcome.reason = f"no healthy frame of {where} at {'/'.join(watchers)} after the fault"
        return outcome
    arrival_ns, start_ns = min(found)
    if lag is not None:  # a blocked loop (a starved process) shows here, beside a slow recovery
        outcome.details["loop_lag_max_ms"] = round(lag.worst_ms(record.injected_ns, arrival_ns), 1)
    outcome.status = "recovered"
    outcome.recovery_ms = round(max(0, arrival_ns - start_ns) / 1e6, 3)
    outcome.details["clock_from"] = "fault end" if start_ns == record.ended_ns else "first input after it"
    return outcome


async def run_scenario(scenario: Scenario, tape_path: str | Path | None = None) -> SimReport:
    """Run ``scenario`` on the running loop and return its judged report.

    Args:
        scenario: the parsed scenario.
        tape_path: write the run's ticks in and the probes' frames out to this tape.

    Raises:
        TimeoutError: the desk or the probes did not warm up.
        ConnectionError: a probe could not connect.
    """
    from transport.process.app import Desk
    from transport.signin.auth import mint_token

    import tempfile

    secret = secrets.token_urlsafe(32)
    state = tempfile.TemporaryDirectory(prefix="tickstage-sim-")
    config = _desk_config(scenario, secret, Path(state.name))
    if tape_path:
        config.sim["record"] = str(tape_path)
    nats_servers: tuple[NatsServerProcess, ...] = ()
    if scenario.desk.nats:  # the desk on a nats-server of the run's own, which nats_disconnect stops
        nats_servers = (NatsServerProcess(Path(state.name) / "nats-js"),)
        try:
            config = dataclasses.replace(config, nats=(await nats_servers[0].start(),))
        except BaseException:
            await nats_servers[0].stop()
            state.cleanup()
            raise
    desk = Desk(config)
    clients: dict[str, SimClient] = {}
    traders: list[TraderClient] = []
    trading: list[asyncio.Task] = []
    injector: FaultInjector | None = None
    lag = LoopLag()
    await desk.start()
    try:
        url = f"ws://{config.host}:{desk.port}/ws"
        recorder = getattr(desk.engine.gateway(), "recorder", None)
        wanted = list(scenario.clients.groups) + [g for f in scenario.faults if (g := group_of(f.target))]
        await _wait(lambda: set(wanted) <= set(desk.bridge.groups()) and desk.bridge.groups(),
                    WARMUP_TIMEOUT_S, f"groups {wanted}")
        groups = list(dict.fromkeys(wanted + busiest_groups(desk, scenario.clients.busiest)))
        probes = [f"probe{i + 1}" for i in range(scenario.clients.probes)]
        for name in probes:
            clients[name] = SimClient(name, url, mint_token(secret, name), groups, recorder)
            await clients[name].start(WARMUP_TIMEOUT_S)
        await _wait(lambda: all(c.healthy for c in clients.values()), WARMUP_TIMEOUT_S, "first frames")
        quotes = trader_quotes(desk, groups)
        for i in range(scenario.clients.traders if quotes else 0):
            name, account = f"trader{i + 1}", f"acct-{i + 1:02d}"
            trader = TraderClient(name, url, mint_token(secret, name, "trader", accounts=[account]), account,
                                  quotes, scenario.clients.orders_per_s, seed=scenario.seed + i)
            await trader.start(WARMUP_TIMEOUT_S)
            clients[name] = trader
            traders.append(trader)
            trading.append(asyncio.get_running_loop().create_task(trader.trade()))

        if not await wait_settled(WARMUP_TIMEOUT_S):
            _log.warning("desk_not_settled", timeout_s=WARMUP_TIMEOUT_S, lag_ms=SETTLE_LAG_MS)
        lag.start()
        carried_restarts = 0

        async def restart_desk() -> Desk:
            """Stop the desk, start a new one on the same journal, port and venue (a ``restart_desk`` fault)."""
            nonlocal desk, carried_restarts
            carried_restarts += sum(e.restarts for e in desk.runtime.registry.entries())
            port = desk.port
            await desk.stop()
            desk = Desk(dataclasses.replace(config, port=port))
            await desk.start()
            meter.runtime = desk.runtime
            await _wait(lambda: set(groups) <= set(desk.bridge.groups()), WARMUP_TIMEOUT_S, f"groups {groups}")
            return desk

        injector = FaultInjector(desk, clients, ClientFactory(url, secret, groups, scenario.seed), scenario.seed,
                                 groups=tuple(groups), restart_desk=restart_desk, nats_servers=nats_servers)
        meter = ConflationMeter(desk.runtime)
        restarts_before = sum(e.restarts for e in desk.runtime.registry.entries())
        loop = asyncio.get_running_loop()
        start = loop.time()
        for spec in scenario.faults:
            while loop.time() < start + spec.at_s:
                meter.sample()
                await asyncio.sleep(min(0.25, start + spec.at_s - loop.time()))
            _watch_recovery(await injector.inject(spec), clients, probes)
        while loop.time() < start + scenario.duration_s:
            meter.sample()
            await asyncio.sleep(min(0.25, start + scenario.duration_s - loop.time()))
        for trader in traders:
            trader.stop_trading()
        pending = [r.ended for r in injector.records if r.ended is not None and not r.ended.done()]
        if pending:
            await asyncio.wait(pending, timeout=END_GRACE_S)
        await asyncio.sleep(min(END_GRACE_S, scenario.max_recovery_ms / 1000))
        meter.sample()
        for trader in traders:
            await trader.settle()
        outcomes = [_outcome(r, clients, probes, r.spec.at_s, lag) for r in injector.records]
        report = SimReport(
            scenario=scenario.name, seed=scenario.seed, duration_s=scenario.duration_s,
            max_recovery_ms=scenario.max_recovery_ms,
            faults_injected=sum(1 for r in injector.records if r.status != "skipped"),
            faults=outcomes,
            restarts=sum(e.restarts for e in desk.runtime.registry.entries()) + carried_restarts - restarts_before,
            frames_conflated=meter.total,
            seq_gaps=sum(c.stats.seq_gaps for c in clients.values()),
            seq_gaps_healed=sum(c.stats.seq_gaps_healed for c in clients.values()),
            frames_received=sum(c.stats.frames for c in clients.values()),
            ticks_emitted=int((desk.engine.progress() or {}).get("rows_emitted", 0)),
        )
        if traders:
            exchange = getattr(desk.engine.gateway(), "exchange", None)
            figures = order_figures(traders, exchange.statistics() if exchange is not None else None)
            retries = figures.pop("order_retries")
            for key, value in figures.items():
                setattr(report, key, value)
            report.order_path = f"{len(traders)} traders, {retries} retries"
        elif scenario.clients.traders:
            report.order_path = "no traders: they need a synthetic market to price orders"
        progress = desk.engine.progress() or {}
        report.process_alive = (desk.runtime.root_failure is None and not progress.get("error")
                                and all(not clients[name].closed for name in probes))
        report.max_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        report.loop_lag_p99_ms = round(lag.percentile(99), 2)
        report.loop_lag_max_ms = round(lag.max_ms(), 2)
        return judge(report)
    finally:
        lag.stop()
        if injector is not None:
            await injector.close()
        for task in trading:
            task.cancel()
        for client in clients.values():
            await client.close()
        await desk.stop()
        for server in nats_servers:
            await server.stop()
        state.cleanup()


def sim_main(scenario_path: str, report_path: str | None = None, tape_path: str | None = None) -> int:
    """``tickstage sim``: run a scenario file, print the report, write it as JSON.

    Returns:
        0 when the run passed, 1 when it failed, 2 when the scenario is bad
        or the desk did not warm up.
    """
    import sys

    import uvloop

    from sim.errors import ScenarioError
    from sim.harness.scenario import load_scenario

    try:
        scenario = load_scenario(scenario_path)
        report = uvloop.run(run_scenario(scenario, tape_path))
    except ScenarioError as exc:
        print(f"tickstage sim: {exc}", file=sys.stderr)
        return 2
    except (TimeoutError, ConnectionError) as exc:
        print(f"tickstage sim: the desk did not warm up: {exc}", file=sys.stderr)
        return 2
    print(report.render(), flush=True)
    if report_path:
        report.write(report_path)
    return 0 if report.passed else 1


__all__ = ["ConflationMeter", "LoopLag", "busiest_groups", "run_scenario", "sim_main", "wait_settled"]
