"""vnpy_algotrading's AlgoEngine on the desk (transport/venue/algo_engine.py), on a real desk and vn.py MainEngine:
its tick index and its guarded handlers."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from tests.conftest import JWT_SECRET
from tests.transport.orders_kit import token
from tests.transport.venue.test_vnpy_algos import SYMBOL, _desk, _is, _start


async def test_algo_engine_when_an_algo_raises_in_a_handler_then_logged_and_vn_py_keeps_dispatching(
        desk_factory, open_socket, tmp_path, monkeypatch):
    """An algo whose tick handler raises is logged (``algo_handler_failed``) and handed to the desk's ``failed``;
    vn.py's EventEngine thread lives on: the job's next progress (vn.py's timer, the same thread) still comes."""
    desk, price = await _desk(desk_factory, tmp_path)
    client = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    await client.send(**_start("raises", price, settings=(("time", "600"), ("interval", "60"))))
    await client.recv_until(_is("ack", of="startAlgo"), timeout_s=5)
    engine = desk.algos.engine
    async with asyncio.timeout(10):
        while not engine.algos:
            await asyncio.sleep(0.05)
    (algo,) = list(engine.algos.values())
    failures: list[BaseException] = []

    def update_tick(tick) -> None:
        raise RuntimeError("an algo's bug")

    with capture_logs() as logs:
        monkeypatch.setattr(desk.algos, "failed", failures.append)
        monkeypatch.setattr(algo, "update_tick", update_tick)
        async with asyncio.timeout(10):   # the algo's contract ticks
            while not failures:
                await asyncio.sleep(0.05)
        await client.recv_until(_is("algoProgress", jobId="raises"), timeout_s=5)   # a progress already queued
        await client.recv_until(_is("algoProgress", jobId="raises"), timeout_s=5)   # the next timer's

    assert isinstance(failures[0], RuntimeError)
    failed = [entry for entry in logs if entry["event"] == "algo_handler_failed"]
    assert failed and failed[0]["handler"] == "process_tick_event" and "an algo's bug" in failed[0]["error"]
    await client.send(stopAlgo={"jobId": "raises", "account": "acct-01"})
    await client.recv_until(_is("algoProgress", jobId="raises", status="stopped"), timeout_s=10)


async def test_algo_engine_when_many_contracts_tick_then_it_indexes_only_the_algos_vt_symbols(
        desk_factory, open_socket, tmp_path):
    """vnpy_algotrading's tick handler added an empty set per vt_symbol that ever ticked (every contract of a
    20,000-contract desk, growing through the day); the desk's engine keeps only the vt_symbols algos run on."""
    import asyncio

    desk, price = await _desk(desk_factory, tmp_path)
    client = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    await client.send(**_start("long", price, settings=(("time", "600"), ("interval", "60"))))
    await client.recv_until(_is("ack", of="startAlgo"), timeout_s=5)
    main_engine = desk.algos.engine.main_engine
    async with asyncio.timeout(20):
        while len(main_engine.get_all_ticks()) < 50:
            await asyncio.sleep(0.05)
    async with asyncio.timeout(10):   # the algo runs and its vt_symbol has ticked
        while not any(a.get_tick() is not None for a in list(desk.algos.engine.algos.values())):
            await asyncio.sleep(0.05)
    assert set(desk.algos.engine.symbol_algo_map) == {SYMBOL}
    await client.send(stopAlgo={"jobId": "long", "account": "acct-01"})
    await client.recv_until(_is("algoProgress", jobId="long", status="stopped"), timeout_s=10)
