"""Margin ratios of the simulated instruments: CTP-like futures ratios, and option sellers' margin as a ratio.

The desk margins a position by money, as CTP's ``InstrumentField.LongMarginRatio`` /
``ShortMarginRatio``: ``price × multiplier × lots × ratio`` (actors/accounts/positions.py). The simulator's
instruments carry such ratios so every figure built on them is a real number, never 0 == 0:

* Futures: :data:`FUTURES_MARGIN_RATIOS`, the exchange's minimum plus a futures company's usual
  add-on for each product of the built-in templates (late 2017 levels: SHFE rb 9 %, CFFEX IF 15 %,
  CFFEX T 2 % ...; Source: the exchanges' margin notices of 2017 and CTP ``InstrumentField`` of the
  recorded day), :data:`DEFAULT_FUTURES_MARGIN_RATIO` for any other product. Long and short alike.
* Options: a buyer posts no margin (ratio 0: the premium is paid in full). A seller's margin is set by
  the exchange's rule on the underlying, which a ratio of the option's own value cannot follow as prices
  move. Documented simplification: the rule is evaluated once, at the listing prices the simulator builds
  the option from (its premium and the underlying's price), and held as the short ratio
  ``margin per unit / premium``, so a short option is margined as the rule says at listing and in
  proportion to its premium afterwards. The ratio may exceed 1 (a far out-of-the-money option's margin is
  many times its premium).

  - SSE ETF options (Source: SSE, 股票期权试点风险控制管理办法, 卖出开仓保证金):
    call ``premium + max(12 % × S − out-of-the-money amount, 7 % × S)``;
    put ``min(premium + max(12 % × S − out-of-the-money amount, 7 % × K), K)``.
  - Commodity futures options (Source: DCE and CZCE option trading rules, 卖方交易保证金):
    ``premium + max(F × r − ½ × out-of-the-money amount, ½ × F × r)``, r the underlying future's ratio.
"""

from __future__ import annotations

FUTURES_MARGIN_RATIOS: dict[str, float] = {
    "rb": 0.09, "cu": 0.08, "au": 0.07, "ru": 0.10, "sc": 0.10,
    "m": 0.07, "i": 0.10, "SR": 0.07, "CF": 0.07, "TA": 0.07,
    "IF": 0.15, "IC": 0.15, "T": 0.02,
}
"""Product → margin ratio of its futures, long and short, 0..1 (see the module docstring for the source)."""

DEFAULT_FUTURES_MARGIN_RATIO = 0.10
"""Margin ratio of a futures product not in :data:`FUTURES_MARGIN_RATIOS`."""

SSE_RATIO_OF_UNDERLYING = 0.12
"""SSE ETF option seller: 12 % of the underlying's close, less the out-of-the-money amount."""
SSE_FLOOR_RATIO = 0.07
"""SSE ETF option seller: at least 7 % of the underlying's close (call) or of the strike (put)."""


def futures_margin_ratio(product: str) -> float:
    """Return the margin ratio (0..1) of a futures product, ``"rb"`` → 0.09."""
    return FUTURES_MARGIN_RATIOS.get(product, DEFAULT_FUTURES_MARGIN_RATIO)


def _out_of_the_money(right: str, underlying: float, strike: float) -> float:
    return max(strike - underlying, 0.0) if right == "C" else max(underlying - strike, 0.0)


def sse_short_margin_per_unit(right: str, premium: float, underlying: float, strike: float) -> float:
    """Return an SSE ETF option seller's margin per unit of underlying, quote currency.

    Args:
        right: ``"C"`` or ``"P"``.
        premium: the option's settlement (or listing) price per unit, quote currency.
        underlying: the ETF's close, quote currency.
        strike: the strike price, quote currency.

    Raises:
        ValueError: ``right`` is neither ``"C"`` nor ``"P"``.
    """
    if right not in ("C", "P"):
        raise ValueError(f"option right must be 'C' or 'P', got {right!r}")
    out = _out_of_the_money(right, underlying, strike)
    if right == "C":
        return premium + max(SSE_RATIO_OF_UNDERLYING * underlying - out, SSE_FLOOR_RATIO * underlying)
    return min(premium + max(SSE_RATIO_OF_UNDERLYING * underlying - out, SSE_FLOOR_RATIO * strike), strike)


def futures_option_short_margin_per_unit(right: str, premium: float, future: float, strike: float,
                                         future_ratio: float) -> float:
    """Return a commodity futures option seller's margin per unit, quote currency (DCE/CZCE rule).

    Args:
        right: ``"C"`` or ``"P"``.
        premium: the option's settlement (or listing) price, quote currency.
        future: the underlying future's price, quote currency.
        strike: the strike price, quote currency.
        future_ratio: the underlying future's margin ratio, 0..1.

    Raises:
        ValueError: ``right`` is neither ``"C"`` nor ``"P"``.
    """
    if right not in ("C", "P"):
        raise ValueError(f"option right must be 'C' or 'P', got {right!r}")
    futures_margin = future * future_ratio
    return premium + max(futures_margin - 0.5 * _out_of_the_money(right, future, strike), 0.5 * futures_margin)


def short_ratio(margin_per_unit: float, premium: float) -> float:
    """Return a seller's margin as a ratio of the option's value (``margin / premium``; 0 for no premium)."""
    return margin_per_unit / premium if premium > 0 else 0.0


__all__ = [
    "DEFAULT_FUTURES_MARGIN_RATIO",
    "FUTURES_MARGIN_RATIOS",
    "SSE_FLOOR_RATIO",
    "SSE_RATIO_OF_UNDERLYING",
    "futures_margin_ratio",
    "futures_option_short_margin_per_unit",
    "short_ratio",
    "sse_short_margin_per_unit",
]
