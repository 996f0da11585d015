"""Aggregator failover for perf/bench_nats.py (issue 16): the leading aggregator of ``rb`` killed N times.

A ``venue-host``, two ``aggregator`` and an ``edge`` node process share a nats-server; the aggregator leading
``rb`` (``GET /admin/cluster``) is killed with SIGKILL and started again as a follower, N times. Failover time =
the client's last frame of the old lease epoch → its first frame of the new one (beside it, the kill → that
frame). The baseline in the same run: ``POST /admin/restart market/group/rb`` on an ``all`` desk → the client's
next frame, N times. Budget: 2,000 ms (issue 16).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import aiohttp
import numpy as np
from _common import write_png
from nodes import REPLAY_FILE, SECRET, NodeProcess, admin_headers, wait_group


async def _rb_client(port: int):
    """An open /ws client of ``port`` subscribed to rb: (session, ws)."""
    from transport.edge.client import client_message
    from transport.signin.auth import mint_token

    http = aiohttp.ClientSession()
    ws = await http.ws_connect(f"ws://127.0.0.1:{port}/ws", max_msg_size=64 * 1024 * 1024)
    await ws.send_bytes(client_message(1, auth={"token": mint_token(SECRET, "bench")}))
    await ws.send_bytes(client_message(2, subscribe={"groups": ["rb"]}))
    return http, ws


async def _next_frame(ws, epoch_above: int = -1, timeout_s: float = 30.0) -> int:
    """Wait for the next rb GroupFrame (of an epoch above ``epoch_above``); return its epoch."""
    import schemas

    async with asyncio.timeout(timeout_s):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise ConnectionError(f"socket closed: {msg.type}")
            with schemas.stream.ServerMessage.from_bytes(msg.data) as message:
                if message.which() == "groupFrame" and message.groupFrame.epoch > epoch_above:
                    return message.groupFrame.epoch


async def _drain(ws) -> None:
    while True:
        try:
            await asyncio.wait_for(ws.receive(), 0.001)
        except TimeoutError:
            return


async def _rb_leader(http, edge_port: int, pids: dict[int, NodeProcess], above: int = 0) -> tuple[NodeProcess, int]:
    async with asyncio.timeout(30):
        while True:
            async with http.get(f"http://127.0.0.1:{edge_port}/admin/cluster", headers=admin_headers()) as response:
                view = await response.json()
            by_name = {n["node"]: n["pid"] for n in view["nodes"]}
            for lease in view["groups"]:
                if lease["group"] == "rb" and lease["epoch"] > above and by_name.get(lease["leader"]) in pids:
                    return pids[by_name[lease["leader"]]], lease["epoch"]
            await asyncio.sleep(0.1)


async def _until_new_epoch(ws, epoch: int, last_old_ns: int, timeout_s: float = 30.0) -> tuple[int, int, int]:
    """Read rb frames until one of an epoch above ``epoch``; return (its epoch, when it came, when the last
    frame of ``epoch`` came), ``time.perf_counter_ns()``: frames of the old leader still in flight after the
    kill move the last one on."""
    import schemas

    async with asyncio.timeout(timeout_s):
        while True:
            msg = await ws.receive()
            now_ns = time.perf_counter_ns()
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise ConnectionError(f"socket closed: {msg.type}")
            with schemas.stream.ServerMessage.from_bytes(msg.data) as message:
                if message.which() != "groupFrame":
                    continue
                frame_epoch = message.groupFrame.epoch
            if frame_epoch > epoch:
                return frame_epoch, now_ns, last_old_ns
            if frame_epoch == epoch:
                last_old_ns = now_ns


async def _failover(args: argparse.Namespace, url: str, tmp: Path, kills: int) -> tuple[list[float], list[float]]:
    """Kill the leading aggregator ``kills`` times (SIGKILL; it is started again afterwards, as a follower);
    return (the client's last frame of the old epoch → its first frame of the new, ms; kill → that frame, ms)."""
    replay = ("--replay", str(Path(args.data) / REPLAY_FILE), "--speed", "20")
    host = NodeProcess(tmp, "fo-host", "venue-host", [url], SECRET, *replay)
    edge = NodeProcess(tmp, "fo-edge", "edge", [url], SECRET)
    aggregators = [NodeProcess(tmp, f"fo-aggregator-{i}", "aggregator", [url], SECRET) for i in range(2)]
    started = [host, edge, *aggregators]
    gaps, since_kill = [], []
    try:
        await asyncio.gather(*(node.wait_healthy() for node in started))
        await wait_group(edge.port, "rb")
        http, ws = await _rb_client(edge.port)
        try:
            epoch = 0
            for _ in range(kills):
                pids = {node.process.pid: node for node in aggregators}
                leader, epoch = await _rb_leader(http, edge.port, pids, above=epoch - 1)
                await _drain(ws)
                await _next_frame(ws, epoch - 1)   # a frame of the leader's epoch just came
                last_old_ns = killed_ns = time.perf_counter_ns()
                leader.process.kill()
                epoch, first_new_ns, last_old_ns = await _until_new_epoch(ws, epoch, last_old_ns)
                gaps.append((first_new_ns - last_old_ns) / 1e6)
                since_kill.append((first_new_ns - killed_ns) / 1e6)
                leader.process.wait(timeout=10)
                leader.stop()
                aggregators.remove(leader)
                again = NodeProcess(tmp, leader.name, "aggregator", [url], SECRET)   # back, as a follower
                started.append(again)
                aggregators.append(again)
                await again.wait_healthy()
                await asyncio.sleep(2.0)  # the restarted node has the groups warm before the next kill
        finally:
            await ws.close()
            await http.close()
    finally:
        for node in started:
            node.stop()
    return gaps, since_kill


async def _in_process_restart(args: argparse.Namespace, count: int) -> list[float]:
    """Restart market/group/rb on an ``all`` desk ``count`` times; return restart request → next frame, ms."""
    from transport.process.app import Desk, DeskConfig

    replay = (str(Path(args.data) / REPLAY_FILE),)
    desk = Desk(DeskConfig(port=0, replay=replay, speed=20.0, jwt_secret=SECRET, progress_interval_s=0))
    await desk.start()
    samples = []
    try:
        await wait_group(desk.port, "rb")
        http, ws = await _rb_client(desk.port)
        try:
            await _next_frame(ws)
            for _ in range(count):
                await _drain(ws)
                started_ns = time.perf_counter_ns()
                async with http.post(f"http://127.0.0.1:{desk.port}/admin/restart", json={"path": "market/group/rb"},
                                     headers=admin_headers()) as response:
                    assert response.status == 200, await response.text()
                await _next_frame(ws)
                samples.append((time.perf_counter_ns() - started_ns) / 1e6)
                await asyncio.sleep(0.5)
        finally:
            await ws.close()
            await http.close()
    finally:
        await desk.stop()
    return samples


async def run_failover(args: argparse.Namespace, url: str, tmp: Path) -> dict:
    """Failover over N kills beside the in-process restart (issue 16)."""
    kills = args.failovers or (2 if args.quick else 10)
    failover_ms, since_kill_ms = await _failover(args, url, tmp, kills)
    restart_ms = await _in_process_restart(args, kills)
    q = lambda xs, p: round(float(np.percentile(xs, p)), 1) if xs else None  # noqa: E731
    return {"failovers": kills, "failover_ms": [round(x, 1) for x in failover_ms],
            "kill_to_frame_ms": [round(x, 1) for x in since_kill_ms],
            "inprocess_restart_ms": [round(x, 1) for x in restart_ms],
            "failover_p50_ms": q(failover_ms, 50), "failover_max_ms": q(failover_ms, 100),
            "kill_to_frame_p50_ms": q(since_kill_ms, 50), "kill_to_frame_max_ms": q(since_kill_ms, 100),
            "inprocess_restart_p50_ms": q(restart_ms, 50), "inprocess_restart_max_ms": q(restart_ms, 100)}


def plot_failover(document: dict, png: str) -> None:
    """Write each failover and each in-process restart (ms, in order) with the 2 s budget of issue 16 to ``png``."""
    failover = document["failover"]
    load = document["machine"]["load_average_1m"]
    kills = list(range(1, failover["failovers"] + 1))
    write_png(png, f"perf/bench_nats.py: failover of the rb aggregator (load {load})",
              [("ms", "kill / restart #", {
                  "leading aggregator killed: last frame of the old epoch → first of the new": (
                      kills, failover["failover_ms"]),
                  "in process: POST /admin/restart market/group/rb → next frame": (
                      kills, failover["inprocess_restart_ms"])}, 2000)])
