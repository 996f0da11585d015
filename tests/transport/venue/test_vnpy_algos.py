"""vn.py algos (vnpy_algotrading) started over the WebSocket; child orders through the desk's order path (issue 15)."""

from __future__ import annotations

import math

import pytest

from tests.conftest import JWT_SECRET
from tests.transport.orders_kit import HIGH_LIMITS, last_price, orders_config, token, venue, venue_setting

SYMBOL = "rb1801.SHFE"


def _is(which: str, **fields):
    return lambda m: m["which"] == which and all(m.get(k) == v for k, v in fields.items())


def _start(job_id: str, price: float, *, account: str = "acct-01", template: str = "TwapAlgo",
           volume: float = 10.0, settings=(("time", "10"), ("interval", "1")), vt_symbol: str = SYMBOL) -> dict:
    return {"startAlgo": {"jobId": job_id, "account": account, "template": template, "vtSymbol": vt_symbol,
                          "direction": "long", "offset": "open", "price": price, "volumeLots": volume,
                          "settings": [{"key": k, "value": v} for k, v in settings]}}


async def _desk(desk_factory, tmp_path, limits=HIGH_LIMITS):
    desk = await desk_factory(orders=orders_config(tmp_path, limits=limits), sim=venue_setting())
    last = await last_price(desk)
    tick = desk.bridge.quote(SYMBOL).price_tick
    return desk, round(last * 1.03 / tick) * tick   # a limit 3% through the market: slices fill, in the 5% band


async def test_twap_when_10_lots_over_10_s_then_slices_fill_progress_every_second_and_finished(
        desk_factory, open_socket, tmp_path):
    """A TWAP of 10 lots over 10 s (1 s interval) sends its slices as child orders through the order actor (each
    journaled), pushes algoProgress about every second, and ends finished with 10 lots at the fills' average."""
    desk, price = await _desk(desk_factory, tmp_path)
    client = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    await client.send(**_start("twap-1", price))
    ack = await client.recv_until(_is("ack", of="startAlgo"), timeout_s=5)
    assert ack["detail"] == "twap-1"
    seen = []
    final = await client.recv_until(lambda m: (m["which"] == "algoProgress" and seen.append(m) is None
                                               and m["status"] == "finished"), timeout_s=30)
    running = [m for m in seen if m["status"] == "running"]
    assert len(running) >= 5 and all(m["jobId"] == "twap-1" and m["account"] == "acct-01" for m in seen)
    assert final["tradedLots"] == 10 and final["volumeLots"] == 10 and final["template"] == "TwapAlgo"
    rows = [row for row in desk.journal.orders("acct-01") if row["client_order_id"].startswith("a")]
    assert len(rows) >= 2, "the TWAP sent slices, each through the journal"
    fills = [(t.price, t.volume) for t in desk.order_bridge.trades_for("acct-01")]
    assert sum(v for _, v in fills) == 10
    assert final["avgPrice"] == pytest.approx(sum(p * v for p, v in fills) / 10)
    assert venue(desk).statistics().orders_received == len(rows)


async def test_twap_when_a_child_is_refused_by_a_risk_rule_then_paused_with_the_reason(
        desk_factory, open_socket, tmp_path):
    """The order_volume rule (1 lot) refuses the 2-lot slices: the algo pauses, its progress names the rule; nothing reaches
    the venue."""
    desk, price = await _desk(desk_factory, tmp_path, limits={**HIGH_LIMITS, "order_volume": {"limit": 1}})
    client = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    await client.send(**_start("twap-2", price, settings=(("time", "10"), ("interval", "2"))))
    paused = await client.recv_until(_is("algoProgress", jobId="twap-2", status="paused"), timeout_s=15)
    assert "order_volume" in paused["message"] and paused["tradedLots"] == 0
    assert venue(desk).statistics().orders_received == 0
    await client.send(stopAlgo={"jobId": "twap-2", "account": "acct-01"})
    await client.recv_until(_is("algoProgress", jobId="twap-2", status="stopped"), timeout_s=10)


@pytest.mark.parametrize(("change", "code", "text"), [
    ({"template": "NoSuchAlgo"}, "malformed", "unknown algo template"),
    ({"settings": (("time", "nan"), ("interval", "1"))}, "malformed", "finite"),
    ({"settings": (("time", "1e300"), ("interval", "1"))}, "malformed", "finite"),
    ({"settings": (("rate", "1"),)}, "malformed", "no setting"),
    ({"volume": math.inf}, "malformed", "volumeLots"),
    ({"account": "acct-02"}, "forbidden", "acct-02"),
    ({"vt_symbol": "nope.SHFE"}, "unknownContract", "nope"),
    ({"settings": (("time", "60"), ("interval", "1"))}, "malformed", "round to 0 lots"),
])
async def test_start_algo_when_hostile_then_clear_error_and_nothing_started(
        desk_factory, open_socket, tmp_path, change, code, text):
    """Unknown template, NaN or huge settings, unknown keys, infinite volume, another trader's account, an unknown
    contract, TWAP slices that round to 0 lots (vn.py would run and never trade): an error with the reason, no job,
    no order."""
    desk, price = await _desk(desk_factory, tmp_path)
    client = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    await client.send(**_start("bad-1", price, **change))
    error = await client.recv_until(_is("error"), timeout_s=5)
    assert error["code"] == code and text in error["message"], error
    assert desk.algos.jobs == {} and venue(desk).statistics().orders_received == 0


