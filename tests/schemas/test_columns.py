"""Numpy columns through Cap'n Proto message bytes: round trips and hostile input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import schemas
from schemas._columns import L1_DTYPES, ColumnLayoutError, column_views, fill_columns, init_columns, pointer_index

FRAME_ROWS = (pointer_index(schemas.stream.ServerMessage, "groupFrame"),
              pointer_index(schemas.market.GroupFrame, "rows"))


def _frame(n_rows: int, seed: int = 1) -> tuple[bytes, dict]:
    rng = np.random.default_rng(seed)
    columns = {name: (rng.random(n_rows) * 1e6).astype(dtype) for name, dtype in L1_DTYPES.items()}
    message = schemas.stream.ServerMessage.new_message()
    frame = message.init("groupFrame")
    frame.group = "rb"
    init_columns(frame.init("rows"), n_rows)
    return fill_columns(message, FRAME_ROWS, columns), columns


@pytest.mark.parametrize("n_rows", [0, 1, 130, 5000])
def test_fill_then_views_when_any_size_then_pycapnp_and_numpy_agree(n_rows):
    """Columns written into the bytes read back equal, by numpy views and by pycapnp (multi-segment too)."""
    data, columns = _frame(n_rows)
    views = column_views(data, FRAME_ROWS)
    for name in L1_DTYPES:
        assert np.array_equal(views[name], columns[name])
    with schemas.stream.ServerMessage.from_bytes(data) as message:
        assert list(message.groupFrame.rows.exchangeTsNs) == columns["exchangeTsNs"].tolist()
        assert list(message.groupFrame.rows.indexes) == columns["indexes"].tolist()


def test_fill_when_column_length_differs_then_error():
    """A column whose length differs from its list is refused."""
    message = schemas.stream.ServerMessage.new_message()
    init_columns(message.init("groupFrame").init("rows"), 3)
    with pytest.raises(ColumnLayoutError):
        fill_columns(message, FRAME_ROWS, {"lastPrices": np.zeros(4)})


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_views_when_bytes_mutated_then_only_column_layout_error(data):
    """Truncated or bit-flipped messages either decode within bounds or raise ColumnLayoutError."""
    original, _ = _frame(data.draw(st.integers(0, 40)))
    buf = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(buf) - 1))
        buf[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    try:
        views = column_views(bytes(buf[:cut]), FRAME_ROWS)
    except ColumnLayoutError:
        return
    assert all(v.base is not None for v in views.values())
