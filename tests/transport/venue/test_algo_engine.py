"""vnpy_algotrading's AlgoEngine on the desk (transport/venue/algo_engine.py), on a real desk and vn.py MainEngine:
its tick index, its per-algo guard (an algo that raises is stopped, the others run on) and its last-line guard."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from actors.orders.record import reference_of
from tests.conftest import JWT_SECRET
from tests.transport.orders_kit import token, venue
from tests.transport.venue.test_vnpy_algos import SYMBOL, _desk, _is, _start
from transport.venue.algo_engine import MAX_ERROR_CHARS, describe_error

PATIENT_TWAP = (("time", "600"), ("interval", "1"))
"""A TWAP of 1 lot a second (600 lots over 600 s): a child every second for the whole test."""


async def _algo(desk, job_id: str):
    """The running vnpy_algotrading template of a job, once vn.py has started it (bounded wait)."""
    async with asyncio.timeout(10):
        while desk.algos.jobs.get(job_id) is None or desk.algos.jobs[job_id].algo is None:
            await asyncio.sleep(0.05)
    return desk.algos.jobs[job_id].algo


def _venue_orders(desk, job_id: str) -> list:
    """The venue's view (vn.py OrderData) of every child order of a job it received."""
    children = list(desk.algos.jobs[job_id].children)
    found = (venue(desk).query_order(reference=reference_of("acct-01", child)) for child in children)
    return [order for order in found if order is not None]


async def _resting_child(desk, client, price: float, job_id: str = "berg") -> None:
    """Start an IcebergAlgo of 1-lot children 2% under the market (they rest) and wait for one to rest at the venue."""
    await client.send(**_start(job_id, price, template="IcebergAlgo", volume=5,
                               settings=(("display_volume", "1"), ("interval", "1"))))
    await client.recv_until(_is("ack", of="startAlgo"), timeout_s=5)
    async with asyncio.timeout(15):
        while not any(order.is_active() for order in _venue_orders(desk, job_id)):
            await asyncio.sleep(0.05)


async def _children_grow(desk, job_id: str, by: int, timeout_s: float = 15) -> None:
    """Wait until a job has sent ``by`` more child orders than now (bounded)."""
    start = desk.algos.jobs[job_id].child_seq
    async with asyncio.timeout(timeout_s):
        while desk.algos.jobs[job_id].child_seq < start + by:
            await asyncio.sleep(0.05)


async def test_algo_engine_when_an_algo_raises_on_a_tick_then_it_is_stopped_with_the_error_and_others_run(
        desk_factory, open_socket, tmp_path, monkeypatch):
    """An algo whose tick handler raises is stopped through vn.py's stop: its resting child is cancelled at the
    venue, the trader's progress says ``stopped`` with ``failed: RuntimeError: …``; a TWAP on the same vt_symbol
    keeps getting ticks and sending children. (Before: the algo stayed running, raising on every tick.)"""
    desk, through = await _desk(desk_factory, tmp_path)
    tick = desk.bridge.quote(SYMBOL).price_tick
    passive = round(through / 1.03 * 0.98 / tick) * tick
    client = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    await _resting_child(desk, client, passive)
    await client.send(**_start("twap", through, volume=600, settings=PATIENT_TWAP))
    await client.recv_until(_is("ack", of="startAlgo"), timeout_s=5)
    berg, twap = await _algo(desk, "berg"), await _algo(desk, "twap")
    await _children_grow(desk, "twap", 1)
    twap_ticks = []
    twap_update_tick = twap.update_tick

    def counting(data) -> None:
        twap_ticks.append(data)
        twap_update_tick(data)

    def raising(data) -> None:
        raise RuntimeError("an algo's bug")

    with capture_logs() as logs:
        monkeypatch.setattr(twap, "update_tick", counting)
        monkeypatch.setattr(berg, "update_tick", raising)
        stopped = await client.recv_until(_is("algoProgress", jobId="berg", status="stopped"), timeout_s=15)
        ticks_then = len(twap_ticks)
        await _children_grow(desk, "twap", 2)

    assert stopped["message"] == "failed: RuntimeError: an algo's bug", stopped
    assert [entry["method"] for entry in logs if entry["event"] == "algo_failed"] == ["update_tick"]
    assert len(twap_ticks) > ticks_then, "the TWAP on the same vt_symbol still gets ticks"
    assert berg not in desk.algos.engine.symbol_algo_map[SYMBOL] and twap in desk.algos.engine.symbol_algo_map[SYMBOL]
    async with asyncio.timeout(10):   # cancelled at the venue (counted from the venue's side)
        while any(order.is_active() for order in _venue_orders(desk, "berg")):
            await asyncio.sleep(0.05)
    assert venue(desk).statistics().cancels >= 1
    assert desk.algos.statistics()["algos_failed"] == 1
    progress = await client.recv_until(_is("algoProgress", jobId="twap"), timeout_s=5)
    assert progress["status"] == "running"
    await client.send(stopAlgo={"jobId": "twap", "account": "acct-01"})
    await client.recv_until(_is("algoProgress", jobId="twap", status="stopped"), timeout_s=10)


