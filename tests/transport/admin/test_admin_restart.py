"""Operators restart subtrees through the admin API while traders stay connected; a crash loop escalates."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from actors import ActorRuntime, Backoff, ChildSpec, RestartIntensity, start_root, encode_actor_message
from actors.market.group import GroupActor
from actors.market.supervisor import MarketSupervisor
from actors.root import RootSupervisor
from transport.admin.api import AdminApi
from transport.signin.auth import AuthConfig, TokenVerifier, mint_token, principal_from_header


def _find(node, path):
    if node["path"] == path:
        return node
    return next((found for child in node["children"] if (found := _find(child, path))), None)


async def _post(http, route, path):
    async with http.post(route, headers=http.admin, json={"path": path}) as response:
        return response.status, await response.json()


async def _live(client, groups):
    """Subscribe and read until every group has sent a delta."""
    await client.send(subscribe={"groups": groups})
    waiting = set(groups)
    await client.recv_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "delta"
                            and not waiting.discard(m["group"]) and not waiting, timeout_s=20)


async def _recovers(client, groups):
    """Read until every group sent a full GroupInfo, then a snapshot, then the next frame in sequence.

    Returns:
        group → (snapshot seq, next frame's seq, next delta's seq).
    """
    phase = {g: "info" for g in groups}
    seen: dict[str, list[int]] = {g: [] for g in groups}

    def step(message) -> bool:
        group = message.get("group")
        if group not in phase:
            return False
        if message["which"] == "groupInfo" and message["firstIndex"] == 0 and phase[group] == "info":
            phase[group] = "snapshot"
        elif message["which"] == "groupFrame" and phase[group] == "snapshot" and message["kind"] == "snapshot":
            phase[group], seen[group] = "next", [message["seq"]]
        elif message["which"] == "groupFrame" and phase[group] == "next":
            seen[group].append(message["seq"])
            phase[group] = "delta" if message["kind"] != "delta" else "done"
            if message["kind"] == "delta":
                seen[group].append(message["seq"])
        elif message["which"] == "groupFrame" and phase[group] == "delta" and message["kind"] == "delta":
            phase[group] = "done"
            seen[group].append(message["seq"])
        return all(p == "done" for p in phase.values())

    await client.recv_until(step, timeout_s=20)
    return seen


async def test_restart_market_when_three_clients_then_sockets_kept_and_each_group_snapshots_then_deltas(
        desk, connect, http):
    """POST /admin/restart market: every client keeps its socket and session, gets a snapshot per
    subscribed group followed by frames in sequence and deltas; the audit records it."""
    subscriptions = {"a": ["rb"], "b": ["rb", "ni"], "c": ["ni", "cu"]}
    clients = {name: await connect(f"trader-{name}") for name in subscriptions}
    for name, client in clients.items():
        await _live(client, subscriptions[name])
    sessions_before = {e.path: e.address for e in desk.runtime.registry.children("sessions")}

    status, body = await _post(http, "/admin/restart", "market")

    assert (status, body["result"], body["state"], body["restarts"]) == (200, "restarted", "running", 1)
    for name, client in clients.items():
        seen = await _recovers(client, subscriptions[name])
        for seqs in seen.values():
            assert seqs[1] == seqs[0] + 1
        ping = await client.send(ping={"clientTsNs": 7})
        pong = await client.recv_until(lambda m: m["which"] == "pong")
        assert pong["envelope"]["correlationId"] == ping
    assert {e.path: e.address for e in desk.runtime.registry.children("sessions")} == sessions_before
    assert all(desk.runtime.registry.entry(f"market/group/{g}").restarts == 1 for g in ("rb", "ni", "cu"))
    async with http.get("/admin/audit", headers=http.admin) as response:
        records = (await response.json())["records"]
    assert [(r["user"], r["action"], r["target"], r["result"]) for r in records] == [
        ("ops1", "restart", "market", "restarted")]


async def test_restart_session_when_subscribed_then_socket_and_subscriptions_survive(desk, connect, http):
    """POST /admin/restart sessions/session/<id>: same socket, same groups (SessionState), fresh snapshots."""
    client = await connect("trader-s")
    await _live(client, ["rb", "ni"])
    (path,) = [e.path for e in desk.runtime.registry.children("sessions")]
    state_before = desk.runtime.registry.entry(path).instance.state

    status, body = await _post(http, "/admin/restart", path)

    assert (status, body["result"], body["restarts"]) == (200, "restarted", 1)
    await _recovers(client, ["rb", "ni"])
    entry = desk.runtime.registry.entry(path)
    assert entry.instance.state is state_before and list(entry.instance.state.groups) == ["rb", "ni"]
    async with http.get("/admin/tree", headers=http.admin) as response:
        node = _find((await response.json())["tree"], path)
    assert (node["state"], node["restarts"], node["stats"]["groups"]) == ("running", 1, ["rb", "ni"])
    async with http.get("/admin/audit", headers=http.admin) as response:
        records = (await response.json())["records"]
    assert [(r["action"], r["target"], r["result"]) for r in records] == [("restart", path, "restarted")]


# -- a crash loop escalates -------------------------------------------------------


class RaisingGroup(GroupActor):
    """A GroupActor that raises on every message it is sent."""

    def _dispatch(self, data, sender):
        raise RuntimeError(f"{self.group} raises on every message")


class StrictMarket(MarketSupervisor):
    """A market supervisor that gives up after 3 restarts in a minute."""

    intensity = RestartIntensity(max_restarts=3, within_s=60.0)
    backoff = Backoff(base_s=0.02, cap_s=1.0)


class TinyDesk:
    """What AdminApi needs of a desk: a runtime and the principal of a request."""

    def __init__(self, runtime, secret):
        self.runtime = runtime
        self.verifier = TokenVerifier(AuthConfig(), secret)

    def principal(self, request):
        return principal_from_header(self.verifier, request.headers.get("Authorization", ""))


async def test_group_raising_on_every_message_when_restarted_with_backoff_then_escalates_visible_in_tree(
        jwt_secret):
    """Each crash of market/group/faulty is a restart after a growing jittered delay; the 4th within the
    minute exceeds the market's intensity: market escalates, the root restarts it; /admin/tree shows each step."""
    runtime = ActorRuntime()
    market = ChildSpec("market", StrictMarket, {"children": [
        ChildSpec("group/faulty", RaisingGroup, {"group": "faulty"}),
        ChildSpec("group/calm", GroupActor, {"group": "calm"})]})
    start_root(runtime, RootSupervisor, {"children": [market]})
    await runtime.wait_idle()
    api = AdminApi(TinyDesk(runtime, jwt_secret))
    app = web.Application()
    api.add_routes(app)
    headers = {"Authorization": f"Bearer {mint_token(jwt_secret, 'ops1', 'admin')}"}
    message = encode_actor_message("snapshotRequest", {"sessionPath": "nobody", "group": "faulty"})
    steps = []
    async with TestClient(TestServer(app)) as http:

        async def tree():
            async with http.get("/admin/tree", headers=headers) as response:
                assert response.status == 200
                return (await response.json())["tree"]

        async def node_when(path, predicate):
            async with asyncio.timeout(10):
                while True:
                    node = _find(await tree(), path)
                    if node is not None and predicate(node):
                        return node
                    await asyncio.sleep(0.005)

        try:
            with capture_logs() as logs:
                for restarts in (1, 2, 3):
                    runtime.tell_path("market/group/faulty", message)
                    node = await node_when("market/group/faulty",
                                           lambda n, r=restarts: n["state"] == "running" and n["restarts"] == r)
                    steps.append((node["state"], node["restarts"], node["last_error"]["type"]))
                runtime.tell_path("market/group/faulty", message)
                market_node = await node_when("market", lambda n: n["state"] == "running" and n["restarts"] == 1)
            final = await tree()
        finally:
            api.close()
            runtime.shutdown()

    assert steps == [("running", 1, "RuntimeError"), ("running", 2, "RuntimeError"), ("running", 3, "RuntimeError")]
    delays = [e["delay_ms"] for e in logs if e["event"] == "restart_scheduled" and e["actor_path"] == "market"]
    assert len(delays) == 3
    for attempt, delay_ms in enumerate(delays, start=1):
        ceiling_ms = min(1000.0, 20.0 * 2 ** (attempt - 1))
        assert ceiling_ms / 2 <= delay_ms <= ceiling_ms
    faulty_states = [t["state"] for t in _find(final, "market/group/faulty")["transitions"]]
    assert faulty_states[:4] == ["starting", "running", "restarting", "starting"]
    assert faulty_states.count("restarting") == 3
    assert faulty_states[-3:] == ["stopped", "starting", "running"]  # stopped by the escalation, then restarted
    market_states = [t["state"] for t in market_node["transitions"]]
    assert market_states[-4:] == ["escalated", "restarting", "starting", "running"]
    assert market_node["last_error"]["type"] == "RestartIntensityExceeded"
    assert market_node["stats"]["escalations"] == 0  # a new incarnation; the escalation is in its history
    assert _find(final, "market/group/calm")["restarts"] == 1  # restarted with its subtree
    assert _find(final, "root")["state"] == "running"
    assert any(e["event"] == "restart_intensity_exceeded" for e in logs)
