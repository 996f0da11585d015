"""Replay at desk scale (sim.multiplex) and the gateway's fault controls and recording (sim.gateway)."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from vnpy.event import Event, EventEngine
from vnpy.trader.engine import MainEngine
from vnpy.trader.event import EVENT_CONTRACT, EVENT_TICK
from vnpy.trader.object import ContractData, TickData

from sim.gateway import SimGateway
from sim.instruments import load_instruments, option_terms
from sim.multiplex import compress_gaps, copy_symbol, multiplex, multiplex_refs
from sim.replay import ReplayTick, iter_ticks
from sim.tape import iter_tape_ticks
from transport.venue.vnpy_home import restoring_cwd

SLICE = "cn_futopt_l1_20171113_0900-1000.csv.gz"
WAIT_S = 10.0


def _tick(ts_s: float, symbol: str = "rb1801") -> ReplayTick:
    return ReplayTick(symbol, "SHFE", "rb", "F", int(ts_s * 1e9), 1.0, 1.0, 2.0, 1, 1, 1, 1, True)


class Ticks:
    """Collects contracts and ticks from vn.py's dispatcher thread; waits for a condition (bounded)."""

    def __init__(self, event_engine: EventEngine) -> None:
        self.contracts: dict[str, ContractData] = {}
        self.ticks: list[TickData] = []
        self._changed = threading.Condition()
        event_engine.register(EVENT_CONTRACT, self._on_contract)
        event_engine.register(EVENT_TICK, self._on_tick)

    def _on_contract(self, event: Event) -> None:
        with self._changed:
            self.contracts[event.data.vt_symbol] = event.data
            self._changed.notify_all()

    def _on_tick(self, event: Event) -> None:
        with self._changed:
            self.ticks.append(event.data)
            self._changed.notify_all()

    def wait_for(self, condition: Callable[[Ticks], bool], timeout_s: float = WAIT_S) -> bool:
        """Wait until ``condition(self)`` holds, at most ``timeout_s``."""
        with self._changed:
            return self._changed.wait_for(lambda: condition(self), timeout_s)


@pytest.fixture
def engine() -> Iterator[tuple[MainEngine, SimGateway, Ticks]]:
    """A real MainEngine with SimGateway and a tick collector; closed afterwards."""
    event_engine = EventEngine()
    with restoring_cwd():
        main_engine = MainEngine(event_engine)
    try:
        gateway = main_engine.add_gateway(SimGateway)
        yield main_engine, gateway, Ticks(event_engine)
    finally:
        main_engine.close()


def test_multiplex_when_three_copies_then_each_is_renamed_shifted_and_merged_in_time_order(data_dir: Path) -> None:
    """Three copies of 2,000 recorded rows: copy k is named ``<sym>k<k>``, k × 2 s later, all in time order."""
    source = list(itertools.islice(iter_ticks(data_dir / SLICE), 2000))
    merged = list(multiplex(iter(source), copies=3, shift_s=2.0))
    assert len(merged) == 6000
    assert all(a.ts_ns <= b.ts_ns for a, b in itertools.pairwise(merged))
    for copy in range(3):
        suffix = f"k{copy}" if copy else ""
        rows = [r for r in merged if r.symbol == f"rb1801{suffix}"]
        originals = [r for r in source if r.symbol == "rb1801"]
        assert [r.ts_ns for r in rows] == [r.ts_ns + copy * 2_000_000_000 for r in originals]
        assert [r.last for r in rows] == [r.last for r in originals]


def test_multiplex_refs_when_47_copies_of_the_day_then_about_20000_contracts_with_option_terms(
    data_dir: Path,
) -> None:
    """47 copies of the day's 429 instruments are 20,163 distinct contracts; option copies keep their terms."""
    refs = list(load_instruments(data_dir / "cn_futopt_instruments_20171113.csv").values())
    copies = multiplex_refs(refs, 47)
    assert len(copies) == len({ref.symbol for ref in copies}) == 20_163
    option = next(ref for ref in copies if ref.symbol == copy_symbol("m1801-C-2800", 46))
    terms = option_terms(option)
    assert (terms.underlying, terms.right, terms.strike, option.price_tick) == ("m1801", "C", 2800.0, 0.5)


def test_compress_gaps_when_overnight_pause_then_cut_to_max_gap_and_later_spacing_kept() -> None:
    """A 6.5 h pause becomes 5 s; spacing before and after it is unchanged."""
    rows = [_tick(0.0), _tick(0.5), _tick(0.5 + 6.5 * 3600), _tick(1.0 + 6.5 * 3600)]
    stamps = [r.ts_ns / 1e9 for r in compress_gaps(rows, max_gap_s=5.0)]
    assert stamps == [0.0, 0.5, 5.5, 6.0]


