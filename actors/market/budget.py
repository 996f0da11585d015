"""FrameBudget: how many rows a group's next frame may carry, and how long its window is.

A GroupActor (actors/market/group.py) asks :meth:`FrameBudget.row_cap` before
it takes its dirty rows, reports each frame it built to
:meth:`FrameBudget.observe_frame` and each flush timer's lateness to
:meth:`FrameBudget.observe_lateness`, and takes its next window from
:meth:`FrameBudget.next_window_ms`. Three budgets bound a frame:

* rows: ``max_rows``;
* bytes: ``max_frame_bytes`` divided by the bytes per row of recent frames;
* build time: ``max_build_ms`` divided by the build time per row of recent
  frames (encode, CRC, fan-out of the bytes to the sessions).

The window widens from ``window_ms`` to ``wide_window_ms`` on measured load:
rows left dirty by a cut (a backlog), a frame whose build took more than
``max_build_ms``, or a flush timer that fired more than ``late_ms`` after it
was due (the loop is lagging: a narrower window only queues more work behind
it; off unless ``late_ms`` is set). It narrows back at the first flush with none of these. Every decision
is counted (:meth:`FrameBudget.statistics`).

Why (issue 18): the old rule widened only past 2,000 dirty rows, and the
largest group has ~1,000 rows, so under load the 33 ms timer kept firing late
(venue→built p99 63 ms against a 33 ms window, perf/bench_browser.py) while
nothing acted on it.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_ROWS = 2000
DEFAULT_MAX_FRAME_BYTES = 32 * 1024
"""Bytes per delta frame before rows are deferred: ~350 rows of L1 (~90 B a row)."""
DEFAULT_MAX_BUILD_MS = 2.0
"""Build time per frame before rows are deferred and the window widens, ms."""
DEFAULT_LATE_MS = 0.0
"""Flush timer lateness that widens the window, ms; 0: off. Off by default: widening on loop lag
halves a watcher's frame rate while the loop is busy (tests/transport/admin/test_admin_reads.py reads
that as starvation); a desk that prefers fewer, later frames under lag sets ``[market] late_ms``
(10 ms, a third of the window, in perf/README.md's runs)."""
DEFAULT_SAMPLE_ROWS = 32
"""Frames with fewer rows do not update the per-row estimates: their fixed cost (envelope, hash,
fan-out) would pass for a per-row cost and cut the next large frame for nothing."""
_SMOOTHING = 0.25
"""Weight of the newest frame in the per-row cost averages (exponential moving average)."""

ROWS, BYTES, BUILD_TIME = "rows", "bytes", "build_time"
"""Which budget bounded a frame (:meth:`FrameBudget.row_cap`)."""


@dataclass(frozen=True)
class BudgetStatistics:
    """Counts of every budget decision since start.

    Attributes:
        frames_cut_rows: frames cut at ``max_rows``.
        frames_cut_bytes: frames cut by the byte budget.
        frames_cut_build_time: frames cut by the build-time budget.
        widened_backlog: flushes after which the window was wide because rows were left dirty.
        widened_build_time: flushes after which it was wide because the frame took over ``max_build_ms``.
        widened_loop_lag: flushes after which it was wide because the timer fired over ``late_ms`` late.
        narrowed: flushes that brought the window back to ``window_ms``.
        bytes_per_row: recent frames' bytes per row (moving average; 0 before the first frame).
        build_ns_per_row: recent frames' build time per row, ns (moving average).
        last_lateness_ns: the last flush timer's lateness, ns.
        window_ms: the current window, ms.
    """

    frames_cut_rows: int
    frames_cut_bytes: int
    frames_cut_build_time: int
    widened_backlog: int
    widened_build_time: int
    widened_loop_lag: int
    narrowed: int
    bytes_per_row: float
    build_ns_per_row: float
    last_lateness_ns: int
    window_ms: int


class FrameBudget:
    """Row cap and window of one group's frames (loop thread; no clock reads: callers pass times).

    Args:
        window_ms: the normal conflation window, ms (33).
        wide_window_ms: the window under load, ms (50).
        max_rows: most rows per delta frame.
        max_frame_bytes: bytes per delta frame, estimated from recent frames' bytes per row.
        max_build_ms: build time per frame, ms, estimated from recent frames' time per row.
        late_ms: flush timer lateness that counts as loop lag, ms (0 or below: lateness never widens).
        sample_rows: fewest rows of a frame that updates the per-row estimates.

    Values come from the desk config's ``[market]`` table unchecked, so none raises (a raise in
    ``GroupActor.on_start`` would restart the actor in a loop): a window or budget below 1 is taken as
    1, and ``wide_window_ms`` below ``window_ms`` as ``window_ms`` (no widening).
    """

    def __init__(self, window_ms: int, wide_window_ms: int, max_rows: int = DEFAULT_MAX_ROWS,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, max_build_ms: float = DEFAULT_MAX_BUILD_MS,
                 late_ms: float = DEFAULT_LATE_MS, sample_rows: int = DEFAULT_SAMPLE_ROWS) -> None:
        self.window_ms = max(1, window_ms)
        self.wide_window_ms = max(self.window_ms, wide_window_ms)
        self.max_rows, self.max_frame_bytes = max(1, max_rows), max(1, max_frame_bytes)
        self.max_build_ns = max(1, int(max_build_ms * 1e6))
        self.late_ns = int(late_ms * 1e6) if late_ms > 0 else None
        self.sample_rows = max(1, sample_rows)
        self.current_window_ms = self.window_ms
        self._bytes_per_row = 0.0
        self._ns_per_row = 0.0
        self._last_build_ns = 0
        self._lateness_ns = 0
        self._counts = dict.fromkeys(("frames_cut_rows", "frames_cut_bytes", "frames_cut_build_time",
                                      "widened_backlog", "widened_build_time", "widened_loop_lag", "narrowed"), 0)

    def row_cap(self, dirty_rows: int) -> tuple[int, str | None]:
        """Return ``(rows the next delta may carry, the budget that bound it or None)``.

        Args:
            dirty_rows: rows changed since the last frame.

        Returns:
            A cap ≥ 1 (a frame always makes progress) and ``"rows"``, ``"bytes"``, ``"build_time"`` when
            the cap is below ``dirty_rows`` (the cut is counted), else None.
        """
        caps = [(self.max_rows, ROWS)]
        if self._bytes_per_row:
            caps.append((int(self.max_frame_bytes / self._bytes_per_row), BYTES))
        if self._ns_per_row:
            caps.append((int(self.max_build_ns / self._ns_per_row), BUILD_TIME))
        cap, reason = min(caps)
        cap = max(1, cap)
        if dirty_rows <= cap:
            return cap, None
        self._counts[f"frames_cut_{reason}"] += 1
        return cap, reason

    def observe_frame(self, rows: int, frame_bytes: int, build_ns: int) -> None:
        """Record one built frame: its rows, encoded size (bytes) and build time (ns)."""
        self._last_build_ns = build_ns
        if rows < self.sample_rows:
            return
        bytes_per_row, ns_per_row = frame_bytes / rows, build_ns / rows
        if not self._bytes_per_row:
            self._bytes_per_row, self._ns_per_row = bytes_per_row, ns_per_row
            return
        self._bytes_per_row += _SMOOTHING * (bytes_per_row - self._bytes_per_row)
        self._ns_per_row += _SMOOTHING * (ns_per_row - self._ns_per_row)

    def observe_lateness(self, lateness_ns: int) -> None:
        """Record how late the flush timer fired after its due time, ns (the loop's lag as this group saw it)."""
        self._lateness_ns = max(0, lateness_ns)

    def next_window_ms(self, backlog_rows: int) -> int:
        """Decide and return the next window, ms, after a flush that left ``backlog_rows`` dirty."""
        if backlog_rows:
            reason = "widened_backlog"
        elif self._last_build_ns > self.max_build_ns:
            reason = "widened_build_time"
        elif self.late_ns is not None and self._lateness_ns > self.late_ns:
            reason = "widened_loop_lag"
        else:
            reason = None
        if reason is None:
            if self.current_window_ms != self.window_ms:
                self._counts["narrowed"] += 1
            self.current_window_ms = self.window_ms
        else:
            self._counts[reason] += 1
            self.current_window_ms = self.wide_window_ms
        return self.current_window_ms

    def statistics(self) -> BudgetStatistics:
        """Return every decision's count and the estimates behind them."""
        return BudgetStatistics(**self._counts, bytes_per_row=round(self._bytes_per_row, 1),
                                build_ns_per_row=round(self._ns_per_row, 1), last_lateness_ns=self._lateness_ns,
                                window_ms=self.current_window_ms)


__all__ = ["BudgetStatistics", "FrameBudget"]
