"""What a fault's recovery_ms measures: the clock's start (sim/harness/report.py), per client kind."""

from __future__ import annotations

import time

from vnpy.event import EventEngine

from sim.harness.clients import SimClient
from sim.gateway import SimGateway
from sim.harness.traders import TraderClient

END_NS = 1_000_000_000_000
MS = 1_000_000


def _probe() -> SimClient:
    client = SimClient("probe1", "ws://127.0.0.1:1/ws", "token", ["rb", "m_o"])
    client._frame(END_NS - 900 * MS, "rb", 0, "snapshot", END_NS - 901 * MS)
    client._frame(END_NS - 800 * MS, "m_o", 0, "snapshot", END_NS - 801 * MS)
    return client


def test_recovery_when_delta_shows_only_ticks_after_a_quiet_market_then_clock_starts_at_the_first_tick() -> None:
    """rb ticks on a 500 ms grid: 400 ms of silence after the fault are the market's, not the desk's."""
    client = _probe()
    market_ns = END_NS + 400 * MS
    client._frame(END_NS + 450 * MS, "rb", 1, "delta", END_NS + 440 * MS, fresh_ns=market_ns + 1 * MS)
    assert client.recovery(END_NS, END_NS, ["rb"], market_ns) == (END_NS + 450 * MS, market_ns)


def test_recovery_when_delta_shows_a_tick_from_before_the_end_then_clock_starts_at_the_end() -> None:
    """A delayed or held tick shown late counts from the fault's end."""
    client = _probe()
    client._frame(END_NS + 450 * MS, "rb", 1, "delta", END_NS + 440 * MS, fresh_ns=END_NS - 5 * MS)
    assert client.recovery(END_NS, END_NS, ["rb"], END_NS + 400 * MS) == (END_NS + 450 * MS, END_NS)


def test_recovery_when_snapshot_then_clock_starts_at_the_end_and_frames_before_ready_do_not_count() -> None:
    """A snapshot shows old rows too; a frame built before the new incarnation was bound is not recovery."""
    client = _probe()
    ready_ns = END_NS + 20 * MS
    client._frame(END_NS + 15 * MS, "m_o", 1, "delta", END_NS + 10 * MS, fresh_ns=END_NS + 9 * MS)
    client._frame(END_NS + 90 * MS, "m_o", 0, "snapshot", END_NS + 80 * MS)
    assert client.recovery(END_NS, ready_ns, ["m_o"], END_NS + 5 * MS) == (END_NS + 90 * MS, END_NS)
    assert client.recovery(END_NS, ready_ns, ["rb"], END_NS + 5 * MS) is None


def test_recovery_when_trader_owed_a_reply_then_end_else_its_next_submission() -> None:
    """A trader's clock starts at the end when an order was unanswered then, else at its next submission."""
    trader = TraderClient("trader1", "ws://127.0.0.1:1/ws", "token", "acct-01", [])
    trader._first_sent_ns = {"t-1": END_NS - 300 * MS, "t-2": END_NS + 150 * MS}
    trader._first_reply_ns = {"t-1": END_NS - 290 * MS, "t-2": END_NS + 160 * MS}
    trader.sends_ns = [END_NS - 300 * MS, END_NS + 150 * MS]
    trader.replies_ns = [END_NS - 290 * MS, END_NS + 160 * MS]
    assert trader.recovery(END_NS, END_NS) == (END_NS + 160 * MS, END_NS + 150 * MS)
    trader._first_reply_ns["t-1"] = END_NS + 160 * MS  # t-1 was still waiting at the end
    assert trader.recovery(END_NS, END_NS) == (END_NS + 160 * MS, END_NS)


def test_watch_ticks_when_other_products_tick_first_then_notes_only_the_watched_ones() -> None:
    """A TickWatch notes the first tick of its products at or after its start, once, then is dropped."""
    gateway = SimGateway(EventEngine())
    before = time.time_ns()
    watch = gateway.watch_ticks(["rb"], before)
    gateway._note_watches("m_o")
    assert watch.first_ns == 0
    gateway._note_watches("rb")
    assert watch.first_ns >= before and gateway._watches == ()
    late = gateway.watch_ticks(["rb"], time.time_ns() + 10**12)
    gateway._note_watches("rb")
    assert late.first_ns == 0
    gateway.clear_watches()
    assert gateway._watches == ()


def test_recovery_when_first_flush_after_silence_is_a_periodic_snapshot_then_clock_starts_at_the_first_tick() -> None:
    """After 3 s without ticks a group's next flush is a snapshot (next in sequence): its new tick starts the clock."""
    client = _probe()
    market_ns = END_NS + 60_000 * MS
    client._frame(market_ns + 40 * MS, "rb", 1, "snapshot", market_ns + 35 * MS, fresh_ns=market_ns + 1 * MS)
    assert client.recovery(END_NS, END_NS, ["rb"], market_ns) == (market_ns + 40 * MS, market_ns)


def test_recovery_when_snapshot_on_demand_after_silence_then_clock_starts_at_the_end() -> None:
    """A snapshot out of sequence (attach, restart, gap repair) was owed: it counts from the end."""
    client = _probe()
    market_ns = END_NS + 60_000 * MS
    client._frame(market_ns + 40 * MS, "rb", 0, "snapshot", market_ns + 35 * MS, fresh_ns=market_ns + 1 * MS)
    assert client.recovery(END_NS, END_NS, ["rb"], market_ns) == (market_ns + 40 * MS, END_NS)