async def _iceberg_acting_after_its_first_child(desk_factory, open_socket, tmp_path, monkeypatch, act):
    """Start a resting IcebergAlgo ``berg`` whose timer call that sends its first child (the 3rd timer) then calls
    ``act(desk, job)`` on vn.py's thread, before that child's first order event reaches the algo; return
    (desk, client, job)."""
    desk, through = await _desk(desk_factory, tmp_path)
    tick = desk.bridge.quote(SYMBOL).price_tick
    passive = round(through / 1.03 * 0.98 / tick) * tick
    client = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    await client.send(**_start("berg", passive, template="IcebergAlgo", volume=5,
                               settings=(("display_volume", "1"), ("interval", "3"))))
    berg = await _algo(desk, "berg")
    job = desk.algos.jobs["berg"]
    update_timer = berg.update_timer

    def sending_then_acting() -> None:
        sent = job.child_seq
        update_timer()
        if job.child_seq > sent:
            act(desk, job)

    monkeypatch.setattr(berg, "update_timer", sending_then_acting)
    return desk, client, job


async def _first_child_at_venue_when_closed(desk, job):
    """Wait until the job's first child reached the venue, was closed there and the desk heard it; return it."""
    async with asyncio.timeout(10):
        while not (orders := _venue_orders(desk, "berg")) or orders[0].is_active() or job.open_children:
            await asyncio.sleep(0.05)
    return orders[0]


async def test_algo_engine_when_an_algo_raises_right_after_sending_a_child_then_that_child_is_cancelled_too(
        desk_factory, open_socket, tmp_path, monkeypatch):
    """An algo that raises in the same call that sent a child (no order event yet, so vn.py's stop does not know
    the child is open) still has that child cancelled at the venue: the desk cancels every open child of the job."""
    def raising(desk, job) -> None:
        raise RuntimeError("after the send")

    desk, client, job = await _iceberg_acting_after_its_first_child(desk_factory, open_socket, tmp_path, monkeypatch,
                                                                    raising)
    stopped = await client.recv_until(_is("algoProgress", jobId="berg", status="stopped"), timeout_s=15)
    assert stopped["message"] == "failed: RuntimeError: after the send" and job.child_seq == 1
    assert (await _first_child_at_venue_when_closed(desk, job)).status.name == "CANCELLED"


async def test_stop_algo_when_a_child_was_just_sent_and_not_yet_seen_then_that_child_is_cancelled_too(
        desk_factory, open_socket, tmp_path, monkeypatch):
    """A trader's stop that comes between a child's send and its first order event (vn.py's stop cancels only
    the children the algo has seen an event for) still cancels that child at the venue: a stopped algo leaves
    nothing open."""
    def stopped_by_the_trader(desk, job) -> None:   # handled on vn.py's thread before the child's first event
        desk.algos._control(job, "stop", "trader1")

    desk, client, job = await _iceberg_acting_after_its_first_child(desk_factory, open_socket, tmp_path, monkeypatch,
                                                                    stopped_by_the_trader)
    stopped = await client.recv_until(_is("algoProgress", jobId="berg", status="stopped"), timeout_s=15)
    assert stopped["message"] == "stopped by trader1" and job.child_seq == 1
    assert (await _first_child_at_venue_when_closed(desk, job)).status.name == "CANCELLED"
    # the trader's last view of the job: stopped, nothing open (not the child that was open when it stopped)
    await client.recv_until(_is("algoProgress", jobId="berg", status="stopped", openChildren=0), timeout_s=10)


async def test_algo_engine_when_the_first_algo_raises_on_the_timer_then_the_algos_after_it_still_run(
        desk_factory, open_socket, tmp_path, monkeypatch):
    """vn.py's timer loop over all algos goes on past one that raises: the TWAP started after it keeps sending its
    slices, and the one that raised ends stopped with the reason. (Before: the loop ended at the raising algo, so
    every algo after it never got a timer again.)"""
    desk, through = await _desk(desk_factory, tmp_path)
    client = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    await client.send(**_start("first", through, volume=600, settings=PATIENT_TWAP))
    first = await _algo(desk, "first")
    await client.send(**_start("second", through, volume=600, settings=PATIENT_TWAP))
    await _algo(desk, "second")
    assert list(desk.algos.engine.algos.values())[0] is first, "vn.py's timer loop meets the raising algo first"

    def raising() -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(first, "update_timer", raising)
    await _children_grow(desk, "second", 3)
    stopped = await client.recv_until(_is("algoProgress", jobId="first", status="stopped"), timeout_s=10)
    assert stopped["message"] == "failed: ZeroDivisionError: division by zero"
    await client.send(stopAlgo={"jobId": "second", "account": "acct-01"})
    await client.recv_until(_is("algoProgress", jobId="second", status="stopped"), timeout_s=10)


