"""Stream recorded CTP Level-1 ticks from CSV or gzipped CSV.

Two layouts are read by column name (sim/README.md, "Recorded data"):

- the cleaned ``cn_futopt_l1_*.csv.gz`` tapes: ``TradingDay, ActionDay,
  UpdateTime, UpdateMillisec, ExchangeID, InstrumentID, ProductID,
  ProductClass, LastPrice, Volume, OpenInterest, BidPrice1, BidVolume1,
  AskPrice1, AskVolume1, InSession``;
- raw CTP ``DepthMarketData`` dumps with the 44 CTP field names
  (``cffex_ctp_depthmd_20160818.csv.gz``), where an empty field means "no
  value" and ``ProductID``/``ProductClass`` are absent (derived from the
  symbol) and ``ExchangeID`` may be empty (CFFEX products are recognised);
  their levels 2..5 (``BidPrice2`` ... ``AskVolume5``) fill :attr:`ReplayTick.depth`.

Rows stream one at a time; nothing is pre-scanned. Timestamp conversions are
cached per exchange second, which keeps parsing above 100k rows/s on one core
(perf/bench_sim.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sim.errors import ReplayFormatError
from sim.instruments import derive_exchange, derive_product, derive_product_class

EXCHANGE_TZ = ZoneInfo("Asia/Shanghai")
"""Time zone of CTP exchange timestamps (UTC+8, no daylight saving)."""

REQUIRED_COLUMNS = (
    "ActionDay",
    "UpdateTime",
    "UpdateMillisec",
    "InstrumentID",
    "LastPrice",
    "Volume",
    "OpenInterest",
    "BidPrice1",
    "BidVolume1",
    "AskPrice1",
    "AskVolume1",
)
"""Columns every tape must have; ``TradingDay`` stands in for an empty ``ActionDay``."""

_GZIP_MAGIC = b"\x1f\x8b"
_SECOND_CACHE_LIMIT = 1 << 10
"""Exchange seconds (``(ActionDay, UpdateTime)`` → ns) a parse remembers before it forgets them all. Tapes are in
time order, so the current second is almost always the last one cached; at 1 << 16 the cache never filled on a
whole day (~34,000 distinct seconds), held ~4 pymalloc blocks a second for as long as the tape played
(+130,000 blocks, +12 MB RSS over an hour's soak, freed at the tape's end: perf/README.md)."""
_READ_BUFFER_BYTES = 1024 * 1024


class ReplayTick(NamedTuple):
    """One Level-1 update, as recorded (or synthesized).

    Attributes:
        symbol: exchange symbol, ``"rb1801"``.
        exchange: exchange code (vn.py ``Exchange`` value), ``"SHFE"``; ``""``
            when the tape does not say and the product is not recognised.
        product: CTP product id, ``"rb"``.
        product_class: ``"F"`` futures or ``"O"`` options.
        ts_ns: exchange time, UNIX timestamp (nanoseconds), from ``ActionDay``
            + ``UpdateTime`` + ``UpdateMillisec`` in Asia/Shanghai.
        last: last traded price, quote currency; 0.0 when no value.
        bid: best bid price, quote currency; 0.0 when no value.
        ask: best ask price, quote currency; 0.0 when no value.
        bid_volume: size at the best bid, lots.
        ask_volume: size at the best ask, lots.
        volume: traded volume of the trading day, cumulative, lots.
        open_interest: open interest, lots.
        in_session: False for pre-open, stale or post-close snapshots.
        depth: levels 2..5 of the book when the source has them, else ``None``:
            16 values, :data:`DEPTH_FIELDS` order (``BidPrice2..5``, ``BidVolume2..5``,
            ``AskPrice2..5``, ``AskVolume2..5``: quote currency, lots; 0.0 where the
            recording has no value, as CTP's empty field).
    """

    symbol: str
    exchange: str
    product: str
    product_class: str
    ts_ns: int
    last: float
    bid: float
    ask: float
    bid_volume: int
    ask_volume: int
    volume: int
    open_interest: int
    in_session: bool
    depth: tuple[float, ...] | None = None


DEPTH_FIELDS = tuple(f"{side}{what}{level}" for side, what in (("Bid", "Price"), ("Bid", "Volume"), ("Ask", "Price"),
                                                              ("Ask", "Volume")) for level in range(2, 6))
"""CTP DepthMarketData columns of levels 2..5, in :attr:`ReplayTick.depth` order."""


def open_text(path: str | Path) -> io.TextIOBase:
    """Open a CSV for reading as text, gunzipping it when it starts with the gzip magic.

    Args:
        path: plain or gzip-compressed UTF-8 file; the suffix does not matter.

    Returns:
        A text stream with ``newline=""`` as the csv module wants.

    Raises:
        OSError: the file cannot be opened.
    """
    with open(path, "rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    if compressed:
        binary: io.BufferedIOBase = io.BufferedReader(gzip.open(path, "rb"), _READ_BUFFER_BYTES)  # type: ignore[arg-type]
    else:
        binary = open(path, "rb", buffering=_READ_BUFFER_BYTES)  # noqa: SIM115
    try:
        return io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    except BaseException:
        binary.close()
        raise


def _second_to_ns(day: str, hms: str) -> int:
    """Convert ``YYYYMMDD`` and ``HH:MM:SS`` in Asia/Shanghai to UNIX nanoseconds."""
    stamp = dt.datetime(
        int(day[0:4]), int(day[4:6]), int(day[6:8]), int(hms[0:2]), int(hms[3:5]), int(hms[6:8]), tzinfo=EXCHANGE_TZ
    )
    return int(stamp.timestamp()) * 1_000_000_000


def _to_int(text: str) -> int:
    """Parse a CTP count (``"12"``, ``"12.0"``, ``""`` → 0)."""
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        return int(float(text))


def iter_ticks(path: str | Path) -> Iterator[ReplayTick]:
    """Stream the ticks of a recorded CTP tape, in file order.

    Args:
        path: a tape in either layout of the module docstring, plain or gzipped.

    Yields:
        One :class:`ReplayTick` per data row; blank lines are skipped.

    Raises:
        ReplayFormatError: the header lacks a required column, or a row has
            the wrong number of fields or an unparsable value (with the path
            and the 1-based line number).
        OSError: the file cannot be read.
    """
    with open_text(path) as text:
        reader = csv.reader(text)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as error:
            raise ReplayFormatError(path, 1, f"unreadable header: {error}") from None
        if header is None:
            raise ReplayFormatError(path, 1, "empty file, expected a header")
        column = {name.strip(): i for i, name in enumerate(header)}
        missing = [name for name in REQUIRED_COLUMNS if name not in column]
        if missing:
            raise ReplayFormatError(path, 1, f"missing columns {missing}; header is {header[:8]}...")
        yield from _parse_rows(path, reader, column, len(header))


def _parse_rows(
    path: str | Path, reader: Iterator[list[str]], column: dict[str, int], width: int
) -> Iterator[ReplayTick]:
    """Parse data rows; the hot loop of :func:`iter_ticks`."""
    i_trading_day = column.get("TradingDay")
    i_action_day = column["ActionDay"]
    i_time = column["UpdateTime"]
    i_ms = column["UpdateMillisec"]
    i_exchange = column.get("ExchangeID")
    i_symbol = column["InstrumentID"]
    i_product = column.get("ProductID")
    i_class = column.get("ProductClass")
    i_last = column["LastPrice"]
    i_volume = column["Volume"]
    i_oi = column["OpenInterest"]
    i_bid = column["BidPrice1"]
    i_bid_volume = column["BidVolume1"]
    i_ask = column["AskPrice1"]
    i_ask_volume = column["AskVolume1"]
    i_session = column.get("InSession")
    i_depth = [column[name] for name in DEPTH_FIELDS] if all(name in column for name in DEPTH_FIELDS) else None

    seconds: dict[tuple[str, str], int] = {}
    derived: dict[tuple[str, str], tuple[str, str, str]] = {}
    new_tick = ReplayTick._make
    line = 1
    try:
        for row in reader:
            line = reader.line_num  # type: ignore[attr-defined]
            if len(row) != width:
                if not row:
                    continue
                raise ReplayFormatError(path, line, f"{len(row)} fields, header has {width}")
            day = row[i_action_day]
            if not day and i_trading_day is not None:
                day = row[i_trading_day]
            key = (day, row[i_time])
            base_ns = seconds.get(key)
            if base_ns is None:
                if len(seconds) >= _SECOND_CACHE_LIMIT:
                    seconds.clear()
                base_ns = seconds[key] = _second_to_ns(*key)
            ms = row[i_ms]
            symbol = row[i_symbol]
            exchange = row[i_exchange] if i_exchange is not None else ""
            product = row[i_product] if i_product is not None else ""
            product_class = row[i_class] if i_class is not None else ""
            if not (exchange and product and product_class):
                exchange, product, product_class = _fill_identity(derived, symbol, exchange, product, product_class)
            last = row[i_last]
            bid = row[i_bid]
            ask = row[i_ask]
            depth = None if i_depth is None else tuple(float(row[i]) if row[i] else 0.0 for i in i_depth)
            yield new_tick(
                (
                    symbol,
                    exchange,
                    product,
                    product_class,
                    base_ns + int(ms) * 1_000_000 if ms else base_ns,
                    float(last) if last else 0.0,
                    float(bid) if bid else 0.0,
                    float(ask) if ask else 0.0,
                    _to_int(row[i_bid_volume]),
                    _to_int(row[i_ask_volume]),
                    _to_int(row[i_volume]),
                    _to_int(row[i_oi]),
                    row[i_session] != "False" if i_session is not None else True,
                    depth,
                )
            )
    except ReplayFormatError:
        raise
    except (ValueError, IndexError) as error:
        raise ReplayFormatError(path, line, str(error)) from None
    except (csv.Error, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as error:
        raise ReplayFormatError(path, line, f"unreadable data: {error}") from None


def _fill_identity(
    cache: dict[tuple[str, str], tuple[str, str, str]], symbol: str, exchange: str, product: str, product_class: str
) -> tuple[str, str, str]:
    """Complete a row's exchange, product and class from its symbol, cached per symbol."""
    key = (symbol, exchange)
    known = cache.get(key)
    if known is None:
        product = product or derive_product(symbol)
        known = cache[key] = (
            exchange or derive_exchange(product),
            product,
            product_class or derive_product_class(symbol),
        )
    return known


__all__ = ["DEPTH_FIELDS", "EXCHANGE_TZ", "REQUIRED_COLUMNS", "ReplayTick", "iter_ticks", "open_text"]
