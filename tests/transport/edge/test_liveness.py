"""Issue 14: every subscribed group's liveness reaches a raw WebSocket client (groupStatus).

An in-process desk on loopback (real vn.py MainEngine replaying recorded
ticks); the client is a plain /ws socket. Stop and restart go through the
admin API, the stall through the simulator's route faults, the paused feed
through the simulator gateway's feed.
"""

from __future__ import annotations

import asyncio
import gzip

import pytest

from sim.harness.routes import RouteFaults, RouteRule
from tests.conftest import JWT_SECRET
from tests.transport.conftest import REPLAY
from transport.signin.auth import mint_token

ADMIN = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'ops1', 'admin')}"}


def _status(group: str, *states: str):
    return lambda m: m["which"] == "groupStatus" and m["group"] == group and (not states or m["state"] in states)


async def _subscribe_live(client, group: str = "rb") -> dict:
    await client.send(subscribe={"groups": [group]})
    return await client.recv_until(_status(group), timeout_s=10)


async def _get(desk, route: str):
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{desk.port}{route}", headers=ADMIN) as response:
        return await (response.json() if route.startswith("/admin") else response.text())


def _find(node: dict, path: str) -> dict | None:
    if node["path"] == path:
        return node
    return next((found for child in node["children"] if (found := _find(child, path))), None)


async def _post(desk, route: str, path: str) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{desk.port}{route}", headers=ADMIN, json={"path": path}) as response:
        return response.status


async def test_subscribe_when_group_running_then_status_live_first(desk, connect):
    """A subscriber hears groupStatus live for its group, with the time it entered that state."""
    client = await connect()
    status = await _subscribe_live(client)
    assert status["state"] == "live" and status["sinceTsNs"] > 0


async def test_admin_stop_when_subscribed_then_stopped_and_live_after_restart(desk, connect):
    """POST /admin/stop market/group/rb: groupStatus stopped (a bounded wait, not a stopwatch); POST
    /admin/restart: live again, followed by a hashed snapshot."""
    client = await connect()
    assert (await _subscribe_live(client))["state"] == "live"
    assert await _post(desk, "/admin/stop", "market/group/rb") == 200
    stopped = await client.recv_until(_status("rb", "stopped"), timeout_s=10.0)
    assert "stopped" in stopped["reason"]
    metrics = await _get(desk, "/metrics")
    assert 'tickstage_group_liveness{group="rb",state="stopped"} 1.0' in metrics
    assert 'tickstage_group_liveness{group="rb",state="live"} 0.0' in metrics
    assert _find((await _get(desk, "/admin/tree"))["tree"], "market/group/rb")["liveness"] == "stopped"
    assert await _post(desk, "/admin/restart", "market/group/rb") == 200
    await client.recv_until(_status("rb", "live"), timeout_s=5.0)
    snapshot = await client.recv_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "snapshot",
                                       timeout_s=5.0)
    assert snapshot["stateHashed"]
    assert 'tickstage_group_liveness{group="rb",state="live"} 1.0' in await _get(desk, "/metrics")


async def test_crash_when_group_actor_raises_then_restarting_then_live(desk, connect):
    """A crash of market/group/rb (the simulator's crash fault): its supervisor says restarting, the next
    incarnation live."""
    from actors import encode_actor_message

    client = await connect()
    await _subscribe_live(client)
    desk.runtime.tell_path("market/group/rb", encode_actor_message("crash", "test", source="test"))
    restarting = await client.recv_until(_status("rb", "restarting"), timeout_s=5.0)
    assert "restarting" in restarting["reason"]
    await client.recv_until(_status("rb", "live"), timeout_s=10.0)


async def test_stall_when_group_actor_holds_its_messages_then_stale_then_live(desk, connect):
    """The simulator's stall fault on market/group/rb silences frames and heartbeats: stale; released: live."""
    client = await connect()
    await _subscribe_live(client)
    faults = RouteFaults(desk.runtime)
    rule = faults.add(RouteRule("stall", "market/group/rb"))
    try:
        stale = await client.recv_until(_status("rb", "stale"), timeout_s=5.0)
        assert "no frame or heartbeat" in stale["reason"] and stale["dataTsNs"] > 0
    finally:
        faults.remove(rule)
    await client.recv_until(_status("rb", "live"), timeout_s=5.0)


async def test_quiet_market_when_feed_paused_then_heartbeats_and_still_live(desk, connect, eventually):
    """With the feed paused (no ticks, no outage reported) the group sends empty hashed deltas and stays live."""
    client = await connect()
    await _subscribe_live(client)
    feed = desk.engine.gateway()._feed
    feed.pause()
    try:
        heartbeats, statuses = 0, []

        def heartbeat(message) -> bool:
            nonlocal heartbeats
            if message["which"] == "groupStatus":
                statuses.append(message["state"])
            if message["which"] == "groupFrame" and message["kind"] == "delta" and not len(
                    message["columns"]["indexes"]):
                assert message["stateHashed"]
                heartbeats += 1
            return heartbeats >= 6

        await client.recv_until(heartbeat, timeout_s=15)
        assert set(statuses) <= {"live"}
    finally:
        feed.resume()


