"""Skeleton-cached encoders write exactly what pycapnp reads back, for every shape."""

from __future__ import annotations

import numpy as np
import pytest

import schemas
from actors.market.frames import encode_group_frame, encode_tick_batch, frame_columns, tick_batch_columns
from schemas._columns import L1_DTYPES
from schemas._templates import SkeletonCache


def _rows(n, seed):
    rng = np.random.default_rng(seed)
    return {name: (rng.random(n) * 1e9).astype(dtype) for name, dtype in L1_DTYPES.items()}


@pytest.mark.parametrize("n_rows", [0, 1, 7, 130, 3000])
def test_encode_group_frame_when_cached_then_every_field_reads_back(n_rows):
    """Two frames of one shape (the second from the cache) carry their own scalars and columns."""
    for seq in (1, 2):
        rows = _rows(n_rows, seq)
        data = encode_group_frame(group="rb", seq=seq, snapshot=seq == 2, window_ms=33 + seq, info_version=seq,
                                  rows=rows, source="market/group/rb", message_id=10 + seq)
        with schemas.stream.ServerMessage.from_bytes(data) as message:
            frame = message.groupFrame
            assert (frame.group, frame.seq, str(frame.kind)) == ("rb", seq, "delta" if seq == 1 else "snapshot")
            assert (frame.windowMs, frame.infoVersion, message.envelope.id) == (33 + seq, seq, 10 + seq)
            assert message.envelope.source == "market/group/rb" and frame.builtTsNs > 0
            assert list(frame.rows.lastPrices) == rows["lastPrices"].tolist()
        views = frame_columns(data)
        assert all(np.array_equal(views[k], rows[k]) for k in rows)


def test_encode_tick_batch_when_cached_then_columns_and_timestamps_read_back():
    """A TickBatch from a cached skeleton decodes with pycapnp and as numpy views."""
    rows = _rows(5, 3)
    for _ in range(2):
        data = encode_tick_batch("IF", rows)
        with schemas.actor.ActorMessage.from_bytes(data) as message:
            assert message.which() == "tickBatch" and message.tickBatch.group == "IF"
            assert message.sentTsNs == message.tickBatch.drainTsNs > 0
        assert all(np.array_equal(tick_batch_columns(data)[k], rows[k]) for k in rows)


def test_skeleton_cache_when_full_then_least_recent_dropped():
    """The cache holds at most max_entries skeletons."""
    def build(key, n):
        message = schemas.actor.ActorMessage.new_message()
        batch = message.init("tickBatch")
        batch.group = key
        rows = batch.init("rows")
        for name in L1_DTYPES:
            rows.init(name, n)
        return message

    cache = SkeletonCache(build, (0, 1), {}, max_entries=2)
    for key in ("a", "b", "c", "a"):
        cache.encode(key, _rows(1, 0))
    assert (cache.hits, cache.misses) == (0, 4)
