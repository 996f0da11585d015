"""A desk's state folder: trading-day journals, a clean simulator run, and one source for blotter and panels."""

from __future__ import annotations

from datetime import date, datetime

import aiohttp
import pytest

from tests.conftest import JWT_SECRET, WsClient
from tests.transport.desk_process import DeskProcess
from tests.transport.orders_kit import SYMBOL, token
from transport.process.state import CHINA_STANDARD_TIME, StateFolder, journal_file, trading_day

REPLAY = "cn_futopt_l1_20171113_0900-1000.csv.gz"


def _ns(*fields: int) -> int:
    return int(datetime(*fields, tzinfo=CHINA_STANDARD_TIME).timestamp() * 1e9)


@pytest.mark.parametrize(("moment", "day"), [
    ((2026, 12, 7, 9, 0), date(2026, 12, 7)),     # Monday morning: Monday
    ((2026, 12, 7, 20, 59), date(2026, 12, 7)),   # Monday before the night session: Monday
    ((2026, 12, 7, 21, 0), date(2026, 12, 8)),    # Monday night session: Tuesday
    ((2026, 12, 11, 21, 30), date(2026, 12, 14)),  # Friday night session: Monday
    ((2026, 12, 12, 1, 0), date(2026, 12, 14)),   # Saturday 01:00 (Friday's night session): Monday
    ((2026, 12, 13, 12, 0), date(2026, 12, 14)),  # Sunday: Monday
])
def test_trading_day_when_moment_then_china_futures_day(moment, day):
    """From 21:00 CST the night session belongs to the next trading day; weekends roll to Monday."""
    assert trading_day(_ns(*moment)) == day


def test_state_folder_when_configured_then_journal_keyed_by_trading_day(tmp_path):
    """A configured folder is created and kept; its journal is journal-<YYYYMMDD>.sqlite3 of the day."""
    folder = StateFolder.open(tmp_path / "desk-a", simulated=True)
    assert folder.path.is_dir() and not folder.temporary
    assert folder.journal_path(_ns(2026, 12, 7, 21, 5)) == journal_file(folder.path, date(2026, 12, 8))
    assert folder.journal_path(_ns(2026, 12, 7, 21, 5)).name == "journal-20261208.sqlite3"
    folder.close()
    assert folder.path.is_dir()


def test_state_folder_when_real_venue_without_folder_then_config_error():
    """A desk on a real venue must be told where its journal lives."""
    from transport.errors import ConfigError

    with pytest.raises(ConfigError, match="state folder"):
        StateFolder.open("", simulated=False)


async def _status(client: WsClient, account: str = "acct-01") -> tuple[list[dict], dict, dict]:
    """Return (blotter, accountStatus, riskSummary) as the socket says them, after one status period."""
    await client.recv_until(lambda m: m["which"] == "riskSummary" and m["account"] == account, timeout_s=10)
    status = await client.recv_until(lambda m: m["which"] == "accountStatus" and m["account"] == account,
                                     timeout_s=10)
    summary = await client.recv_until(lambda m: m["which"] == "riskSummary" and m["account"] == account,
                                      timeout_s=10)
    await client.send(orderStatusRequest={"account": account, "clientOrderIds": [], "finishedLimit": 0})
    reply = await client.recv_until(lambda m: m["which"] == "orderStatusReply", timeout_s=10)
    return reply["orders"], status, summary


def _agree(blotter: list[dict], status: dict, summary: dict) -> tuple[int, int]:
    open_orders = sum(1 for o in blotter if o["state"] not in ("filled", "cancelled", "rejected"))
    rejected = sum(1 for o in blotter if o["state"] == "rejected")
    assert status["openOrders"] == open_orders, (status["openOrders"], blotter)
    assert summary["rejections"] == rejected, (summary["rejections"], blotter)
    return open_orders, rejected


