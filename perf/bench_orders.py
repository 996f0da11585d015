"""Benchmark the order path in process: submit → reply through every risk rule, and orders/s.

The candidate is the production path on the loop thread: an ``orderCommand``
(as a session sends it) to ``orders/<account>`` → a check by each of the 14
account rule actors and the global kill switch (in-line calls, or
``riskCheck`` messages when in-line is not exact: actors/orders/risk_gate.py)
→ the write-ahead journal (SQLite WAL, committed on the loop thread before
the gateway call) → ``MainEngine.send_order`` of a real vn.py
MainEngine into ``SimGateway`` and its exchange (latency 0: it answers inside
``send_order``) → the answer back through the order bridge (a direct handler of
the desk's EventEngine: no hop through vn.py's dispatcher thread) → the ``orderReply`` at a session stand-in. Orders are seeded
limit orders resting below the market on 40 contracts; limits are set so
none is refused.

The baseline, measured in the same run on the same MainEngine: calling
``MainEngine.send_order`` directly (what a strategy does without any of this).

Keys of ``--json FILE``: ``order_p50_us``, ``order_p99_us`` (submit → reply,
one order at a time), ``sent_p50_us`` (submit → ``send_order`` called: the
rules and the journal), ``overhead_p50_us`` / ``overhead_p99_us`` (the desk's own
share of each order: submit → ``send_order`` called, plus the answer reaching
the loop (the order bridge's drain starts) → the reply at the stand-in; issue 18's
goal p50 < 100 µs, p99 < 500 µs), ``orders_per_s`` (a burst, all submitted at once,
until the last reply), ``baseline_p50_us``, ``baseline_p99_us``, the ratios,
``answer_floor_p50_us`` / ``answer_floor_p99_us`` and ``p50_ratio_to_answer_floor``
(send_order, then its answer handed to a loop callback as the desk's order bridge takes it: what any
in-process path that waits for the exchange pays), ``answer_dispatcher_p50_us`` / ``answer_dispatcher_p99_us``
(the same answer through vn.py's EventEngine dispatcher thread instead, the bridge's lane before 2026-12-05),
and both with one other Python thread spinning (``answer_floor_busy_*``, ``answer_dispatcher_busy_*``: the GIL
held by a busy thread, as the market's feed thread holds it while it streams), ``rules_per_order``, ``journal_batches`` / ``journal_max_batch`` (group commits
over the whole run), ``journal_commit_p50_us`` / ``journal_commit_p99_us`` (one
transaction on the loop thread, the last 1,024; absent for a journal that does
not report them) and the machine. Goal (perf/README.md budgets): p50 < 100 µs,
p99 < 500 µs in process.

Stages and the floor (issue 18): each order timed one at a time is stamped (perf_counter_ns, wrappers on the
live order actor, journal and port: :data:`STAGES`) from its client frame's decode at the socket gateway to the
reply's socket write; ``stages`` holds each stage's ``p50_us`` / ``p99_us``. The edge decode, the session's
encode and the socket write are timed beside the path (the bench has no socket in front: its orders enter at
``orders/<account>``), so they are not in ``overhead_*``. The *floor* is the same path, built beside the first
(its orders alternate with the candidate's, one each), with no rule actors and the journal on tmpfs (``/dev/shm``): the actor hops, the codec, the write-ahead
commit and vn.py, what this architecture cannot drop; ``floor_overhead_p50_us`` / ``floor_overhead_p99_us``,
``floor_order_p50_us`` / ``floor_order_p99_us`` and ``floor_stages``. ``journal_commit_idle_*`` /
``journal_commit_busy_*``: one write-ahead commit alone, with vn.py's threads idle, then with one other Python
thread spinning (is the commit's p99 the GIL?), then ``journal_commit_thread_*``: handed to a worker thread and
awaited on the loop (what moving it off the loop would cost an order). ``write_ahead_commit_one_*``: the write-ahead commit of an order
sent one at a time; ``write_ahead_commits_burst``: the burst's write-ahead commits by rows per transaction
(``journal_commit_*`` mixes both, and the later state rows' flushes). ``--stages-plot`` (default perf/bench_orders_stages.png) draws
the stages of both.

Open orders sweep (a second order path, built the same way, after the first is shut down): the account is
brought to each of ``--open-sizes`` open orders (10, 1,000, 10,000: resting limit orders, a burst not timed),
then ``--open-orders`` new orders are timed one at a time, each cancelled after its reply so the open count
stays put. vn.py's OmsEngine learns the contracts as on a desk (so its offset handling is what a desk has;
``--vnpy-offset-converter`` keeps vn.py's OffsetConverter, as before 0.2.0, to compare). Keys:
``open_orders_sweep`` (per size: ``order_p50_us``, ``order_p99_us``, ``sent_p50_us``, ``cpu_per_order_us``
(process CPU, every thread, per submit + cancel), ``burst_orders_per_s``, ``rss_after_burst_mib``,
``idle_cpu_fraction`` (process CPU over an idle ``idle_s`` after the burst settled), ``unknown_outcomes``),
``open_orders_p50_ratio``, ``open_orders_p99_ratio``, ``open_orders_cpu_ratio`` (largest size / smallest).
Goal: the p50 ratio within 0.8..1.2. The plot (``--plot``, default perf/bench_orders_open.png) shows p50 and
p99 against open orders.

Run: ``python perf/bench_orders.py [--quick] [--json FILE] [--orders N] [--burst N] [--open-sizes 10,1000,10000]
[--open-orders N] [--plot PNG] [--stages-plot PNG] [--vnpy-offset-converter]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TICKSTAGE_STATE_DIR", tempfile.mkdtemp(prefix="tickstage-bench-orders-"))

from _common import dump_json, machine, print_table, ratio  # noqa: E402
from _order_path import STAGES, Harness, Stages, spinning  # noqa: E402

GOAL_P50_US, GOAL_P99_US, MVP_US = 100, 500, 1000


def _pct(values, q) -> float:
    return round(float(np.percentile(np.asarray(values) / 1000, q)), 1)


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def open_orders_sweep(args) -> dict:
    """Time a new order (submit → reply) on an account with ``n`` open orders, for each size swept.

    Each size is reached by a burst of resting orders (not timed); each timed order is then
    cancelled (not timed) so the open count stays at the size. After the largest burst: RSS and the
    process's CPU over an idle second (the account's 1 s status poll, timers, vn.py's threads).
    """
    harness = Harness()
    await harness.start(args, "bench-orders-open")
    rows = []
    try:
        for _ in range(args.warmup):
            n, _, _ = await harness.one()
            await harness.cancel(n)
        for size in args.open_sizes:
            rss_before = _rss_mib()
            await harness.cancels_done()
            missing = size - harness.open_orders()
            burst_per_s = await harness.burst(missing) if missing > 0 else None
            await harness.runtime.wait_idle(30)
            await harness.cancels_done()
            assert harness.open_orders() == size, (harness.open_orders(), size)
            await asyncio.sleep(args.idle_s)   # let the burst's aftermath (checkpoint, gc) pass
            rss_after_burst = _rss_mib()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(args.idle_s)
            idle_cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            latencies, to_send = [], []
            cpu0 = time.process_time()
            for _ in range(args.open_orders):
                n, total, sent = await harness.one()
                latencies.append(total)
                to_send.append(sent)
                await harness.cancel(n)
            cpu_per_order_us = (time.process_time() - cpu0) / args.open_orders * 1e6
            actor = harness.order_actor()
            stats = actor.statistics()
            rows.append({"open_orders": size, "order_p50_us": _pct(latencies, 50), "order_p99_us": _pct(latencies, 99),
                         "sent_p50_us": _pct(to_send, 50), "sent_p99_us": _pct(to_send, 99),
                         "burst_orders_per_s": round(burst_per_s, 1) if burst_per_s else None,
                         "rss_before_mib": rss_before, "rss_after_burst_mib": rss_after_burst,
                         "idle_cpu_fraction": round(idle_cpu, 3),
                         "cpu_per_order_us": round(cpu_per_order_us, 1), "unknown_outcomes": actor.unknown_outcomes,
                         "order_actor_handler_max_ms": round(stats.handler_ns_max / 1e6, 2),
                         "timed": args.open_orders})
    finally:
        await harness.stop()
    return {"rows": rows, "ratio_p50": ratio(rows[-1]["order_p50_us"], rows[0]["order_p50_us"]),
            "ratio_cpu": ratio(rows[-1]["cpu_per_order_us"], rows[0]["cpu_per_order_us"]),
            "ratio_p99": ratio(rows[-1]["order_p99_us"], rows[0]["order_p99_us"])}


def plot_sweep(sweep: dict, path: Path) -> None:
    """Write submit → reply p50/p99 against open orders (log x) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sweep["rows"]
    sizes = [r["open_orders"] for r in rows]
    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    axes.plot(sizes, [r["order_p50_us"] for r in rows], marker="o", label="p50")
    axes.plot(sizes, [r["order_p99_us"] for r in rows], marker="s", label="p99")
    axes.set_xscale("log")
    axes.set_ylim(bottom=0)
    axes.set_xlabel("open orders on the account")
    axes.set_ylabel("new order: submit → reply (µs)")
    axes.set_title(f"perf/bench_orders.py: p50 ratio {sizes[-1]:,} / {sizes[0]:,} open = {sweep['ratio_p50']}")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