async def test_gateway_disconnect_when_feed_lost_then_source_down_then_live(desk, connect):
    """The simulator gateway's disconnected feed is reported by the venue: sourceDown, then live on reconnect."""
    client = await connect()
    await _subscribe_live(client)
    gateway = desk.engine.gateway()
    gateway.disconnect_feed()
    try:
        down = await client.recv_until(_status("rb", "sourceDown"), timeout_s=5.0)
        assert "disconnected" in down["reason"]
    finally:
        gateway.reconnect_feed()
    await client.recv_until(_status("rb", "live"), timeout_s=5.0)


@pytest.fixture
def short_tape(data_dir, tmp_path):
    """The first 3,000 rows of the recorded tape (a few seconds of exchange time), in tmp."""
    path = tmp_path / "short.csv"
    with gzip.open(data_dir / REPLAY, "rt") as source, open(path, "w") as target:
        for _, line in zip(range(3001), source, strict=False):
            target.write(line)
    return path


async def test_replay_end_when_tape_finished_then_ended(short_tape, start_desk, ws_client_type):
    """A replay that reaches the end of its tape turns every group ended (after its last ticks)."""
    import aiohttp

    desk = await start_desk(replay=(str(short_tape),), speed=5.0)
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(10):
            while "rb" not in desk.bridge.groups():
                await asyncio.sleep(0.05)
        ws = await http.ws_connect(f"ws://127.0.0.1:{desk.port}/ws", max_msg_size=64 * 1024 * 1024)
        client = ws_client_type(ws)
        await client.send(auth={"token": mint_token(JWT_SECRET, "trader1")})
        await client.send(subscribe={"groups": ["rb"]})
        ended = await client.recv_until(_status("rb", "ended"), timeout_s=20)
        assert "finished" in ended["reason"]
        await ws.close()



class _Mirror:
    """A raw client's copy of one group's L1 state, checked against every hashed frame."""

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.size = 0
        self.columns = {}
        self.checks = self.mismatches = 0

    def take(self, message: dict) -> None:
        from schemas.state_hash import HASHED_COLUMNS, l1_state_crc32

        np = self.np
        if message["which"] == "groupInfo":
            self.size = message["firstIndex"] + len(message["instruments"])
            for name in HASHED_COLUMNS:
                grown = np.full(self.size, np.nan)
                old = self.columns.get(name, np.zeros(0))
                if message["firstIndex"]:
                    grown[:min(len(old), self.size)] = old[:self.size]
                self.columns[name] = grown
            return
        if message["which"] != "groupFrame" or not self.columns:
            return
        indexes = message["columns"]["indexes"].astype(int)
        for name in HASHED_COLUMNS:
            self.columns[name][indexes] = message["columns"][name]
        if message["stateHashed"]:
            self.checks += 1
            if l1_state_crc32(self.columns, self.size) != message["stateCrc32"]:
                self.mismatches += 1


async def test_state_hash_when_frames_applied_then_every_hash_matches_and_a_tampered_delta_is_caught(desk, connect):
    """A client applying rb's frames computes the aggregator's hash on every hashed frame (snapshots,
    heartbeats, periodic deltas); the simulator's tamper fault (a price changed in flight, seq intact) makes
    the next hash disagree."""
    client = await connect()
    await client.send(subscribe={"groups": ["rb"]})
    mirror = _Mirror()

    def until_checks(count):
        def step(message) -> bool:
            if message.get("group") == "rb":
                mirror.take(message)
            return mirror.checks >= count
        return step

    await client.recv_until(until_checks(8), timeout_s=15)
    assert mirror.mismatches == 0
    faults = RouteFaults(desk.runtime)
    rule = faults.add(RouteRule("tamper", "sessions/session/*"))
    try:
        await client.recv_until(lambda m: m["which"] == "groupFrame" and m["group"] == "rb"
                                and not mirror.take(m) and mirror.mismatches > 0, timeout_s=10)
    finally:
        faults.remove(rule)
    assert rule.affected >= 1


async def test_replay_clock_when_exchange_time_in_lunch_break_then_closed_with_reason_then_live(desk, connect):
    """Issue 14: the group judges its contracts' published sessions at the replay's clock: the simulator's
    clock_skew fault moves the exchange stamps of the 09:00 tape 3 h on (12:0x, rb's lunch break): groupStatus
    closed, the reason naming the next opening; the skew removed: live again."""
    client = await connect()
    assert (await _subscribe_live(client))["state"] == "live"
    gateway = desk.engine.gateway()
    gateway.set_clock_skew(3 * 3600 * 1_000_000_000)
    try:
        closed = await client.recv_until(_status("rb", "closed"), timeout_s=10.0)
        assert "rb" in closed["reason"] and "next opens at 13:30" in closed["reason"]
        assert "exchange time" in closed["reason"]
    finally:
        gateway.set_clock_skew(0)
    await client.recv_until(_status("rb", "live"), timeout_s=10.0)
