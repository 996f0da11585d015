"""Hostile admin clients: a trader's 1 MiB bodies on every admin route, bodies over a route's limit."""

from __future__ import annotations

import itertools
import json

import aiohttp
import pytest

from tests.conftest import JWT_SECRET
from tests.transport.desk_process import DeskProcess
from transport.admin.admin_guard import ADMIN_ROUTES
from transport.signin.auth import mint_token

ADMIN_ROUTES_ALL = [
    ("GET", "/admin/tree"), ("POST", "/admin/restart"), ("POST", "/admin/stop"), ("GET", "/admin/audit"),
    ("GET", "/admin/cluster"),
    ("GET", "/metrics"), ("GET", "/admin/faults"), ("POST", "/admin/faults"), ("GET", "/admin/limits"),
    ("POST", "/admin/limits"), ("POST", "/admin/kill-switch"), ("GET", "/admin/recordings"),
    ("POST", "/admin/recordings"), ("GET", "/admin/recordings/1"), ("GET", "/admin/venues"),
]
"""Every admin route of a desk with the order path (checked against the app's router below)."""


def _one_mib_body() -> bytes:
    """A JSON object of ~1 MiB (under aiohttp's 1 MiB client_max_size) whose every text field is huge."""
    filler = "x" * (1024 * 1024 // 8)
    keys = ("path", "kind", "target", "rule", "scope", "name", "session")
    return json.dumps({k: filler for k in keys}).encode()


async def test_admin_routes_when_listed_then_every_admin_route_of_the_app_is_covered(start_desk):
    """The hostile test's route list is the app's: a new admin route cannot escape it."""
    desk = await start_desk(contracts=20, rate=20.0)
    found = {(r.method, r.resource.canonical) for r in desk._runner.app.router.routes()
             if r.method != "HEAD" and (r.resource.canonical.startswith("/admin")
                                        or r.resource.canonical == "/metrics")}
    listed = {(m, "/admin/recordings/{id}" if p == "/admin/recordings/1" else p) for m, p in ADMIN_ROUTES_ALL}
    assert found == listed
    assert {k for k in listed if k[0] == "POST"} == set(ADMIN_ROUTES)


async def test_admin_routes_when_trader_sends_1mib_bodies_300_times_then_rss_audit_and_logs_stay_bounded(tmp_path):
    """300 refused 1 MiB requests over every admin route: 403 each, RSS +< 20 MiB, audit < 16 KB, logs < 256 KB."""
    desk = DeskProcess(["--synthetic", "--contracts", "50", "--rate", "50", "--state-dir", str(tmp_path / "state")],
                       tmp_path / "stderr.log")
    await desk.start()
    trader = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'trader1', 'trader')}"}
    admin = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'ops', 'admin')}"}
    body = _one_mib_body()
    try:
        async with aiohttp.ClientSession(base_url=desk.url) as http:
            for method, route in ADMIN_ROUTES_ALL * 2:  # warm up: allocator pools, code paths
                async with http.request(method, route, headers=trader, data=body) as response:
                    assert response.status == 403, (method, route, response.status)
            rss_before, log_before = desk.rss_kib(), desk.stderr_path.stat().st_size
            for method, route in itertools.islice(itertools.cycle(ADMIN_ROUTES_ALL), 300):
                async with http.request(method, route, headers=trader, data=body) as response:
                    assert response.status == 403, (method, route, response.status)
            rss_after, log_after = desk.rss_kib(), desk.stderr_path.stat().st_size
            async with http.get("/admin/audit", headers=admin) as response:
                assert response.status == 200
                audit = await response.read()
        records = json.loads(audit)["records"]
        assert records and all(r["result"] == "forbidden" and r["user"] == "trader1" for r in records)
        assert all(len(r["target"]) <= 64 for r in records)  # the route, never the body
        assert len(audit) < 16 * 1024, len(audit)
        assert log_after - log_before < 256 * 1024, log_after - log_before
        assert rss_after - rss_before < 20 * 1024, (rss_before, rss_after)
    finally:
        assert await desk.stop() == 0


@pytest.mark.parametrize(("method", "route"), sorted(ADMIN_ROUTES))
async def test_admin_command_when_body_over_route_limit_then_413_before_the_handler(
        http, desk, method, route):
    """An admin body over the route's limit is refused 413, by Content-Length or while read (chunked)."""
    limit = ADMIN_ROUTES[(method, route)].max_body_bytes
    big = json.dumps({"path": "x" * limit}).encode()
    async with http.request(method, route, headers=http.admin, data=big) as response:
        assert response.status == 413
        assert (await response.json())["error"] == "tooLarge"

    async def chunks():
        for i in range(0, len(big), 1024):
            yield big[i:i + 1024]

    async with http.request(method, route, headers=http.admin, data=chunks()) as response:
        assert response.status == 413
    async with http.get("/admin/audit", headers=http.admin) as response:
        assert (await response.json())["records"] == []


async def test_admin_read_when_body_sent_then_413(http):
    """A read takes no body: an admin GET carrying one is refused 413."""
    async with http.get("/admin/tree", headers=http.admin, data=b"{}") as response:
        assert response.status == 413
