"""The admin API on a real desk: auth on every route, the tree, restart/stop of a subtree, the audit."""

from __future__ import annotations

import pytest

from transport.signin.auth import mint_token

ROUTES = [("GET", "/admin/tree"), ("POST", "/admin/restart"), ("POST", "/admin/stop"),
          ("GET", "/admin/audit"), ("GET", "/admin/cluster"), ("GET", "/metrics")]


def _find(node, path):
    if node["path"] == path:
        return node
    for child in node["children"]:
        found = _find(child, path)
        if found is not None:
            return found
    return None


async def _tree(http):
    async with http.get("/admin/tree", headers=http.admin) as response:
        assert response.status == 200
        return (await response.json())["tree"]


@pytest.mark.parametrize(("method", "route"), ROUTES)
async def test_admin_route_when_no_or_bad_token_then_401(http, method, route):
    """No token, a malformed header or a token signed with another secret: 401 on every admin route."""
    bad = mint_token("another-secret-that-is-32-bytes-long!!", "x", "admin")
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": f"Bearer {bad}"}):
        async with http.request(method, route, headers=headers, json={"path": "market"}) as response:
            assert response.status == 401
            assert (await response.json())["error"] in ("unauthenticated", "tokenExpired")


@pytest.mark.parametrize(("method", "route"), ROUTES)
async def test_admin_route_when_trader_token_then_403(http, method, route):
    """A valid trader token is forbidden on every admin route."""
    async with http.request(method, route, headers=http.trader, json={"path": "market"}) as response:
        assert response.status == 403


async def test_cluster_when_no_nats_then_empty_lists(http):
    """An in-process desk has no cluster: GET /admin/cluster says so with empty node and group lists."""
    async with http.get("/admin/cluster", headers=http.admin) as response:
        assert response.status == 200
        body = await response.json()
    assert (body["nats"], body["nodes"], body["groups"]) == (False, [], [])


async def test_restart_when_trader_tries_then_forbidden_attempt_is_audited(http):
    """A trader's refused restart is in the audit, with the user, the route (never the body) and the result."""
    async with http.post("/admin/restart", headers=http.trader, json={"path": "market"}):
        pass
    async with http.get("/admin/audit", headers=http.admin) as response:
        records = (await response.json())["records"]
    assert [(r["user"], r["action"], r["target"], r["result"]) for r in records] == [
        ("trader1", "restart", "POST /admin/restart", "forbidden")]


async def test_tree_when_admin_then_root_with_columns_and_the_desk_subtrees(http, desk, eventually):
    """The tree starts at root; each node has the columns; groups hang under market."""
    await eventually(lambda: desk.runtime.registry.get("market/group/rb"), timeout_s=20, what="rb group")
    tree = await _tree(http)
    assert tree["path"] == "root" and tree["state"] == "running"
    assert [c["path"] for c in tree["children"]][:4] == ["market-source", "market", "ticks", "sessions"]
    rb = _find(tree, "market/group/rb")
    assert rb["kind"] == "GroupActor"
    for column in ("state", "restarts", "mailbox", "msgs_per_s", "last_error", "stats", "children"):
        assert column in rb
    assert rb["stats"]["group"] == "rb"
    market = _find(tree, "market")
    assert market["stats"]["strategy"] == "one_for_one"


async def test_restart_when_path_is_root_or_unknown_then_400_or_404_and_audited(http):
    """The root is refused with 400 and an unknown path is 404; both are audited."""
    async with http.post("/admin/restart", headers=http.admin, json={"path": "root"}) as response:
        assert response.status == 400
    async with http.post("/admin/stop", headers=http.admin, json={"path": "market/group/nope"}) as response:
        assert response.status == 404
        assert (await response.json())["result"] == "unknown_path"
    async with http.post("/admin/stop", headers=http.admin, data=b"not json") as response:
        assert response.status == 400
    async with http.get("/admin/audit", headers=http.admin) as response:
        records = (await response.json())["records"]
    assert [(r["action"], r["target"], r["result"]) for r in records] == [
        ("restart", "root", "refused"), ("stop", "market/group/nope", "unknown_path"), ("stop", "?", "malformed")]


async def test_stop_then_restart_when_group_then_stopped_in_tree_then_running_with_one_more_restart(
        http, desk, eventually):
    """Stop a group: stopped in the tree, sends to it dropped; restart: running again, restarts + 1."""
    await eventually(lambda: desk.runtime.registry.get("market/group/zn"), timeout_s=20, what="zn group")
    async with http.post("/admin/stop", headers=http.admin, json={"path": "market/group/zn"}) as response:
        assert response.status == 200
        body = await response.json()
    assert (body["result"], body["state"]) == ("stopped", "stopped")
    assert _find(await _tree(http), "market/group/zn")["state"] == "stopped"
    async with http.post("/admin/restart", headers=http.admin, json={"path": "/market/group/zn"}) as response:
        assert response.status == 200
        body = await response.json()
    assert (body["result"], body["state"], body["restarts"]) == ("restarted", "running", 1)
    node = _find(await _tree(http), "market/group/zn")
    assert (node["state"], node["restarts"]) == ("running", 1)
    assert [t["state"] for t in node["transitions"]][-5:] == ["stopping", "stopped", "restarting", "starting",
                                                              "running"]
    async with http.get("/admin/audit", headers=http.admin) as response:
        records = (await response.json())["records"]
    assert [(r["user"], r["action"], r["target"], r["result"]) for r in records] == [
        ("ops1", "stop", "market/group/zn", "stopped"), ("ops1", "restart", "market/group/zn", "restarted")]
    assert all(r["ts"].endswith("Z") and r["ts_ns"] > 0 for r in records)