async def test_algo_engine_when_an_algo_and_its_stop_raise_then_it_is_taken_out_and_its_job_ends(
        desk_factory, open_socket, tmp_path, monkeypatch):
    """An algo whose stop raises too (a template overriding it badly) is taken out of vn.py's engine by hand: no
    more ticks or timers reach it, and its job ends stopped with the first error as the reason."""
    desk, through = await _desk(desk_factory, tmp_path)
    client = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))
    await client.send(**_start("broken", through, volume=600, settings=PATIENT_TWAP))
    broken = await _algo(desk, "broken")
    calls = []

    def raising(*args) -> None:
        calls.append(args)
        raise LookupError("no such slice")

    def stop() -> None:
        raise RuntimeError("cannot stop")

    monkeypatch.setattr(broken, "stop", stop)
    monkeypatch.setattr(broken, "update_timer", raising)
    monkeypatch.setattr(broken, "update_tick", raising)
    stopped = await client.recv_until(_is("algoProgress", jobId="broken", status="stopped"), timeout_s=10)
    assert stopped["message"] == "failed: LookupError: no such slice"
    assert broken not in desk.algos.engine.algos.values() and broken not in desk.algos.engine.symbol_algo_map[SYMBOL]
    seen = len(calls)
    await client.send(**_start("after", through, volume=600, settings=PATIENT_TWAP))
    await _algo(desk, "after")
    await _children_grow(desk, "after", 2)   # timers and ticks go on, none to the algo taken out
    assert len(calls) == seen and desk.algos.statistics()["algos_failed"] == 1
    await client.send(stopAlgo={"jobId": "after", "account": "acct-01"})
    await client.recv_until(_is("algoProgress", jobId="after", status="stopped"), timeout_s=10)


async def test_algo_engine_when_desk_code_raises_in_a_handler_then_logged_counted_and_vn_py_keeps_dispatching(
        desk_factory, open_socket, tmp_path, monkeypatch):
    """The last line of defence: an exception outside any one algo (here the desk's ``child_of`` on an order event)
    is logged (``algo_handler_failed``) and counted (``handler_failures``); vn.py's EventEngine thread lives on:
    the job's next progress (vn.py's timer, the same thread) still comes."""
    desk, price = await _desk(desk_factory, tmp_path)
    client = await open_socket(desk, token(JWT_SECRET, "trader1", ["acct-01"]))

    def child_of(reference: str, vt_orderid: str) -> str:
        raise RuntimeError("a desk bug")

    with capture_logs() as logs:
        monkeypatch.setattr(desk.algos, "child_of", child_of)
        await client.send(**_start("raises", price, volume=600, settings=PATIENT_TWAP))
        await client.recv_until(_is("ack", of="startAlgo"), timeout_s=5)
        async with asyncio.timeout(10):   # a child's order event reaches the engine
            while not desk.algos.statistics()["handler_failures"]:
                await asyncio.sleep(0.05)
        await client.recv_until(_is("algoProgress", jobId="raises"), timeout_s=5)   # a progress already queued
        await client.recv_until(_is("algoProgress", jobId="raises"), timeout_s=5)   # the next timer's

    failed = [entry for entry in logs if entry["event"] == "algo_handler_failed"]
    assert failed and failed[0]["handler"] == "process_order_event" and "a desk bug" in failed[0]["error"]
    await client.send(stopAlgo={"jobId": "raises", "account": "acct-01"})
    await client.recv_until(_is("algoProgress", jobId="raises", status="stopped"), timeout_s=10)


@pytest.mark.parametrize(("exc", "expected"), [
    (RuntimeError("an algo's bug"), "RuntimeError: an algo's bug"),
    (KeyError(), "KeyError"),
    (ValueError("two\nlines"), "ValueError: two lines"),
])
def test_describe_error_when_an_exception_then_its_type_and_message_on_one_line(exc, expected):
    """The reason a failed job shows: the error's type and message, on one line."""
    assert describe_error(exc) == expected


def test_describe_error_when_long_or_unprintable_then_bounded_and_never_raises():
    """A huge message is cut to MAX_ERROR_CHARS; an exception whose ``str`` raises is still described."""
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise TypeError("no")

    long = describe_error(RuntimeError("x" * 10_000))
    assert long.startswith("RuntimeError: x") and len(long) == len("RuntimeError: ") + MAX_ERROR_CHARS
    assert describe_error(Unprintable()) == "Unprintable: <unprintable>"


async def test_algo_engine_when_many_contracts_tick_then_it_indexes_only_the_algos_vt_symbols(
        desk_factory, open_socket, tmp_path):
    """vnpy_algotrading's tick handler added an empty set per vt_symbol that ever ticked (every contract of a
    20,000-contract desk, growing through the day); the desk's engine keeps only the vt_symbols algos run on."""
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
