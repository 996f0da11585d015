"""A seeded synthetic Level-1 market calibrated to a recorded trading day.

Contracts come from :func:`sim.universe.build_universe` (futures, futures
option chains, stock options, with ticks, multipliers and price limits from
instrument templates). Time runs on a virtual clock, one second per step:

- **rate**: a second's tick count is Poisson around ``rate_per_s`` × a
  multiplier that follows the recorded day's per-second rate distribution
  (sim/calibration.py quantiles, lag-1 autocorrelation through an AR(1)
  driver), capped at ``peak_per_s`` and normalized so the long-run mean is
  ``rate_per_s``; scheduled :class:`Burst` s multiply it (10× for N s; a
  burst fault on a running desk speeds the feed instead, sim/gateway.py).
- **who**: contracts drawn by activity weight (the day's ticks-per-instrument
  quantiles by product class).
- **when**: exchange-style stamps within the second: SHFE/INE and SSE on a
  500 ms grid (.000/.500), CFFEX at .400/.900, CZCE on whole seconds (as the
  2017 data; the exchange gave no milliseconds then), DCE irregular with the
  day's 50 ms bucket weights.
- **what**: the bid walks by the day's tick-move distribution, the spread by
  its spread distribution, both kept inside the contract's price limits;
  last trades at bid or ask; cumulative volume grows.

Same seed and arguments → the same columns, every time :meth:`columns` is
called (sim/tape.py writes them byte for byte).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from sim.calibration import DAY_20171113, QUANTILE_PROBABILITIES, STEP_RANGE_TICKS, Calibration
from sim.instruments import OPTIONS, InstrumentRef, derive_product
from sim.replay import EXCHANGE_TZ, ReplayTick
from sim.universe import Mix, build_universe, variant_symbol

DEFAULT_START_NS = int(dt.datetime(2017, 11, 13, 9, 0, tzinfo=EXCHANGE_TZ).timestamp()) * 1_000_000_000
"""Default virtual clock origin: 2017-11-13 09:00 Asia/Shanghai, UNIX ns."""

GRID_ALIASES = {"INE": "SHFE", "SSE": "SHFE", "SZSE": "SHFE", "GFEX": "DCE"}
"""Exchanges absent from the recorded day stamp like these (INE is SHFE's; SSE options 500 ms)."""

_SECOND_NS = 1_000_000_000
_BUCKET_MS = 50


def _template(symbol: str, exchange: str, product_class: str, tick: float, multiplier: float) -> InstrumentRef:
    product = derive_product(symbol) if product_class != OPTIONS else f"{derive_product(symbol)}_o"
    return InstrumentRef(symbol, exchange, product, product_class, tick, multiplier, symbol)


DEFAULT_TEMPLATES: tuple[InstrumentRef, ...] = (
    _template("rb1801", "SHFE", "F", 1.0, 10),
    _template("cu1801", "SHFE", "F", 10.0, 5),
    _template("au1712", "SHFE", "F", 0.05, 1000),
    _template("ru1801", "SHFE", "F", 5.0, 10),
    _template("sc1809", "INE", "F", 0.1, 1000),
    _template("m1801", "DCE", "F", 1.0, 10),
    _template("i1801", "DCE", "F", 0.5, 100),
    _template("SR801", "CZCE", "F", 1.0, 10),
    _template("CF801", "CZCE", "F", 5.0, 5),
    _template("TA801", "CZCE", "F", 2.0, 5),
    _template("IF1711", "CFFEX", "F", 0.2, 300),
    _template("IC1711", "CFFEX", "F", 0.2, 200),
    _template("T1712", "CFFEX", "F", 0.005, 10000),
    _template("m1801-C-2800", "DCE", "O", 0.5, 10),
    _template("SR801C6400", "CZCE", "O", 0.5, 10),
)
"""Templates used when no instruments file is given (tick sizes as in the 2017 CTP file)."""


@dataclass(frozen=True)
class Burst:
    """A scheduled burst: the rate × ``factor`` from ``at_s`` for ``duration_s`` virtual seconds."""

    at_s: float
    duration_s: float
    factor: float = 10.0


class TickColumns(NamedTuple):
    """One virtual second of ticks as columns (struct-of-arrays), in time order.

    Attributes:
        indexes: int64[n], contract index into :attr:`SyntheticMarket.instruments`.
        ts_ns: int64[n], exchange time, UNIX ns.
        last, bid, ask: float64[n], quote currency, on each contract's tick grid.
        bid_volume, ask_volume: int64[n], lots.
        volume: int64[n], cumulative traded volume of the day, lots.
        open_interest: int64[n], lots.
    """

    indexes: np.ndarray
    ts_ns: np.ndarray
    last: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_volume: np.ndarray
    ask_volume: np.ndarray
    volume: np.ndarray
    open_interest: np.ndarray


def _grouped_cumsum(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Running sums of ``values`` per key, in the original order.

    Returns:
        ``(running, last_keys, last_totals)``: ``running[i]`` is the sum of
        ``values[j]`` for ``j <= i`` with ``keys[j] == keys[i]``; ``last_keys``
        are the distinct keys and ``last_totals`` their totals.
    """
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    sorted_values = values[order]
    total = np.cumsum(sorted_values)
    boundary = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    starts = np.flatnonzero(boundary)
    group = np.cumsum(boundary) - 1
    running_sorted = total - (total[starts] - sorted_values[starts])[group]
    running = np.empty_like(running_sorted)
    running[order] = running_sorted
    ends = np.r_[starts[1:] - 1, len(keys) - 1]
    return running, sorted_keys[ends], running_sorted[ends]


class SyntheticMarket:
    """A reproducible synthetic market of ``contracts`` instruments.

    Args:
        contracts: number of contracts, >= 1.
        rate_per_s: long-run mean tick rate on the virtual clock, ticks per second (> 0).
        seed: random seed; the same seed and arguments give the same ticks.
        templates: instruments to build from (default :data:`DEFAULT_TEMPLATES`).
        start_ns: virtual clock origin, UNIX timestamp (nanoseconds).
        peak_per_s: highest rate outside bursts, ticks per second (default
            2 × ``rate_per_s``, the desk's 4,000 at 2,000); ``<= rate_per_s``
            gives a flat rate.
        bursts: scheduled bursts, virtual seconds from ``start_ns``.
        mix: shares of futures, futures options and stock options.
        calibration: the recorded day's figures.

    Attributes:
        instruments: the contracts, ``tuple[InstrumentRef]`` of length ``contracts``.
        weights: activity weights, ``float64[contracts]``, summing to 1.
        universe: the :class:`sim.universe.Universe` (limits, settlements).

    Raises:
        ValueError: an argument is out of range or ``templates`` is empty.
    """

    def __init__(
        self,
        contracts: int = 2000,
        rate_per_s: float = 2000.0,
        seed: int = 7,
        templates: Sequence[InstrumentRef] | None = None,
        start_ns: int = DEFAULT_START_NS,
        peak_per_s: float | None = None,
        bursts: Sequence[Burst] = (),
        mix: Mix | None = None,
        calibration: Calibration = DAY_20171113,
    ) -> None:
        templates = tuple(templates) if templates is not None else DEFAULT_TEMPLATES
        if contracts < 1 or not rate_per_s > 0 or not templates:
            raise ValueError(
                f"need contracts >= 1, rate_per_s > 0 and templates; "
                f"got {contracts}, {rate_per_s}, {len(templates)} templates"
            )
        self.rate_per_s = float(rate_per_s)
        self.peak_per_s = float(peak_per_s) if peak_per_s is not None else 2.0 * self.rate_per_s
        self.seed = seed
        self.start_ns = start_ns
        self.bursts = tuple(bursts)
        self.calibration = calibration
        as_of = dt.datetime.fromtimestamp(start_ns / 1e9, EXCHANGE_TZ).date()
        self.universe = build_universe(templates, contracts, seed, mix, as_of, calibration)
        self.instruments = self.universe.refs
        self.weights = self.universe.weights
        self._setup_stamps()
        quantiles = np.array(calibration.second_rate_quantiles or (1.0,) * len(QUANTILE_PROBABILITIES))
        cap = self.peak_per_s / self.rate_per_s
        fine = np.interp((np.arange(10_000) + 0.5) / 10_000, QUANTILE_PROBABILITIES, quantiles)
        self._flat = cap <= 1.0
        self._rate_quantiles = quantiles
        self._cap = cap
        self._norm = float(np.minimum(fine, cap).mean())

    def _setup_stamps(self) -> None:
        """Per contract: its exchange's grid phases (ms), or -1 for an irregular exchange."""
        calibration = self.calibration
        phases = np.full((len(self.instruments), 2), -1, dtype=np.int64)
        for i, ref in enumerate(self.instruments):
            grid = calibration.grid_phases_ms.get(GRID_ALIASES.get(ref.exchange, ref.exchange))
            if grid:
                phases[i] = (grid[0], grid[-1])
        self._phases = phases
        weights = next(iter(calibration.irregular_ms_weights.values()), (1.0,) * (1000 // _BUCKET_MS))
        self._bucket_cdf = np.cumsum(weights) / np.sum(weights)

    def _multipliers(self, rng: np.random.Generator) -> Iterator[float]:
        """Per-second rate multipliers: AR(1) Gaussian → calibrated quantile, capped, mean 1."""
        if self._flat:
            while True:
                yield 1.0
        phi = min(max(self.calibration.second_rate_autocorrelation, 0.0), 0.99)
        cdf = NormalDist().cdf
        z = 0.0
        innovation = (1.0 - phi * phi) ** 0.5
        while True:
            z = phi * z + innovation * float(rng.standard_normal())
            level = float(np.interp(cdf(z), QUANTILE_PROBABILITIES, self._rate_quantiles))
            yield min(level, self._cap) / self._norm

    def columns(self) -> Iterator[TickColumns]:
        """Yield one :class:`TickColumns` per virtual second, endlessly, from the seed on each call."""
        rng = np.random.default_rng([self.seed, 1])
        universe = self.universe
        n_contracts = len(self.instruments)
        cdf = np.cumsum(universe.weights)
        cdf /= cdf[-1]
        is_option = universe.is_option
        price_ticks = universe.price_ticks
        lower, upper = universe.lower_ticks, universe.upper_ticks
        step_cdf = {c: np.cumsum(self.calibration.step_probabilities.get(c, (0, 0, 0.3, 0.4, 0.3, 0, 0)))
                    for c in "FO"}
        spread_cdf = {c: np.cumsum(self.calibration.spread_probabilities.get(c, (1.0,))) for c in "FO"}
        setup = np.random.default_rng([self.seed, 2])
        levels = setup.integers(np.maximum(universe.settle_ticks - 5, lower), np.minimum(
            universe.settle_ticks + 6, upper))
        volumes = setup.integers(0, 50_000, n_contracts)
        open_interest = setup.integers(100, 200_000, n_contracts)
        multipliers = self._multipliers(rng)
        second = 0
        while True:
            rate = self.rate_per_s * next(multipliers)
            for burst in self.bursts:
                if burst.at_s <= second < burst.at_s + burst.duration_s:
                    rate *= burst.factor
            n = int(rng.poisson(rate))
            index = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), n_contracts - 1)
            offsets_ms = self._offsets_ms(index, rng)
            order = np.argsort(offsets_ms, kind="stable")
            index, offsets_ms = index[order], offsets_ms[order]
            option = is_option[index]
            u = rng.random(n)
            moves = np.where(option, np.searchsorted(step_cdf["O"], u * step_cdf["O"][-1], side="right"),
                             np.searchsorted(step_cdf["F"], u * step_cdf["F"][-1], side="right")) - STEP_RANGE_TICKS
            u = rng.random(n)
            spread = 1 + np.where(option, np.searchsorted(spread_cdf["O"], u * spread_cdf["O"][-1], side="right"),
                                  np.searchsorted(spread_cdf["F"], u * spread_cdf["F"][-1], side="right"))
            top = upper[index]
            spread = np.maximum(np.minimum(spread, top - lower[index]), 1)
            walk, touched, moved = _grouped_cumsum(index, moves)
            bid_ticks = np.clip(levels[index] + walk, lower[index], np.maximum(top - spread, lower[index]))
            levels[touched] = np.clip(levels[touched] + moved, lower[touched], upper[touched] - 1)
            traded, touched, added = _grouped_cumsum(index, rng.geometric(0.3, n))
            volume = volumes[index] + traded
            volumes[touched] += added
            churn, touched, net = _grouped_cumsum(index, rng.integers(-3, 4, n))
            oi = np.maximum(open_interest[index] + churn, 0)
            open_interest[touched] = np.maximum(open_interest[touched] + net, 0)
            tick = price_ticks[index]
            last_ticks = bid_ticks + spread * rng.integers(0, 2, n)
            yield TickColumns(
                index,
                self.start_ns + second * _SECOND_NS + offsets_ms * 1_000_000,
                np.round(last_ticks * tick, 8),
                np.round(bid_ticks * tick, 8),
                np.round((bid_ticks + spread) * tick, 8),
                rng.integers(1, 200, n),
                rng.integers(1, 200, n),
                volume,
                oi,
            )
            second += 1

    def _offsets_ms(self, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Millisecond of the second of each tick, by its contract's exchange style."""
        n = len(index)
        phases = self._phases[index]
        pick = rng.integers(0, 2, n)
        on_grid = phases[np.arange(n), pick]
        bucket = np.minimum(np.searchsorted(self._bucket_cdf, rng.random(n), side="right"), len(self._bucket_cdf) - 1)
        irregular = bucket * _BUCKET_MS + rng.integers(0, _BUCKET_MS, n)
        return np.where(on_grid >= 0, on_grid, irregular)

    def ticks(self) -> Iterator[ReplayTick]:
        """Yield the synthetic ticks, endlessly, starting over from the seed on each call.

        Yields:
            :class:`ReplayTick` rows of :meth:`columns`: ``ts_ns`` from the
            virtual clock, prices on each contract's tick grid within its
            limits, ``bid < ask``, ``last`` at bid or ask, cumulative
            ``volume`` rising per contract; ``depth`` a simple book
            (:meth:`depth_of`).
        """
        symbols = [ref.symbol for ref in self.instruments]
        exchanges = [ref.exchange for ref in self.instruments]
        products = [ref.product for ref in self.instruments]
        classes = [ref.product_class for ref in self.instruments]
        new_tick = ReplayTick._make
        rng = np.random.default_rng([self.seed, 3])
        for batch in self.columns():
            depth = self.depth_of(batch, rng).tolist()
            for (i, ts_ns, last, bid, ask, bid_volume, ask_volume, vol, interest), levels in zip(
                zip(*(column.tolist() for column in batch), strict=True), depth, strict=True
            ):
                yield new_tick(
                    (
                        symbols[i], exchanges[i], products[i], classes[i], ts_ns,
                        last, bid, ask, bid_volume, ask_volume, vol, interest, True, tuple(levels),
                    )
                )  # fmt: skip

    def depth_of(self, batch: TickColumns, rng: np.random.Generator) -> np.ndarray:
        """Return levels 2..5 of each tick of ``batch``: a simple book one price tick apart.

        Bid level k is ``bid - (k - 1)`` price ticks and ask level k ``ask + (k - 1)``,
        each volume uniform in 1..199 lots from ``rng``; a level beyond the contract's
        price limits is 0 (no level, as vn.py leaves it).

        Returns:
            float64[n, 16]: per tick ``bid_price_2..5, bid_volume_2..5, ask_price_2..5,
            ask_volume_2..5`` (:data:`sim.replay.DEPTH_FIELDS` order), quote currency and lots.
        """
        universe = self.universe
        index = batch.indexes
        n = len(index)
        tick = universe.price_ticks[index][:, None]
        steps = np.arange(1, 5, dtype=np.float64)[None, :]
        bids = np.round(batch.bid[:, None] - steps * tick, 8)
        asks = np.round(batch.ask[:, None] + steps * tick, 8)
        bids[bids < np.round(universe.lower_ticks[index] * tick[:, 0], 8)[:, None] - 1e-9] = 0.0
        asks[asks > np.round(universe.upper_ticks[index] * tick[:, 0], 8)[:, None] + 1e-9] = 0.0
        volumes = rng.integers(1, 200, (n, 8)).astype(np.float64)
        bid_volumes = np.where(bids > 0, volumes[:, :4], 0.0)
        ask_volumes = np.where(asks > 0, volumes[:, 4:], 0.0)
        return np.concatenate([bids, bid_volumes, asks, ask_volumes], axis=1)


__all__ = [
    "DEFAULT_START_NS", "DEFAULT_TEMPLATES", "GRID_ALIASES", "Burst", "SyntheticMarket", "TickColumns",
    "variant_symbol",
]  # fmt: skip
