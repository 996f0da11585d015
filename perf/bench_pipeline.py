"""Benchmark the market-data pipeline: vn.py ticks → bridge → 33 ms group frames → WebSocket clients.

Measures, for tickstage and, in the same run, for the per-tick push it
replaces (perf/_servers.py ``BaselineServer``: every tick JSON-encoded and
sent to each subscribed client, no conflation):

1. **Ingest** (ticks/s on one core): N seeded ticks over ~2,000 contracts in
   ~40 product groups, pushed as fast as possible from a feeder thread,
   (a) straight into the vn.py-thread entry point (``on_tick_event``) and
   (b) through the desk's vn.py EventEngine (``PromptEventEngine``: tickstage's bridge handlers are direct,
   called on the feeder's thread as it puts each tick, as on a desk since 2026-12-05); timed from the first tick
   until everything is absorbed (tickstage: bridge drained and the actor
   runtime idle, so every group applied its batches; baseline: every message
   written to its sockets). The clients stay connected, so frames are built
   and sent meanwhile.
2. **Tick → client latency** at each rate (default 4,000 and 40,000 ticks/s),
   fed through the EventEngine by a paced feeder thread, with 50 WebSocket
   clients in a separate process (perf/_clients.py), each subscribed to 3
   groups. Latency = client receive time − ``gatewayRecvTsNs`` (stamped by
   the server's vn.py handler; same clock). ``e2e`` is the newest row of each
   frame (as ``tickstage watch`` reports it); ``row`` is every delivered
   row, i.e. the age of every tick a client saw (includes the 33 ms window).
   For the baseline the stamp is taken after a tick left vn.py's (unbounded) EventEngine
   queue, so that wait is not in ``e2e``: probes put every 10 ms time it
   (``vnpy_queue_*``); add it when the handler falls behind the feed. tickstage's
   bridge stamps on the feeder's thread (a direct handler), before any queue; its
   ``past_engine`` floor (``--floor``) is now the same path without the dispatcher thread's
   work beside it.
   Also frames/s and bytes/s per client, CPU of server and clients, loop
   lag, backlogs, and the machine's load average (a shared box is noisy).
3. A table of metric, tickstage, baseline, ratio (tickstage / baseline) and
   the budget (perf/README.md), and optionally JSON.

Everything runs on loopback, is bounded in time and stops by itself.

Usage::

    /tmp/venv/bin/python perf/bench_pipeline.py --quick            # < 1 min
    /tmp/venv/bin/python perf/bench_pipeline.py --json pipeline.json
    /tmp/venv/bin/python perf/bench_pipeline.py --quick --switch-interval 0.001
    /tmp/venv/bin/python perf/bench_pipeline.py --quick --baseline-fanout all
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path


from _common import (run_benchmark, LoopLag, build_market, machine, percentiles_ms, print_table, ratio,
                     subscriptions, write_png)
from _servers import EVENT_DONE, EVENT_PROBE, BaselineServer, TickstageServer
from transport.signin.auth import mint_token
from transport.venue.vnpy_home import contain_vnpy

CLIENTS_SCRIPT = Path(__file__).resolve().parent / "_clients.py"
INGEST_GOAL_TICKS_PER_S = 100_000
E2E_P99_GOAL_MS = 40.0
DOWNLINK_GOAL_MBPS = 0.5


class Feeder(threading.Thread):
    """Plays the gateway: puts tick events from its own thread, paced or flat out.

    Args:
        put: ``put(event)``: ``EventEngine.put`` or a handler called in this thread.
        ticks: the TickData pool, cycled.
        rate: ticks/s; 0 = as fast as possible.
        total: stop after this many ticks (None: until :meth:`stop`).
        after: called in this thread once the last tick is put (the ingest sentinel).
        probe_s: also put an ``EVENT_PROBE`` this often (0: never), to time vn.py's queue.
    """

    def __init__(self, put, ticks: list, rate: float = 0.0, total: int | None = None, after=None,
                 probe_s: float = 0.0) -> None:
        super().__init__(name="bench.feeder", daemon=True)
        self.put, self.ticks, self.rate, self.total, self.after = put, ticks, rate, total, after
        self.probe_s = probe_s
        self.sent = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        """Put ticks until ``total`` or :meth:`stop` (feeder thread)."""
        from vnpy.event import Event
        from vnpy.trader.event import EVENT_TICK

        put, ticks, n, i = self.put, self.ticks, len(self.ticks), 0
        started = next_probe = time.perf_counter()
        while not self._stopping.is_set():
            if self.probe_s and time.perf_counter() >= next_probe:
                next_probe += self.probe_s
                put(Event(EVENT_PROBE, time.perf_counter_ns()))
            if self.rate:
                target = int((time.perf_counter() - started) * self.rate)
                if target <= i:
                    time.sleep(0.0005)
                    continue
            else:
                target = i + 512
            if self.total is not None:
                target = min(target, self.total)
            while i < target:
                put(Event(EVENT_TICK, ticks[i % n]))
                i += 1
            self.sent = i
            if self.total is not None and i >= self.total:
                break
        if self.after is not None:
            self.after()

    def stop(self) -> None:
        """Ask the thread to stop (join it afterwards)."""
        self._stopping.set()


class ClientProcess:
    """perf/_clients.py in a child process, driven over its stdin/stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, mode: str, url: str, subs: list[list[str]], tokens: list[str],
                    max_s: float) -> ClientProcess:
        """Start the clients and wait (≤ 30 s) until every one is subscribed."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(CLIENTS_SCRIPT), mode, url, str(max_s),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        self = cls(proc)
        proc.stdin.write((json.dumps({"subscriptions": subs, "tokens": tokens}) + "\n").encode())
        ready = await self._line(30)
        if "ready" not in ready:
            await self.stop()
            raise RuntimeError(f"clients did not start: {ready}")
        return self

    async def _line(self, timeout_s: float) -> dict:
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout_s)
        if not line:
            raise RuntimeError(f"client process exited ({await self.proc.wait()})")
        return json.loads(line)

    async def reset(self) -> None:
        """Start a measurement window."""
        self.proc.stdin.write(b"reset\n")
        await self.proc.stdin.drain()

    async def report(self) -> dict:
        """Return the window's figures."""
        self.proc.stdin.write(b"report\n")
        await self.proc.stdin.drain()
        return await self._line(30)

    async def stop(self) -> None:
        """Quit, and kill after 5 s; the process is always reaped."""
        if self.proc.returncode is None:
            try:
                self.proc.stdin.write(b"quit\n")
                self.proc.stdin.close()
                await asyncio.wait_for(self.proc.wait(), 5)
            except (TimeoutError, ConnectionError):
                self.proc.kill()
                await self.proc.wait()


