"""ui/state_hash.js computes the same CRC-32 of a group's L1 state as schemas/state_hash.py (node, test vectors)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from tests.ui.ui_frames import run_node_script

from schemas.state_hash import CANONICAL_NAN, HASHED_COLUMNS, l1_state_crc32

HARNESS = Path(__file__).resolve().parent / "state_hash_harness.mjs"
KEYS = ("last", "bid", "ask", "bidVolume", "askVolume", "volume", "openInterest")
"""The page's names of HASHED_COLUMNS, same order (ui/group_state.js COLUMNS)."""


def _odd_nan(payload: int) -> float:
    """A NaN with a non-canonical payload (and sign): still "no value"."""
    return np.frombuffer(np.uint64(0xFFF0000000000000 | payload).tobytes(), dtype="<f8")[0]


def _vectors() -> list[tuple[int, dict[str, np.ndarray]]]:
    rng = np.random.default_rng(14)
    vectors = [(0, {name: np.zeros(0) for name in HASHED_COLUMNS})]
    for n in (1, 3, 17, 1000):
        columns = {name: rng.normal(3500, 50, n).round(1) for name in HASHED_COLUMNS}
        columns["lastPrices"][::3] = np.nan
        columns["bidPrices"][1::4] = _odd_nan(0x1234)
        columns["askPrices"][::5] = -0.0
        columns["volumesLots"][::7] = np.inf
        vectors.append((n, columns))
    short = {name: np.full(5, 1.5) for name in HASHED_COLUMNS}
    vectors.append((8, {name: np.concatenate([v, np.full(3, np.nan)]) for name, v in short.items()}))
    return vectors


def test_state_crc32_when_same_vectors_then_python_and_worker_agree(tmp_path):
    """NaN payloads, -0.0, infinities, empty and 1,000-row groups: the worker's hash equals the aggregator's."""
    vectors = _vectors()
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps([{"n": n, "columns": {key: columns[name].astype("<f8").tobytes().hex()
                                                    for key, name in zip(KEYS, HASHED_COLUMNS, strict=True)}}
                                for n, columns in vectors]))
    expected = [l1_state_crc32(columns, n) for n, columns in vectors]
    assert run_node_script(HARNESS, str(path)) == expected
    assert len(set(expected)) == len(expected)


def test_state_crc32_when_layout_written_by_hand_then_same_crc():
    """The documented layout: n as uint32 LE, then each column's float64 LE with NaN canonical."""
    columns = {name: np.array([1.0, np.nan], dtype="<f8") for name in HASHED_COLUMNS}
    canonical = np.array([1.0, CANONICAL_NAN], dtype="<f8").tobytes()
    by_hand = zlib.crc32((2).to_bytes(4, "little") + canonical * len(HASHED_COLUMNS))
    assert l1_state_crc32(columns, 2) == by_hand


def test_state_crc32_when_one_value_differs_then_hash_differs():
    """A single changed price changes the hash; a NaN's payload does not."""
    columns = {name: np.array([3500.0, np.nan, 3502.0]) for name in HASHED_COLUMNS}
    base = l1_state_crc32(columns, 3)
    changed = {**columns, "askPrices": np.array([3500.0, np.nan, 3503.0])}
    assert l1_state_crc32(changed, 3) != base
    other_nan = {**columns, "lastPrices": np.array([3500.0, _odd_nan(7), 3502.0])}
    assert l1_state_crc32(other_nan, 3) == base


def test_state_crc32_when_column_short_then_value_error():
    """A column shorter than the row count is refused."""
    columns = {name: np.zeros(2) for name in HASHED_COLUMNS}
    with pytest.raises(ValueError, match="fewer than 3"):
        l1_state_crc32(columns, 3)