async def timed_orders(args) -> tuple[dict, dict]:
    """Time ``args.orders`` orders one at a time on the candidate path and as many on the floor path (no rules,
    journal on tmpfs), alternating one order each, so that the shared machine's load weighs on both alike;
    return the figures and stages of each (the floor's harness is stopped, the candidate's is not)."""
    runs = []
    for name, floor in (("bench-orders", False), ("bench-orders-floor", True)):
        harness = Harness()
        await harness.start(args, name, measure_floor=not floor, floor=floor)
        runs.append({"harness": harness, "latencies": [], "to_send": []})
    for run_ in runs:
        for _ in range(args.warmup):
            await run_["harness"].one()
        run_["harness"].overheads.clear()
        for samples in run_["harness"].stages.samples.values():
            samples.clear()
    for _ in range(args.orders):
        for run_ in runs:
            _, total, sent = await run_["harness"].one()
            run_["latencies"].append(total)
            run_["to_send"].append(sent)
    for run_ in runs:
        run_["overheads"] = list(run_["harness"].overheads)
        run_["stages"] = stage_figures(run_["harness"].stages)
    await runs[1]["harness"].stop()
    return runs[0], runs[1]


def stage_figures(stages: Stages) -> dict:
    """Return stage → {p50_us, p99_us, n} of the timed orders (stages with no sample left out)."""
    return {key: {"p50_us": _pct(stages.samples[key], 50), "p99_us": _pct(stages.samples[key], 99),
                  "n": len(stages.samples[key])} for key, _ in STAGES if stages.samples[key]}


