"""The seeded synthetic market (sim.synthetic, sim.universe) against the recorded day (sim.calibration)."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sim.calibration import DAY_20171113, QUANTILE_PROBABILITIES
from sim.instruments import load_instruments, option_terms
from sim.replay import ReplayTick
from sim.synthetic import Burst, SyntheticMarket, variant_symbol
from sim.universe import Mix

QUANTILE_TOLERANCE = 1.25
"""Synthetic quantiles of ticks per instrument (p10 … p95, as ratios to the class mean) lie within
a factor 1.25 of the recorded day's; the busiest tenth's share within 0.03 of it."""


def _take(market: SyntheticMarket, count: int) -> list[ReplayTick]:
    return list(itertools.islice(market.ticks(), count))


@pytest.fixture(scope="module")
def templates(data_dir: Path) -> list:
    """The 429 instruments of the recorded day as templates."""
    return list(load_instruments(data_dir / "cn_futopt_instruments_20171113.csv").values())


@pytest.fixture(scope="module")
def sample(templates: list) -> tuple[SyntheticMarket, list[ReplayTick]]:
    """100,000 ticks of a 20,000-contract desk market."""
    market = SyntheticMarket(contracts=20_000, rate_per_s=2000.0, seed=7, templates=templates)
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


def test_ticks_per_instrument_when_mix_of_recorded_day_then_quantiles_match_it(templates: list) -> None:
    """With the recorded day's 250 futures and 179 options, ticks per instrument follow its quantiles."""
    market = SyntheticMarket(contracts=429, rate_per_s=20_000.0, peak_per_s=20_000.0, seed=7,
                             templates=templates, mix=Mix(futures=250, futures_options=179, stock_options=0))
    counts = np.zeros(429)
    for batch in itertools.islice(market.columns(), 100):
        counts += np.bincount(batch.indexes, minlength=429)
    compared = (np.array(QUANTILE_PROBABILITIES) >= 0.1) & (np.array(QUANTILE_PROBABILITIES) <= 0.95)
    options = market.universe.is_option
    for product_class, chosen in (("F", ~options), ("O", options), ("all", np.ones(429, dtype=bool))):
        ratios = counts[chosen] / counts[chosen].mean()
        synthetic = np.quantile(ratios, QUANTILE_PROBABILITIES)[compared]
        recorded = np.array(DAY_20171113.ticks_quantiles[product_class])[compared]
        assert np.all(synthetic / recorded <= QUANTILE_TOLERANCE), (product_class, synthetic / recorded)
        assert np.all(recorded / synthetic <= QUANTILE_TOLERANCE), (product_class, synthetic / recorded)
    busiest = np.sort(counts)[::-1][: 429 // 10].sum() / counts.sum()
    assert busiest == pytest.approx(DAY_20171113.top_decile_share, abs=0.03)


def test_ticks_when_drawn_then_prices_sit_on_the_grid_inside_the_limits(
    sample: tuple[SyntheticMarket, list[ReplayTick]],
) -> None:
    """Bid, ask and last are multiples of the tick, bid < ask, last is bid or ask, all within the limits."""
    market, ticks = sample
    at = {ref.symbol: i for i, ref in enumerate(market.instruments)}
    index = np.array([at[t.symbol] for t in ticks])
    size = market.universe.price_ticks[index]
    bid, ask, last = (np.array([getattr(t, name) for t in ticks]) for name in ("bid", "ask", "last"))
    for prices in (bid, ask, last):
        steps = prices / size
        assert np.allclose(steps, np.round(steps), rtol=0, atol=1e-6)
    assert (bid > 0).all() and (bid < ask).all()
    assert ((last == bid) | (last == ask)).all()
    assert (np.round(bid / size) >= market.universe.lower_ticks[index]).all()
    assert (np.round(ask / size) <= market.universe.upper_ticks[index]).all()


def test_ticks_when_walks_run_long_then_they_stop_at_the_limits() -> None:
    """A contract driven for many seconds never quotes outside its limit prices."""
    market = SyntheticMarket(contracts=3, rate_per_s=3000.0, peak_per_s=3000.0, seed=5)
    lowest = market.universe.upper_ticks.copy()
    highest = market.universe.lower_ticks.copy()
    for batch in itertools.islice(market.columns(), 200):
        ticks = market.universe.price_ticks[batch.indexes]
        np.minimum.at(lowest, batch.indexes, np.round(batch.bid / ticks).astype(np.int64))
        np.maximum.at(highest, batch.indexes, np.round(batch.ask / ticks).astype(np.int64))
    assert (lowest >= market.universe.lower_ticks).all() and (highest <= market.universe.upper_ticks).all()


def test_ticks_when_drawn_then_volume_never_falls_per_contract(
    sample: tuple[SyntheticMarket, list[ReplayTick]],
) -> None:
    """Cumulative volume rises by at least one lot per tick of a contract."""
    _, ticks = sample
    seen: dict[str, int] = {}
    for tick in ticks:
        assert tick.volume > seen.get(tick.symbol, -1)
        seen[tick.symbol] = tick.volume


def test_ticks_when_flat_rate_then_virtual_clock_advances_at_the_rate() -> None:
    """Timestamps never go back, and 100,000 ticks at a flat 2,000/s span about 50 virtual seconds."""
    market = SyntheticMarket(contracts=2000, rate_per_s=2000.0, peak_per_s=2000.0, seed=7)
    stamps = np.array([t.ts_ns for t in _take(market, 100_000)])
    assert (np.diff(stamps) >= 0).all()
    assert stamps[0] >= market.start_ns
    assert (stamps[-1] - market.start_ns) / 1e9 == pytest.approx(50.0, rel=0.03)


def test_columns_when_profiled_then_mean_is_the_rate_and_seconds_stay_under_the_peak() -> None:
    """Over 2,000 virtual seconds the mean rate is within 10 % of 200/s; no second passes 400 by more than noise."""
    market = SyntheticMarket(contracts=400, rate_per_s=200.0, peak_per_s=400.0, seed=9)
    per_second = np.array([len(batch.indexes) for batch in itertools.islice(market.columns(), 2000)])
    assert per_second.mean() == pytest.approx(200.0, rel=0.10)
    assert per_second.max() <= 400 + 5 * 20  # Poisson noise: 5 sigma of a 400 count
    assert np.percentile(per_second, 99) > 1.4 * np.percentile(per_second, 50)  # busy spells exist


def test_columns_when_burst_scheduled_then_those_seconds_carry_ten_times_the_ticks() -> None:
    """A 10× burst from second 5 for 3 seconds multiplies those seconds' counts by about 10."""
    market = SyntheticMarket(contracts=200, rate_per_s=500.0, peak_per_s=500.0, seed=4,
                             bursts=[Burst(at_s=5, duration_s=3, factor=10.0)])
    per_second = [len(batch.indexes) for batch in itertools.islice(market.columns(), 10)]
    assert all(4000 < n < 6000 for n in per_second[5:8]), per_second
    assert all(350 < n < 650 for n in per_second[:5] + per_second[8:]), per_second


def test_columns_when_stamped_then_each_exchange_keeps_its_grid(templates: list) -> None:
    """SHFE stamps .000/.500, CFFEX .400/.900, CZCE whole seconds, DCE spread over the second."""
    market = SyntheticMarket(contracts=2000, seed=3, templates=templates)
    exchange = np.array([ref.exchange for ref in market.instruments])
    batch = next(itertools.islice(market.columns(), 3, None))
    ms = batch.ts_ns // 1_000_000 % 1000
    seen = {name: set(ms[exchange[batch.indexes] == name].tolist()) for name in ("SHFE", "CFFEX", "CZCE", "DCE")}
    assert seen["SHFE"] == {0, 500} and seen["CFFEX"] == {400, 900} and seen["CZCE"] == {0}
    assert len(seen["DCE"]) > 100
    assert (np.diff(batch.ts_ns) >= 0).all()


def test_universe_when_20000_contracts_then_futures_chains_and_stock_options_in_the_mix(templates: list) -> None:
    """20,000 distinct contracts: 5 % futures, 80 % futures options, 15 % SSE stock options with terms."""
    market = SyntheticMarket(contracts=20_000, seed=7, templates=templates)
    refs = market.instruments
    assert len({ref.symbol for ref in refs}) == 20_000
    kinds = Counter("stock" if ref.exchange == "SSE" else ref.product_class for ref in refs)
    assert kinds == {"F": 1000, "O": 16_000, "stock": 3000}
    chain = [ref for ref in refs if ref.product == "m_o"]
    assert {option_terms(ref).right for ref in chain} == {"C", "P"}
    assert len({ref.expiry for ref in chain}) >= 3 and len({option_terms(ref).strike for ref in chain}) >= 10
    etf = next(ref for ref in refs if ref.exchange == "SSE")
    assert (etf.price_tick, etf.multiplier, option_terms(etf).underlying) == (0.0001, 10000.0, "510050")


def test_instruments_when_more_futures_than_templates_then_clones_are_distinct_variants() -> None:
    """200 futures from 13 template futures get distinct symbols; copies carry an xNN suffix."""
    market = SyntheticMarket(contracts=200, mix=Mix(futures=1, futures_options=0, stock_options=0))
    symbols = [ref.symbol for ref in market.instruments]
    assert len(set(symbols)) == 200
    assert "rb1801" in symbols and "rb1801x07" in symbols
    assert variant_symbol("rb1801", 0) == "rb1801"
    assert variant_symbol("rb1801", 123) == "rb1801x123"


def test_instruments_when_file_templates_then_clones_keep_exchange_tick_and_multiplier(templates: list) -> None:
    """Futures cloned from the instruments file keep their template's reference data."""
    market = SyntheticMarket(contracts=1000, templates=templates, mix=Mix(1, 0, 0))
    by_symbol = {ref.symbol: ref for ref in market.instruments}
    clone = by_symbol["rb1801x01"]
    original = next(ref for ref in templates if ref.symbol == "rb1801")
    assert (clone.exchange, clone.product, clone.price_tick, clone.multiplier) == (
        original.exchange, original.product, original.price_tick, original.multiplier)
    assert {t.exchange for t in _take(market, 20_000)} == {"SHFE", "DCE", "CZCE", "CFFEX"}


@pytest.mark.parametrize("kwargs", [{"contracts": 0}, {"rate_per_s": 0.0}, {"templates": []}])
def test_synthetic_market_when_argument_out_of_range_then_raises_value_error(kwargs: dict) -> None:
    """Zero contracts, a zero rate or no templates are refused."""
    with pytest.raises(ValueError):
        SyntheticMarket(**kwargs)


def test_ticks_when_synthetic_then_depth_is_a_seeded_book_one_price_tick_apart() -> None:
    """Every synthetic tick has levels 2..5: bids one price tick below each other, asks above, volumes in
    1..199 lots (0 and no volume beyond the price limits), the same for the same seed."""
    market = SyntheticMarket(contracts=300, seed=5)
    ticks = {ref.symbol: ref.price_tick for ref in market.instruments}
    rows = list(itertools.islice(market.ticks(), 2000))
    assert rows == list(itertools.islice(SyntheticMarket(contracts=300, seed=5).ticks(), 2000))
    for row in rows:
        tick = ticks[row.symbol]
        bids, bid_volumes, asks, ask_volumes = (row.depth[i:i + 4] for i in range(0, 16, 4))
        for level, (bid, ask) in enumerate(zip(bids, asks, strict=True), start=1):
            assert bid == 0 or bid == pytest.approx(row.bid - level * tick), row
            assert ask == 0 or ask == pytest.approx(row.ask + level * tick), row
        assert all((volume == 0) == (price == 0) for price, volume in zip(bids + asks, bid_volumes + ask_volumes))
        assert all(0 <= volume < 200 for volume in bid_volumes + ask_volumes)
    assert any(row.depth[0] > 0 for row in rows)
