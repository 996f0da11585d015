"""Instrument reference data: the CTP instruments file and rules for symbols.

Reads ``cn_futopt_instruments_20171113.csv`` (CTP ``InstrumentField`` columns)
into :class:`InstrumentRef` values, and derives what a tape lacks from the
symbol itself: the product (``"rb"`` of ``"rb1801"``), the product class
(option symbols carry ``C``/``P`` and a strike) and a fallback price tick.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from sim.errors import InstrumentsFormatError

CFFEX_PRODUCTS = frozenset({"IF", "IC", "IH", "IM", "IO", "HO", "MO", "T", "TF", "TS", "TL"})
"""CFFEX products, to name the exchange of tapes whose ``ExchangeID`` is empty (CFFEX recorders)."""

FUTURES = "F"
"""CTP ``ProductClass`` of futures."""

OPTIONS = "O"
"""CTP ``ProductClass`` of options."""

_OPTION_SYMBOL = re.compile(r"^(?P<underlying>[A-Za-z]+\d{3,4})-?(?P<right>[CP])-?(?P<strike>\d+(?:\.\d+)?)$")
_PRODUCT_PREFIX = re.compile(r"^[A-Za-z]+")

_FALLBACK_TICKS = (1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)

_REQUIRED_COLUMNS = ("InstrumentID", "ExchangeID", "ProductID", "ProductClass", "VolumeMultiple", "PriceTick")


@dataclass(frozen=True, slots=True)
class InstrumentRef:
    """Static reference data of one contract.

    Attributes:
        symbol: exchange symbol, ``"rb1801"``, ``"m1801-C-2800"``.
        exchange: exchange code as vn.py's ``Exchange`` values spell it, ``"SHFE"``.
        product: CTP product id, ``"rb"``.
        product_class: ``"F"`` (futures) or ``"O"`` (options), CTP ``ProductClass``.
        price_tick: minimum price step, quote currency.
        multiplier: contract size (``VolumeMultiple``), units of underlying per lot.
        name: display name (Chinese in CTP files); the symbol when unknown.
        expiry: last trading day (``ExpireDate``), or None when unknown.
        option_strike: strike price of an option, quote currency (0.0: not
            given; :func:`parse_option` reads it from futures-option symbols).
        option_right: ``"C"`` or ``"P"`` for an option whose symbol does not
            say (SSE codes), else ``""``.
        option_underlying: the option's underlying symbol, ``"510050"``, or ``""``.
        long_margin_ratio: margin per unit of long position value, 0..1 (CTP
            ``LongMarginRatio``); 0.0 when not given (options in the CTP file).
        short_margin_ratio: the same for short positions (``ShortMarginRatio``); a synthetic
            option's may exceed 1 (the seller's rule as a ratio of the premium, sim/margins.py).
    """

    symbol: str
    exchange: str
    product: str
    product_class: str
    price_tick: float
    multiplier: float
    name: str
    expiry: dt.date | None = None
    option_strike: float = 0.0
    option_right: str = ""
    option_underlying: str = ""
    long_margin_ratio: float = 0.0
    short_margin_ratio: float = 0.0


@dataclass(frozen=True, slots=True)
class OptionTerms:
    """Terms read from an option symbol.

    Attributes:
        underlying: symbol of the underlying future, ``"m1801"``.
        right: ``"C"`` (call) or ``"P"`` (put).
        strike: strike price, quote currency.
    """

    underlying: str
    right: str
    strike: float


def option_terms(ref: InstrumentRef) -> OptionTerms | None:
    """Return an option's terms from its reference data, else from its symbol.

    Args:
        ref: reference data; SSE option codes carry no terms in the symbol,
            so their ``option_*`` fields are used.

    Returns:
        The terms, or None when ``ref`` is not a recognisable option.
    """
    if ref.option_right:
        return OptionTerms(ref.option_underlying, ref.option_right, ref.option_strike)
    return parse_option(ref.symbol)


def derive_product(symbol: str) -> str:
    """Return the product id of a symbol: its leading letters (``"SR801C6400"`` → ``"SR"``).

    Args:
        symbol: exchange symbol.

    Returns:
        The leading ASCII letters, or ``""`` when the symbol starts otherwise.
    """
    match = _PRODUCT_PREFIX.match(symbol)
    return match.group(0) if match else ""


def parse_option(symbol: str) -> OptionTerms | None:
    """Read the underlying, right and strike of a Chinese futures-option symbol.

    Understands CZCE/SHFE ``SR801C6400`` and DCE/CFFEX ``m1801-C-2800``.

    Args:
        symbol: exchange symbol.

    Returns:
        The option terms, or None when the symbol is not an option symbol.
    """
    match = _OPTION_SYMBOL.match(symbol)
    if match is None:
        return None
    return OptionTerms(match["underlying"], match["right"], float(match["strike"]))


def derive_product_class(symbol: str) -> str:
    """Return ``"O"`` for an option symbol, else ``"F"`` (CTP ``ProductClass``)."""
    return OPTIONS if _OPTION_SYMBOL.match(symbol) else FUTURES


def derive_exchange(product: str) -> str:
    """Return the exchange of a product when it can be told without reference data.

    Args:
        product: CTP product id.

    Returns:
        ``"CFFEX"`` for CFFEX products, else ``""`` (unknown).
    """
    return "CFFEX" if product in CFFEX_PRODUCTS else ""


def guess_price_tick(*prices: float) -> float:
    """Guess a price tick from observed prices when no reference data exists.

    Picks the largest step of 1, 0.5, 0.2, ... 0.001 of which every non-zero
    price is a multiple. A guess never exceeds 1.0, so it may be finer than
    the true tick (CZCE cotton steps by 5) but never coarser than the data.

    Args:
        *prices: observed prices, quote currency; zeros (no value) are ignored.

    Returns:
        The guessed tick, quote currency; 1.0 when no price is given.
    """
    observed = [p for p in prices if p > 0.0]
    for tick in _FALLBACK_TICKS:
        if all(abs(p / tick - round(p / tick)) < 1e-6 for p in observed):
            return tick
    return _FALLBACK_TICKS[-1]


def load_instruments(path: str | Path) -> dict[str, InstrumentRef]:
    """Read a CTP instruments CSV into reference data keyed by symbol.

    Expected columns (extra columns are ignored): ``InstrumentID``,
    ``ExchangeID``, ``ProductID``, ``ProductClass``, ``VolumeMultiple``,
    ``PriceTick``, and optionally ``InstrumentName``, ``ExpireDate``
    (``YYYYMMDD``), ``LongMarginRatio`` and ``ShortMarginRatio`` (0..1; empty: none).

    Args:
        path: the CSV file (UTF-8, header on line 1).

    Returns:
        symbol → :class:`InstrumentRef`, in file order.

    Raises:
        InstrumentsFormatError: a required column is missing or a row does not parse.
        OSError: the file cannot be read.
    """
    instruments: dict[str, InstrumentRef] = {}
    with open(path, newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header is None:
            raise InstrumentsFormatError(path, 1, "empty file, expected a header")
        index = {name: i for i, name in enumerate(header)}
        missing = [name for name in _REQUIRED_COLUMNS if name not in index]
        if missing:
            raise InstrumentsFormatError(path, 1, f"missing columns {missing}")
        name_at = index.get("InstrumentName")
        expiry_at = index.get("ExpireDate")
        long_at, short_at = index.get("LongMarginRatio"), index.get("ShortMarginRatio")
        for row in reader:
            if not row:
                continue
            try:
                symbol = row[index["InstrumentID"]]
                expiry_text = row[expiry_at] if expiry_at is not None else ""
                instruments[symbol] = InstrumentRef(
                    symbol=symbol,
                    exchange=row[index["ExchangeID"]],
                    product=row[index["ProductID"]] or derive_product(symbol),
                    product_class=row[index["ProductClass"]] or derive_product_class(symbol),
                    price_tick=float(row[index["PriceTick"]]),
                    multiplier=float(row[index["VolumeMultiple"]]),
                    name=(row[name_at] if name_at is not None else "") or symbol,
                    expiry=dt.datetime.strptime(expiry_text, "%Y%m%d").date() if expiry_text else None,
                    long_margin_ratio=_ratio(row, long_at),
                    short_margin_ratio=_ratio(row, short_at),
                )
            except (IndexError, ValueError) as error:
                raise InstrumentsFormatError(path, reader.line_num, str(error)) from None
    return instruments


def _ratio(row: list[str], at: int | None) -> float:
    """Return a margin ratio column as a float, 0.0 when the column or the value is absent.

    Raises:
        ValueError: the value is not a number in 0..1.
    """
    text = row[at].strip() if at is not None and at < len(row) else ""
    if not text:
        return 0.0
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"margin ratio {text} outside 0..1")
    return value


__all__ = [
    "CFFEX_PRODUCTS",
    "FUTURES",
    "OPTIONS",
    "InstrumentRef",
    "OptionTerms",
    "derive_exchange",
    "derive_product",
    "derive_product_class",
    "guess_price_tick",
    "load_instruments",
    "option_terms",
    "parse_option",
]