async def commit_idle_busy(harness: Harness, commits: int) -> dict:
    """Time the write-ahead commit (one order row) with vn.py's threads idle, then with one other Python thread
    busy (as vn.py's EventEngine thread is while it hands out events): is the commit's p99 the GIL?

    The same journal, rows of a fresh account so the orders' state is untouched; the busy thread spins pure
    Python, so it holds the GIL whenever the commit's SQLite step releases it.
    """
    from actors.orders.record import OrderRecord

    journal = harness.journal

    def one(n: int) -> int:
        record = OrderRecord(f"c-{n}", "acct-commit", "rb1801.SHFE", "long", "open", "limit", 3900.0, 1.0, "", "u",
                             created_ns=time.time_ns(), sent_ns=time.time_ns())
        row = record.row()
        t0 = time.perf_counter_ns()
        journal.write_orders_now([row])
        return time.perf_counter_ns() - t0

    idle = []
    for n in range(commits):
        idle.append(one(n))
        if n % 16 == 0:
            await asyncio.sleep(0)
    busy = []
    with spinning():
        for n in range(commits, 2 * commits):
            busy.append(one(n))
            if n % 16 == 0:
                await asyncio.sleep(0)
    threaded = []   # the same commit off the loop: handed to a worker thread, its result awaited on the loop
    for n in range(2 * commits, 3 * commits):
        record = OrderRecord(f"c-{n}", "acct-commit", "rb1801.SHFE", "long", "open", "limit", 3900.0, 1.0, "", "u",
                             created_ns=time.time_ns(), sent_ns=time.time_ns())
        row = record.row()
        t0 = time.perf_counter_ns()
        await asyncio.to_thread(journal.write_orders_now, [row])
        threaded.append(time.perf_counter_ns() - t0)
    return {"journal_commit_idle_p50_us": _pct(idle, 50), "journal_commit_idle_p99_us": _pct(idle, 99),
            "journal_commit_thread_p50_us": _pct(threaded, 50), "journal_commit_thread_p99_us": _pct(threaded, 99),
            "journal_commit_busy_p50_us": _pct(busy, 50), "journal_commit_busy_p99_us": _pct(busy, 99),
            "switch_interval_ms": round(sys.getswitchinterval() * 1000, 2)}


