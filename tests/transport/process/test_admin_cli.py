"""`tickstage admin` as a real process against a real desk: tree table, restart, audit, refusals."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from transport.process.admin_client import format_tree
from transport.signin.auth import mint_token

REPO = Path(__file__).resolve().parents[3]


async def _cli(*args: str, token: str | None = None) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TICKSTAGE_TOKEN"}
    if token is not None:
        env["TICKSTAGE_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "transport.process.cli", "admin", *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


def test_format_tree_when_nested_then_indented_rows_with_the_tree_columns():
    """Children are indented two spaces per level under a header with the tree's columns."""
    leaf = {"path": "market/group/rb", "kind": "GroupActor", "state": "restarting", "restarts": 2, "mailbox": 5,
            "msgs_per_s": 210.4, "last_error": {"type": "RuntimeError", "message": "boom", "ts_ns": 1},
            "children": []}
    tree = {"path": "root", "kind": "RootSupervisor", "state": "running", "restarts": 0, "mailbox": 0,
            "msgs_per_s": 0.0, "last_error": None, "children": [
                {**leaf, "path": "market", "kind": "MarketSupervisor", "state": "running", "restarts": 0,
                 "mailbox": 0, "msgs_per_s": 1.0, "last_error": None, "children": [leaf]}]}
    lines = format_tree(tree).splitlines()
    assert lines[0].split() == ["PATH", "KIND", "STATE", "RESTARTS", "MAILBOX", "MSGS/S", "LAST", "ERROR"]
    assert lines[1].startswith("root ")
    assert lines[2].startswith("  market ")
    assert lines[3].startswith("    market/group/rb ")
    assert lines[3].split()[2:7] == ["restarting", "2", "5", "210", "RuntimeError:"]


async def test_admin_cli_when_admin_token_then_tree_restart_and_audit(desk, jwt_secret, eventually):
    """tree prints the indented table; restart PATH restarts it; audit lists the action with the user."""
    await eventually(lambda: desk.runtime.registry.get("market/group/rb"), timeout_s=20, what="rb group")
    token = mint_token(jwt_secret, "ops-cli", "admin")
    url = desk.url

    code, out, err = await _cli("tree", "--url", url, "--token", token)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["PATH", "KIND", "STATE"]
    assert any(line.startswith("  market ") and "MarketSupervisor" in line for line in lines)
    assert any(line.startswith("    market/group/rb ") and "GroupActor" in line for line in lines)

    code, out, err = await _cli("restart", "market/group/rb", "--url", url, token=token)
    assert (code, out.strip()) == (0, "restart market/group/rb: restarted (state running, restarts 1)"), err

    code, out, err = await _cli("audit", "--url", url, "--token", token)
    assert code == 0, err
    assert out.splitlines()[1].split()[1:] == ["ops-cli", "restart", "market/group/rb", "restarted"]


async def test_admin_cli_when_trader_or_no_token_then_refused_with_nonzero_status(desk, jwt_secret):
    """A trader token exits 1 naming HTTP 403; no token at all is a usage error (2)."""
    trader = mint_token(jwt_secret, "trader1", "trader")
    code, out, err = await _cli("tree", "--url", desk.url, "--token", trader)
    assert code == 1 and "HTTP 403" in err and out == ""
    code, out, err = await _cli("stop", "market", "--url", desk.url)
    assert code == 2 and "TICKSTAGE_TOKEN" in err


async def test_admin_cli_fault_when_two_faults_injected_then_scenario_file_replays_the_same_faults(tmp_path):
    """`tickstage admin fault` against a running desk process: each applied fault is appended to a scenario
    file in its state folder, which parses back to the same faults, in order, on the same market."""
    from sim.harness.scenario import load_scenario
    from tests.conftest import JWT_SECRET
    from tests.transport.desk_process import DeskProcess
    from transport.process.admin_client import admin_request

    state = tmp_path / "state"
    desk = await DeskProcess(["--synthetic", "--contracts", "60", "--rate", "60", "--seed", "11",
                              "--state-dir", str(state)], tmp_path / "desk.log").start()
    try:
        token = mint_token(JWT_SECRET, "ops-cli", "admin")
        groups: list[str] = []
        async with asyncio.timeout(30):
            while not groups:
                _, body = await admin_request(desk.url, token, "tree")
                market = next(c for c in body["tree"]["children"] if c["path"] == "market")
                groups = sorted(c["path"] for c in market["children"] if c["path"].startswith("market/group/"))
                await asyncio.sleep(0.1)
        code, out, err = await _cli("fault", "crash", groups[0], "--url", desk.url, token=token)
        assert code == 0, err
        assert out.splitlines()[0] == f"fault 0 crash -> {groups[0]}: injected"
        code, out, err = await _cli("fault", "stall", groups[-1], "--duration-ms", "250", "--url", desk.url,
                                    token=token)
        assert code == 0, err
        path = out.splitlines()[-1].removeprefix("scenario ")
        code, _, err = await _cli("fault", "crash", "market/group/nosuch", "--url", desk.url, token=token)
        assert code == 1 and "HTTP 409" in err  # not applied: not written
    finally:
        await desk.stop()
    assert path.startswith(str(state)) and path.endswith(".toml")
    scenario = load_scenario(path)
    assert [(f.kind, f.target, f.duration_ms) for f in scenario.faults] == [
        ("crash", groups[0], 500.0), ("stall", groups[-1], 250.0)]
    assert 0 < scenario.faults[0].at_s <= scenario.faults[1].at_s < scenario.duration_s
    assert (scenario.desk.contracts, scenario.desk.rate, scenario.desk.seed, scenario.desk.replay) == (60, 60.0, 11, "")


