"""The synthetic market's contracts: futures, futures-option chains and stock options.

:func:`build_universe` turns instrument templates (the CTP instruments file,
or :data:`sim.synthetic.DEFAULT_TEMPLATES`) into a desk-sized set of
contracts with what the tick generator needs per contract: a settlement
price, daily price limits and an activity weight.

- **Futures** are the templates' futures, every product in turn, then clones
  (``rb1801x01``) when more are asked for than the templates hold.
- **Futures options** are chains on the templates' real futures: strikes
  around the settlement × both rights, one expiry per underlying month, with
  the exchange's symbol style (DCE/CFFEX ``m1801-C-2800``, SHFE/CZCE/INE
  ``SR801C6400``), the underlying's multiplier and the tick and product id of
  the file's own options of that product when it has some. Premiums are
  Black-76 at 20 % volatility; far strikes are trimmed first.
- **Stock options** are SSE ETF option chains (50ETF, 300ETF, 500ETF;
  8-digit codes, tick 0.0001, 10,000 shares per lot).

Price limits are a share of the settlement (:data:`LIMIT_RATIOS`,
approximately the exchanges' November 2017 rules, 5 % otherwise; the recorded
data carries none); an option's limit amount is its underlying's.
Activity: futures draw ticks-per-day from the recorded day's futures
quantiles, options from its options quantiles (sim/calibration.py,
stratified so the quantiles are met exactly); within a chain near-the-money,
near-expiry options get the larger draws, as on the recorded day.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sim.calibration import DAY_20171113, QUANTILE_PROBABILITIES, Calibration
from sim.instruments import FUTURES, OPTIONS, InstrumentRef, derive_product
from sim.margins import (
    futures_margin_ratio,
    futures_option_short_margin_per_unit,
    short_ratio,
    sse_short_margin_per_unit,
)

LIMIT_RATIOS: dict[str, float] = {
    "IF": 0.10, "IC": 0.10, "IH": 0.10, "T": 0.02, "TF": 0.012, "au": 0.05, "ag": 0.06, "cu": 0.05,
    "al": 0.05, "zn": 0.06, "ni": 0.06, "rb": 0.06, "hc": 0.06, "ru": 0.07, "i": 0.07, "j": 0.07,
    "jm": 0.07, "sc": 0.05, "510050": 0.10, "510300": 0.10, "510500": 0.10,
}  # fmt: skip
"""Daily price limit as a share of the settlement by product (approximate, 2017); others 5 %."""

DEFAULT_LIMIT_RATIO = 0.05

TYPICAL_PRICES: dict[str, float] = {
    "CF": 15200, "CY": 23500, "FG": 1450, "IC": 6500, "IF": 4050, "IH": 2850, "MA": 2750, "OI": 6600,
    "RM": 2300, "SF": 5900, "SM": 7500, "SR": 6500, "T": 94, "TA": 5500, "TF": 97, "WH": 2600, "ZC": 640,
    "a": 3800, "ag": 3900, "al": 15500, "au": 280, "b": 3600, "bb": 110, "bu": 2400, "c": 1750, "cs": 2000,
    "cu": 53000, "fb": 75, "hc": 4100, "i": 480, "j": 1900, "jd": 4000, "jm": 1300, "l": 9700, "m": 2800,
    "ni": 90000, "p": 5500, "pb": 19000, "pp": 8700, "rb": 3800, "ru": 14000, "sc": 400, "sn": 143000,
    "v": 6500, "y": 6000, "zn": 25000,
}  # fmt: skip
"""Rough futures price levels of November 2017 by product, quote currency."""

ETF_UNDERLYINGS: tuple[tuple[str, str, float], ...] = (
    ("510050", "50ETF", 2.90), ("510300", "300ETF", 4.05), ("510500", "500ETF", 6.30),
)
"""SSE ETFs whose option chains stand for the desk's stock options: code, name, price (CNY)."""

ETF_EXPIRIES = (dt.date(2017, 11, 22), dt.date(2017, 12, 27), dt.date(2018, 3, 28), dt.date(2018, 6, 27))
"""SSE option expiries (fourth Wednesday) of the four listed months as of 2017-11-13."""

VOLATILITY = 0.20
"""Implied volatility of every synthetic option premium (Black-76), per year."""


@dataclass(frozen=True)
class Mix:
    """Shares of the universe by kind; normalized, so only their ratios matter."""

    futures: float = 0.05
    futures_options: float = 0.80
    stock_options: float = 0.15


