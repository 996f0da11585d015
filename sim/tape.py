"""Tapes: a simulator run on disk, ticks in and frames out (schemas/tape.capnp).

A tape is :data:`TAPE_MAGIC` then records, each a 4-byte little-endian length
and one unpacked ``TapeRecord``: a header, instruments (before the first tick
that indexes them), tick batches as numpy columns, and frames a simulated
client received. Writing is deterministic: the same ticks give the same bytes
(no wall-clock field is written unless a frame carries one), so the same
synthetic seed gives a byte-identical tape. A tape keeps level 1 only: rows
read back have ``depth = None``.

- :class:`TapeWriter`: ``add_instruments``, ``write_columns`` (numpy),
  ``write_rows`` (:class:`ReplayTick` rows, instruments added as met),
  ``write_frame``;
- :func:`write_synthetic_tape`: N virtual seconds of a :class:`SyntheticMarket`;
- :func:`iter_tape_ticks` / :func:`tape_instruments` / :func:`iter_tape_frames`:
  read back (the simulator gateway replays a ``.tape`` like a CSV tape).

Run ``python -m sim.tape --seed 7 --contracts 20000 --seconds 60 out.tape``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import struct
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

import capnp
import numpy as np

import schemas
from schemas._columns import column_views, fill_columns, init_columns, pointer_index
from sim.errors import TapeFormatError
from sim.instruments import InstrumentRef
from sim.replay import ReplayTick
from sim.synthetic import SyntheticMarket

TAPE_MAGIC = b"tkstape\x01"
"""First 8 bytes of every tape."""

TAPE_FORMAT_VERSION = 1
MAX_RECORD_BYTES = 256 * 1024 * 1024
"""Largest record a reader accepts, bytes."""

_LENGTH = struct.Struct("<I")
_Record = schemas.tape.TapeRecord
_TICK_ROWS = (pointer_index(_Record, "ticks"), pointer_index(schemas.tape.TapeTicks, "rows"))
_FIRST_SEGMENT_WORDS = 64


class TapeFrame(NamedTuple):
    """A frame a simulated client received: its name, receive time (UNIX ns) and the ServerMessage bytes."""

    client: str
    recv_ts_ns: int
    payload: bytes


def _instrument_record(first_index: int, refs: Sequence[InstrumentRef]) -> bytes:
    record = _Record.new_message()
    body = record.init("instruments")
    body.firstIndex = first_index
    items = body.init("instruments", len(refs))
    for item, ref in zip(items, refs, strict=True):
        inner = item.init("instrument")
        inner.vtSymbol = f"{ref.symbol}.{ref.exchange}"
        inner.symbol = ref.symbol
        inner.exchange = ref.exchange
        inner.product = ref.product
        inner.productClass = ref.product_class
        inner.priceTick = ref.price_tick
        inner.multiplier = ref.multiplier
        inner.name = ref.name
        item.expiryYmd = int(ref.expiry.strftime("%Y%m%d")) if ref.expiry else 0
        item.optionStrike = ref.option_strike
        item.optionRight = ref.option_right
        item.optionUnderlying = ref.option_underlying
        item.longMarginRatio = ref.long_margin_ratio
        item.shortMarginRatio = ref.short_margin_ratio
    return record.to_bytes()


class TapeWriter:
    """Write a tape (a context manager; :meth:`close` ends it).

    Records may come from two threads (the feed thread's ticks, the loop's
    frames): each is written whole under a lock.

    Args:
        path: file to create (replaced if it exists).
        source: what the ticks are, for the header.
        start_ts_ns: exchange time of the tape's origin, UNIX ns.

    Attributes:
        ticks_written: tick rows written.
        frames_written: frames written.
    """

    def __init__(self, path: str | Path, source: str, start_ts_ns: int) -> None:
        self.path = Path(path)
        self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        self._file.write(TAPE_MAGIC)
        self._lock = threading.Lock()
        self._index: dict[str, int] = {}
        self.ticks_written = self.frames_written = 0
        header = _Record.new_message()
        body = header.init("header")
        body.formatVersion = TAPE_FORMAT_VERSION
        body.source = source
        body.startTsNs = start_ts_ns
        self._write(header.to_bytes())

    def __enter__(self) -> TapeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, data: bytes) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.write(_LENGTH.pack(len(data)) + data)

    def add_instruments(self, refs: Sequence[InstrumentRef]) -> int:
        """Append instruments (new symbols only); return the tape index of the first one given."""
        fresh = [ref for ref in refs if ref.symbol not in self._index]
        first = len(self._index)
        if fresh:
            for i, ref in enumerate(fresh):
                self._index[ref.symbol] = first + i
            self._write(_instrument_record(first, fresh))
        return self._index[refs[0].symbol] if refs else first

    def write_columns(self, columns: Mapping[str, np.ndarray]) -> None:
        """Write one batch of ticks.

        Args:
            columns: ``schemas._columns.L1_DTYPES`` names → arrays of n rows;
                ``indexes`` are tape indexes (:meth:`add_instruments` order);
                missing columns are written as zeros.
        """
        n = len(columns["indexes"])
        if n == 0:
            return
        record = _Record.new_message(num_first_segment_words=_FIRST_SEGMENT_WORDS + n * 10)
        init_columns(record.init("ticks").init("rows"), n)
        self._write(fill_columns(record, _TICK_ROWS, columns))
        self.ticks_written += n

    def write_rows(self, rows: Iterable[ReplayTick], refs: Mapping[str, InstrumentRef] | None = None) -> None:
        """Write recorded or synthetic rows as one batch; unknown symbols become instruments first.

        Args:
            rows: ticks in time order.
            refs: reference data by symbol for new instruments (else built from the row).
        """
        rows = list(rows)
        if not rows:
            return
        fresh = {}
        for row in rows:
            if row.symbol not in self._index and row.symbol not in fresh:
                known = (refs or {}).get(row.symbol)
                fresh[row.symbol] = known or InstrumentRef(row.symbol, row.exchange, row.product,
                                                           row.product_class, 0.0, 0.0, row.symbol)
        if fresh:
            self.add_instruments(list(fresh.values()))
        index = self._index
        self.write_columns({
            "indexes": np.fromiter((index[r.symbol] for r in rows), np.uint32, len(rows)),
            "exchangeTsNs": np.fromiter((r.ts_ns for r in rows), np.int64, len(rows)),
            "lastPrices": np.fromiter((r.last for r in rows), np.float64, len(rows)),
            "bidPrices": np.fromiter((r.bid for r in rows), np.float64, len(rows)),
            "askPrices": np.fromiter((r.ask for r in rows), np.float64, len(rows)),
            "bidVolumesLots": np.fromiter((r.bid_volume for r in rows), np.float64, len(rows)),
            "askVolumesLots": np.fromiter((r.ask_volume for r in rows), np.float64, len(rows)),
            "volumesLots": np.fromiter((r.volume for r in rows), np.float64, len(rows)),
            "openInterestsLots": np.fromiter((r.open_interest for r in rows), np.float64, len(rows)),
        })

    def write_frame(self, client: str, recv_ts_ns: int, payload: bytes) -> None:
        """Write a frame a simulated client received (ServerMessage bytes as received)."""
        record = _Record.new_message()
        frame = record.init("frame")
        frame.recvTsNs = recv_ts_ns
        frame.client = client
        frame.payload = payload
        self._write(record.to_bytes())
        self.frames_written += 1

    def flush(self) -> None:
        """Push buffered records to the file."""
        with self._lock:
            if not self._file.closed:
                self._file.flush()

    def close(self) -> None:
        """Close the file. Idempotent."""
        with self._lock:
            if not self._file.closed:
                self._file.close()


def write_synthetic_tape(path: str | Path, market: SyntheticMarket, seconds: int) -> int:
    """Write ``seconds`` virtual seconds of a synthetic market as a tape; return the ticks written.

    The bytes depend only on the market's arguments (seed included): the
    same seed and arguments give a byte-identical file.
    """
    source = (f"synthetic seed={market.seed} contracts={len(market.instruments)} "
              f"rate={market.rate_per_s:g} peak={market.peak_per_s:g}")
    with TapeWriter(path, source, market.start_ns) as writer:
        writer.add_instruments(market.instruments)
        for _, batch in zip(range(seconds), market.columns(), strict=False):
            writer.write_columns({
                "indexes": batch.indexes, "exchangeTsNs": batch.ts_ns, "lastPrices": batch.last,
                "bidPrices": batch.bid, "askPrices": batch.ask, "bidVolumesLots": batch.bid_volume,
                "askVolumesLots": batch.ask_volume, "volumesLots": batch.volume,
                "openInterestsLots": batch.open_interest,
            })
        return writer.ticks_written


def is_tape(path: str | Path) -> bool:
    """Whether ``path`` starts with :data:`TAPE_MAGIC`."""
    with open(path, "rb") as file:
        return file.read(len(TAPE_MAGIC)) == TAPE_MAGIC


def iter_records(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """Yield ``(union member, record bytes)`` of every record, in file order.

    Raises:
        TapeFormatError: no magic, a truncated record, an oversized length, or an undecodable record.
    """
    with open(path, "rb") as file:
        if file.read(len(TAPE_MAGIC)) != TAPE_MAGIC:
            raise TapeFormatError(path, 0, "not a tape (no tkstape magic)")
        offset = len(TAPE_MAGIC)
        while prefix := file.read(_LENGTH.size):
            if len(prefix) < _LENGTH.size:
                raise TapeFormatError(path, offset, "truncated length prefix")
            (length,) = _LENGTH.unpack(prefix)
            if length > MAX_RECORD_BYTES:
                raise TapeFormatError(path, offset, f"record of {length} bytes over {MAX_RECORD_BYTES}")
            data = file.read(length)
            if len(data) < length:
                raise TapeFormatError(path, offset, f"truncated record: {len(data)} of {length} bytes")
            try:
                with _Record.from_bytes(data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                        nesting_limit=schemas.NESTING_LIMIT) as record:
                    member = record.which()
            except (capnp.KjException, ValueError) as error:
                raise TapeFormatError(path, offset, f"undecodable record ({type(error).__name__})") from None
            yield member, data
            offset += _LENGTH.size + length


def _refs_of(data: bytes) -> tuple[int, list[InstrumentRef]]:
    with _Record.from_bytes(data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS) as record:
        body = record.instruments
        refs = []
        for item in body.instruments:
            inner = item.instrument
            ymd = item.expiryYmd
            refs.append(InstrumentRef(
                inner.symbol, inner.exchange, inner.product, inner.productClass, inner.priceTick,
                inner.multiplier, inner.name,
                dt.date(ymd // 10000, ymd // 100 % 100, ymd % 100) if ymd else None,
                item.optionStrike, item.optionRight, item.optionUnderlying, item.longMarginRatio,
                item.shortMarginRatio))
        return body.firstIndex, refs


def tape_instruments(path: str | Path) -> list[InstrumentRef]:
    """Return every instrument of a tape, in tape-index order."""
    refs: list[InstrumentRef] = []
    for member, data in iter_records(path):
        if member == "instruments":
            first, added = _refs_of(data)
            refs[first:] = added
    return refs


def iter_tape_ticks(path: str | Path) -> Iterator[ReplayTick]:
    """Stream a tape's ticks as :class:`ReplayTick` rows, in file order.

    Raises:
        TapeFormatError: the tape is malformed, or a tick indexes an instrument not yet given.
    """
    refs: list[InstrumentRef] = []
    new_tick = ReplayTick._make
    for member, data in iter_records(path):
        if member == "instruments":
            first, added = _refs_of(data)
            refs[first:] = added
            continue
        if member != "ticks":
            continue
        columns = column_views(data, _TICK_ROWS)
        indexes = columns["indexes"]
        if len(indexes) and int(indexes.max()) >= len(refs):
            raise TapeFormatError(path, 0, f"tick indexes instrument {int(indexes.max())} of {len(refs)}")
        lists = [columns[name].tolist() for name in (
            "exchangeTsNs", "lastPrices", "bidPrices", "askPrices", "bidVolumesLots", "askVolumesLots",
            "volumesLots", "openInterestsLots")]
        for i, ts_ns, last, bid, ask, bid_volume, ask_volume, volume, interest in zip(indexes.tolist(), *lists):
            ref = refs[i]
            yield new_tick((ref.symbol, ref.exchange, ref.product, ref.product_class, ts_ns, last, bid, ask,
                            int(bid_volume), int(ask_volume), int(volume), int(interest), True, None))


def iter_tape_frames(path: str | Path) -> Iterator[TapeFrame]:
    """Stream the frames recorded on a tape."""
    for member, data in iter_records(path):
        if member == "frame":
            with _Record.from_bytes(data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS) as record:
                frame = record.frame
                yield TapeFrame(frame.client, frame.recvTsNs, bytes(frame.payload))


def main(argv: list[str] | None = None) -> int:
    """Write a synthetic tape: ``python -m sim.tape [--seed N] [--contracts N] [--seconds N] FILE``."""
    parser = argparse.ArgumentParser(prog="python -m sim.tape", description="write a synthetic market tape")
    parser.add_argument("path", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--contracts", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=2000.0, help="mean ticks/s")
    parser.add_argument("--peak", type=float, default=None, help="peak ticks/s (default 2 × rate)")
    parser.add_argument("--seconds", type=int, default=60, help="virtual seconds")
    parser.add_argument("--instruments", type=Path, default=None, help="CTP instruments CSV as templates")
    args = parser.parse_args(argv)
    from sim.instruments import load_instruments

    templates = list(load_instruments(args.instruments).values()) if args.instruments else None
    market = SyntheticMarket(args.contracts, args.rate, args.seed, templates, peak_per_s=args.peak)
    ticks = write_synthetic_tape(args.path, market, args.seconds)
    print(f"{args.path}: {ticks} ticks, {len(market.instruments)} contracts, {args.seconds} s")
    return 0


__all__ = [
    "MAX_RECORD_BYTES", "TAPE_FORMAT_VERSION", "TAPE_MAGIC", "TapeFrame", "TapeWriter", "is_tape",
    "iter_records", "iter_tape_frames", "iter_tape_ticks", "tape_instruments", "write_synthetic_tape",
]  # fmt: skip

if __name__ == "__main__":
    sys.exit(main())
