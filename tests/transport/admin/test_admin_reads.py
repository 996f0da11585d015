"""Admin reads do not take the loop from the market path: a tree burst while a socket watches ``rb``."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.conftest import JWT_SECRET, read_server_message
from tests.transport.desk_process import DeskProcess
from transport.signin.auth import mint_token
from transport.edge.client import client_message

REPLAY = "cn_futopt_l1_20171113_0900-1000.csv.gz"


async def _watch(ws, arrivals: list[float]) -> None:
    """Record the loop time of every ``rb`` group frame until the socket closes."""
    loop = asyncio.get_running_loop()
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.BINARY:
            return
        if read_server_message(msg.data)["which"] == "groupFrame":
            arrivals.append(loop.time())


def _rate(arrivals: list[float], start: float, end: float) -> float:
    return sum(1 for t in arrivals if start <= t < end) / (end - start)


async def test_tree_when_1000_reads_at_50_concurrent_then_rb_watcher_keeps_its_frame_rate(tmp_path, data_dir):
    """During 1,000 GET /admin/tree at 50 concurrent, a watcher of rb gets ≥ half its frames/s of before."""
    desk = DeskProcess(["--replay", str(data_dir / REPLAY), "--speed", "20"], tmp_path / "stderr.log")
    await desk.start()
    admin = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'ops', 'admin')}"}
    loop = asyncio.get_running_loop()
    arrivals: list[float] = []
    try:
        async with aiohttp.ClientSession(base_url=desk.url) as http:
            ws = await http.ws_connect("/ws", max_msg_size=64 * 1024 * 1024)
            await ws.send_bytes(client_message(1, auth={"token": mint_token(JWT_SECRET, "watcher")}))
            await ws.send_bytes(client_message(2, subscribe={"groups": ["rb"]}))
            watcher = asyncio.create_task(_watch(ws, arrivals))
            async with asyncio.timeout(20):
                while len(arrivals) < 10:
                    await asyncio.sleep(0.05)
            before_start = loop.time()
            await asyncio.sleep(3.0)  # the baseline window: the watcher's own rate on this machine now
            before_end = loop.time()
            statuses: list[int] = []
            pending = iter(range(1000))

            async def reader() -> None:
                for _ in pending:
                    async with http.get("/admin/tree", headers=admin) as response:
                        await response.read()
                        statuses.append(response.status)

            burst_start = loop.time()
            await asyncio.wait_for(asyncio.gather(*(reader() for _ in range(50))), 120)
            burst_end = loop.time()
            await ws.close()
            await asyncio.wait_for(watcher, 10)
        assert statuses.count(200) == 1000, {s: statuses.count(s) for s in set(statuses)}
        before = _rate(arrivals, before_start, before_end)
        during = _rate(arrivals, burst_start, burst_end)
        assert before > 5, before
        assert during >= 0.5 * before, (before, during, burst_end - burst_start)
    finally:
        assert await desk.stop() == 0