@dataclass(frozen=True)
class Universe:
    """The contracts of a synthetic market and their per-contract figures.

    Attributes:
        refs: the contracts, ``tuple[InstrumentRef]`` of length n.
        is_option: bool[n].
        price_ticks: float64[n], quote currency.
        settle_ticks: int64[n], settlement (start) price in ticks.
        lower_ticks: int64[n], lowest allowed price in ticks (>= 1).
        upper_ticks: int64[n], highest allowed price in ticks.
        weights: float64[n], share of all ticks, summing to 1.
    """

    refs: tuple[InstrumentRef, ...]
    is_option: np.ndarray
    price_ticks: np.ndarray
    settle_ticks: np.ndarray
    lower_ticks: np.ndarray
    upper_ticks: np.ndarray
    weights: np.ndarray


@dataclass
class _Row:
    ref: InstrumentRef
    settle: float   # quote currency
    limit: float    # limit amount, quote currency
    score: float = 0.0  # options: liveliness rank key (higher: busier)


def nice_step(value: float) -> float:
    """Return the 1-2-2.5-5 × 10^k number nearest ``value`` (> 0), as exchanges space strikes."""
    exponent = math.floor(math.log10(value))
    candidates = [m * 10.0**e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 2.5, 5)]
    return min(candidates, key=lambda c: abs(math.log(c / value)))


def black76(forward: float, strike: float, years: float, right: str, sigma: float = VOLATILITY) -> float:
    """Return a Black-76 option premium (undiscounted), quote currency."""
    spread = sigma * math.sqrt(years)
    d1 = (math.log(forward / strike) + spread * spread / 2) / spread
    d2 = d1 - spread
    cdf = lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))  # noqa: E731
    if right == "C":
        return forward * cdf(d1) - strike * cdf(d2)
    return strike * cdf(-d2) - forward * cdf(-d1)


def expiry_of(ref: InstrumentRef) -> dt.date:
    """Return a contract's expiry: the file's, or the 15th of the month its symbol names."""
    if ref.expiry is not None:
        return ref.expiry
    digits = ref.symbol[len(derive_product(ref.symbol)):][:4]
    digits = digits if len(digits) == 4 and digits.isdigit() else "1" + digits[:3]
    year, month = 2000 + int(digits[:2]), int(digits[2:4]) if digits[2:4].isdigit() else 1
    return dt.date(year, min(max(month, 1), 12), 15)


def _quantile_draws(table: Sequence[float], n: int) -> np.ndarray:
    """Stratified draws of a quantile table (ratios to the mean), log-linear between points."""
    if n == 0:
        return np.zeros(0)
    u = (np.arange(n) + 0.5) / n
    return np.exp(np.interp(u, QUANTILE_PROBABILITIES, np.log(np.maximum(table, 1e-9))))


def variant_symbol(symbol: str, copy: int) -> str:
    """Return the symbol of the ``copy``-th clone of a template (copy 0 keeps the symbol).

    Args:
        symbol: template symbol, ``"rb1801"``.
        copy: 0, 1, 2, ...

    Returns:
        ``"rb1801"`` for copy 0, else ``"rb1801x07"`` (at least two digits).
    """
    return symbol if copy == 0 else f"{symbol}x{copy:02d}"


def _strikes(center: float, step: float, count: int) -> list[float]:
    """Return ``count`` positive strikes nearest ``center``, nearest first (quote currency)."""
    strikes: list[float] = []
    k = 0
    while len(strikes) < count:
        for offset in ((0,) if k == 0 else (k, -k)):
            strike = round(center + offset * step, 6)
            if strike > 0 and len(strikes) < count:
                strikes.append(strike)
        k += 1
    return strikes


def _futures(templates: Sequence[InstrumentRef], count: int, rng: np.random.Generator) -> list[_Row]:
    real = sorted((t for t in templates if t.product_class == FUTURES), key=lambda t: (t.product, t.symbol))
    by_product: dict[str, list[InstrumentRef]] = {}
    for ref in real:
        by_product.setdefault(ref.product, []).append(ref)
    ordered = [group[i] for i in range(max(map(len, by_product.values()), default=0))
               for group in by_product.values() if i < len(group)]
    if not ordered:
        return []
    levels = {p: TYPICAL_PRICES.get(p, 0.0) * rng.lognormal(0.0, 0.05) for p in by_product}
    rows = []
    for i in range(count):
        template = ordered[i % len(ordered)]
        copy = i // len(ordered)
        ref = template if copy == 0 else replace(template, symbol=variant_symbol(template.symbol, copy),
                                                  name=f"{template.name} x{copy:02d}")
        level = levels[template.product] or template.price_tick * rng.integers(1000, 5000)
        settle = max(round(level * rng.lognormal(0.0, 0.01) / ref.price_tick), 1) * ref.price_tick
        rows.append(_Row(ref, settle, settle * LIMIT_RATIOS.get(template.product, DEFAULT_LIMIT_RATIO)))
    return rows