_LEVELS = ("backlog_msgs", "vnpy_queue")  # levels, not counters: reported as they are at the end


def _delta(after: dict, before: dict) -> dict:
    return {k: v if k.startswith("max_") or k in _LEVELS else v - before.get(k, 0) for k, v in after.items()}


async def measure_ingest(server, ticks: list, total: int, via_engine: bool, timeout_s: float) -> dict:
    """Push ``total`` ticks flat out and time them until the server absorbed them all."""
    done = server.expect_done()
    if via_engine:
        from vnpy.event import Event

        put, after = server.event_engine.put, lambda: server.event_engine.put(Event(EVENT_DONE))
    else:
        put, after = server.on_tick_event, server.on_done_event
    before, cpu_before = server.statistics(), time.process_time()
    started = time.perf_counter()
    feeder = Feeder(put, ticks, total=total, after=after)
    feeder.start()
    try:
        await asyncio.wait_for(asyncio.shield(done), timeout_s)
        absorbed = await server.wait_absorbed(max(0.1, timeout_s - (time.perf_counter() - started)))
    except TimeoutError:
        absorbed = False
    elapsed_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_before
    stats = _delta(server.statistics(), before)
    feeder.stop()
    await asyncio.to_thread(feeder.join, 10)
    settle = await server.settle(5)
    absorbed_ticks = total
    if not absorbed:  # only part of it made it out in time: count the fraction sent
        sent_fraction = stats.get("messages_sent", 0) / max(stats.get("messages_queued", 0), 1)
        absorbed_ticks = int(stats.get("ticks_fanned", 0) * sent_fraction)
    result = {"ticks": total, "completed": absorbed, "elapsed_s": round(elapsed_s, 3),
              "ticks_per_s": round(absorbed_ticks / elapsed_s),
              "server_cpu_pct": round(100 * cpu_s / elapsed_s, 1), "server": stats, "settle": settle}
    if "ticks_conflated" in stats and stats["ticks_in"]:
        result["conflated_fraction"] = round(stats["ticks_conflated"] / stats["ticks_in"], 3)
    return result


