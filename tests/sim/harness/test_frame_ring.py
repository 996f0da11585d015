"""sim/harness/frame_ring.py: a client's kept frames in fixed numeric columns."""

from __future__ import annotations

import sys

import pytest

from sim.harness.frame_ring import FrameRing


def test_ring_when_frames_appended_and_dropped_then_oldest_first_and_newest_always_kept():
    """Frames come back oldest first as (arrival, built, group, fresh); dropping by arrival keeps the newest."""
    ring = FrameRing(capacity=4)
    for i in range(3):
        ring.append(100 + i, 90 + i, ("rb", "m_o")[i % 2], 80 + i)
    assert list(ring) == [(100, 90, "rb", 80), (101, 91, "m_o", 81), (102, 92, "rb", 82)]
    assert ring[0] == (100, 90, "rb", 80) and ring[-1] == (102, 92, "rb", 82)
    ring.drop_arrived_before(102)
    assert list(ring) == [(102, 92, "rb", 82)]
    ring.drop_arrived_before(10**9)
    assert len(ring) == 1
    with pytest.raises(IndexError):
        ring[1]


def test_ring_when_it_wraps_and_when_a_window_outgrows_it_then_it_doubles_keeping_order():
    """Slots are reused after the oldest are dropped; a window with more frames than slots doubles the ring."""
    ring = FrameRing(capacity=4)
    for i in range(10):   # wraps: a window of 2 frames
        ring.append(i, i, "rb", 0)
        ring.drop_arrived_before(i - 1)
    assert ring.capacity == 4 and [f[0] for f in ring] == [8, 9]
    for i in range(10, 15):   # nothing dropped: 7 frames need 8 slots
        ring.append(i, i, "IF", i)
    assert ring.capacity == 8 and [f[0] for f in ring] == list(range(8, 15)) and ring[-1] == (14, 14, "IF", 14)


def test_ring_first_built_at_or_after_when_groups_wanted_then_the_oldest_match():
    """The search a fault's recovery needs: the oldest frame built at or after a time, of some groups."""
    ring = FrameRing(capacity=3)
    for i, group in enumerate(("rb", "m_o", "rb", "IF")):   # wraps once
        ring.append(1000 + i, 500 + i, group, 0)
        ring.drop_arrived_before(1001)
    assert ring.first_built_at_or_after(0) == (1001, 501, "m_o", 0)
    assert ring.first_built_at_or_after(502) == (1002, 502, "rb", 0)
    assert ring.first_built_at_or_after(0, frozenset({"IF", "cu"})) == (1003, 503, "IF", 0)
    assert ring.first_built_at_or_after(0, frozenset({"cu"})) is None
    assert ring.first_built_at_or_after(504) is None
    assert FrameRing().first_built_at_or_after(0) is None


def test_ring_when_a_minute_of_frames_kept_then_no_python_object_per_frame():
    """A minute at 450 frames a second adds no pymalloc block per frame (the deque of tuples added three and
    ~170 bytes, and followed the frame rate); memory is the preallocated columns, 26 bytes a frame."""
    ring = FrameRing()
    base = 1_700_000_000_000_000_000
    ring.append(base, base, "rb", base)
    before = sys.getallocatedblocks()
    for i in range(27_000):
        now = base + i * 2_222_222
        ring.append(now, now - 5_000_000, ("rb", "m_o", "SR")[i % 3], now - 9_000_000)
    assert sys.getallocatedblocks() - before < 1_000
    with pytest.raises(ValueError):
        FrameRing(capacity=0)