async def test_admin_cli_fault_when_no_kind_then_usage_error():
    """`tickstage admin fault` without a KIND is a usage error (2), nothing sent."""
    code, out, err = await _cli("fault", "--url", "http://127.0.0.1:9", "--token", "t")
    assert code == 2 and "KIND" in err
async def test_admin_cli_limits_and_kill_switch_when_changed_then_applied_and_audited_old_and_new(desk, jwt_secret):
    """limits lists and changes a limit; kill-switch halts an account and lifts it; the audit has old → new."""
    token = mint_token(jwt_secret, "ops-cli", "admin")
    url = desk.url

    code, out, err = await _cli("limits", "--url", url, "--token", token)
    assert code == 0, err
    assert out.splitlines()[0].split() == ["RULE", "SCOPE", "LIMIT", "VALUE"]
    volume = next(line.split() for line in out.splitlines() if line.split()[:3] == ["order_volume", "acct-01", "limit"])
    assert "kill switches: trading allowed everywhere" in out

    code, out, err = await _cli("limits", "--rule", "order_volume", "--scope", "acct-01", "--name", "limit",
                                "--value", "7", "--url", url, "--token", token)
    assert (code, out.strip()) == (0, f"limit order_volume/acct-01 limit: {volume[3]} -> 7 (changed by ops-cli)"), err
    assert desk.limit_store.limits("order_volume", "acct-01")["limit"] == 7.0

    code, out, err = await _cli("kill-switch", "--scope", "account", "--target", "acct-01", "--state", "halted",
                                "--reason", "fat finger", "--url", url, "--token", token)
    assert code == 0, err
    assert out.strip() == ("kill switch account acct-01: trading allowed -> halted "
                           "(its open orders are being cancelled)")
    async with asyncio.timeout(5):
        while desk.limit_store.kill_switch("account", "acct-01") != "halted":
            await asyncio.sleep(0.02)
    code, out, err = await _cli("limits", "--url", url, "--token", token)
    assert "kill switch account acct-01: halted by ops-cli at " in out and out.rstrip().endswith(": fat finger")

    code, out, err = await _cli("kill-switch", "--scope", "account", "--target", "acct-01", "--state", "active",
                                "--url", url, "--token", token)
    assert (code, out.strip()) == (0, "kill switch account acct-01: halted -> trading allowed"), err

    code, out, err = await _cli("audit", "--url", url, "--token", token)
    results = [line.split(None, 4)[4] for line in out.splitlines()[1:]]
    assert results == [f"changed {volume[3]} -> 7", "active -> halted", "halted -> active"]


async def test_admin_cli_limits_when_incomplete_or_bad_then_usage_error_or_http_error(desk, jwt_secret):
    """A change missing options or with a non-number is a usage error (2); an unknown rule exits 1 with the 404."""
    token = mint_token(jwt_secret, "ops-cli", "admin")
    code, out, err = await _cli("limits", "--rule", "order_volume", "--url", desk.url, "--token", token)
    assert code == 2 and "--scope" in err
    code, out, err = await _cli("limits", "--rule", "order_volume", "--scope", "acct-01", "--name", "limit",
                                "--value", "lots", "--url", desk.url, "--token", token)
    assert code == 2 and "must be a number" in err
    code, out, err = await _cli("limits", "--rule", "nope", "--scope", "acct-01", "--name", "limit",
                                "--value", "1", "--url", desk.url, "--token", token)
    assert code == 1 and "HTTP 404" in err
    code, out, err = await _cli("kill-switch", "--scope", "account", "--state", "halted", "--url", desk.url,
                                "--token", token)
    assert code == 2 and "--target" in err
