"""Actor runtime: the loop-driven driver against Thespian's stock simple base, in one run.

Measures (seeded sizes, ``--quick`` for a short run):

* tell throughput to one no-op plain Thespian actor (same work on both
  sides), with 0 and 1,000 pending 1 h
  ``wakeupAfter`` timers (1,000 sessions' worth; the stock base scans every
  pending timer per message: ~1.4k messages/s measured with 1,000); and, driver only, through
  a TickstageActor (Cap'n Proto open + ``which()`` dispatch per message);
* ask round trip: ``await runtime.ask`` (coroutine, never blocks the loop) vs.
  the stock ``ActorSystem.ask`` (blocks the calling thread);
* 33 ms timer lateness on the driver while 4,000 messages/s flow (the stock
  base fires timers only during a later tell/ask/listen, so it has no
  comparable figure on a loop).

Prints a table with candidate/baseline ratios; ``--json FILE`` writes it.
Run: ``python perf/bench_runtime.py [--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import time

import numpy as np
import uvloop
from _common import machine, print_table, ratio, write_bar_png, write_outputs
from thespian.actors import Actor, ActorSystem, WakeupMessage

from actors import ActorRuntime, ChildSpec, Supervisor, TickstageActor, start_root, encode_actor_message


class StockSink(Actor):
    """Stock Thespian actor: counts messages, replies to asks, arms timers on request."""

    count = 0

    def receiveMessage(self, msg, sender):
        if msg == "arm":
            self.wakeupAfter(datetime.timedelta(seconds=3600))
        elif msg == "ask":
            self.send(sender, "reply")
        elif not isinstance(msg, WakeupMessage):
            StockSink.count += 1


class DriverSink(TickstageActor):
    """Driver-side actor: replies to groupRestarted, arms timers on resyncRequest, records timer lateness."""

    def on_start(self, restarts):
        self.lateness_ms = []

    def _on_group_restarted(self, text, message, sender):
        self.send(sender, b"reply")

    def _on_socket_drained(self, _body, message, sender):
        pass

    def _on_resync_request(self, text, message, sender):
        self.wakeupAfter(datetime.timedelta(seconds=3600))

    def _on_timer(self, timer, message, sender):
        self.lateness_ms.append((time.monotonic_ns() - timer.generation * 1_000_000) / 1e6)


def stock_figures(n_tells: int, n_asks: int, n_timers: int) -> dict:
    system = ActorSystem("simpleSystemBase", logDefs=False, transientUnique=True)
    try:
        sink = system.createActor(StockSink)
        started = time.perf_counter()
        for _ in range(n_tells):
            system.tell(sink, 1)
        tells = n_tells / (time.perf_counter() - started)
        rtts = []
        for _ in range(n_asks):
            t0 = time.perf_counter_ns()
            system.ask(sink, "ask", 1)
            rtts.append((time.perf_counter_ns() - t0) / 1000)
        for _ in range(n_timers):
            system.tell(sink, "arm")
        started = time.perf_counter()
        burst = max(200, n_tells // 50)
        for _ in range(burst):
            system.tell(sink, 1)
        tells_timers = burst / (time.perf_counter() - started)
        return {"tells_per_s": tells, "tells_per_s_with_timers": tells_timers,
                "ask_p50_us": float(np.percentile(rtts, 50)), "ask_p99_us": float(np.percentile(rtts, 99))}
    finally:
        system.shutdown()


async def driver_figures(n_tells: int, n_asks: int, n_timers: int, timer_seconds: float) -> dict:
    runtime = ActorRuntime()
    start_root(runtime, Supervisor, {"children": [ChildSpec("sink", DriverSink)]})
    await runtime.wait_idle()
    address = runtime.registry.address("sink")
    plain = runtime.create_top_level(StockSink)
    started = time.perf_counter()
    for _ in range(n_tells):
        runtime.tell(plain, 1)
    await runtime.wait_idle(120)
    tells = n_tells / (time.perf_counter() - started)
    message = encode_actor_message("socketDrained", None)
    started = time.perf_counter()
    for _ in range(n_tells):
        runtime.tell(address, message)
    await runtime.wait_idle(120)
    tells_dispatch = n_tells / (time.perf_counter() - started)
    ask_message = encode_actor_message("groupRestarted", "x")
    rtts = []
    for _ in range(n_asks):
        t0 = time.perf_counter_ns()
        await runtime.ask("sink", ask_message)
        rtts.append((time.perf_counter_ns() - t0) / 1000)
    arm = encode_actor_message("resyncRequest", "x")
    for _ in range(n_timers):
        runtime.tell(address, arm)
    await runtime.wait_idle()
    started = time.perf_counter()
    for _ in range(n_tells):
        runtime.tell(plain, 1)
    await runtime.wait_idle(120)
    tells_timers = n_tells / (time.perf_counter() - started)
    # 33 ms timers while 4,000 messages/s flow: lateness of each timer, ms.
    deadline = time.monotonic() + timer_seconds
    instance = runtime.registry.entry("sink").instance
    while time.monotonic() < deadline:
        due_ns = time.monotonic_ns() + 33_000_000
        runtime.call_later(0.033, address, encode_actor_message(
            "timer", {"name": "t", "generation": (due_ns // 1_000_000) & 0xFFFFFFFF}))
        for _ in range(33):
            for _ in range(4):
                runtime.tell(address, message)
            await asyncio.sleep(0.001)
    await asyncio.sleep(0.05)
    lateness = [x for x in instance.lateness_ms if abs(x) < 10_000]
    runtime.shutdown()
    return {"tells_per_s": tells, "tells_per_s_with_timers": tells_timers,
            "tells_per_s_capnp_dispatch": tells_dispatch, "ask_p50_us": float(np.percentile(rtts, 50)), "ask_p99_us": float(np.percentile(rtts, 99)),
            "timer_late_p50_ms": float(np.percentile(lateness, 50)) if lateness else None,
            "timer_late_p99_ms": float(np.percentile(lateness, 99)) if lateness else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="write the figures here (and a PNG beside it)")
    parser.add_argument("--png", help="write the plot here (default: --json with .png)")
    args = parser.parse_args()
    n_tells, n_asks, n_timers = (20_000, 500, 1_000) if args.quick else (200_000, 5_000, 1_000)
    stock = stock_figures(n_tells, n_asks, n_timers)
    driver = uvloop.run(driver_figures(n_tells, n_asks, n_timers, 2.0 if args.quick else 10.0))
    rows = [(name, driver.get(name), stock.get(name), ratio(driver.get(name), stock.get(name)))
            for name in ("tells_per_s", "tells_per_s_with_timers", "tells_per_s_capnp_dispatch", "ask_p50_us", "ask_p99_us",
                         "timer_late_p50_ms", "timer_late_p99_ms")]
    print_table(rows, ("metric", "driver", "stock simple base", "ratio"))
    write_outputs(args.json, args.png, {"driver": driver, "stock": stock, "machine": machine(), "args": vars(args)},
                  plot)


def plot(document: dict, path: str) -> None:
    """Bars of the driver beside Thespian's stock simple base: throughput, ask round trip, timer lateness."""
    runs = {"driver": document["driver"], "stock simple base": document["stock"]}

    def pick(*names):
        return {run: {name: figures.get(name) for name in names} for run, figures in runs.items()}

    write_bar_png(path, f"bench_runtime (shared 2-core machine, load {document['machine']['load_average_1m']})", [
        ("messages/s", pick("tells_per_s", "tells_per_s_with_timers", "tells_per_s_capnp_dispatch"), None),
        ("ask round trip, µs", pick("ask_p50_us", "ask_p99_us"), None),
        ("33 ms timer lateness, ms", pick("timer_late_p50_ms", "timer_late_p99_ms"), None),
    ])


if __name__ == "__main__":
    main()