async def test_algo_job_when_another_users_job_then_forbidden(desk_factory, open_socket, tmp_path):
    """trader2 can neither stop trader1's job nor take its jobId for acct-02."""
    desk, price = await _desk(desk_factory, tmp_path)
    one = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    two = await open_socket(desk, token(JWT_SECRET, "trader2", ["acct-02"]))
    await one.send(**_start("mine", price, settings=(("time", "600"), ("interval", "60"))))
    await one.recv_until(_is("ack", of="startAlgo"), timeout_s=5)
    await two.send(stopAlgo={"jobId": "mine", "account": "acct-01"})
    assert (await two.recv_until(_is("error"), timeout_s=5))["code"] == "forbidden"
    await two.send(**_start("mine", price, account="acct-02"))
    assert (await two.recv_until(_is("error"), timeout_s=5))["code"] == "forbidden"
    await two.send(stopAlgo={"jobId": "mine", "account": "acct-02"})
    assert (await two.recv_until(_is("error"), timeout_s=5))["code"] == "forbidden"
    await one.send(stopAlgo={"jobId": "mine", "account": "acct-01"})
    await one.recv_until(_is("algoProgress", jobId="mine", status="stopped"), timeout_s=10)


async def test_algo_job_when_its_algo_raised_then_journaled_stopped_with_the_error_and_not_resumed_after_a_restart(
        desk_factory, open_socket, tmp_path, monkeypatch):
    """A job whose algo raised ends ``stopped`` with ``failed: <error>`` in the journal, like any ended job: the
    desk restarted on the same journal and venue leaves it ended (not resumed), while a job still running when the
    desk stopped comes back paused. (Before: the failed job stayed ``running`` and came back paused.)"""
    import asyncio

    from tests.transport.orders_kit import last_price

    config, sim = orders_config(tmp_path, limits=HIGH_LIMITS), venue_setting()
    first = await desk_factory(orders=config, sim=sim)
    price = round(await last_price(first) * 1.03)
    client = await open_socket(first, token(JWT_SECRET, "trader1", ["acct-01"]))
    for job_id in ("fails", "survives"):
        await client.send(**_start(job_id, price, volume=600, settings=(("time", "600"), ("interval", "1"))))
        await client.recv_until(_is("ack", of="startAlgo"), timeout_s=5)
    async with asyncio.timeout(10):
        while first.algos.jobs["fails"].algo is None:
            await asyncio.sleep(0.05)

    def raising() -> None:
        raise RuntimeError("an algo's bug")

    monkeypatch.setattr(first.algos.jobs["fails"].algo, "update_timer", raising)
    stopped = await client.recv_until(_is("algoProgress", jobId="fails", status="stopped"), timeout_s=10)
    assert stopped["message"] == "failed: RuntimeError: an algo's bug"
    await client.recv_until(_is("algoProgress", jobId="survives", status="running"), timeout_s=5)
    rows = {row["job_id"]: row for row in first.journal.algo_jobs()}
    assert rows["fails"]["status"] == "stopped" and rows["fails"]["message"] == stopped["message"]
    assert first.algos.statistics()["algos_failed"] == 1
    await first.stop()

    second = await desk_factory(orders=orders_config(tmp_path, limits=HIGH_LIMITS), sim=sim)
    client = await open_socket(second, token(JWT_SECRET, "trader1", ["acct-01"]))
    resumed = await client.recv_until(_is("algoProgress", jobId="survives"), timeout_s=15)
    later = [await client.recv_until(_is("algoProgress"), timeout_s=5) for _ in range(3)]
    assert resumed["status"] == "paused" and "restart" in resumed["message"], resumed
    assert all(m["jobId"] == "survives" for m in later), "the failed job sends no progress: it is not resumed"
    failed = second.algos.jobs["fails"]
    assert failed.ended_reported and failed.algo is None and failed.restore is None
    assert list(second.algos.engine.algos.values()) == [second.algos.jobs["survives"].algo]
    await client.send(stopAlgo={"jobId": "survives", "account": "acct-01"})
    await client.recv_until(_is("algoProgress", jobId="survives", status="stopped"), timeout_s=10)
