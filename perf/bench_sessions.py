"""Benchmark fan-out: 50 → 1,000 WebSocket sessions on one desk of 20,000 contracts.

Issue 18's sessions-per-process row. One desk (perf/_servers.py
``TickstageServer``: vn.py EventEngine → bridge → 40 GroupActors of ~500
rows → SessionActors → aiohttp) is fed ~4,000 ticks/s by a paced feeder
thread; for each step (default 50, 200, 500, 1,000 sessions; ``--quick``:
50, 200) that many clients in other processes (perf/_clients.py) connect,
subscribe to 3 groups each and are measured for ``--seconds``. Per step:

* ``lag_p50_ms`` / ``lag_p99_ms``: client receive − ``gatewayRecvTsNs`` of
  the newest row of each delta frame (one clock: same machine), the lag a
  trader sees, including the 33 ms window;
* ``send_p99_ms``: frame handed to the session → written to its socket
  (the outboxes' ``send_latency``, the fan-out's own hop);
* ``msgs_per_session_per_s`` and ``delivery``: frames received / frames the
  subscribed groups built (1.0: every frame reached every subscriber;
  below: sessions conflated or clients fell behind);
* ``rss_mb`` (server process, VmRSS; it holds the bench's own 20,000
  ContractData and tick pool too: ``desk_rss_mb`` is the growth since just
  before the desk started), ``cpu_percent`` (server process) and
  the clients' CPU (a saturated client process inflates lag);
* ``gc_*``: the server's garbage collections in the window, their total
  and longest pause (``--gc-freeze``: ``gc.freeze()`` once the desk started).

Baselines, same run, same sessions: ``floor``, the same frames written
straight to the same sockets with no session actor, no outbox and no
message per session: the group's broadcast writes each frame's WebSocket
header (built once per frame) and bytes to every subscribed socket with one
``transport.writelines`` each, in the group's own handler (what any design
pays: ingest, the group's build, one write per socket and frame);
``baseline_messages``, the fan-out before issue 18's in-line delivery (one
``outbound`` actor message per session and frame, each opened by the
session: ``SessionFanout(inline=False)``); ``baseline``, every session gets its own
encoding of each frame (the ServerMessage decoded and re-encoded per session,
as a per-session encoder would), the design the shared bytes replace; and
``baseline_aiohttp_send``, the socket outbox without direct writes (a writer
task wake-up and an aiohttp ``send_bytes`` per frame, as before issue 18).
``cpu_us_per_frame`` (server CPU per frame the clients received) is the
figure least bent by a loaded machine: a starved process shows lag, not CPU.
The machine is shared: read ratios, not absolute figures. A PNG of lag and delivery
against sessions goes next to ``--json`` (or to ``--png``).

Usage::

    .venv/bin/python perf/bench_sessions.py --quick --json sessions.json    # ~1 min
    .venv/bin/python perf/bench_sessions.py --json sessions.json            # ~5 min
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path


from _common import (run_benchmark, GcPauses, build_market, machine, print_table, ratio, rss_mb, subscriptions,
                     write_png)
from _servers import TickstageServer
from bench_pipeline import ClientProcess, Feeder
from transport.signin.auth import mint_token
from transport.venue.vnpy_home import contain_vnpy

LAG_P99_GOAL_MS = 100.0
"""Issue 18: 1,000 sessions, send lag p99 ≤ 100 ms with full delivery."""


def per_socket_send():
    """Return a SocketOutbox subclass without direct writes: a writer-task wake-up and aiohttp send per frame."""
    from transport.edge.outbox import SocketOutbox

    class AiohttpSendOutbox(SocketOutbox):
        def __init__(self, send, on_drained, low_water_bytes=256 * 1024, **_direct) -> None:
            super().__init__(send, on_drained, low_water_bytes)

    return AiohttpSendOutbox


def messages_per_session():
    """Return a SessionFanout subclass that sends every frame as one actor message per session (the old path)."""
    from actors.market.fanout import SessionFanout

    class MessageFanout(SessionFanout):
        def __init__(self, runtime, send, inline: bool = True) -> None:
            super().__init__(runtime, send, inline=False)

    return MessageFanout


FLOOR_HIGH_WATER_BYTES = 1024 * 1024
"""The floor drops a frame for a socket with more than this unsent (the sessions' own high-water mark), so a
slow client bounds its memory and lag as a session's conflation does."""


def floor_writes(server: TickstageServer):
    """Return the ``floor``'s outbox and fan-out: each frame written straight to every subscribed socket.

    The outbox keeps its socket's transport public; the fan-out, for each frame, builds the WebSocket header
    once and calls ``transport.writelines((header, payload))`` per subscribed socket, in the group's handler:
    no session actor, no outbox queue, no per-session message; a socket with more than
    ``FLOOR_HIGH_WATER_BYTES`` unsent misses the frame. Frames queued by message (info, the attach's
    snapshot, statuses) still go through the sessions.
    """
    from actors.market.fanout import SessionFanout
    from transport.edge.outbox import SocketOutbox, websocket_header

    class TransportOutbox(SocketOutbox):
        def __init__(self, send, on_drained, low_water_bytes=256 * 1024, transport=None, **direct) -> None:
            super().__init__(send, on_drained, low_water_bytes, transport=transport, **direct)
            self.transport = transport

    class FloorFanout(SessionFanout):
        def deliver(self, sessions, group, seq, kind, payload, sent_ts_ns, outbound):
            connections = server.sockets.connections
            buffers = (websocket_header(len(payload)), payload)
            for session in sessions:
                connection = connections.get(session)
                transport = connection.outbox.transport if connection is not None else None
                if (transport is not None and not transport.is_closing()
                        and transport.get_write_buffer_size() <= FLOOR_HIGH_WATER_BYTES):
                    transport.writelines(buffers)
            self.frames_inline += len(sessions)
            return []

    return TransportOutbox, FloorFanout


def per_session_encoding():
    """Return a SocketOutbox subclass that re-encodes every frame for its own socket (the baseline)."""
    import schemas
    from transport.edge.outbox import SocketOutbox

    stream = schemas.stream

    class PerSessionOutbox(SocketOutbox):
        def put_nowait(self, frame: bytes, built_ts_ns: int = 0) -> None:
            with stream.ServerMessage.from_bytes(frame, traversal_limit_in_words=1 << 26) as message:
                own = message.as_builder().to_bytes()
            super().put_nowait(own, built_ts_ns)

    return PerSessionOutbox


class Desk:
    """The desk's counters the bench reads (the server's registry, loop thread)."""

    def __init__(self, server: TickstageServer) -> None:
        self.server = server

    def _instances(self, parent: str) -> list:
        return [e.instance for e in self.server.runtime.registry.children(parent) if e.instance]

    def counters(self) -> dict:
        """Frames built × subscribers (deliveries owed), frames the sessions queued, conflations."""
        groups, sessions = self._instances("market"), self._instances("sessions")
        return {"owed": sum(g.frames * len(g.subscribers) for g in groups),
                "session_frames": sum(s.frames_sent for s in sessions),
                "conflated": sum(s.conflated for s in sessions),
                "frames_over_budget": sum(g.frames_over_budget for g in groups)}

    def send_percentiles_ms(self) -> dict:
        """Frame handed to the session → socket write, ms: the median socket's p50, the worst socket's p99."""
        import statistics

        hops = [s.outbox.send_latency.percentiles() for s in self._instances("sessions")
                if getattr(s, "outbox", None) is not None]
        hops = [h for h in hops if h.samples]
        if not hops:
            return {"send_p50_ms": None, "send_p99_ms": None}
        return {"send_p50_ms": round(statistics.median(h.p50_ns for h in hops) / 1e6, 3),
                "send_p99_ms": round(max(h.p99_ns for h in hops) / 1e6, 3)}


async def measure_step(server: TickstageServer, subs: list[list[str]], args) -> dict:
    """Connect ``len(subs)`` clients, measure one window, disconnect them."""
    tokens = [mint_token(server.jwt_secret, f"bench-{i}") for i in range(len(subs))]
    shares = [range(k, len(subs), args.client_processes) for k in range(args.client_processes)]
    clients = [await ClientProcess.start("tickstage", server.url, [subs[i] for i in share],
                                         [tokens[i] for i in share], 120 + 4 * args.seconds)
               for share in shares if len(share)]
    desk = Desk(server)
    try:
        await asyncio.sleep(args.warmup_s)
        for c in clients:
            await c.reset()
        before, cpu_before, started = desk.counters(), time.process_time(), time.perf_counter()
        gc_pauses = GcPauses()
        await asyncio.sleep(args.seconds)
        gc_pauses.stop()
        reports = [await c.report() for c in clients]
        elapsed_s = time.perf_counter() - started
        after, cpu_s = desk.counters(), time.process_time() - cpu_before
        sends = desk.send_percentiles_ms()
    finally:
        for c in clients:
            await c.stop()
    received = sum(r["messages"] for r in reports)
    owed = after["owed"] - before["owed"]
    weights = [r["latency_samples"] for r in reports]
    lag50 = max((r["e2e_p50_ms"] for r in reports if r["e2e_p50_ms"] is not None), default=None)
    lag99 = max((r["e2e_p99_ms"] for r in reports if r["e2e_p99_ms"] is not None), default=None)
    return {"sessions": len(subs), "lag_p50_ms": lag50, "lag_p99_ms": lag99, **sends,
            "msgs_per_session_per_s": round(received / len(subs) / elapsed_s, 2),
            "cpu_us_per_frame": round(cpu_s * 1e6 / received, 2) if received else None,
            "delivery": round(received / owed, 3) if owed else None,
            "conflated": after["conflated"] - before["conflated"],
            "frames_over_budget": after["frames_over_budget"] - before["frames_over_budget"],
            "rss_mb": rss_mb(), "desk_rss_mb": round(rss_mb() - args.rss_before_desk_mb, 1),
            "cpu_percent": round(100 * cpu_s / elapsed_s, 1),
            "client_cpu_percent": [r["client_cpu_pct"] for r in reports], "latency_samples": sum(weights),
            "client_errors": sum(r["errors"] for r in reports), **gc_pauses.take(),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def top_allocations(limit: int = 15) -> list[dict]:
    """Return the files holding the most traced Python memory now (tracemalloc), MB; stop tracing."""
    snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    root = str(Path(__file__).resolve().parents[1]) + "/"
    top = snapshot.statistics("filename")[:limit]
    return [{"file": stat.traceback[0].filename.replace(root, ""), "mb": round(stat.size / 2**20, 1),
             "blocks": stat.count} for stat in top]


async def run_system(name: str, market, args, memory: list | None = None) -> list[dict]:
    """Start a desk (per-session encoding when ``name == "baseline"``), feed it, measure every step.

    With tracemalloc tracing, ``memory`` gets the top files by traced memory, desk still up.
    """
    import actors.market.group as group_module
    import transport.edge.ws as ws_module

    original, original_fanout = ws_module.SocketOutbox, getattr(group_module, "SessionFanout", None)
    server = TickstageServer(secrets.token_urlsafe(32))
    if name == "baseline":
        ws_module.SocketOutbox = per_session_encoding()
    elif name == "aiohttp_send":
        ws_module.SocketOutbox = per_socket_send()
    elif name == "messages":
        group_module.SessionFanout = messages_per_session()
    elif name == "floor":
        ws_module.SocketOutbox, group_module.SessionFanout = floor_writes(server)
    steps: list[dict] = []
    try:
        await server.start(market.contracts, len(market.groups))
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        feeder = Feeder(server.event_engine.put, market.ticks, rate=args.rate)
        feeder.start()
        try:
            for n in args.steps:
                subs = subscriptions(n, market.groups, args.groups_per_client, args.seed)
                step = await measure_step(server, subs, args)
                steps.append(step)
                print(f"  {name} {n:>5} sessions: lag p50 {step['lag_p50_ms']} p99 {step['lag_p99_ms']} ms, "
                      f"delivery {step['delivery']}, rss {step['rss_mb']} MB, cpu {step['cpu_percent']} %",
                      file=sys.stderr, flush=True)
                await server.wait_absorbed(5)
            if memory is not None and tracemalloc.is_tracing():
                memory.extend(top_allocations())
        finally:
            feeder.stop()
            await asyncio.to_thread(feeder.join, 10)
    finally:
        ws_module.SocketOutbox = original
        if original_fanout is not None:
            group_module.SessionFanout = original_fanout
        await server.stop()
    return steps


def plot(document: dict, path: str) -> None:
    """Lag p99 and delivery against sessions, tickstage and baseline."""
    series = {name: document.get(key) or [] for name, key in (
        ("tickstage", "steps"), ("floor: straight writes", "floor"), ("message per session", "baseline_messages"),
        ("per-session encode", "baseline"), ("aiohttp send per frame", "baseline_aiohttp_send"))}
    write_png(path, f"bench_sessions: {document['args']['contracts']:,} contracts, {document['args']['rate']:,} "
                    f"ticks/s (shared 2-core machine, load {document['machine']['load_average_1m']})", [
        ("lag p99 ms (tick → client)", "sessions", {
            name: ([s["sessions"] for s in steps], [s["lag_p99_ms"] for s in steps])
            for name, steps in series.items()}, LAG_P99_GOAL_MS, "log"),
        ("delivery (received / owed)", "sessions", {
            name: ([s["sessions"] for s in steps], [s["delivery"] for s in steps])
            for name, steps in series.items()}, 1.0),
        ("server CPU µs per frame delivered", "sessions", {
            name: ([s["sessions"] for s in steps], [s["cpu_us_per_frame"] for s in steps])
            for name, steps in series.items()}, None),
        ("server RSS MB", "sessions", {
            name: ([s["sessions"] for s in steps], [s["rss_mb"] for s in steps])
            for name, steps in series.items()}, 300.0),
    ])


async def main(args) -> dict:
    """Run tickstage then the baseline over every step; print the table; return the JSON document."""
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as state_dir:
        contain_vnpy(Path(state_dir))
        market = build_market(args.contracts, args.groups, args.pool, args.seed)
        gc.collect()
        args.rss_before_desk_mb = rss_mb()  # the bench's own contracts and tick pool, vn.py and imports
        print(f"market: {len(market.contracts):,} contracts, {len(market.groups)} groups; "
              f"RSS before the desk {args.rss_before_desk_mb} MB", file=sys.stderr, flush=True)
        if args.tracemalloc:
            tracemalloc.start(1)
        memory: list[dict] = []
        steps = await run_system("tickstage", market, args, memory)
        floor = [] if args.no_floor else await run_system("floor", market, args)
        messages = [] if args.no_floor else await run_system("messages", market, args)
        baseline = [] if args.no_baseline else await run_system("baseline", market, args)
        aiohttp_send = [] if args.no_baseline else await run_system("aiohttp_send", market, args)
    rows = []
    for i, step in enumerate(steps):
        others = [runs[i] if i < len(runs) else {} for runs in (floor, messages, baseline, aiohttp_send)]
        for key in ("lag_p50_ms", "lag_p99_ms", "send_p99_ms", "msgs_per_session_per_s", "delivery",
                    "cpu_us_per_frame", "rss_mb", "desk_rss_mb", "cpu_percent", "gc_pause_max_ms"):
            cells = [step[key]]
            for other in others:
                cells += [other.get(key), ratio(step[key], other.get(key))]
            rows.append((f"{step['sessions']:,} sessions {key}", *cells,
                         f"≤ {LAG_P99_GOAL_MS:g}" if key == "lag_p99_ms" and step["sessions"] == 1000 else ""))
    print()
    print_table(rows, ("metric", "tickstage", "floor", "ratio", "msg/session", "ratio", "per-session encode",
                       "ratio", "aiohttp send", "ratio", "goal"))
    return {"steps": steps, "floor": floor, "baseline_messages": messages, "tracemalloc_top": memory,
            "baseline": baseline, "baseline_aiohttp_send": aiohttp_send, "machine": machine(),
            "args": {k: v for k, v in vars(args).items() if k not in ("json", "png")}}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--quick`` runs 50 and 200 sessions, 3 s each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="steps 50, 200; 3 s each (~1 min)")
    parser.add_argument("--json", help="write the results to this file (and a PNG beside it)")
    parser.add_argument("--png", help="write the plot here (default: --json with .png)")
    parser.add_argument("--steps", type=lambda s: [int(n) for n in s.split(",")])
    parser.add_argument("--contracts", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=40, help="product groups (≤ 40)")
    parser.add_argument("--groups-per-client", type=int, default=3)
    parser.add_argument("--rate", type=int, default=4000, help="ticks/s fed")
    parser.add_argument("--pool", type=int, default=50_000, help="distinct TickData objects, cycled")
    parser.add_argument("--seconds", type=float, help="measured seconds per step (default 10, quick 3)")
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--client-processes", type=int, default=2, help="processes the clients are spread over")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the per-session encode and aiohttp send baselines")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor and the message-per-session runs")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="trace Python allocations; report the top files after the last step (slow)")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() once the desk has started")
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval(s) (default 0.005)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    args.steps = args.steps or ([50, 200] if args.quick else [50, 200, 500, 1000])
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    return args


if __name__ == "__main__":
    run_benchmark(parse_args, main, plot)