def _option_symbol(underlying: str, exchange: str, right: str, strike: float) -> str:
    text = f"{strike:g}"
    return f"{underlying}-{right}-{text}" if exchange in ("DCE", "CFFEX") else f"{underlying}{right}{text}"


def _futures_options(templates: Sequence[InstrumentRef], underlyings: list[_Row], count: int,
                     as_of: dt.date, rng: np.random.Generator) -> list[_Row]:
    if count == 0 or not underlyings:
        return []
    file_options = [t for t in templates if t.product_class == OPTIONS]
    style: dict[tuple[str, str], InstrumentRef] = {}
    for option in file_options:
        symbol = option.symbol
        right = "C" if ("-C-" in symbol or "C" in symbol[len(derive_product(symbol)):]) else "P"
        style.setdefault((derive_product(symbol), right), option)
    listed = [row for row in underlyings if expiry_of(row.ref) - dt.timedelta(days=30) > as_of]
    listed = listed or underlyings
    per_side = math.ceil(count / (2 * len(listed)))
    candidates = []
    for row in listed:
        future = row.ref
        expiry = max(expiry_of(future) - dt.timedelta(days=30), as_of + dt.timedelta(days=7))
        years = (expiry - as_of).days / 365.0
        step = nice_step(row.settle * 0.02)
        center = round(row.settle / step) * step
        for right in ("C", "P"):
            known = style.get((future.product, right))
            tick = known.price_tick if known else future.price_tick
            product = known.product if known else f"{future.product}_o"
            for rank, strike in enumerate(_strikes(center, step, per_side)):
                premium = max(round(black76(row.settle, strike, years, right) / tick), 1) * tick
                symbol = _option_symbol(future.symbol, future.exchange, right, strike)
                ref = InstrumentRef(symbol, future.exchange, product, OPTIONS, tick, future.multiplier,
                                    symbol, expiry, strike, right, future.symbol)
                distance = abs(math.log(strike / row.settle)) / (VOLATILITY * math.sqrt(years))
                candidates.append((rank, _Row(ref, premium, row.limit,
                                              score=-distance - 0.5 * years + rng.normal(0, 0.3))))
    candidates.sort(key=lambda c: c[0])
    return [row for _, row in candidates[:count]]


def _stock_options(count: int, as_of: dt.date, rng: np.random.Generator) -> list[_Row]:
    candidates = []
    for code, name, price in ETF_UNDERLYINGS:
        step = 0.05 if price < 3 else 0.1 if price < 5 else 0.25
        center = round(price / step) * step
        per_chain = math.ceil(count / (2 * len(ETF_UNDERLYINGS) * len(ETF_EXPIRIES))) + 1
        for expiry in ETF_EXPIRIES:
            years = max((expiry - as_of).days, 7) / 365.0
            for right in ("C", "P"):
                for rank, strike in enumerate(_strikes(center, step, per_chain)):
                    premium = max(round(black76(price, strike, years, right) / 0.0001), 1) * 0.0001
                    label = f"{name} {'call' if right == 'C' else 'put'} {expiry:%y%m} {strike:.3f}"
                    distance = abs(math.log(strike / price)) / (VOLATILITY * math.sqrt(years))
                    candidates.append((rank, code, _Row(
                        InstrumentRef("", "SSE", f"{code}_o", OPTIONS, 0.0001, 10000.0, label, expiry,
                                      strike, right, code),
                        premium, price * LIMIT_RATIOS[code],
                        score=-distance - 0.5 * years + rng.normal(0, 0.3))))
    candidates.sort(key=lambda c: c[0])
    rows = [row for _, _, row in candidates[:count]]
    for i, row in enumerate(rows):
        row.ref = replace(row.ref, symbol=f"{10001000 + i}")
    return rows


def split_counts(contracts: int, mix: Mix, has_futures: bool) -> tuple[int, int, int]:
    """Return (futures, futures options, stock options) counts summing to ``contracts`` (>= 1 future)."""
    shares = np.array([mix.futures, mix.futures_options, mix.stock_options], dtype=np.float64)
    if not has_futures:
        shares[:2] = 0.0
    if shares.sum() <= 0:
        raise ValueError(f"mix has no positive share usable with these templates: {mix}")
    raw = shares / shares.sum() * contracts
    counts = np.floor(raw).astype(int)
    counts[np.argmax(raw - counts)] += contracts - counts.sum()
    if has_futures and counts[0] == 0:
        largest = int(np.argmax(counts))
        counts[largest] -= 1
        counts[0] = 1
    return int(counts[0]), int(counts[1]), int(counts[2])