def commit_sizes(commits: list[tuple[int, int]]) -> list[dict]:
    """Return the write-ahead commits of a burst by rows per transaction: rows range, count, p50/p99 µs, µs per row."""
    out = []
    for low, high in ((1, 1), (2, 8), (9, 32), (33, 64)):
        times = [ns for rows, ns in commits if low <= rows <= high]
        rows = [r for r, _ in commits if low <= r <= high]
        if times:
            out.append({"rows": f"{low}-{high}", "commits": len(times), "p50_us": _pct(times, 50),
                        "p99_us": _pct(times, 99), "us_per_row": round(sum(times) / sum(rows) / 1000, 1)})
    return out


def plot_stages(result: dict, path: Path) -> None:
    """Write the per-stage p50 and p99 of the candidate and the floor as a PNG (bars, µs)."""
    from _common import write_bar_png

    labels = {key: key.replace("_", " ") for key, _ in STAGES}
    panels = []
    for q in ("p50_us", "p99_us"):
        series = {name: {labels[k]: v[q] for k, v in result[key].items()}
                  for name, key in (("all rules, journal on disk", "stages"), ("floor: no rules, tmpfs", "floor_stages"))}
        panels.append((f"{q[:3]} µs", series, None))
    write_bar_png(str(path), f"perf/bench_orders.py: overhead p50 {result['overhead_p50_us']} µs vs floor "
                  f"{result['floor_overhead_p50_us']} µs (p99 {result['overhead_p99_us']} vs "
                  f"{result['floor_overhead_p99_us']}), load {os.getloadavg()[0]:.1f}", panels)


