"""POST /admin/faults on a desk started by `tickstage run` (transport.process.faults_api, sim.harness.faults)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

import aiohttp
import pytest

from transport.signin.auth import mint_token

PYTHON = [sys.executable, "-m", "transport.process.cli"]


async def _json(http: aiohttp.ClientSession, method: str, url: str, token: str, **kwargs) -> tuple[int, dict]:
    async with http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs) as response:
        return response.status, await response.json()


def _node(tree: dict, path: str) -> dict | None:
    if tree.get("path") == path:
        return tree
    for child in tree.get("children", []):
        found = _node(child, path)
        if found is not None:
            return found
    return None


@pytest.fixture
def running_desk(data_dir, jwt_secret):
    """`tickstage run` replaying the 09:00 slice at 20×, as a real process; yields its base URL."""
    env = {**os.environ, "TICKSTAGE_JWT_SECRET": jwt_secret}
    server = subprocess.Popen(
        [*PYTHON, "--log-level", "warning", "run", "--port", "0", "--replay",
         str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"), "--speed", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        port = re.search(r"http://127\.0\.0\.1:(\d+)/", server.stdout.readline()).group(1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        server.stdout.close()


async def test_post_admin_faults_when_crash_then_tree_counts_the_restart_and_audit_records_it(
    running_desk: str, jwt_secret: str
) -> None:
    """A crash injected over HTTP restarts market/group/rb (tree) and is audited; a trader is refused."""
    admin = mint_token(jwt_secret, "ops", "admin")
    trader = mint_token(jwt_secret, "t1", "trader")
    async with aiohttp.ClientSession() as http:
        async with asyncio.timeout(30):
            while True:
                status, tree = await _json(http, "GET", f"{running_desk}/admin/tree", admin)
                rb = _node(tree["tree"], "market/group/rb") if status == 200 else None
                if rb is not None and rb["state"] == "running":
                    break
                await asyncio.sleep(0.1)
        before = rb["restarts"]
        status, _ = await _json(http, "POST", f"{running_desk}/admin/faults", trader,
                                json={"kind": "crash", "target": "market/group/rb"})
        assert status == 403
        status, record = await _json(http, "POST", f"{running_desk}/admin/faults", admin,
                                     json={"kind": "crash", "target": "market/group/rb"})
        assert status == 202 and record["status"] == "injected" and record["target"] == "market/group/rb"
        async with asyncio.timeout(10):
            while True:
                _, tree = await _json(http, "GET", f"{running_desk}/admin/tree", admin)
                rb = _node(tree["tree"], "market/group/rb")
                if rb["restarts"] == before + 1 and rb["state"] == "running":
                    break
                await asyncio.sleep(0.05)
        status, body = await _json(http, "POST", f"{running_desk}/admin/faults", admin, json={"kind": "meteor"})
        assert status == 400
        _, audit = await _json(http, "GET", f"{running_desk}/admin/audit", admin)
        faults = [(r["user"], r["target"], r["result"]) for r in audit["records"] if r["action"] == "fault"]
        assert faults == [("t1", "POST /admin/faults", "forbidden"),
                          ("ops", "crash market/group/rb", "injected"),
                          ("ops", "meteor", "malformed")]
        _, listed = await _json(http, "GET", f"{running_desk}/admin/faults", admin)
        assert [f["kind"] for f in listed["faults"]] == ["crash"]
