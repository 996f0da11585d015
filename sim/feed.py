"""The simulator's feed thread: play rows paced by exchange time × speed.

One background thread walks a tick source and hands each row to an ``emit``
callback when the row is due: the first row anchors exchange time to the
monotonic clock, and a row stamped ``t`` is due ``(t - t_first) / speed``
after the anchor. Between rows the thread waits on a ``threading.Event``, so
:meth:`TickFeed.stop` wakes it at once. Rows due within 1 ms are emitted
without waiting, so everything due after a wait goes out in one go; a feed
that falls behind catches up unpaced.

Faults (sim/harness/faults.py) steer a running feed from another thread:
:meth:`TickFeed.pause` drops rows as they come due until :meth:`TickFeed.resume`
(a disconnected gateway hears nothing; the market moves on), and
:meth:`TickFeed.set_speed_factor` multiplies the speed from the next row (a burst).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sim.replay import ReplayTick

MIN_WAIT_NS = 1_000_000
"""Rows due sooner than this are emitted at once (nanoseconds); waits shorter than this cost more than they save."""

RATE_WINDOW_NS = 1_000_000_000
"""Window of the measured emission rate (nanoseconds of wall time)."""


@dataclass(frozen=True, slots=True)
class ReplayProgress:
    """A snapshot of a feed's progress.

    Attributes:
        rows_emitted: ticks emitted since connect.
        ticks_per_s: emission rate over the last second of wall time, ticks per second.
        speed: requested speed, multiple of exchange time (``inf``: as fast as possible).
        exchange_time_ns: exchange time of the last row emitted, UNIX
            timestamp (nanoseconds); 0 before the first.
        done: the feed has stopped: end of tape, ``close()``, or an error.
        source: the replayed path, or ``"synthetic"``.
        rows_skipped: rows dropped because their exchange is unknown to vn.py.
        error: ``"<ErrorType>: <message>"`` when the feed died of an error, else ``""``.
        rows_dropped_paused: rows that came due while the feed was paused (disconnected).
        paused: the feed is paused now.
    """

    rows_emitted: int
    ticks_per_s: float
    speed: float
    exchange_time_ns: int
    done: bool
    source: str
    rows_skipped: int = 0
    error: str = ""
    rows_dropped_paused: int = 0
    paused: bool = False


class TickFeed:
    """Play a tick source on one background thread.

    Args:
        source: called once per pass (once, or again at each restart when
            ``loop``) to get the rows, in exchange-time order.
        emit: called on the feed thread with each due row; returns False when
            it dropped the row (counted as skipped).
        speed: multiple of exchange time (> 0); ``inf`` plays unpaced.
        loop: start the source over when it ends.
        log: called on the feed thread with a human-readable line at the end
            of the source or on an error.
        name: thread name.
        source_name: what :attr:`ReplayProgress.source` reports.
        reported_speed: what :attr:`ReplayProgress.speed` reports (default ``speed``).
        on_finished: called on the feed thread once the source ended for good
            (no ``loop``; not when stopped or on an error), after the last row.
        on_dropped: called on the feed thread with each row that came due while paused (the market
            moves on during a disconnection; the gateway keeps each contract's latest quote).
    """

    def __init__(
        self,
        source: Callable[[], Iterable[ReplayTick]],
        emit: Callable[[ReplayTick], bool],
        speed: float,
        loop: bool,
        log: Callable[[str], None],
        name: str,
        source_name: str,
        reported_speed: float | None = None,
        on_finished: Callable[[], None] | None = None,
        on_dropped: Callable[[ReplayTick], None] | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0 (inf: unpaced), got {speed}")
        self._source = source
        self._emit = emit
        self._speed = speed
        self._loop = loop
        self._log = log
        self._source_name = source_name
        self._reported_speed = speed if reported_speed is None else reported_speed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._rows = 0
        self._skipped = 0
        self._exchange_time_ns = 0
        self._window_start_ns = time.monotonic_ns()
        self._window_rows = 0
        self._ticks_per_s = 0.0
        self._done = False
        self._error = ""
        self._paused = False
        self._dropped_paused = 0
        self._speed_factor = 1.0
        self._speed_changed = False
        self._on_finished = on_finished
        self._on_dropped = on_dropped

    def pause(self) -> None:
        """Drop rows as they come due from now on (any thread); pacing goes on."""
        self._paused = True

    def resume(self) -> None:
        """Emit rows again from the next one due (any thread)."""
        self._paused = False

    @property
    def paused(self) -> bool:
        """Whether rows are being dropped (a simulated market-data disconnection); any thread."""
        return self._paused

    def set_speed_factor(self, factor: float) -> None:
        """Play at ``speed × factor`` from the next row (any thread); 1.0 restores the speed.

        Raises:
            ValueError: ``factor`` is not > 0.
        """
        if not factor > 0:
            raise ValueError(f"speed factor must be > 0, got {factor}")
        self._speed_factor = factor
        self._speed_changed = True

    def start(self) -> None:
        """Start the feed thread (once)."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Ask the feed to stop and wait for its thread.

        Args:
            timeout_s: longest wait for the thread, seconds.

        Returns:
            True when the thread has ended (or never started).
        """
        self._stop.set()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def is_alive(self) -> bool:
        """Whether the feed thread is running."""
        return self._thread.is_alive()

    def progress(self) -> ReplayProgress:
        """Return a snapshot of the progress; safe from any thread (plain attribute reads)."""
        rate = self._ticks_per_s
        elapsed_ns = time.monotonic_ns() - self._window_start_ns
        if self._done:
            rate = 0.0
        elif elapsed_ns >= 2 * RATE_WINDOW_NS:  # the feed is waiting: measure the open window
            rate = (self._rows - self._window_rows) * 1e9 / elapsed_ns
        return ReplayProgress(
            rows_emitted=self._rows,
            ticks_per_s=rate,
            speed=self._reported_speed,
            exchange_time_ns=self._exchange_time_ns,
            done=self._done,
            source=self._source_name,
            rows_skipped=self._skipped,
            error=self._error,
            rows_dropped_paused=self._dropped_paused,
            paused=self._paused,
        )

    def _run(self) -> None:
        """Play passes of the source until it ends (no loop), stop is asked, or an error."""
        try:
            while not self._stop.is_set():
                finished = self._play(self._source())
                if not finished:
                    return
                if not self._loop:
                    self._log(f"replay finished: {self._rows} rows emitted from {self._source_name}")
                    if self._on_finished is not None:
                        self._on_finished()
                    return
                self._log(f"replay of {self._source_name} ended; restarting from the beginning")
        except Exception as error:  # the thread must not die silently: report it in progress and the log
            self._error = f"{type(error).__name__}: {error}"
            self._log(f"feed stopped by an error: {self._error}")
        finally:
            self._done = True

    def _play(self, rows: Iterable[ReplayTick]) -> bool:
        """Emit one pass of rows on time; return False when stopped before the end."""
        stop = self._stop
        emit = self._emit
        clock = time.monotonic_ns
        speed = self._speed
        paced = math.isfinite(speed)
        anchor_ts_ns = -1
        anchor_wall_ns = 0
        for row in rows:
            if stop.is_set():
                return False
            if paced:
                if self._speed_changed:
                    self._speed_changed = False
                    speed = self._speed * self._speed_factor
                    anchor_ts_ns = -1
                if anchor_ts_ns < 0:
                    anchor_ts_ns, anchor_wall_ns = row.ts_ns, clock()
                delay_ns = anchor_wall_ns + (row.ts_ns - anchor_ts_ns) / speed - clock()
                if delay_ns > MIN_WAIT_NS and stop.wait(delay_ns / 1e9):
                    return False
            if self._paused:
                self._dropped_paused += 1
                if self._on_dropped is not None:
                    self._on_dropped(row)
            elif emit(row):
                self._rows += 1
                self._exchange_time_ns = row.ts_ns
            else:
                self._skipped += 1
            now_ns = clock()
            if now_ns - self._window_start_ns >= RATE_WINDOW_NS:
                self._ticks_per_s = (self._rows - self._window_rows) * 1e9 / (now_ns - self._window_start_ns)
                self._window_rows = self._rows
                self._window_start_ns = now_ns
        return True


__all__ = ["MIN_WAIT_NS", "RATE_WINDOW_NS", "ReplayProgress", "TickFeed"]
