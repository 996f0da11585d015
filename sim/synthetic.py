"""A seeded synthetic Level-1 market: many contracts, heavy-tailed activity.

Contracts are cloned from instrument templates (product, exchange, tick size,
multiplier): the first copy keeps the template's symbol, later copies get a
variant suffix (``rb1801``, ``rb1801x01``, ``rb1801x02`` ...). Each contract
gets an activity weight from lognormal quantiles (sigma 1.28 puts half the
weight on the busiest 10 %, like the recorded day in ../shared/data, 48 %).
Ticks arrive as a Poisson stream at ``rate_per_s`` on a virtual clock; each
tick moves its contract's bid by -1, 0 or +1 tick, keeps the ask one tick
above, trades at bid or ask, and adds at least one lot to the cumulative
volume. Generation is vectorized in chunks; the same seed gives the same
sequence, every time :meth:`SyntheticMarket.ticks` is called.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from statistics import NormalDist

import numpy as np

from sim.instruments import OPTIONS, InstrumentRef, derive_product, parse_option
from sim.replay import EXCHANGE_TZ, ReplayTick

DEFAULT_START_NS = int(dt.datetime(2017, 11, 13, 9, 0, tzinfo=EXCHANGE_TZ).timestamp()) * 1_000_000_000
"""Default virtual clock origin: 2017-11-13 09:00 Asia/Shanghai, UNIX ns."""

ACTIVITY_SIGMA = 1.28
"""Lognormal sigma of activity weights; the top 10 % share is Phi(sigma - 1.2816) = 0.5."""


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

_TYPICAL_PRICES = {
    "CF": 15200, "CY": 23500, "FG": 1450, "IC": 6500, "IF": 4050, "IH": 2850, "MA": 2750, "OI": 6600,
    "RM": 2300, "SF": 5900, "SM": 7500, "SR": 6500, "T": 94, "TA": 5500, "TF": 97, "WH": 2600, "ZC": 640,
    "a": 3800, "ag": 3900, "al": 15500, "au": 280, "b": 3600, "bb": 110, "bu": 2400, "c": 1750, "cs": 2000,
    "cu": 53000, "fb": 75, "hc": 4100, "i": 480, "j": 1900, "jd": 4000, "jm": 1300, "l": 9700, "m": 2800,
    "ni": 90000, "p": 5500, "pb": 19000, "pp": 8700, "rb": 3800, "ru": 14000, "sc": 400, "sn": 143000,
    "v": 6500, "y": 6000, "zn": 25000,
}  # fmt: skip
"""Rough futures price levels of November 2017 by product, quote currency, to start the walks."""

_STEPS = np.array([-1, 0, 1], dtype=np.int64)
_STEP_P = np.array([0.3, 0.4, 0.3])


def variant_symbol(symbol: str, copy: int) -> str:
    """Return the symbol of the ``copy``-th clone of a template (copy 0 keeps the symbol).

    Args:
        symbol: template symbol, ``"rb1801"``.
        copy: 0, 1, 2, ...

    Returns:
        ``"rb1801"`` for copy 0, else ``"rb1801x07"`` (at least two digits).
    """
    return symbol if copy == 0 else f"{symbol}x{copy:02d}"


def _grouped_cumsum(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Running sums of ``values`` per key, in the original order.

    Returns:
        ``(running, last_keys, last_totals)``: ``running[i]`` is the sum of
        ``values[j]`` for ``j <= i`` with ``keys[j] == keys[i]``; ``last_keys``
        are the distinct keys and ``last_totals`` their chunk totals.
    """
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    sorted_values = values[order]
    total = np.cumsum(sorted_values)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    group = np.cumsum(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) - 1
    before = total[starts] - sorted_values[starts]
    running_sorted = total - before[group]
    running = np.empty_like(running_sorted)
    running[order] = running_sorted
    ends = np.r_[starts[1:] - 1, len(keys) - 1]
    return running, sorted_keys[ends], running_sorted[ends]


