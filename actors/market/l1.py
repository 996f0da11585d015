"""Latest L1 state of a contract group in numpy arrays, with a dirty mask.

Used by the GroupActor (the aggregator's state) and by the vn.py bridge (the
latest rows it replays to a restarted aggregator). One row per instrument,
in GroupInfo order; columns as in schemas/market.capnp ``L1Columns``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from schemas._columns import L1_DTYPES

VALUE_COLUMNS = tuple(name for name in L1_DTYPES if name != "indexes")
"""Every L1Columns column but ``indexes``."""


class L1Table:
    """Latest L1 values per row, the rows changed since the last take, and change counts.

    Args:
        capacity: rows to allocate up front (grows by doubling).
    """

    def __init__(self, capacity: int = 64) -> None:
        self.size = 0
        self._columns = {name: self._empty(name, capacity) for name in VALUE_COLUMNS}
        self._dirty = np.zeros(capacity, dtype=bool)
        self._changes = np.zeros(capacity, dtype=np.uint32)

    @staticmethod
    def _empty(name: str, capacity: int) -> np.ndarray:
        dtype = L1_DTYPES[name]
        if dtype.kind == "f":
            return np.full(capacity, np.nan, dtype=dtype)
        return np.zeros(capacity, dtype=dtype)

    def resize(self, size: int) -> None:
        """Make room for ``size`` rows; new rows are empty (NaN prices, 0 timestamps)."""
        capacity = len(self._dirty)
        if size > capacity:
            new_capacity = max(size, capacity * 2)
            for name, column in self._columns.items():
                grown = self._empty(name, new_capacity)
                grown[:capacity] = column
                self._columns[name] = grown
            self._dirty = np.concatenate([self._dirty, np.zeros(new_capacity - capacity, bool)])
            self._changes = np.concatenate(
                [self._changes, np.zeros(new_capacity - capacity, np.uint32)]
            )
        self.size = max(self.size, size)

    def apply(self, columns: Mapping[str, np.ndarray]) -> int:
        """Write rows (latest value wins) and mark them dirty.

        Args:
            columns: ``indexes`` (uint32[n], row numbers) and any value columns
                (``lastPrices`` float64[n] quote currency, ...). When an index
                repeats, its last occurrence wins.

        Returns:
            Rows written.

        Raises:
            IndexError: an index is not below :attr:`size`.
        """
        indexes = np.asarray(columns["indexes"], dtype=np.int64)
        if len(indexes) == 0:
            return 0
        if indexes.max() >= self.size:
            raise IndexError(f"row {int(indexes.max())} outside a group of {self.size}")
        keep = slice(None)
        n = len(indexes)
        if n > 1 and (n > 64 or len(set(indexes.tolist())) != n):
            unique, first_in_reversed = np.unique(indexes[::-1], return_index=True)
            if len(unique) != n:
                keep = n - 1 - first_in_reversed
                indexes = indexes[keep]
        for name in VALUE_COLUMNS:
            values = columns.get(name)
            if values is not None:
                self._columns[name][indexes] = np.asarray(values)[keep]
        self._dirty[indexes] = True
        self._changes[indexes] += 1
        return len(indexes)

    @property
    def dirty_count(self) -> int:
        """Rows changed and not yet taken."""
        return int(np.count_nonzero(self._dirty[: self.size]))

    def take_dirty(self, max_rows: int | None = None, first: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Return the changed rows (copies) and clear their dirty marks.

        Args:
            max_rows: keep at most this many rows, those changed most often
                since they were last taken; the rest stay dirty for later.
            first: bool[>= size]: rows kept before any other when ``max_rows`` cuts (rows a client
                shows), the most changed of them first.

        Returns:
            ``indexes`` uint32[k] ascending and every value column [k].
        """
        indexes = np.flatnonzero(self._dirty[: self.size])
        if max_rows is not None and len(indexes) > max_rows:
            counts = self._changes[indexes].astype(np.int64)
            if first is not None:
                counts = counts + first[indexes] * (int(counts.max()) + 1)
            top = np.argpartition(counts, len(indexes) - max_rows)[len(indexes) - max_rows :]
            indexes = np.sort(indexes[top])
        self._dirty[indexes] = False
        self._changes[indexes] = 0
        return self._rows(indexes)

    def snapshot(self) -> dict[str, np.ndarray]:
        """Return every row (copies); dirty marks are cleared (a snapshot supersedes them)."""
        self._dirty[: self.size] = False
        self._changes[: self.size] = 0
        return self._rows(np.arange(self.size))

    def value(self, column: str, index: int) -> float:
        """Return one cell: ``column`` (``"lastPrices"`` ...) of row ``index`` (NaN prices before a tick)."""
        return float(self._columns[column][index])

    def columns(self, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Return read-only views of the first :attr:`size` rows of the named value columns (no copy)."""
        views = {}
        for name in names:
            view = self._columns[name][: self.size]
            view.flags.writeable = False
            views[name] = view
        return views

    def peek_all(self) -> dict[str, np.ndarray]:
        """Return every row (copies) without touching the dirty marks."""
        return self._rows(np.arange(self.size))

    def _rows(self, indexes: np.ndarray) -> dict[str, np.ndarray]:
        rows = {"indexes": indexes.astype(np.uint32)}
        for name in VALUE_COLUMNS:
            rows[name] = self._columns[name][indexes]
        return rows


__all__ = ["L1Table", "VALUE_COLUMNS"]