async def measure_rate(server, clients: ClientProcess, lag: LoopLag, ticks: list, rate: float,
                       warmup_s: float, measure_s: float, settle_s: float, past_engine: bool = False) -> dict:
    """Feed ``rate`` ticks/s through the EventEngine (``past_engine``: straight into the bridge's vn.py-thread
    handler from the feeder's thread, no EventEngine hand-off); measure the clients after ``warmup_s``."""
    feeder = Feeder(server.on_tick_event if past_engine else server.event_engine.put, ticks, rate=rate,
                    probe_s=0 if past_engine else 0.01)
    feeder.start()
    try:
        await asyncio.sleep(warmup_s)
        await clients.reset()
        lag.take_p99_ms()
        server.vnpy_queue_delays_ms.clear()
        before, sent_before, cpu_before = server.statistics(), feeder.sent, time.process_time()
        started = time.perf_counter()
        await asyncio.sleep(measure_s)
        report = await clients.report()
        elapsed_s = time.perf_counter() - started
        stats = _delta(server.statistics(), before)
        result = {**report, "ticks_fed_per_s": round((feeder.sent - sent_before) / elapsed_s),
                  "ticks_handled_per_s": round(stats["ticks_in"] / elapsed_s),
                  "vnpy_queue_end": stats["vnpy_queue"], "server_backlog_end": stats["backlog_msgs"],
                  **percentiles_ms(server.vnpy_queue_delays_ms, "vnpy_queue"),
                  "server_cpu_pct": round(100 * (time.process_time() - cpu_before) / elapsed_s, 1),
                  "loop_lag_p99_ms": lag.take_p99_ms(), "load_average_1m": round(os.getloadavg()[0], 2),
                  "server": stats}
    finally:
        feeder.stop()
        await asyncio.to_thread(feeder.join, 10)
    result["settle"] = await server.settle(settle_s)
    return result


async def run_system(server, market, subs: list[list[str]], args) -> dict:
    """Start one server and its clients, run ingest and every rate, stop both."""
    await server.start(market.contracts, len(market.groups))
    secret = getattr(server, "jwt_secret", "")
    tokens = [mint_token(secret, f"bench-{i}") if secret else "" for i in range(len(subs))]
    per_rate_s = args.warmup_s + args.seconds + 2 * args.settle_s
    max_s = 60 + 3 * args.ingest_timeout_s + len(args.rates) * per_rate_s
    clients = await ClientProcess.start(server.name, server.url, subs, tokens, max_s)
    lag = LoopLag()
    try:
        await asyncio.sleep(0.5)
        result: dict = {}
        for key, via_engine in (() if args.no_ingest else (("ingest_direct", False), ("ingest_event_engine", True))):
            result[key] = await measure_ingest(server, market.ticks, args.ticks, via_engine,
                                               args.ingest_timeout_s)
            print(f"  {server.name} {key}: {result[key]['ticks_per_s']:,} ticks/s", file=sys.stderr,
                  flush=True)
        result = {"ingest_ticks_per_s": result.get("ingest_direct", {}).get("ticks_per_s"),
                  "ingest_event_engine_ticks_per_s": result.get("ingest_event_engine", {}).get("ticks_per_s"),
                  **result, "rates": {}}
        for rate in args.rates:
            r = await measure_rate(server, clients, lag, market.ticks, rate, args.warmup_s, args.seconds,
                                   args.settle_s, past_engine=getattr(server, "past_engine", False))
            result["rates"][str(rate)] = r
            print(f"  {server.name} @{rate:,}/s: e2e p50 {r['e2e_p50_ms']} p99 {r['e2e_p99_ms']} ms, "
                  f"row p99 {r['row_p99_ms']} ms", file=sys.stderr, flush=True)
        result["handler_errors"] = server.handler_errors
        return result
    finally:
        lag.stop()
        await clients.stop()
        await server.stop()


async def run_floors(market, subs: list[list[str]], args) -> dict:
    """The tail's floors, same run: ``past_engine`` (ticks put straight into the bridge's handler from the
    feeder thread: no vn.py EventEngine thread, no GIL hand-off through its queue) and ``straight_writes``
    (that, and each frame written straight to every subscribed socket: no session actor, no outbox,
    perf/bench_sessions.py's floor)."""
    import actors.market.group as group_module
    import transport.edge.ws as ws_module
    from bench_sessions import floor_writes

    floors = {}
    saved = args.no_ingest
    args.no_ingest = True
    try:
        server = TickstageServer(secrets.token_urlsafe(32))
        server.past_engine = True
        floors["past_engine"] = await run_system(server, market, subs, args)
        server = TickstageServer(secrets.token_urlsafe(32))
        server.past_engine = True
        original = ws_module.SocketOutbox, group_module.SessionFanout
        ws_module.SocketOutbox, group_module.SessionFanout = floor_writes(server)
        try:
            floors["straight_writes"] = await run_system(server, market, subs, args)
        finally:
            ws_module.SocketOutbox, group_module.SessionFanout = original
    finally:
        args.no_ingest = saved
    return floors