async def run(args) -> dict:
    from transport.venue.vnpy_home import contain_vnpy

    contain_vnpy(Path(os.environ["TICKSTAGE_STATE_DIR"]))
    import logging

    import structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from vnpy.trader.constant import Direction, Offset, OrderType
    from vnpy.trader.object import OrderRequest

    timed, floor_run = await timed_orders(args)
    harness, latencies, to_send = timed["harness"], timed["latencies"], timed["to_send"]
    harness.stages.commits.clear()
    orders_per_s = await harness.burst(args.burst)
    burst_commits = list(harness.stages.commits)
    journal_stats = harness.journal.statistics()
    commits = getattr(journal_stats, "commit_ns_recent", ())
    commit_threads = await commit_idle_busy(harness, args.orders)

    baseline = []
    quotes, exchanges = harness.quotes, harness.exchanges
    for n in range(args.orders):
        quote = quotes[n % len(quotes)]
        symbol = quote.vt_symbol.partition(".")[0]
        request = OrderRequest(symbol, exchanges[quote.vt_symbol], Direction.LONG, OrderType.LIMIT, 1,
                               quote.last_price - quote.price_tick * 30, Offset.OPEN, "baseline")
        t0 = time.perf_counter_ns()
        harness.main_engine.send_order(request, "SIM")
        baseline.append(time.perf_counter_ns() - t0)
        if n % 64 == 0:
            await asyncio.sleep(0)
    floor, rules, config, overheads = harness.floor, harness.rules, harness.config, timed["overheads"]
    floor_dispatcher, floor_busy = harness.floor_dispatcher, harness.floor_busy
    await harness.stop()
    sweep = await open_orders_sweep(args) if args.open_sizes else None

    pct = _pct
    result = {
        "order_p50_us": pct(latencies, 50), "order_p99_us": pct(latencies, 99),
        "sent_p50_us": pct(to_send, 50), "sent_p99_us": pct(to_send, 99),
        "overhead_p50_us": pct(overheads, 50), "overhead_p99_us": pct(overheads, 99),
        "orders_per_s": round(orders_per_s, 1),
        "baseline_p50_us": pct(baseline, 50), "baseline_p99_us": pct(baseline, 99),
        "answer_floor_p50_us": pct(floor, 50), "answer_floor_p99_us": pct(floor, 99),
        "answer_dispatcher_p50_us": pct(floor_dispatcher, 50), "answer_dispatcher_p99_us": pct(floor_dispatcher, 99),
        **{f"answer_{lane}_busy_{q}_us": pct(floor_busy.get(direct, []), int(q[1:]))
           for lane, direct in (("floor", True), ("dispatcher", False)) for q in ("p50", "p99")},
        "rules_per_order": rules // len(config.accounts) if rules else 0,
        "journal_batches": journal_stats.batches, "journal_max_batch": journal_stats.max_batch,
        **({"journal_commit_p50_us": pct(commits, 50), "journal_commit_p99_us": pct(commits, 99)} if commits else {}),
        "floor_overhead_p50_us": pct(floor_run["overheads"], 50), "floor_overhead_p99_us": pct(floor_run["overheads"], 99),
        "floor_order_p50_us": pct(floor_run["latencies"], 50), "floor_order_p99_us": pct(floor_run["latencies"], 99),
        "stages": timed["stages"], "floor_stages": floor_run["stages"], **commit_threads,
        "write_ahead_commit_one_p50_us": timed["stages"]["commit"]["p50_us"],
        "write_ahead_commit_one_p99_us": timed["stages"]["commit"]["p99_us"],
        "write_ahead_commits_burst": commit_sizes(burst_commits),
        "orders": args.orders, "burst": args.burst, "machine": machine(), "load_average": list(os.getloadavg()),
    }
    result["p50_ratio_to_baseline"] = ratio(result["order_p50_us"], result["baseline_p50_us"])
    result["p99_ratio_to_baseline"] = ratio(result["order_p99_us"], result["baseline_p99_us"])
    result["p50_ratio_to_answer_floor"] = ratio(result["order_p50_us"], result["answer_floor_p50_us"])
    if args.stages_plot:
        plot_stages(result, Path(args.stages_plot))
    if sweep is not None:
        result["open_orders_sweep"] = sweep["rows"]
        result["open_orders_p50_ratio"] = sweep["ratio_p50"]
        result["open_orders_p99_ratio"] = sweep["ratio_p99"]
        result["open_orders_cpu_ratio"] = sweep["ratio_cpu"]
        if args.plot:
            plot_sweep(sweep, Path(args.plot))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer orders (CI smoke run)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--orders", type=int, default=None, help="orders timed one at a time")
    parser.add_argument("--burst", type=int, default=None, help="orders submitted at once for orders/s")
    parser.add_argument("--open-sizes", default="10,1000,10000",
                        help="open orders on the account for the sweep, comma-separated, ascending ('' skips it)")
    parser.add_argument("--open-orders", type=int, default=None, help="orders timed at each open-order size")
    parser.add_argument("--plot", default=str(Path(__file__).with_name("bench_orders_open.png")),
                        help="PNG of the open-order sweep ('' for none)")
    parser.add_argument("--stages-plot", default=str(Path(__file__).with_name("bench_orders_stages.png")),
                        help="PNG of the per-stage p50/p99, candidate and floor ('' for none)")
    parser.add_argument("--vnpy-offset-converter", action="store_true",
                        help="keep vn.py's OffsetConverter (the desk before 0.2.0) to compare")
    args = parser.parse_args()
    args.open_sizes = sorted(int(n) for n in args.open_sizes.split(",") if n.strip())
    args.open_orders = args.open_orders or (100 if args.quick else 500)
    args.idle_s = 2.0
    args.orders = args.orders or (200 if args.quick else 2000)
    args.burst = args.burst or (300 if args.quick else 3000)
    args.warmup = 20 if args.quick else 100
    import uvloop

    result = uvloop.run(run(args))
    rows = [
        ("submit → reply (all rules, journal, vn.py, sim)", result["order_p50_us"], result["order_p99_us"],
         result["p50_ratio_to_baseline"], GOAL_P50_US, GOAL_P99_US),
        ("submit → send_order called", result["sent_p50_us"], result["sent_p99_us"], None, None, None),
        ("desk overhead (→ send_order, answer on loop → reply)", result["overhead_p50_us"],
         result["overhead_p99_us"], None, GOAL_P50_US, GOAL_P99_US),
        ("baseline: MainEngine.send_order", result["baseline_p50_us"], result["baseline_p99_us"], 1.0, None, None),
        ("floor: send_order → answer to the loop (direct)", result["answer_floor_p50_us"],
         result["answer_floor_p99_us"], ratio(result["answer_floor_p50_us"], result["baseline_p50_us"]), None, None),
        ("beside: the answer via vn.py's dispatcher thread", result["answer_dispatcher_p50_us"],
         result["answer_dispatcher_p99_us"], ratio(result["answer_dispatcher_p50_us"], result["baseline_p50_us"]),
         None, None),
        ("the answer floor (direct), another thread busy", result["answer_floor_busy_p50_us"],
         result["answer_floor_busy_p99_us"], None, None, None),
        ("via vn.py's dispatcher thread, another thread busy", result["answer_dispatcher_busy_p50_us"],
         result["answer_dispatcher_busy_p99_us"], None, None, None),
    ]
    print_table(rows, ("path", "p50 µs", "p99 µs", "p50 / baseline", "goal p50", "goal p99"))
    print(f"\norders/s (burst of {result['burst']}): {result['orders_per_s']:,.0f}   "
          f"rules per order: {result['rules_per_order']}   MVP budget < {MVP_US} µs")
    if "journal_commit_p50_us" in result:
        print(f"journal commit on the loop: p50 {result['journal_commit_p50_us']} µs, "
              f"p99 {result['journal_commit_p99_us']} µs")
    print(f"write-ahead commit of one order (one at a time): p50 {result['write_ahead_commit_one_p50_us']} / p99 "
          f"{result['write_ahead_commit_one_p99_us']} µs; in the burst, by rows per transaction: " + "; ".join(
              f"{c['rows']} rows: {c['commits']} commits, p50 {c['p50_us']} / p99 {c['p99_us']} µs, {c['us_per_row']} µs/row"
              for c in result["write_ahead_commits_burst"]))
    print(f"commit alone, vn.py threads idle: p50 {result['journal_commit_idle_p50_us']} / p99 "
          f"{result['journal_commit_idle_p99_us']} µs; one busy Python thread: p50 {result['journal_commit_busy_p50_us']} "
          f"/ p99 {result['journal_commit_busy_p99_us']} µs (switch interval {result['switch_interval_ms']} ms); "
          f"off the loop (worker thread, awaited): p50 {result['journal_commit_thread_p50_us']} / p99 "
          f"{result['journal_commit_thread_p99_us']} µs")
    print(f"\ndesk overhead p50 {result['overhead_p50_us']} / p99 {result['overhead_p99_us']} µs vs floor (no rules, "
          f"journal on tmpfs) p50 {result['floor_overhead_p50_us']} / p99 {result['floor_overhead_p99_us']} µs\n")
    names = dict(STAGES)
    print_table([(names[k], v["p50_us"], v["p99_us"], result["floor_stages"].get(k, {}).get("p50_us"),
                  result["floor_stages"].get(k, {}).get("p99_us")) for k, v in result["stages"].items()],
                ("stage (one order at a time)", "p50 µs", "p99 µs", "floor p50", "floor p99"))
    if "open_orders_sweep" in result:
        print()
        print_table([(f"{r['open_orders']:,} open", r["order_p50_us"], r["order_p99_us"], r["sent_p50_us"],
                      r["cpu_per_order_us"], r["burst_orders_per_s"], r["rss_after_burst_mib"],
                      r["idle_cpu_fraction"], r["unknown_outcomes"]) for r in result["open_orders_sweep"]],
                    ("new order on an account with", "p50 µs", "p99 µs", "to send p50 µs", "CPU µs/order",
                     "burst orders/s", "RSS MiB", "idle CPU", "unknown"))
        print(f"\nlargest / smallest: p50 ratio {result['open_orders_p50_ratio']} (goal 0.8..1.2), "
              f"p99 ratio {result['open_orders_p99_ratio']}, CPU per order ratio {result['open_orders_cpu_ratio']}")
    if args.json:
        dump_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
