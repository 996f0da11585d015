"""The seeded synthetic market (sim.synthetic)."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sim.instruments import load_instruments
from sim.replay import ReplayTick
from sim.synthetic import SyntheticMarket, variant_symbol


def _take(market: SyntheticMarket, count: int) -> list[ReplayTick]:
    return list(itertools.islice(market.ticks(), count))


@pytest.fixture(scope="module")
def sample() -> tuple[SyntheticMarket, list[ReplayTick]]:
    """100,000 ticks of the default 2,000-contract market."""
    market = SyntheticMarket(contracts=2000, rate_per_s=2000.0, seed=7)
    return market, _take(market, 100_000)


def test_ticks_when_same_seed_twice_then_first_5000_are_identical() -> None:
    """Two markets built with the same seed yield the same 5,000 ticks."""
    assert _take(SyntheticMarket(seed=11), 5000) == _take(SyntheticMarket(seed=11), 5000)


def test_ticks_when_called_again_then_sequence_starts_over() -> None:
    """Each call of ticks() replays the sequence from the seed."""
    market = SyntheticMarket(contracts=100, seed=3)
    assert _take(market, 2000) == _take(market, 2000)


def test_ticks_when_seeds_differ_then_sequences_differ() -> None:
    """Different seeds give different ticks."""
    assert _take(SyntheticMarket(seed=1), 100) != _take(SyntheticMarket(seed=2), 100)


def test_ticks_when_many_drawn_then_busiest_tenth_carries_about_half(
    sample: tuple[SyntheticMarket, list[ReplayTick]],
) -> None:
    """The busiest 10 % of contracts carry between 35 % and 65 % of ticks (heavy tail)."""
    market, ticks = sample
    counts = sorted(Counter(t.symbol for t in ticks).values(), reverse=True)
    top = len(market.instruments) // 10
    assert 0.35 <= sum(counts[:top]) / len(ticks) <= 0.65


def test_ticks_when_drawn_then_prices_sit_on_the_tick_grid_with_ask_one_tick_above(
    sample: tuple[SyntheticMarket, list[ReplayTick]],
) -> None:
    """Every bid, ask and last is a multiple of the tick; ask = bid + tick; last is bid or ask."""
    market, ticks = sample
    tick_of = {ref.symbol: ref.price_tick for ref in market.instruments}
    size = np.array([tick_of[t.symbol] for t in ticks])
    bid = np.array([t.bid for t in ticks])
    ask = np.array([t.ask for t in ticks])
    last = np.array([t.last for t in ticks])
    for prices in (bid, ask, last):
        steps = prices / size
        assert np.allclose(steps, np.round(steps), rtol=0, atol=1e-6)
    assert (bid > 0).all() and (bid < ask).all()
    assert np.allclose(ask - bid, size)
    assert ((last == bid) | (last == ask)).all()


def test_ticks_when_drawn_then_volume_never_falls_per_contract(
    sample: tuple[SyntheticMarket, list[ReplayTick]],
) -> None:
    """Cumulative volume rises by at least one lot per tick of a contract."""
    _, ticks = sample
    seen: dict[str, int] = {}
    for tick in ticks:
        assert tick.volume > seen.get(tick.symbol, -1)
        seen[tick.symbol] = tick.volume


def test_ticks_when_drawn_then_virtual_clock_advances_at_the_rate(
    sample: tuple[SyntheticMarket, list[ReplayTick]],
) -> None:
    """Timestamps never go back, and 100,000 ticks at 2,000/s span about 50 virtual seconds."""
    market, ticks = sample
    stamps = np.array([t.ts_ns for t in ticks])
    assert (np.diff(stamps) >= 0).all()
    assert stamps[0] >= market.start_ns
    assert (stamps[-1] - market.start_ns) / 1e9 == pytest.approx(50.0, rel=0.03)


def test_instruments_when_more_contracts_than_templates_then_symbols_are_distinct_variants() -> None:
    """2,000 contracts from 15 templates get distinct symbols; copies carry an xNN suffix."""
    market = SyntheticMarket(contracts=2000)
    symbols = [ref.symbol for ref in market.instruments]
    assert len(set(symbols)) == 2000
    assert "rb1801" in symbols and "rb1801x07" in symbols
    assert variant_symbol("rb1801", 0) == "rb1801"
    assert variant_symbol("rb1801", 123) == "rb1801x123"


def test_instruments_when_file_templates_then_clones_keep_exchange_tick_and_multiplier(data_dir: Path) -> None:
    """Contracts cloned from the instruments file keep their template's reference data."""
    templates = load_instruments(data_dir / "cn_futopt_instruments_20171113.csv")
    market = SyntheticMarket(contracts=1000, templates=list(templates.values()))
    by_symbol = {ref.symbol: ref for ref in market.instruments}
    clone = by_symbol["rb1801x01"]
    original = templates["rb1801"]
    assert (clone.exchange, clone.product, clone.price_tick, clone.multiplier) == (
        original.exchange,
        original.product,
        original.price_tick,
        original.multiplier,
    )
    ticks = _take(market, 20_000)
    assert {t.exchange for t in ticks} == {"SHFE", "DCE", "CZCE", "CFFEX"}


@pytest.mark.parametrize("kwargs", [{"contracts": 0}, {"rate_per_s": 0.0}, {"chunk_size": 0}, {"templates": []}])
def test_synthetic_market_when_argument_out_of_range_then_raises_value_error(kwargs: dict) -> None:
    """Zero contracts, a zero rate, a zero chunk or no templates are refused."""
    with pytest.raises(ValueError):
        SyntheticMarket(**kwargs)
