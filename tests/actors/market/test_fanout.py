"""SessionFanout (actors/market/fanout.py): a group frame reaches its sessions in-line, in order, crash-isolated.

Through a whole desk replaying recorded ticks (the ``desk`` fixture) and real WebSockets on loopback.
"""

from __future__ import annotations

import asyncio

import aiohttp

from actors.paths import group_path
from tests.conftest import JWT_SECRET
from transport.edge.client import DeskSocket
from transport.signin.auth import mint_token

GROUP = "rb"  # SHFE rebar: ticks every ~0.5 s of the recorded hour, 20× here


async def _open(http, desk, user: str) -> DeskSocket:
    return await DeskSocket.connect(http, f"ws://127.0.0.1:{desk.port}/ws", token=mint_token(JWT_SECRET, user),
                                    groups=[GROUP])


async def _frames(client: DeskSocket, count: int, timeout_s: float = 20) -> list[dict]:
    """Read this socket's rb messages until ``count`` groupFrames arrived; return them all, in order."""
    seen: list[dict] = []
    async with asyncio.timeout(timeout_s):
        while sum(m["which"] == "groupFrame" for m in seen) < count:
            message = await client.recv(timeout_s)
            assert message["which"] != "closed", message
            if message.get("group") == GROUP:
                seen.append(message)
    return seen


def _session(desk, path: str):
    return desk.runtime.registry.entry(path).instance


async def test_frames_when_sessions_subscribed_then_handed_over_in_line_not_one_message_each(desk) -> None:
    """Group frames reach a subscribed session without an actor message per frame: the session handles far
    fewer messages than it pushes frames, and the group counts the frames it handed over in-line."""
    async with aiohttp.ClientSession() as http:
        clients = [await _open(http, desk, f"user{i}") for i in range(4)]
        for client in clients:
            await _frames(client, 1)
        paths = [p for p, c in desk.sockets.connections.items()]
        before = {p: (_session(desk, p).statistics().messages, _session(desk, p).frames_sent) for p in paths}
        for client in clients:
            await _frames(client, 20)
        for path in paths:
            session = _session(desk, path)
            messages, frames = session.statistics().messages - before[path][0], session.frames_sent - before[path][1]
            assert frames >= 15 and messages < frames / 2, (path, messages, frames)
        group = desk.runtime.registry.entry(group_path(GROUP)).instance.extra_statistics()
        assert group["frames_inline"] > group["frames_by_message"]
        for client in clients:
            await client.close()


async def test_attach_when_frames_flow_then_info_and_snapshot_come_before_any_delta_in_seq_order(desk) -> None:
    """A session attaching while the group streams gets its groupInfo, then a snapshot, then frames in
    increasing seq: an in-line delta never overtakes the attach's answers queued as messages."""
    async with aiohttp.ClientSession() as http:
        first = await _open(http, desk, "ann")
        await _frames(first, 3)   # the group is streaming
        for i in range(4):
            late = await _open(http, desk, f"late{i}")
            seen = await _frames(late, 8)
            kinds = [m["which"] for m in seen if m["which"] in ("groupInfo", "groupFrame")]
            assert kinds[0] == "groupInfo", kinds[:4]
            frames = [m for m in seen if m["which"] == "groupFrame"]
            assert frames[0]["kind"] == "snapshot", (frames[0]["kind"], frames[0]["seq"])
            seqs = [m["seq"] for m in frames]
            assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
            await late.close()
        await first.close()


async def test_take_frame_when_session_raises_then_that_session_restarts_and_the_group_and_others_go_on(
        desk, eventually) -> None:
    """A session whose in-line frame handling raises crashes alone (its supervisor restarts it and it
    re-attaches); the group does not crash and the other session keeps receiving frames."""
    async with aiohttp.ClientSession() as http:
        victim, other = await _open(http, desk, "ann"), await _open(http, desk, "bob")
        for client in (victim, other):
            await _frames(client, 1)
        victim_path = next(p for p, c in desk.sockets.connections.items() if c.state.user == "ann")
        session = _session(desk, victim_path)

        put_nowait, raised = session.outbox.put_nowait, []

        def broken_once(frame: bytes, built_ts_ns: int = 0) -> None:
            if built_ts_ns and not raised:   # a group frame
                raised.append(built_ts_ns)
                raise RuntimeError("socket exploded")
            put_nowait(frame, built_ts_ns)

        session.outbox.put_nowait = broken_once
        group_entry = desk.runtime.registry.entry(group_path(GROUP))
        restarts = desk.runtime.registry.entry(victim_path).restarts
        await eventually(lambda: desk.runtime.registry.entry(victim_path).restarts > restarts, 10,
                         "the session restarted")
        await _frames(other, 5)
        assert desk.runtime.registry.entry(group_path(GROUP)).restarts == group_entry.restarts
        assert not desk.runtime.registry.entry(group_path(GROUP)).instance.crashed
        await _frames(victim, 3)   # the restarted session pushes through the same outbox again
        for client in (victim, other):
            await client.close()