def floor_table(results: dict, args) -> None:
    """Print tick → client p50/p99 per rate: tickstage beside its floors."""
    rows = []
    for rate in map(str, args.rates):
        runs = [results["tickstage"]["rates"][rate]] + [results["floor"][k]["rates"][rate]
                                                        for k in ("past_engine", "straight_writes")]
        for key in ("e2e_p50_ms", "e2e_p99_ms", "row_p99_ms", "frames_per_s_per_client", "server_cpu_pct",
                    "loop_lag_p99_ms", "load_average_1m"):
            rows.append((f"@{int(rate):,}/s {key}", *[r.get(key) for r in runs]))
    print()
    print_table(rows, ("metric", "tickstage", "past EventEngine", "+ straight writes"))


def table(results: dict, args) -> tuple[list[tuple], dict]:
    """Return the table rows and the ratios (tickstage / baseline)."""
    ts, bl = results["tickstage"], results["baseline"]
    rows, ratios = [], {}

    def add(label: str, key: str, a, b, budget: str = "") -> None:
        ratios[key] = ratio(a, b)
        rows.append((label, a, b, ratios[key], budget))

    add("ingest ticks/s (feeder → on_tick_event)", "ingest_ticks_per_s", ts["ingest_ticks_per_s"],
        bl["ingest_ticks_per_s"], f"≥ {INGEST_GOAL_TICKS_PER_S:,}")
    add("ingest ticks/s (via vn.py EventEngine)", "ingest_event_engine_ticks_per_s",
        ts["ingest_event_engine_ticks_per_s"], bl["ingest_event_engine_ticks_per_s"])
    for rate in map(str, args.rates):
        a, b = ts["rates"][rate], bl["rates"][rate]
        goal = f"≤ {E2E_P99_GOAL_MS:g}" if rate == "4000" else ""
        mbps = [None if r["bytes_per_s_per_client"] is None else
                r["bytes_per_s_per_client"] * 8 / 1e6 / args.groups_per_client for r in (a, b)]
        for key, label, budget in (
            ("ticks_fed_per_s", "ticks fed/s", ""),
            ("ticks_handled_per_s", "ticks handled/s (vn.py handler)", ""),
            ("vnpy_queue_end", "vn.py queue at end (events)", ""),
            ("vnpy_queue_p50_ms", "vn.py queue wait p50 ms (not in e2e)", ""),
            ("vnpy_queue_p99_ms", "vn.py queue wait p99 ms (not in e2e)", ""),
            ("server_backlog_end", "server backlog at end (msgs)", ""),
            ("e2e_p50_ms", "e2e p50 ms (newest row)", ""),
            ("e2e_p99_ms", "e2e p99 ms (newest row)", goal), ("row_p50_ms", "row p50 ms (every tick)", ""),
            ("row_p99_ms", "row p99 ms (every tick)", goal), ("e2e_max_ms", "e2e max ms", ""),
            ("frames_per_s_per_client", "messages/s per client", ""),
            ("bytes_per_s_per_client", "bytes/s per client", ""),
            ("server_cpu_pct", "server CPU %", ""), ("client_cpu_pct", "clients CPU % (other process)", ""),
            ("loop_lag_p99_ms", "loop lag p99 ms", ""),
            ("load_average_1m", "machine load average (1 min)", ""),
        ):
            add(f"@{int(rate):,}/s {label}", f"{rate}.{key}", a.get(key), b.get(key), budget)
        add(f"@{int(rate):,}/s downlink Mbps per group", f"{rate}.downlink_mbps_per_group", *mbps,
            f"≤ {DOWNLINK_GOAL_MBPS}" if rate == "4000" else "")
        left = f"{b['server'].get('messages_dropped', 0):,} / {b['settle'].get('backlog_msgs', 0):,}"
        rows.append((f"@{int(rate):,}/s baseline msgs dropped / cleared after", "", left, "", ""))
    return rows, ratios


