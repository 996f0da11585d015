"""Which rows of one group its subscribers' clients show (:class:`Viewports`): what a cut delta keeps first.

A browser tells its session the rows of a group its watchlist shows (schemas/market.capnp
``Viewport``: one run ``firstRow`` .. ``firstRow + rowCount - 1``, or ``rowIndexes`` for a sorted
view) on every scroll; the session forwards it to the group (``viewport``). When a delta is cut by
its frame budget (actors/market/budget.py), the group keeps first the rows some client shows
(:meth:`actors.market.l1.L1Table.take_dirty` ``first``), so a trader's screen is never the part of
the group that waits. Only the latest viewport per session counts; rows past the group's end are
ignored (the instrument list may have shrunk since the client's view). The union is built once
per change of a viewport or of the group's size, not per frame. Loop thread only, like the group
that owns it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Viewports:
    """The latest viewport of each session of one group, and the rows any of them shows."""

    def __init__(self) -> None:
        self._shown: dict[str, tuple[int, int] | np.ndarray] = {}  # session → (first, count) or its row indexes
        self._visible: np.ndarray | None = None  # bool[size]: rows some viewport shows (None: rebuild)

    def __len__(self) -> int:
        """Return how many sessions sent a viewport."""
        return len(self._shown)

    def show(self, session: str, first_row: int, row_count: int, row_indexes: Sequence[int] = ()) -> None:
        """Replace ``session``'s viewport.

        Args:
            session: the session's actor path.
            first_row: first row shown, an index into the group's instruments.
            row_count: rows shown from ``first_row`` (0: none).
            row_indexes: the rows shown when they are not one run (a sorted view); non-empty: ``first_row``
                and ``row_count`` are ignored.
        """
        if len(row_indexes):
            self._shown[session] = np.fromiter(row_indexes, dtype=np.int64, count=len(row_indexes))
        else:
            self._shown[session] = (first_row, row_count)
        self._visible = None

    def forget(self, session: str) -> None:
        """Drop ``session``'s viewport (it detached, or its mailbox is gone)."""
        if self._shown.pop(session, None) is not None:
            self._visible = None

    def visible(self, size: int) -> np.ndarray | None:
        """Return bool[size]: the rows some session's viewport shows, or None without viewports.

        Args:
            size: the group's rows now (rows past it are ignored).
        """
        if not self._shown:
            return None
        if self._visible is None or len(self._visible) != size:
            visible = np.zeros(size, dtype=bool)
            for shown in self._shown.values():
                if isinstance(shown, np.ndarray):
                    visible[shown[shown < size]] = True
                else:
                    first, count = shown
                    visible[first:first + count] = True
            self._visible = visible
        return self._visible

    def statistics(self, size: int) -> dict[str, int]:
        """``viewports``: sessions that sent one; ``viewport_rows``: rows some viewport shows now;
        ``viewport_first_row`` and ``viewport_last_row``: the lowest and highest of them (-1 without any)."""
        visible = self.visible(size)
        shown = np.flatnonzero(visible) if visible is not None else np.zeros(0, np.int64)
        return {"viewports": len(self._shown), "viewport_rows": len(shown),
                "viewport_first_row": int(shown[0]) if len(shown) else -1,
                "viewport_last_row": int(shown[-1]) if len(shown) else -1}


__all__ = ["Viewports"]