def _set_margins(rows: list[_Row], futures: dict[str, _Row], etf_prices: dict[str, float]) -> None:
    """Give each row's instrument its margin ratios where the template had none (sim/margins.py).

    Futures: the product's ratio. Options: none long (the buyer paid the premium); short, the exchange's
    seller rule at the listing prices (the row's premium and its underlying's price) as a ratio of the premium.
    """
    for row in rows:
        ref = row.ref
        if ref.long_margin_ratio or ref.short_margin_ratio:
            continue
        if ref.product_class != OPTIONS:
            ratio = futures_margin_ratio(ref.product)
            row.ref = replace(ref, long_margin_ratio=ratio, short_margin_ratio=ratio)
            continue
        premium = row.settle
        if ref.exchange == "SSE" and ref.option_underlying in etf_prices:
            per_unit = sse_short_margin_per_unit(ref.option_right, premium, etf_prices[ref.option_underlying],
                                                 ref.option_strike)
        elif ref.option_underlying in futures:
            future = futures[ref.option_underlying]
            per_unit = futures_option_short_margin_per_unit(ref.option_right, premium, future.settle,
                                                            ref.option_strike, future.ref.long_margin_ratio)
        else:
            continue
        row.ref = replace(ref, long_margin_ratio=0.0, short_margin_ratio=short_ratio(per_unit, premium))


def build_universe(templates: Sequence[InstrumentRef], contracts: int, seed: int, mix: Mix | None = None,
                   as_of: dt.date = dt.date(2017, 11, 13), calibration: Calibration = DAY_20171113) -> Universe:
    """Build ``contracts`` contracts from templates, deterministically for a seed.

    Args:
        templates: reference data to copy (futures are required for futures
            and futures options; without any, everything is stock options).
        contracts: how many contracts, >= 1.
        seed: random seed (prices, permutation of activity).
        mix: shares of futures, futures options and stock options.
        as_of: valuation date of option premiums.
        calibration: the recorded day's figures (activity quantiles).

    Returns:
        The universe, futures first, then futures options, then stock options.

    Raises:
        ValueError: ``contracts`` < 1 or the mix is unusable.
    """
    if contracts < 1:
        raise ValueError(f"contracts must be >= 1, got {contracts}")
    rng = np.random.default_rng([seed, 0])
    has_futures = any(t.product_class == FUTURES for t in templates)
    n_futures, n_options, n_stock = split_counts(contracts, mix or Mix(), has_futures)
    futures = _futures(templates, n_futures, rng)
    underlyings = [row for row in futures if "x" not in row.ref.symbol[len(row.ref.product):]]
    options = _futures_options(templates, underlyings, n_options, as_of, rng)
    stock = _stock_options(n_stock + n_options - len(options), as_of, rng)
    rows = futures + options + stock
    _set_margins(rows, {row.ref.symbol: row for row in futures}, {code: price for code, _, price in ETF_UNDERLYINGS})
    n = len(rows)
    is_option = np.array([row.ref.product_class == OPTIONS for row in rows], dtype=bool)
    tick = np.array([row.ref.price_tick for row in rows])
    settle = np.array([round(row.settle / row.ref.price_tick) for row in rows], dtype=np.int64)
    amount = np.maximum(np.floor(np.array([row.limit for row in rows]) / tick + 1e-9), 1).astype(np.int64)
    weights = np.zeros(n)
    future_index = np.flatnonzero(~is_option)
    weights[future_index] = rng.permutation(_quantile_draws(calibration.ticks_quantiles["F"], len(future_index)))
    weights[future_index] *= calibration.mean_ticks["F"]
    option_index = np.flatnonzero(is_option)
    busiest_first = option_index[np.argsort([-rows[i].score for i in option_index], kind="stable")]
    weights[busiest_first] = _quantile_draws(calibration.ticks_quantiles["O"], len(option_index))[::-1]
    weights[option_index] *= calibration.mean_ticks["O"]
    return Universe(
        refs=tuple(row.ref for row in rows),
        is_option=is_option,
        price_ticks=tick,
        settle_ticks=settle,
        lower_ticks=np.maximum(settle - amount, 1),
        upper_ticks=settle + amount,
        weights=weights / weights.sum(),
    )


__all__ = [
    "DEFAULT_LIMIT_RATIO", "ETF_EXPIRIES", "ETF_UNDERLYINGS", "LIMIT_RATIOS", "TYPICAL_PRICES", "VOLATILITY",
    "Mix", "Universe", "black76", "build_universe", "expiry_of", "nice_step", "split_counts",
    "variant_symbol",
]  # fmt: skip
