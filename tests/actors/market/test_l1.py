"""L1Table: latest value wins, dirty rows, top-K by change count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.market.l1 import L1Table


@given(st.lists(st.tuples(st.integers(0, 9), st.floats(1, 1e6)), min_size=1, max_size=200))
def test_apply_when_indexes_repeat_then_last_occurrence_wins(updates):
    """For any update sequence, each row holds the value of its last update."""
    table = L1Table(4)
    table.resize(10)
    indexes = np.array([i for i, _ in updates], np.uint32)
    prices = np.array([p for _, p in updates])
    table.apply({"indexes": indexes, "lastPrices": prices})
    expected = {i: p for i, p in updates}
    rows = table.take_dirty()
    assert dict(zip(rows["indexes"].tolist(), rows["lastPrices"].tolist())) == expected
    assert table.dirty_count == 0


def test_apply_when_index_outside_group_then_index_error():
    """A row number beyond the group is refused, not written."""
    table = L1Table()
    table.resize(3)
    with pytest.raises(IndexError):
        table.apply({"indexes": np.array([3], np.uint32), "lastPrices": np.array([1.0])})


def test_take_dirty_when_budget_then_most_changed_rows_first():
    """With a row budget, rows changed most often go first; the rest stay dirty."""
    table = L1Table()
    table.resize(4)
    for idx in ([0, 1, 2, 3], [2, 3], [3]):
        table.apply({"indexes": np.array(idx, np.uint32), "lastPrices": np.ones(len(idx))})
    assert table.take_dirty(2)["indexes"].tolist() == [2, 3]
    assert table.take_dirty()["indexes"].tolist() == [0, 1]


def test_take_dirty_when_cut_with_rows_first_then_those_kept_before_more_changed_rows():
    """Rows marked ``first`` (a client shows them) win a cut over rows that changed more often."""
    table = L1Table()
    table.resize(4)
    for _ in range(3):
        table.apply({"indexes": np.array([2, 3], np.uint32), "lastPrices": np.array([1.0, 2.0])})
    table.apply({"indexes": np.array([0, 1], np.uint32), "lastPrices": np.array([1.0, 2.0])})
    rows = table.take_dirty(2, first=np.array([True, True, False, False]))
    assert list(rows["indexes"]) == [0, 1]
    assert list(table.take_dirty()["indexes"]) == [2, 3]