async def test_desk_when_restarted_on_same_state_dir_then_blotter_account_and_risk_counts_agree(tmp_path, data_dir):
    """Orders rejected before a restart: after it, orderStatusReply, accountStatus and riskSummary agree."""
    args = ["--replay", str(data_dir / REPLAY), "--speed", "20", "--state-dir", str(tmp_path / "state")]
    trader = token(JWT_SECRET, "trader1", ["acct-01"])
    first = await DeskProcess(args, tmp_path / "first.log").start()
    try:
        async with aiohttp.ClientSession() as http:
            client = WsClient(await http.ws_connect(f"ws://127.0.0.1:{first.port}/ws"))
            await client.send(auth={"token": trader})
            await client.recv_until(lambda m: m["which"] == "ack")
            for i in range(3):  # off the 1-yuan tick grid of rb: refused by order_validity, never sent
                await client.send(submitOrder={"clientOrderId": f"off-grid-{i}", "account": "acct-01",
                                               "vtSymbol": SYMBOL, "direction": "long", "offset": "open",
                                               "orderType": "limit", "price": 3000.5, "volumeLots": 1})
                reply = await client.recv_until(lambda m: m["which"] == "orderReply", timeout_s=10)
                assert reply["status"] == "rejected", reply
            before = await _status(client)
            await client.ws.close()
    finally:
        assert await first.stop() == 0
    assert _agree(*before) == (0, 3)
    second = await DeskProcess(args, tmp_path / "second.log").start()
    try:
        async with aiohttp.ClientSession() as http:
            client = WsClient(await http.ws_connect(f"ws://127.0.0.1:{second.port}/ws"))
            await client.send(auth={"token": trader})
            await client.recv_until(lambda m: m["which"] == "ack")
            after = await _status(client)
            await client.ws.close()
    finally:
        assert await second.stop() == 0
    assert sorted(o["clientOrderId"] for o in after[0]) == ["off-grid-0", "off-grid-1", "off-grid-2"]
    assert _agree(*after) == (0, 3)
    assert [p.name for p in (tmp_path / "state").glob("journal-*.sqlite3")] == [
        journal_file(tmp_path, trading_day()).name]


async def test_simulator_desk_when_no_state_dir_then_fresh_folder_removed_and_nothing_in_home(tmp_path):
    """`tickstage run` on the simulator without a state folder writes nothing under ~ and cleans up."""
    home = tmp_path / "home"
    home.mkdir()
    desk = await DeskProcess(["--synthetic", "--contracts", "20", "--rate", "20"], tmp_path / "stderr.log",
                             env={"HOME": str(home), "TMPDIR": str(tmp_path)}).start()
    async with aiohttp.ClientSession(base_url=desk.url) as http:
        admin = {"Authorization": f"Bearer {token(JWT_SECRET, 'ops', role='admin')}"}
        async with http.post("/admin/stop", headers=admin, json={"path": "nope"}) as response:
            assert response.status == 404
    during = sorted(p.name for p in tmp_path.glob("tickstage-desk-*"))
    assert len(during) == 1 and list((tmp_path / during[0]).glob("journal-*.sqlite3"))
    assert await desk.stop() == 0
    assert list(home.iterdir()) == []
    assert list(tmp_path.glob("tickstage-desk-*")) == []


async def test_simulator_desks_when_run_one_after_another_then_second_starts_clean(start_desk, data_dir):
    """A second simulator desk in the same process sees none of the first one's orders or audit."""
    first = await start_desk(replay=(str(data_dir / REPLAY),))
    first.journal.append_audit_now({"ts_ns": 1, "user": "ops", "action": "stop", "target": "x", "result": "stopped",
                                    "repeated": 0})
    folder = first.state.path
    await first.stop()
    assert not folder.exists()
    second = await start_desk(replay=(str(data_dir / REPLAY),))
    assert second.state.path != folder and second.journal.audit_rows() == []
    assert second.journal.orders("acct-01") == []
