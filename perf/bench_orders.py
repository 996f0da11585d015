"""Benchmark the order path in process: submit → reply through every risk rule, and orders/s.

The candidate is the production path on the loop thread: an ``orderCommand``
(as a session sends it) to ``orders/<account>`` → a check by each of the 14
account rule actors and the global kill switch (in-line calls, or
``riskCheck`` messages when in-line is not exact: actors/orders/risk_link.py)
→ the write-ahead journal (SQLite WAL, committed on the loop thread before
the gateway call) → ``MainEngine.send_order`` of a real vn.py
MainEngine into ``SimGateway`` and its exchange (latency 0: it answers inside
``send_order``) → the answer back through vn.py's EventEngine thread and the
order bridge → the ``orderReply`` at a session stand-in. Orders are seeded
limit orders resting below the market on 40 contracts; limits are set so
none is refused.

The baseline, measured in the same run on the same MainEngine: calling
``MainEngine.send_order`` directly (what a strategy does without any of this).

Keys of ``--json FILE``: ``order_p50_us``, ``order_p99_us`` (submit → reply,
one order at a time), ``sent_p50_us`` (submit → ``send_order`` called: the
rules and the journal), ``orders_per_s`` (a burst, all submitted at once,
until the last reply), ``baseline_p50_us``, ``baseline_p99_us``, the ratios,
``answer_floor_p50_us`` / ``answer_floor_p99_us`` and ``p50_ratio_to_answer_floor``
(send_order, then its answer
through vn.py's EventEngine thread to a loop callback: what any in-process
path that waits for the exchange pays), ``rules_per_order``, ``journal_batches`` / ``journal_max_batch`` (group commits
over the whole run), ``journal_commit_p50_us`` / ``journal_commit_p99_us`` (one
transaction on the loop thread, the last 1,024; absent for a journal that does
not report them) and the machine. Goal (perf/README.md budgets): p50 < 100 µs,
p99 < 500 µs in process.

Run: ``python perf/bench_orders.py [--quick] [--json FILE] [--orders N] [--burst N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TICKSTAGE_STATE_DIR", tempfile.mkdtemp(prefix="tickstage-bench-orders-"))

from _common import build_market, dump_json, machine, print_table, ratio  # noqa: E402

GOAL_P50_US, GOAL_P99_US, MVP_US = 100, 500, 1000
SEED = 7
HIGH = {"active_order": {"limit": 1e9}, "order_flow": {"limit": 1e9}, "duplicate_order": {"limit": 1e9},
        "position_limit": {"limit": 1e12}, "trade_limit": {"limit": 1e12}, "order_notional": {"limit": 1e15},
        "order_volume": {"limit": 1e9}, "order_cancel": {"limit": 1e9, "per_contract": 1e9},
        "trading_hours": {"product_sessions": 0.0}}


class _Market:
    """The market port: quotes of the seeded contracts (last price, tick, multiplier)."""

    def __init__(self, market) -> None:
        from actors.orders.ports import Quote

        self.quotes = {}
        for tick in market.ticks:
            contract = next(c for c in market.contracts if c.vt_symbol == tick.vt_symbol)
            self.quotes[tick.vt_symbol] = Quote(tick.vt_symbol, market.group_of[tick.vt_symbol],
                                                contract.pricetick, contract.size, tick.last_price)

    def quote(self, vt_symbol):
        return self.quotes.get(vt_symbol)


class _TimedPort:
    """The order bridge, noting when each order reached ``send_order`` (perf_counter_ns)."""

    def __init__(self, bridge) -> None:
        self.bridge = bridge
        self.sent_at: dict[str, int] = {}

    def send(self, record, gateway_name):
        self.sent_at[record.client_order_id] = time.perf_counter_ns()
        return self.bridge.send(record, gateway_name)

    def __getattr__(self, name):
        return getattr(self.bridge, name)


async def answer_floor(event_engine, main_engine, quotes, exchanges, orders: int) -> list[int]:
    """Time ``send_order`` → the answer (NOTTRADED) through vn.py's EventEngine thread → a loop callback, ns.

    The floor of any in-process path that waits for the exchange's answer (no actors, no journal, no
    bridge: measured before the order bridge is attached).
    """
    from vnpy.trader.constant import Direction, Offset, OrderType, Status
    from vnpy.trader.event import EVENT_ORDER
    from vnpy.trader.object import OrderRequest

    loop = asyncio.get_running_loop()
    answered: dict[str, asyncio.Future] = {}

    def on_order(event) -> None:   # vn.py's EventEngine thread
        order = event.data
        future = answered.get(order.reference)
        if future is not None and order.status != Status.SUBMITTING:
            loop.call_soon_threadsafe(lambda: future.done() or future.set_result(time.perf_counter_ns()))

    event_engine.register(EVENT_ORDER, on_order)
    floor = []
    for n in range(orders):
        quote = quotes[n % len(quotes)]
        request = OrderRequest(quote.vt_symbol.partition(".")[0], exchanges[quote.vt_symbol], Direction.LONG,
                               OrderType.LIMIT, 1, quote.last_price - quote.price_tick * 30, Offset.OPEN, f"floor-{n}")
        future = answered[request.reference] = loop.create_future()
        t0 = time.perf_counter_ns()
        main_engine.send_order(request, "SIM")
        floor.append(await asyncio.wait_for(future, 10) - t0)
        del answered[request.reference]
    event_engine.unregister(EVENT_ORDER, on_order)
    return floor


async def run(args) -> dict:
    from transport.vnpy_home import contain_vnpy

    contain_vnpy(Path(os.environ["TICKSTAGE_STATE_DIR"]))
    import structlog

    import logging
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from vnpy.event import EventEngine
    from vnpy.trader.constant import Direction, Offset, OrderType
    from vnpy.trader.engine import MainEngine
    from vnpy.trader.object import OrderRequest

    from actors._dispatch import TickstageActor
    from actors._runtime import ActorRuntime
    from actors._supervisor import ChildSpec, Supervisor, start_root
    from actors.orders.codec import encode_order_command
    from actors.orders.config import AccountSpec, OrdersConfig
    from actors.orders.journal import OrderJournal
    from actors.orders.tree import order_path_children
    from actors.risk.limits import LimitStore
    from actors.risk.rules import rule_defaults
    from sim.exchange import ExchangeSettings, SimExchange
    from sim.gateway import SimGateway
    from transport.vnpy_home import restoring_cwd
    from transport.vnpy_orders import OrderBridge
    from transport.watch import client_message

    market = build_market(40, 40, 400, SEED)
    replies: dict[int, asyncio.Future] = {}

    class Client(TickstageActor):
        """The session stand-in: resolves the future of each reply by its correlation id."""

        def _on_outbound(self, outbound, message, sender) -> None:
            import schemas

            with schemas.stream.ServerMessage.from_bytes(outbound.payload) as reply:
                future = replies.pop(reply.envelope.correlationId, None)
            if future is not None:
                future.set_result(time.perf_counter_ns())

    runtime = ActorRuntime()
    journal = OrderJournal.open(Path(os.environ["TICKSTAGE_STATE_DIR"]) / "bench-orders.sqlite3")
    journal.start(runtime.loop)
    config = OrdersConfig(accounts=(AccountSpec("acct-01", "bench"),), account_limits={"acct-01": HIGH})
    bridge = OrderBridge(runtime, config, journal)
    port = _TimedPort(bridge)
    event_engine = EventEngine()
    with restoring_cwd():
        main_engine = MainEngine(event_engine)
    gateway = main_engine.add_gateway(SimGateway, "SIM")
    gateway.exchange = SimExchange.venue(f"bench-{os.getpid()}")
    gateway.exchange.configure(ExchangeSettings(venue=gateway.exchange.name, price_limit_percent=50))
    for contract in market.contracts:
        gateway.exchange.on_contract(contract)
    for tick in market.ticks:
        gateway.exchange.on_tick(tick)
    gateway.exchange.attach(gateway)
    quotes = list(_Market(market).quotes.values())
    exchanges = {c.vt_symbol: c.exchange for c in market.contracts}
    await answer_floor(event_engine, main_engine, quotes, exchanges, args.warmup)
    floor = await answer_floor(event_engine, main_engine, quotes, exchanges, args.orders)
    bridge.attach(event_engine, main_engine)
    children = [ChildSpec("client", Client, {})] + order_path_children(
        config, journal=journal, limits=LimitStore(config, rule_defaults(), journal), port=port,
        market=_Market(market))
    start_root(runtime, Supervisor, {"children": children})
    await runtime.wait_idle()
    rules = len(children[2].args["children"])

    ids = itertools.count(1)

    def command(n: int) -> bytes:
        quote = quotes[n % len(quotes)]
        price = round((quote.last_price - quote.price_tick * (2 + n % 20)) / quote.price_tick) * quote.price_tick
        data = client_message(n, submitOrder={"clientOrderId": f"b-{n}", "account": "acct-01",
                                              "vtSymbol": quote.vt_symbol, "direction": "long", "offset": "open",
                                              "orderType": "limit", "price": price, "volumeLots": 1})
        return encode_order_command("client", "bench", data, "client")

    async def one() -> tuple[int, int]:
        n = next(ids)
        payload = command(n)
        future = runtime.loop.create_future()
        replies[n] = future
        started = time.perf_counter_ns()
        runtime.tell_path("orders/acct-01", payload)
        done = await asyncio.wait_for(future, 10)
        return done - started, port.sent_at[f"b-{n}"] - started

    for _ in range(args.warmup):
        await one()
    latencies, to_send = [], []
    for _ in range(args.orders):
        total, sent = await one()
        latencies.append(total)
        to_send.append(sent)

    burst = [(n, command(n)) for n in (next(ids) for _ in range(args.burst))]
    futures = []
    started = time.perf_counter_ns()
    for n, payload in burst:
        futures.append(replies.setdefault(n, runtime.loop.create_future()))
        runtime.tell_path("orders/acct-01", payload)
    await asyncio.wait_for(asyncio.gather(*futures), 120)
    orders_per_s = args.burst / ((time.perf_counter_ns() - started) / 1e9)
    journal_stats = journal.statistics()
    commits = getattr(journal_stats, "commit_ns_recent", ())

    baseline = []
    for n in range(args.orders):
        quote = quotes[n % len(quotes)]
        symbol = quote.vt_symbol.partition(".")[0]
        request = OrderRequest(symbol, exchanges[quote.vt_symbol], Direction.LONG, OrderType.LIMIT, 1, quote.last_price - quote.price_tick * 30,
                               Offset.OPEN, "baseline")
        t0 = time.perf_counter_ns()
        main_engine.send_order(request, "SIM")
        baseline.append(time.perf_counter_ns() - t0)
        if n % 64 == 0:
            await asyncio.sleep(0)

    runtime.shutdown()
    await asyncio.to_thread(journal.close)
    with restoring_cwd():
        await asyncio.to_thread(main_engine.close)

    def pct(values, q):
        return round(float(np.percentile(np.asarray(values) / 1000, q)), 1)

    result = {
        "order_p50_us": pct(latencies, 50), "order_p99_us": pct(latencies, 99),
        "sent_p50_us": pct(to_send, 50), "sent_p99_us": pct(to_send, 99),
        "orders_per_s": round(orders_per_s, 1),
        "baseline_p50_us": pct(baseline, 50), "baseline_p99_us": pct(baseline, 99),
        "answer_floor_p50_us": pct(floor, 50), "answer_floor_p99_us": pct(floor, 99),
        "rules_per_order": rules // len(config.accounts) if rules else 0,
        "journal_batches": journal_stats.batches, "journal_max_batch": journal_stats.max_batch,
        **({"journal_commit_p50_us": pct(commits, 50), "journal_commit_p99_us": pct(commits, 99)} if commits else {}),
        "orders": args.orders, "burst": args.burst, "machine": machine(),
    }
    result["p50_ratio_to_baseline"] = ratio(result["order_p50_us"], result["baseline_p50_us"])
    result["p99_ratio_to_baseline"] = ratio(result["order_p99_us"], result["baseline_p99_us"])
    result["p50_ratio_to_answer_floor"] = ratio(result["order_p50_us"], result["answer_floor_p50_us"])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer orders (CI smoke run)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--orders", type=int, default=None, help="orders timed one at a time")
    parser.add_argument("--burst", type=int, default=None, help="orders submitted at once for orders/s")
    args = parser.parse_args()
    args.orders = args.orders or (200 if args.quick else 2000)
    args.burst = args.burst or (300 if args.quick else 3000)
    args.warmup = 20 if args.quick else 100
    import uvloop

    result = uvloop.run(run(args))
    rows = [
        ("submit → reply (all rules, journal, vn.py, sim)", result["order_p50_us"], result["order_p99_us"],
         result["p50_ratio_to_baseline"], GOAL_P50_US, GOAL_P99_US),
        ("submit → send_order called", result["sent_p50_us"], result["sent_p99_us"], None, None, None),
        ("baseline: MainEngine.send_order", result["baseline_p50_us"], result["baseline_p99_us"], 1.0, None, None),
        ("floor: send_order → answer via EventEngine to the loop", result["answer_floor_p50_us"],
         result["answer_floor_p99_us"], ratio(result["answer_floor_p50_us"], result["baseline_p50_us"]), None, None),
    ]
    print_table(rows, ("path", "p50 µs", "p99 µs", "p50 / baseline", "goal p50", "goal p99"))
    print(f"\norders/s (burst of {result['burst']}): {result['orders_per_s']:,.0f}   "
          f"rules per order: {result['rules_per_order']}   MVP budget < {MVP_US} µs")
    if "journal_commit_p50_us" in result:
        print(f"journal commit on the loop: p50 {result['journal_commit_p50_us']} µs, "
              f"p99 {result['journal_commit_p99_us']} µs")
    if args.json:
        dump_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
