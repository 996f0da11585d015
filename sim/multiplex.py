"""Replay at desk scale: K time-shifted copies of a recorded day, and no overnight gaps.

The recorded day holds 429 instruments; the desk watches ~20,000. Replaying
the day as ``copies`` copies under distinct symbols (``rb1801``,
``rb1801k1``, ``rb1801k2`` ...), copy ``k`` shifted ``k × shift_s`` later in
exchange time, reaches that size while keeping the real burst structure
(the opening burst, the 500 ms exchange grids, quiet and busy products).
47 copies of the day are 20,163 contracts.

:func:`compress_gaps` shortens every pause between consecutive rows longer
than ``max_gap_s`` to ``max_gap_s`` (the night session's end to the day's
open, lunch), so a replay at 20× does not sit idle for hours.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from sim.instruments import InstrumentRef, parse_option
from sim.replay import ReplayTick

COPY_SUFFIX = "k"
"""Separates a symbol from its copy number: ``rb1801k3``."""


def copy_symbol(symbol: str, copy: int) -> str:
    """Return the symbol of copy ``copy`` (copy 0 keeps it): ``("rb1801", 3)`` → ``"rb1801k3"``."""
    return symbol if copy == 0 else f"{symbol}{COPY_SUFFIX}{copy}"


def multiplex_refs(refs: Iterable[InstrumentRef], copies: int) -> list[InstrumentRef]:
    """Return every instrument in ``copies`` copies, copy by copy.

    Copies of options keep their terms in the reference data (the suffix
    hides them from :func:`sim.instruments.parse_option`).
    """
    refs = list(refs)
    out = list(refs)
    for copy in range(1, copies):
        for ref in refs:
            terms = parse_option(ref.symbol) if not ref.option_right else None
            clone = replace(ref, symbol=copy_symbol(ref.symbol, copy), name=f"{ref.name} k{copy}")
            if terms is not None:
                clone = replace(clone, option_strike=terms.strike, option_right=terms.right,
                                option_underlying=terms.underlying)
            out.append(clone)
    return out


def compress_gaps(rows: Iterable[ReplayTick], max_gap_s: float) -> Iterator[ReplayTick]:
    """Yield rows with every pause longer than ``max_gap_s`` cut to ``max_gap_s`` (rows keep their order).

    Args:
        rows: ticks in exchange-time order.
        max_gap_s: longest pause kept, seconds of exchange time (> 0).
    """
    max_gap_ns = int(max_gap_s * 1e9)
    removed_ns = 0
    previous = None
    for row in rows:
        if previous is not None and row.ts_ns - previous > max_gap_ns:
            removed_ns += row.ts_ns - previous - max_gap_ns
        previous = row.ts_ns
        yield row._replace(ts_ns=row.ts_ns - removed_ns) if removed_ns else row


def multiplex(rows: Iterable[ReplayTick], copies: int, shift_s: float) -> Iterator[ReplayTick]:
    """Merge ``copies`` copies of a tape, copy ``k`` renamed and ``k × shift_s`` later, in time order.

    The source is read once: the copies share it through ``itertools.tee``,
    which holds only the rows between the first and the last copy
    (``copies × shift_s`` seconds of the tape).

    Args:
        rows: ticks in exchange-time order.
        copies: number of copies, >= 1 (1 yields the rows unchanged).
        shift_s: exchange-time shift between consecutive copies, seconds (>= 0).

    Raises:
        ValueError: ``copies`` < 1 or ``shift_s`` < 0.
    """
    if copies < 1 or shift_s < 0:
        raise ValueError(f"need copies >= 1 and shift_s >= 0, got {copies} and {shift_s}")
    if copies == 1:
        yield from rows
        return
    shift_ns = int(shift_s * 1e9)

    def shifted(source: Iterator[ReplayTick], copy: int) -> Iterator[ReplayTick]:
        names: dict[str, str] = {}
        for row in source:
            symbol = names.get(row.symbol)
            if symbol is None:
                symbol = names[row.symbol] = copy_symbol(row.symbol, copy)
            yield row._replace(symbol=symbol, ts_ns=row.ts_ns + copy * shift_ns)

    streams: Sequence[Iterator[ReplayTick]] = itertools.tee(rows, copies)
    yield from heapq.merge(*(shifted(stream, k) for k, stream in enumerate(streams)), key=lambda r: r.ts_ns)


__all__ = ["COPY_SUFFIX", "compress_gaps", "copy_symbol", "multiplex", "multiplex_refs"]
