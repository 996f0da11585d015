"""The canonical hash of a group's L1 state (``GroupFrame.stateCrc32``, schemas/market.capnp).

A client that applied every frame holds the same rows as the aggregator; the
aggregator proves it by sending, with every snapshot and at least every
250 ms with a delta, the CRC-32 of its whole state after that frame. The
worker (ui/state_hash.js) computes the same over its typed arrays and asks a
snapshot when they differ (self-healing deltas).

Canonical layout (also in market.capnp), hashed with CRC-32 (IEEE 802.3, the
polynomial of zlib, gzip and PNG; stdlib :func:`zlib.crc32`):

1. ``n``, the number of rows (GroupInfo instruments), as ``uint32`` little-endian;
2. for each column of :data:`HASHED_COLUMNS`, in that order, its ``n`` values
   (row 0 first) as ``float64`` little-endian, every NaN written as the
   canonical quiet NaN ``0x7FF8000000000000`` (a NaN's payload bits are not state).

The timestamp columns are hop metadata and are not hashed.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np

HASHED_COLUMNS = ("lastPrices", "bidPrices", "askPrices", "bidVolumesLots", "askVolumesLots", "volumesLots",
                  "openInterestsLots")
"""L1Columns lists in the hash, in hash order (all float64)."""

CANONICAL_NAN = np.frombuffer(np.uint64(0x7FF8000000000000).tobytes(), dtype="<f8")[0]
"""The NaN every NaN is written as."""


def l1_state_crc32(columns: Mapping[str, np.ndarray], rows: int) -> int:
    """Return the CRC-32 of a group's L1 state in the canonical layout.

    Args:
        columns: every name in :data:`HASHED_COLUMNS` → ``float64[>= rows]``
            (prices in quote currency, volumes in lots), row ``i`` at index ``i``.
        rows: the number of rows hashed (the group's instruments).

    Returns:
        The unsigned CRC-32, ``0 <= crc < 2**32``.

    Raises:
        KeyError: a hashed column is missing.
        ValueError: a column is shorter than ``rows``, or ``rows`` is negative.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    crc = zlib.crc32(np.uint32(rows).astype("<u4").tobytes())
    for name in HASHED_COLUMNS:
        column = np.asarray(columns[name])
        if len(column) < rows:
            raise ValueError(f"column {name} has {len(column)} rows, fewer than {rows}")
        values = column[:rows].astype("<f8", copy=True)
        values[np.isnan(values)] = CANONICAL_NAN
        crc = zlib.crc32(values.tobytes(), crc)
    return crc & 0xFFFFFFFF


__all__ = ["CANONICAL_NAN", "HASHED_COLUMNS", "l1_state_crc32"]
