"""The admin audit: durable across SIGTERM and kill -9, queryable by time and user, every field capped."""

from __future__ import annotations

import signal

import aiohttp
import pytest

from tests.conftest import JWT_SECRET
from tests.transport.desk_process import DeskProcess
from transport.admin.audit import MAX_FIELD_CHARS, AuditLog
from transport.signin.auth import mint_token

ADMIN = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'ops', 'admin')}"}


async def _audit(http, query: str = "") -> list[dict]:
    async with http.get(f"/admin/audit{query}", headers=ADMIN) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["records"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
async def test_audit_when_desk_killed_then_records_readable_after_restart_on_same_state_dir(tmp_path, sig):
    """Records written before a SIGTERM or kill -9 of `tickstage run` are served after a restart."""
    state = tmp_path / "state"
    args = ["--synthetic", "--contracts", "50", "--rate", "50", "--state-dir", str(state)]
    first = await DeskProcess(args, tmp_path / "first.log").start()
    try:
        async with aiohttp.ClientSession(base_url=first.url) as http:
            for path in ("market/nope", "root"):
                async with http.post("/admin/stop", headers=ADMIN, json={"path": path}) as response:
                    assert response.status in (400, 404)
            written = await _audit(http)
    finally:
        code = await first.stop(sig)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    assert [(r["action"], r["target"], r["result"]) for r in written] == [
        ("stop", "market/nope", "unknown_path"), ("stop", "root", "refused")]
    second = await DeskProcess(args, tmp_path / "second.log").start()
    try:
        async with aiohttp.ClientSession(base_url=second.url) as http:
            assert await _audit(http) == written
    finally:
        assert await second.stop() == 0


async def test_audit_when_queried_by_time_user_and_limit_then_matching_records_oldest_first(http):
    """since_ns/until_ns bound ts_ns, user filters, limit keeps the newest; bad parameters are 400."""
    other = {"Authorization": f"Bearer {mint_token(JWT_SECRET, 'ops2', 'admin')}"}
    for headers, path in ((ADMIN, "a/1"), (other, "a/2"), (ADMIN, "a/3"), (other, "a/4")):
        async with http.post("/admin/restart", headers=headers, json={"path": path}) as response:
            assert response.status == 404
    everything = await _audit(http)
    assert [r["target"] for r in everything] == ["a/1", "a/2", "a/3", "a/4"]
    assert [r["target"] for r in await _audit(http, "?user=ops2")] == ["a/2", "a/4"]
    second, third = everything[1]["ts_ns"], everything[2]["ts_ns"]
    assert [r["target"] for r in await _audit(http, f"?since_ns={second}&until_ns={third + 1}")] == ["a/2", "a/3"]
    assert [r["target"] for r in await _audit(http, "?limit=2")] == ["a/3", "a/4"]
    for bad in ("?limit=0", "?limit=1001", "?since_ns=-1", "?until_ns=1e9", f"?since_ns={2**64}", "?user="):
        async with http.get(f"/admin/audit{bad}", headers=ADMIN) as response:
            assert response.status == 400, bad


async def test_audit_when_fields_huge_then_each_capped():
    """Every field of a record is cut to MAX_FIELD_CHARS characters."""
    audit = AuditLog()
    entry = audit.record("u" * 10_000, "a" * 10_000, "t" * 1_000_000, "r" * 10_000)
    assert [len(v) for v in (entry.user, entry.action, entry.target, entry.result)] == [MAX_FIELD_CHARS] * 4
    assert entry.target.endswith("…")


async def test_audit_when_refusals_repeat_then_one_record_per_window_carrying_the_count():
    """Identical refusals within the window fold into the next refusal record written after it."""
    audit = AuditLog()
    assert audit.record("t1", "restart", "POST /admin/restart", "forbidden") is not None
    for _ in range(5):
        assert audit.record("t1", "restart", "POST /admin/restart", "forbidden") is None
    assert audit.record("t1", "stop", "POST /admin/stop", "forbidden") is not None
    audit._refusals[("t1", "restart")] = (-1e9, 5)  # the window has passed
    later = audit.record("t1", "restart", "POST /admin/restart", "forbidden")
    assert later.repeated == 5
    assert audit.statistics().refusals_folded == 5


async def test_audit_when_rows_past_retention_then_pruned(tmp_path):
    """prune keeps the newest kept_rows rows and drops rows older than max_age_s."""
    from actors.orders.journal import OrderJournal

    journal = OrderJournal.open(tmp_path / "j.sqlite3")
    try:
        for i in range(10):
            journal.append_audit_now({"ts_ns": 1_000 + i, "user": "u", "action": "stop", "target": str(i),
                                      "result": "stopped", "repeated": 0})
        assert journal.prune_audit(keep_rows=6, min_ts_ns=1_002) == 4
        assert [r["target"] for r in journal.audit_rows()] == ["4", "5", "6", "7", "8", "9"]
        assert journal.prune_audit(keep_rows=100, min_ts_ns=1_008) == 4
        assert [r["target"] for r in journal.audit_rows(limit=1)] == ["9"]
    finally:
        journal.close()
