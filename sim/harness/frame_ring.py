"""The frames a harness client keeps for a while, in fixed numeric columns: no Python object per frame.

A :class:`sim.harness.clients.SimClient` keeps the last minute of the healthy frames it received, to
measure a fault's recovery at the end of a run. A deque of ``(arrival, built, group, fresh)`` tuples cost a
tuple and its ints per frame (~170 bytes, three pymalloc blocks); at ~450 frames a second over three
probes the minute held ~81,000 blocks, and its size followed the frame rate: when the recorded day's
09:00 open raised the rate, the kept minute grew by ~93,000 blocks (+2.8 MB RSS) in one minute and stayed,
which an in-process soak (perf/soak.py) read as the desk's growth. :class:`FrameRing` keeps the same four
figures in preallocated int64 / int16 columns (26 bytes a frame), touched when made so they are resident
from the start, and doubles only when a window holds more frames than it has room for (its size then
follows the highest rate seen, never the current one).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

DEFAULT_CAPACITY = 1 << 15
"""Frames a ring holds before it doubles: a minute at 546 frames a second (a probe of the soak sees ~150)."""


class FrameRing:
    """Healthy frames, oldest first: ``(arrival ns, built ns, group, fresh ns)``, UNIX ns (loop thread).

    Args:
        capacity: frames held before the ring doubles (> 0).

    Raises:
        ValueError: ``capacity`` is not > 0.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be > 0, got {capacity}")
        self._times = np.full((capacity, 3), -1, dtype=np.int64)   # arrival, built, fresh; touched: resident now
        self._groups = np.full(capacity, -1, dtype=np.int16)
        self._names: list[str] = []
        self._index: dict[str, int] = {}
        self._head = 0     # slot of the oldest frame
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def capacity(self) -> int:
        """Frames held before the next doubling."""
        return len(self._groups)

    def append(self, arrival_ns: int, built_ns: int, group: str, fresh_ns: int) -> None:
        """Keep one frame (newest); doubles the ring when it is full."""
        if self._size == len(self._groups):
            self._grow()
        slot = (self._head + self._size) % len(self._groups)
        index = self._index.get(group)
        if index is None:
            index = self._index[group] = len(self._names)
            self._names.append(group)
        self._times[slot] = (arrival_ns, built_ns, fresh_ns)
        self._groups[slot] = index
        self._size += 1

    def drop_arrived_before(self, arrival_ns: int) -> None:
        """Forget the oldest frames that arrived before ``arrival_ns`` (UNIX ns); the newest is always kept."""
        capacity = len(self._groups)
        while self._size > 1 and self._times[self._head, 0] < arrival_ns:
            self._head = (self._head + 1) % capacity
            self._size -= 1

    def __getitem__(self, position: int) -> tuple[int, int, str, int]:
        """Return the frame at ``position`` (0: oldest, -1: newest).

        Raises:
            IndexError: no frame there.
        """
        if position < 0:
            position += self._size
        if not 0 <= position < self._size:
            raise IndexError(f"frame {position} of {self._size}")
        slot = (self._head + position) % len(self._groups)
        arrival, built, fresh = self._times[slot].tolist()
        return arrival, built, self._names[self._groups[slot]], fresh

    def __iter__(self) -> Iterator[tuple[int, int, str, int]]:
        for position in range(self._size):
            yield self[position]

    def first_built_at_or_after(self, built_ns: int, groups: frozenset[str] | None = None
                                ) -> tuple[int, int, str, int] | None:
        """Return the oldest frame built at or after ``built_ns`` (UNIX ns) of one of ``groups`` (None: any),
        or None; one numpy pass over the kept frames, not a Python loop."""
        if not self._size:
            return None
        order = (self._head + np.arange(self._size)) % len(self._groups)
        match = self._times[order, 1] >= built_ns
        if groups is not None:
            wanted = [self._index[name] for name in groups if name in self._index]
            match &= np.isin(self._groups[order], wanted)
        hits = np.flatnonzero(match)
        return self[int(hits[0])] if len(hits) else None

    def _grow(self) -> None:
        order = (self._head + np.arange(self._size)) % len(self._groups)
        capacity = 2 * len(self._groups)
        times = np.full((capacity, 3), -1, dtype=np.int64)
        groups = np.full(capacity, -1, dtype=np.int16)
        times[:self._size] = self._times[order]
        groups[:self._size] = self._groups[order]
        self._times, self._groups, self._head = times, groups, 0


__all__ = ["DEFAULT_CAPACITY", "FrameRing"]