class SyntheticMarket:
    """A reproducible synthetic market of ``contracts`` instruments.

    Args:
        contracts: number of contracts, >= 1.
        rate_per_s: mean tick rate on the virtual clock, ticks per second (> 0).
        seed: random seed; the same seed and arguments give the same ticks.
        templates: instruments to clone (default :data:`DEFAULT_TEMPLATES`).
        start_ns: virtual clock origin, UNIX timestamp (nanoseconds).
        chunk_size: ticks generated per numpy batch.

    Attributes:
        instruments: the synthetic contracts, ``tuple[InstrumentRef]`` of length ``contracts``.
        weights: activity weights, ``float64[contracts]``, summing to 1.

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
        chunk_size: int = 1000,
    ) -> None:
        templates = tuple(templates) if templates is not None else DEFAULT_TEMPLATES
        if contracts < 1 or rate_per_s <= 0 or chunk_size < 1 or not templates:
            raise ValueError(
                f"need contracts >= 1, rate_per_s > 0, chunk_size >= 1 and templates; "
                f"got {contracts}, {rate_per_s}, {chunk_size}, {len(templates)} templates"
            )
        self.rate_per_s = float(rate_per_s)
        self.seed = seed
        self.start_ns = start_ns
        self.chunk_size = chunk_size
        setup = np.random.default_rng([seed, 0])
        parents = [templates[i % len(templates)] for i in range(contracts)]
        self.instruments = tuple(_clone(parent, i // len(templates)) for i, parent in enumerate(parents))
        quantiles = NormalDist().inv_cdf
        raw = np.exp(ACTIVITY_SIGMA * np.array([quantiles((i + 0.5) / contracts) for i in range(contracts)]))
        self.weights = setup.permutation(raw / raw.sum())
        self._start_levels = np.array([_start_level(parent, setup) for parent in parents], dtype=np.int64)
        self._start_volumes = setup.integers(0, 50_000, contracts)
        self._start_oi = setup.integers(100, 200_000, contracts)

    def ticks(self) -> Iterator[ReplayTick]:
        """Yield the synthetic ticks, endlessly, starting over from the seed on each call.

        Yields:
            :class:`ReplayTick` rows with ``ts_ns`` from the virtual clock,
            prices on each contract's tick grid, ``bid + price_tick == ask``,
            ``last`` at bid or ask, cumulative ``volume`` non-decreasing per contract.
        """
        rng = np.random.default_rng([self.seed, 1])
        cdf = np.cumsum(self.weights)
        last_index = len(self.instruments) - 1
        symbols = [ref.symbol for ref in self.instruments]
        exchanges = [ref.exchange for ref in self.instruments]
        products = [ref.product for ref in self.instruments]
        classes = [ref.product_class for ref in self.instruments]
        ticks_of = np.array([ref.price_tick for ref in self.instruments])
        levels = self._start_levels.copy()
        volumes = self._start_volumes.copy()
        open_interest = self._start_oi.copy()
        clock_ns = np.int64(self.start_ns)
        mean_gap_ns = 1e9 / self.rate_per_s
        n = self.chunk_size
        new_tick = ReplayTick._make
        while True:
            index = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), last_index)
            stamps = clock_ns + np.cumsum(rng.exponential(mean_gap_ns, n).astype(np.int64))
            clock_ns = stamps[-1]

            walk, touched, moved = _grouped_cumsum(index, rng.choice(_STEPS, n, p=_STEP_P))
            bid_ticks = np.maximum(levels[index] + walk, 1)
            levels[touched] = np.maximum(levels[touched] + moved, 1)
            traded, touched, added = _grouped_cumsum(index, rng.geometric(0.3, n))
            volume = volumes[index] + traded
            volumes[touched] += added
            churn, touched, net = _grouped_cumsum(index, rng.integers(-3, 4, n))
            oi = np.maximum(open_interest[index] + churn, 0)
            open_interest[touched] = np.maximum(open_interest[touched] + net, 0)

            tick = ticks_of[index]
            last_ticks = bid_ticks + rng.integers(0, 2, n)
            columns = (
                np.round(last_ticks * tick, 8).tolist(),
                np.round(bid_ticks * tick, 8).tolist(),
                np.round((bid_ticks + 1) * tick, 8).tolist(),
                rng.integers(1, 200, n).tolist(),
                rng.integers(1, 200, n).tolist(),
                volume.tolist(),
                oi.tolist(),
            )
            for i, ts_ns, last, bid, ask, bid_volume, ask_volume, vol, interest in zip(
                index.tolist(), stamps.tolist(), *columns, strict=True
            ):
                yield new_tick(
                    (
                        symbols[i], exchanges[i], products[i], classes[i], ts_ns,
                        last, bid, ask, bid_volume, ask_volume, vol, interest, True,
                    )
                )  # fmt: skip


def _clone(template: InstrumentRef, copy: int) -> InstrumentRef:
    """Return the ``copy``-th synthetic contract cloned from a template."""
    symbol = variant_symbol(template.symbol, copy)
    name = template.name if copy == 0 else f"{template.name} x{copy:02d}"
    return InstrumentRef(
        symbol,
        template.exchange,
        template.product,
        template.product_class,
        template.price_tick,
        template.multiplier,
        name,
        template.expiry,
    )


def _start_level(ref: InstrumentRef, rng: np.random.Generator) -> int:
    """Pick a starting bid for a contract cloned from template ``ref``, in ticks (>= 1)."""
    terms = parse_option(ref.symbol)
    if ref.product_class == OPTIONS and terms is not None:
        price = terms.strike * rng.uniform(0.005, 0.08)
    else:
        typical = _TYPICAL_PRICES.get(ref.product) or _TYPICAL_PRICES.get(derive_product(ref.symbol)) or ref.price_tick * rng.integers(1000, 5000)
        price = typical * rng.lognormal(0.0, 0.05)
    return max(int(round(price / ref.price_tick)), 1)


__all__ = ["ACTIVITY_SIGMA", "DEFAULT_START_NS", "DEFAULT_TEMPLATES", "SyntheticMarket", "variant_symbol"]