def test_connect_when_copies_then_every_copy_has_its_contract_and_ticks(
    engine: tuple[MainEngine, SimGateway, Ticks], data_dir: Path
) -> None:
    """Replaying the slice as 3 copies: rb1801k2 is a contract with rb1801's tick size, and it ticks."""
    main_engine, _, ticks = engine
    main_engine.connect({"replay": str(data_dir / SLICE), "speed": 0, "copies": 3, "shift_s": 1.0}, "SIM")
    assert ticks.wait_for(lambda t: sum(x.vt_symbol == "rb1801k2.SHFE" for x in t.ticks) >= 5)
    assert len(ticks.contracts) >= 3 * 429
    assert ticks.contracts["rb1801k2.SHFE"].pricetick == ticks.contracts["rb1801.SHFE"].pricetick


def test_connect_when_record_then_closing_leaves_a_tape_of_the_emitted_ticks(
    engine: tuple[MainEngine, SimGateway, Ticks], tmp_path: Path
) -> None:
    """A synthetic run with ``record`` writes a tape whose rows are the ticks vn.py received, in order."""
    main_engine, gateway, ticks = engine
    tape = tmp_path / "run.tape"
    main_engine.connect({"replay": "", "contracts": 50, "rate": 3000.0, "speed": 0, "record": str(tape)}, "SIM")
    assert ticks.wait_for(lambda t: len(t.ticks) >= 2500)
    gateway.close()
    recorded = list(iter_tape_ticks(tape))
    assert len(recorded) == gateway.progress().rows_emitted >= 2500
    received = ticks.ticks[: len(recorded)] if ticks.wait_for(lambda t: len(t.ticks) >= len(recorded)) else []
    assert [(r.symbol, r.last, r.volume) for r in recorded] == [(t.symbol, t.last_price, t.volume) for t in received]


def test_replay_when_tape_file_then_gateway_plays_it_like_a_csv(
    engine: tuple[MainEngine, SimGateway, Ticks], tmp_path: Path
) -> None:
    """A .tape given as ``replay`` emits its instruments as contracts, then its ticks."""
    from sim.synthetic import SyntheticMarket
    from sim.tape import write_synthetic_tape

    written = write_synthetic_tape(tmp_path / "m.tape", SyntheticMarket(contracts=80, rate_per_s=300.0), 2)
    main_engine, gateway, ticks = engine
    main_engine.connect({"replay": str(tmp_path / "m.tape"), "speed": 0}, "SIM")
    assert ticks.wait_for(lambda t: len(t.ticks) == written)
    assert len(ticks.contracts) == 80
    assert gateway.progress().rows_emitted == written


@pytest.mark.slow  # ~10 s at 20,000 contracts
def test_disconnect_feed_when_paused_then_rows_are_dropped_until_reconnect(
    engine: tuple[MainEngine, SimGateway, Ticks],
) -> None:
    """While disconnected the feed drops the rows that come due; after reconnect ticks flow again."""
    main_engine, gateway, ticks = engine
    main_engine.connect({"replay": "", "contracts": 50, "rate": 2000.0}, "SIM")
    assert ticks.wait_for(lambda t: len(t.ticks) >= 100)
    gateway.disconnect_feed()
    assert ticks.wait_for(lambda t: gateway.progress().rows_dropped_paused >= 200)
    assert gateway.progress().paused
    emitted = gateway.progress().rows_emitted
    gateway.reconnect_feed()
    assert ticks.wait_for(lambda t: gateway.progress().rows_emitted >= emitted + 200)
    assert not gateway.progress().paused


def test_set_clock_skew_when_set_then_later_ticks_carry_shifted_exchange_times(
    engine: tuple[MainEngine, SimGateway, Ticks],
) -> None:
    """A one-hour skew moves the exchange stamps of every tick emitted after it by an hour.

    The skew is set before connect so "later ticks" is not a race against the
    feed thread (the synthetic market emits a whole second's ticks at once).
    """
    main_engine, gateway, ticks = engine
    gateway.set_clock_skew(3600 * 10**9)
    connected = dt.datetime.now(dt.UTC)
    main_engine.connect({"replay": "", "contracts": 20, "rate": 1000.0}, "SIM")
    assert ticks.wait_for(lambda t: len(t.ticks) >= 50)
    shifts_s = [(tick.datetime - connected).total_seconds() for tick in ticks.ticks[:50]]
    assert all(3590 < shift < 3610 for shift in shifts_s)


def test_burst_when_synthetic_then_feed_plays_faster_until_ended(
    engine: tuple[MainEngine, SimGateway, Ticks],
) -> None:
    """A 10× burst plays 5 virtual seconds of a 200 ticks/s market quickly; 1.0 ends it; 0 is refused."""
    main_engine, gateway, ticks = engine
    main_engine.connect({"replay": "", "contracts": 20, "rate": 200.0, "peak": 200.0}, "SIM")
    assert ticks.wait_for(lambda t: len(t.ticks) >= 20)
    gateway.burst(10.0)
    start = gateway.progress().exchange_time_ns
    assert ticks.wait_for(lambda t: gateway.progress().exchange_time_ns - start >= 5_000_000_000)
    assert gateway.progress().rows_emitted >= 800
    gateway.burst(1.0)
    with pytest.raises(ValueError):
        gateway.burst(0.0)
