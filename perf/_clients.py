"""The WebSocket clients of bench_pipeline.py, run in a process of their own.

Usage (started by bench_pipeline.py, not by hand)::

    python perf/_clients.py {tickstage|baseline} URL MAX_SECONDS < commands

The first stdin line is JSON ``{"subscriptions": [[group, ...], ...],
"tokens": [jwt, ...]}``: one client per entry. Each client connects,
authenticates (tickstage) and subscribes; once all are subscribed the
process prints ``{"ready": n}``. Then it reads commands, one per line:
``reset`` (start a measurement window), ``report`` (print one JSON line of
the window's figures) and ``quit``. EOF on stdin or ``MAX_SECONDS`` ends it.

Latency is client receive time (``time.time_ns()`` as the message is
handed out of aiohttp) minus the server's ``gatewayRecvTsNs`` (same
machine, same clock). tickstage: ``e2e`` is the newest row of each delta
frame (as ``tickstage watch`` computes it), ``row`` is every row of each
delta frame (the age of every delivered tick). baseline: one tick per
message, so both are the same. The client reads only what latency needs,
to keep this measuring process light.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp
import numpy as np
import uvloop

import schemas
from actors.market.frames import frame_columns
from transport.edge.client import client_message

from _common import percentiles_ms


class WindowStats:
    """What all clients saw since the last ``reset`` (one process, one thread)."""

    def __init__(self, n_clients: int) -> None:
        self.n_clients = n_clients
        self.reset()

    def reset(self) -> None:
        """Start a new window."""
        self.started_ns = time.monotonic_ns()
        self.cpu_s = time.process_time()
        self.messages = np.zeros(self.n_clients, dtype=np.int64)
        self.bytes = np.zeros(self.n_clients, dtype=np.int64)
        self.e2e_ms: list[float] = []
        self.rows_ns: list[np.ndarray] = []
        self.errors = 0
        self.closed = 0

    def report(self) -> dict:
        """Return the window's totals, per-client rates and latency percentiles."""
        wall_s = (time.monotonic_ns() - self.started_ns) / 1e9
        rows_ms = np.concatenate(self.rows_ns) / 1e6 if self.rows_ns else np.zeros(0)
        return {
            "window_s": round(wall_s, 3),
            "messages": int(self.messages.sum()),
            "frames_per_s_per_client": round(float(self.messages.mean()) / wall_s, 2),
            "bytes_per_s_per_client": round(float(self.bytes.mean()) / wall_s, 1),
            "clients_silent": int((self.messages == 0).sum()),
            "latency_samples": len(self.e2e_ms),
            **percentiles_ms(self.e2e_ms, "e2e"),
            **percentiles_ms(rows_ms if self.rows_ns else self.e2e_ms, "row"),
            "client_cpu_pct": round(100 * (time.process_time() - self.cpu_s) / wall_s, 1),
            "errors": self.errors,
            "closed": self.closed,
        }


async def tickstage_client(i: int, http, url: str, token: str, groups: list[str], stats: WindowStats,
                           subscribed: asyncio.Queue) -> None:
    """One tickstage client: auth, subscribe, then account every groupFrame."""
    stream = schemas.stream
    async with http.ws_connect(url, max_msg_size=64 * 1024 * 1024) as ws:
        await ws.send_bytes(client_message(1, auth={"token": token}))
        await ws.send_bytes(client_message(2, subscribe={"groups": groups}))
        async for msg in ws:
            received_ns = time.time_ns()
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            data = msg.data
            stats.messages[i] += 1
            stats.bytes[i] += len(data)
            with stream.ServerMessage.from_bytes(data) as message:
                member = message.which()
                if member == "groupFrame":
                    delta = str(message.groupFrame.kind) == "delta"
                elif member == "ack":
                    if message.ack.of == "subscribe":
                        subscribed.put_nowait(i)
                    continue
                else:
                    stats.errors += member == "error"
                    continue
            if delta:
                stamps = frame_columns(data)["gatewayRecvTsNs"]
                if len(stamps):
                    ages = received_ns - stamps
                    stats.e2e_ms.append(float(ages.min()) / 1e6)
                    stats.rows_ns.append(ages)
    stats.closed += 1


async def baseline_client(i: int, http, url: str, token: str, groups: list[str], stats: WindowStats,
                          subscribed: asyncio.Queue) -> None:
    """One baseline client: subscribe, then read ``"r"`` (receive stamp) of every tick message."""
    async with http.ws_connect(url, max_msg_size=64 * 1024 * 1024) as ws:
        await ws.send_str("subscribe " + ",".join(groups))
        async for msg in ws:
            received_ns = time.time_ns()
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = msg.data
            if data == "ok":
                subscribed.put_nowait(i)
                continue
            stats.messages[i] += 1
            stats.bytes[i] += len(data)
            # Messages start '{"r":<gatewayRecvTsNs>,' (see bench_pipeline.BaselineServer).
            stats.e2e_ms.append((received_ns - int(data[5:data.index(",", 5)])) / 1e6)
    stats.closed += 1


async def main(mode: str, url: str, max_s: float) -> None:
    """Run the clients until ``quit``, EOF or ``max_s`` seconds."""
    loop = asyncio.get_running_loop()
    config = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    subs, tokens = config["subscriptions"], config["tokens"]
    stats = WindowStats(len(subs))
    client = tickstage_client if mode == "tickstage" else baseline_client
    subscribed: asyncio.Queue = asyncio.Queue()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        tasks = [asyncio.create_task(client(i, http, url, tokens[i], groups, stats, subscribed))
                 for i, groups in enumerate(subs)]
        try:
            async with asyncio.timeout(max_s):
                for _ in subs:
                    await subscribed.get()
                print(json.dumps({"ready": len(subs)}), flush=True)
                while (line := (await loop.run_in_executor(None, sys.stdin.readline)).strip()) != "quit":
                    if line == "reset":
                        stats.reset()
                    elif line == "report":
                        print(json.dumps(stats.report()), flush=True)
                    elif not line:
                        break
        except TimeoutError:
            print(json.dumps({"error": f"clients stopped after {max_s} s"}), flush=True)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
