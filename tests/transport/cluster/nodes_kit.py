"""Helpers of the multi-process NATS tests: ``tickstage run`` nodes, the lease view, a recording client.

Shared by the node, failover, liveness and issue-16 acceptance tests
(tests/transport/cluster/): a :class:`Node` is one role in its own
process; :func:`wait_leader` reads ``GET /admin/cluster`` for the node
leading a group; a :class:`Recorder` keeps every message of one group a
client receives, with its receive time, and resyncs as a browser's feed
does; :func:`check_stream` asserts what a client may see across a failover.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp

from perf.nodes import NodeProcess
from tests.conftest import JWT_SECRET
from transport.signin.auth import mint_token

GROUP = "rb"
"""The group the failover tests watch (rb: ~2 ticks/s of exchange time in the recorded hour)."""


class Node(NodeProcess):
    """One ``tickstage run`` subprocess (perf/nodes.py), with the test's admin reads and SIGKILL."""

    def __init__(self, tmp_path: Path, name: str, role: str, urls: list[str], *extra: str,
                 env: dict[str, str] | None = None) -> None:
        super().__init__(tmp_path, name, role, urls, JWT_SECRET, *extra, env=env)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def groups(self, http: aiohttp.ClientSession) -> list[str]:
        headers = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'ops', 'admin')}"}
        async with http.get(f"http://127.0.0.1:{self.port}/api/groups", headers=headers) as response:
            return [g["name"] for g in (await response.json())["groups"]]

    async def admin_tree(self, http: aiohttp.ClientSession) -> dict:
        headers = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'ops', 'admin')}"}
        async with http.get(f"http://127.0.0.1:{self.port}/admin/tree", headers=headers) as response:
            return await response.json()

    async def actor_statistics(self, http: aiohttp.ClientSession, path: str) -> dict:
        tree = await self.admin_tree(http)

        def find(node):
            if node.get("path") == path:
                return node
            for child in node.get("children", ()):
                found = find(child)
                if found:
                    return found
            return None

        return find(tree["tree"])

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


async def cluster_view(http: aiohttp.ClientSession, node: Node) -> dict:
    """The node's ``GET /admin/cluster``: ``{"nodes": [...], "groups": [lease, ...]}``."""
    headers = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'ops', 'admin')}"}
    async with http.get(f"http://127.0.0.1:{node.port}/admin/cluster", headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def wait_leader(http: aiohttp.ClientSession, edge: Node, aggregators: list[Node], above: int = 0,
                      timeout_s: float = 30.0, group: str = GROUP) -> tuple[Node, int]:
    """Wait until /admin/cluster shows a leader of ``group`` among ``aggregators`` with an epoch above
    ``above``; return (its Node, epoch)."""
    by_pid = {node.process.pid: node for node in aggregators}
    async with asyncio.timeout(timeout_s):
        while True:
            view = await cluster_view(http, edge)
            pids = {n["node"]: n["pid"] for n in view["nodes"]}
            for lease in view["groups"]:
                if lease["group"] == group and lease["epoch"] > above and pids.get(lease["leader"]) in by_pid:
                    return by_pid[pids[lease["leader"]]], lease["epoch"]
            await asyncio.sleep(0.2)


class Recorder:
    """Reads a client's socket in the background and keeps every message of ``group`` with its receive time
    (``time.monotonic()``, s); like a browser's feed, it asks a snapshot when a delta skips a seq or starts a
    newer epoch (a loaded machine may drop a frame: the client resyncs).

    Args:
        client: anything with ``async recv(timeout_s) -> dict`` (a decoded ServerMessage; ``which`` =
            ``closed`` when its socket closed) and ``async send(**member)``.
        group: the group kept.
    """

    def __init__(self, client, group: str = GROUP) -> None:
        self.client = client
        self.group = group
        self.messages: list[tuple[float, dict]] = []
        self.resyncs = 0
        self._epoch, self._seq = 0, None
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                message = await self.client.recv(1.0)
            except TimeoutError:
                continue
            if message["which"] == "closed":
                return  # a closed socket answers at once: looping on it would spin until the loop closes
            if message.get("group") != self.group:
                continue
            message.pop("columns", None)
            self.messages.append((time.monotonic(), message))
            if message["which"] == "groupFrame" and message.get("epoch", 0) >= self._epoch:
                if message["kind"] == "snapshot":
                    self._epoch, self._seq = message.get("epoch", 0), message["seq"]
                elif self._seq is not None and (message.get("epoch", 0) > self._epoch
                                                or message["seq"] != self._seq + 1):
                    self._seq = None
                    self.resyncs += 1
                    await self.client.send(snapshotRequest={"group": self.group})
                elif self._seq is not None:
                    self._seq = message["seq"]

    @property
    def in_sync(self) -> bool:
        """True once a snapshot came after the last skip (the client holds the group's state)."""
        return self._seq is not None

    async def wait_for(self, predicate, timeout_s: float, after: int = 0) -> int:
        """Return the index of the first message at or after ``after`` matching ``predicate`` (bounded)."""
        async with asyncio.timeout(timeout_s):
            while True:
                for index in range(after, len(self.messages)):
                    if predicate(self.messages[index][1]):
                        return index
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def frames(self) -> list[dict]:
        return [m for _, m in self.messages if m["which"] == "groupFrame"]


def check_stream(frames: list[dict]) -> None:
    """Epochs never decrease; within an epoch a delta follows the previous frame by one, or the client
    resynced: after a skip, deltas are ignored until a snapshot comes, and one must come."""
    last_epoch, last_seq, resyncing = 0, None, False
    for frame in frames:
        epoch = frame.get("epoch", 0)
        assert epoch >= last_epoch, f"a frame of epoch {epoch} after epoch {last_epoch}: a stale leader spoke"
        if epoch > last_epoch:
            last_epoch, last_seq = epoch, None
            resyncing = frame["kind"] != "snapshot"
        if frame["kind"] == "snapshot":
            last_seq, resyncing = frame["seq"], False
        elif last_seq is not None and not resyncing:
            if frame["seq"] != last_seq + 1:
                resyncing = True  # the client asked a snapshot
            last_seq = frame["seq"]
    assert not resyncing, "a skipped seq was never healed by a snapshot"


async def settled(recorder: Recorder, timeout_s: float = 20.0) -> None:
    """Stop recording once the stream is in sync (a resync asked has been answered by a snapshot)."""
    async with asyncio.timeout(timeout_s):
        while not recorder.in_sync:
            await asyncio.sleep(0.05)
    await recorder.stop()


def is_frame(epoch_above: int):
    """Predicate: a groupFrame of an epoch above ``epoch_above``."""
    return lambda m: m["which"] == "groupFrame" and m.get("epoch", 0) > epoch_above


def is_status(*states: str):
    """Predicate: a groupStatus in one of ``states``."""
    return lambda m: m["which"] == "groupStatus" and m["state"] in states


__all__ = ["GROUP", "Node", "Recorder", "check_stream", "cluster_view", "is_frame", "is_status", "settled",
           "wait_leader"]