async def main(args) -> dict:
    """Run both systems and print the table; return the JSON document."""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as state_dir:
        contain_vnpy(Path(state_dir))
        started = time.perf_counter()
        market = build_market(args.contracts, args.groups, min(args.ticks, args.pool), args.seed)
        subs = subscriptions(args.clients, market.groups, args.groups_per_client, args.seed)
        print(f"market: {len(market.contracts)} contracts, {len(market.groups)} groups, "
              f"{len(market.ticks):,} ticks in the pool ({time.perf_counter() - started:.1f} s)",
              file=sys.stderr, flush=True)
        results = {"tickstage": await run_system(TickstageServer(secrets.token_urlsafe(32)), market, subs, args)}
        if args.floor:
            results["floor"] = await run_floors(market, subs, args)
        if not args.no_baseline:
            results["baseline"] = await run_system(BaselineServer(market.group_of, args.baseline_fanout), market,
                                                   subs, args)
    if args.floor:
        floor_table(results, args)
    if args.no_baseline:
        return {**results, "machine": machine(),
                "args": {k: v for k, v in vars(args).items() if k not in ("json", "png")}}
    rows, ratios = table(results, args)
    print()
    print_table(rows, ("metric", "tickstage", "baseline", "ratio", "budget"))
    return {**results, "ratios": ratios, "machine": machine(),
            "args": {k: v for k, v in vars(args).items() if k not in ("json", "png")}}


def plot(document: dict, path: str) -> None:
    """Tick → client p50/p99 and loop lag p99 against the feed rate: tickstage, the baseline and the floors."""
    rates = sorted(int(r) for r in document["tickstage"]["rates"])

    runs = {name: document[name] for name in ("tickstage", "baseline") if name in document}
    runs.update({f"floor {name}": run for name, run in document.get("floor", {}).items()})

    def series(key: str) -> dict:
        return {f"{name} {key.split('_')[1]}": (rates, [run["rates"][str(r)].get(key) for r in rates])
                for name, run in runs.items()}

    write_png(path, f"bench_pipeline: {document['args']['clients']} clients, load "
                    f"{document['machine']['load_average_1m']} (shared 2-core machine)", [
        ("tick → client ms (newest row)", "ticks/s", {**series("e2e_p50_ms"), **series("e2e_p99_ms")},
         E2E_P99_GOAL_MS, "log"),
        ("loop lag p99 ms", "ticks/s", series("loop_lag_p99_ms"), None, "log"),
    ])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--quick`` shrinks sizes and durations."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50k ticks, 1 + 6 s per rate (< 1 min)")
    parser.add_argument("--json", help="write the results to this file (and a PNG beside it)")
    parser.add_argument("--png", help="write the plot here (default: --json with .png)")
    parser.add_argument("--ticks", type=int, help="ticks per ingest run (default 200k, quick 50k)")
    parser.add_argument("--pool", type=int, default=50_000, help="distinct TickData objects, cycled")
    parser.add_argument("--contracts", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=40, help="product groups (≤ 40)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--groups-per-client", type=int, default=3)
    parser.add_argument("--rates", type=lambda s: [int(r) for r in s.split(",")], default=[4000, 40000])
    parser.add_argument("--seconds", type=float, help="measured seconds per rate (default 20, quick 6)")
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--settle-s", type=float, help="bound on draining after a rate (default 10, quick 3)")
    parser.add_argument("--ingest-timeout-s", type=float, help="bound per ingest run (default 60, quick 12)")
    parser.add_argument("--baseline-fanout", choices=("subscribed", "all"), default="subscribed",
                        help="baseline sends each tick to subscribers of its group, or to every client")
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval(s) (default 0.005)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the per-tick JSON push baseline")
    parser.add_argument("--no-ingest", action="store_true", help="skip the flat-out ingest runs")
    parser.add_argument("--floor", action="store_true",
                        help="also run the tail's floors: ticks past vn.py's EventEngine, and straight socket writes")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    args.ticks = args.ticks or (50_000 if args.quick else 200_000)
    args.seconds = args.seconds or (6.0 if args.quick else 20.0)
    args.settle_s = args.settle_s or (3.0 if args.quick else 10.0)
    args.ingest_timeout_s = args.ingest_timeout_s or (12.0 if args.quick else 60.0)
    return args


if __name__ == "__main__":
    run_benchmark(parse_args, main, plot)
