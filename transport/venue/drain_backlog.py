"""The market bridge's drain backlog: ticks a drain took and not yet routed, cut into bounded slices.

A drain of :class:`~transport.venue.vnpy_bridge.VnpyBridge` takes every tick vn.py conflated since the last one
and routes them over one or more loop turns (issue 18): each turn routes one slice of at most
:data:`DRAIN_SLICE_TICKS` ticks' worth of work, so an order reply or a socket read queued meanwhile waits for one
slice, not for a whole drain (measured in perf/README.md, "The drain in slices": the in-node p99 of a drain's loop
turn fell 20–30 % on an all-in-one node). :class:`DrainBacklog` holds what waits between those turns and
decides what each slice takes; the bridge routes, flushes the groups' TickBatches and arms the next turn.

The rules:

* **Cost of a slice**: its ticks plus :data:`TICK_BATCH_COST_TICKS` per product group it touches (each touched
  group costs one TickBatch), at most the slice's budget.
* **Whole groups**: a slice takes whole product groups, in the order of their first waiting tick, so a group
  still gets one TickBatch per drain however the drain is cut; a group whose waiting ticks alone cost more than
  the budget is split: its first ``budget - TICK_BATCH_COST_TICKS`` ticks (at least one) now, the rest in the
  next slices, first in line.
* **Conflation while waiting**: a newer tick of a contract that still waits replaces the waiting one in place
  (its group keeps its place, the contract its place in the group), so a contract is routed once, with its
  latest tick; a contract already routed waits again, at the end, with its newer tick.
* **Feed statuses after their ticks**: a feed status taken by drain *n* is due once no tick taken by drain *n*
  or an earlier one waits (a tick replaced by a later drain's counts as the later drain's), so a group never
  shows a feed state older than ticks it still gets.

Ticks and feed statuses are opaque here (vn.py ``TickData`` and :class:`~schemas.venue_events.FeedStatus` in the
bridge). Not thread-safe: the bridge uses it on the loop thread only.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from typing import Any

DRAIN_SLICE_TICKS = 150
"""Most work one drain slice does, in ticks, a group's TickBatch counted as :data:`TICK_BATCH_COST_TICKS`
(issue 18): ~0.5 ms at the costs measured there, a quarter of the actor runtime's 2 ms pump slice, and the
group messages it queues are delivered within one pump turn. Chosen by measurement (perf/README.md, "Slices
of 150"): against 300, an order over the WebSocket in process had a p99 of 2.7–3.6 ms instead of 4.0–9.4 ms
(median of three 5.2 ms), a ping's 1.9–2.8 instead of 3.2–5.0 ms, at the cost of the 40,000 ticks/s tick →
client p99 going from 11–12 to 16 ms (goal 45). A count, not a clock: a loaded machine does not cut drains
into more slices. Slices take whole groups, so a group still gets one TickBatch per drain: cutting adds loop
turns, not messages."""
TICK_BATCH_COST_TICKS = 24
"""A group's TickBatch (columns, L1 table, encoding, send) in ticks routed. Measured 2026-12-05 on the shared
2-core machine (load 2–3): routing a tick costs ~3 µs; a drain in a ``tickstage run`` node replaying at 20×
takes ~70–75 µs per TickBatch at the median (least squares over ~2,600 drains, venue-host and all-in-one)."""

Waiting = tuple[Any, int, int]
"""A waiting tick: ``(tick, received_ns, drain)``: the tick, its gateway receive time (UNIX timestamp,
nanoseconds) and the number of the drain that took it."""


class DrainBacklog:
    """Ticks taken by drains and not yet routed, by product group, and the feed statuses waiting for them.

    Its length is the number of waiting ticks (one per contract at most); it is true while any waits.
    """

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, Waiting]] = {}
        """Product group → vt_symbol → waiting tick; groups in the order of their first waiting tick."""
        self._statuses: deque[tuple[int, Any]] = deque()
        """(drain, status) in the order taken, not yet due."""
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, group_name: str, vt_symbol: str, tick: Any, received_ns: int, drain: int) -> bool:
        """Make a contract's tick wait for a slice, replacing its waiting one in place if any.

        Args:
            group_name: the contract's product group (``"rb"``); a vt_symbol always goes with the same group.
            vt_symbol: the contract (``"rb1801.SHFE"``).
            tick: the tick, opaque here.
            received_ns: its gateway receive time, UNIX timestamp (nanoseconds).
            drain: the number of the drain that took it (drains count up from 1).

        Returns:
            True when it replaced a waiting tick of the contract (the bridge counts it as conflated).
        """
        bucket = self._groups.get(group_name)
        if bucket is None:
            self._groups[group_name] = bucket = {}
        replaced = vt_symbol in bucket
        bucket[vt_symbol] = (tick, received_ns, drain)
        if not replaced:
            self._count += 1
        return replaced

    def add_statuses(self, drain: int, statuses: Iterable[Any]) -> None:
        """Make feed statuses taken by drain number ``drain`` wait for that drain's and earlier drains' ticks."""
        self._statuses.extend((drain, status) for status in statuses)

    def waiting(self, group_name: str, vt_symbol: str) -> Any | None:
        """Return the contract's waiting tick (the newest a drain took), or None when none waits."""
        entry = self._groups.get(group_name, {}).get(vt_symbol)
        return entry[0] if entry is not None else None

    def take_slice(self, budget_ticks: int) -> list[tuple[str, Waiting]]:
        """Take the next slice of waiting ticks (module docstring: whole groups, a group over budget split).

        Args:
            budget_ticks: the most work of the slice, in ticks, each group taken counting
                :data:`TICK_BATCH_COST_TICKS` more; a slice takes at least one tick while any waits.

        Returns:
            ``[(vt_symbol, (tick, received_ns, drain)), ...]``, a group's ticks together, in waiting order
            (empty when nothing waits).
        """
        groups = self._groups
        taken: list[tuple[str, Waiting]] = []
        cost = 0
        while groups:
            name = next(iter(groups))
            bucket = groups[name]
            need = len(bucket) + TICK_BATCH_COST_TICKS
            if cost + need <= budget_ticks:
                del groups[name]
                taken.extend(bucket.items())
                cost += need
                continue
            if not taken:   # a group alone over the budget: its first ticks now, the rest in the next slices
                taken = list(itertools.islice(bucket.items(), max(1, budget_ticks - TICK_BATCH_COST_TICKS)))
                for vt_symbol, _ in taken:
                    del bucket[vt_symbol]
                if not bucket:
                    del groups[name]
            break
        self._count -= len(taken)
        return taken

    def take_due_statuses(self) -> list[Any]:
        """Take the feed statuses now due, in the order added: those of drains older than every waiting tick's."""
        statuses = self._statuses
        if not statuses:
            return []
        oldest = min((entry[2] for bucket in self._groups.values() for entry in bucket.values()), default=None)
        due = []
        while statuses and (oldest is None or statuses[0][0] < oldest):
            due.append(statuses.popleft()[1])
        return due


__all__ = ["DRAIN_SLICE_TICKS", "TICK_BATCH_COST_TICKS", "DrainBacklog", "Waiting"]
