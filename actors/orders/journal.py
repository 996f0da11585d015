"""The durable order journal: SQLite in WAL mode, one writer thread, a mirror in memory.

Order actors never block (DESIGN §1), and a SQLite commit is blocking I/O, so
writes go to a dedicated writer thread through a queue
(:meth:`OrderJournal.write_order_nowait`). The thread commits whatever is
queued in one transaction (group commit), updates an in-memory mirror of the
committed rows, and reports completion to the loop with **one**
``call_soon_threadsafe`` per batch; the callbacks run on the loop thread. An
order actor calls ``send_order`` only from such a callback's message
(``journaled``): the journal is written before the gateway call, so a
restarted actor or process neither forgets nor re-sends.

A restarted order actor reads the mirror (committed rows only, no I/O);
a new process loads it from the file once, at start (:meth:`OrderJournal.open`,
blocking: call it off the loop, ``asyncio.to_thread``).

``PRAGMA synchronous = NORMAL`` (default) survives a process crash; ``FULL``
also survives a power cut, at an fsync per batch. Tables: ``orders`` (one row
per account and client order id, replaced on each change),
``limit_changes`` and ``kill_switch_changes`` (append-only: who, when, what).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from actors.orders.errors import JournalClosedError, JournalError

_log = structlog.get_logger("actors.orders.journal")

ORDER_COLUMNS = (
    "account", "client_order_id", "user", "vt_symbol", "direction", "offset", "order_type", "price",
    "volume", "reference", "grp", "state", "vt_orderid", "status", "traded", "avg_price",
    "rejection_rule", "rejection_limit", "rejection_observed", "rejection_reason", "reply_status",
    "decided_ns", "created_ns", "updated_ns", "sent_ns", "cancel_requested", "rejected_by_gateway",
    "trade_volume",
)
LIMIT_COLUMNS = ("ts_ns", "changed_by", "rule", "scope", "name", "old_value", "new_value")
KILL_SWITCH_COLUMNS = ("ts_ns", "changed_by", "scope", "target", "state", "previous", "reason")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS orders (
  {", ".join(ORDER_COLUMNS)},
  PRIMARY KEY (account, client_order_id)
);
CREATE TABLE IF NOT EXISTS limit_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, {", ".join(LIMIT_COLUMNS)});
CREATE TABLE IF NOT EXISTS kill_switch_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT,
  {", ".join(KILL_SWITCH_COLUMNS)});
"""
_MAX_BATCH = 1000
"""Most rows per transaction (28 columns × 1,000 stays under SQLite's 32,766 parameters)."""
_STOP = object()

OnCommit = Callable[[bool, str], None]
"""Called on the loop thread once a write is committed (``ok=True``) or failed (``False``, error text)."""


@dataclass(frozen=True)
class JournalStatistics:
    """Counters of the journal.

    Attributes:
        writes: rows committed.
        batches: transactions committed (group commits).
        max_batch: most rows in one transaction.
        errors: failed transactions.
        queued: writes waiting for the thread now.
        commit_ns_total: time in transactions, ns.
        commit_ns_max: slowest transaction, ns.
        orders: order rows in the mirror.
    """

    writes: int
    batches: int
    max_batch: int
    errors: int
    queued: int
    commit_ns_total: int
    commit_ns_max: int
    orders: int


class OrderJournal:
    """SQLite journal of orders, limit changes and kill-switch changes.

    Use :meth:`open` (blocking) to create one; :meth:`start` binds the loop that
    runs the commit callbacks and starts the writer thread.

    Args:
        path: the SQLite file (created with its folder when missing).
        synchronous: ``"NORMAL"`` or ``"FULL"``.

    Raises:
        JournalError: the file cannot be opened, created or read.
    """

    def __init__(self, path: str | Path, synchronous: str = "NORMAL") -> None:
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self._lock = threading.Lock()
        self._orders: dict[tuple[str, str], dict[str, Any]] = {}
        self._limit_changes: list[dict[str, Any]] = []
        self._kill_switch_changes: list[dict[str, Any]] = []
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._queued = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._writes = self._batches = self._max_batch = self._errors = 0
        self._commit_ns_total = self._commit_ns_max = 0
        self._load()

    @classmethod
    def open(cls, path: str | Path, synchronous: str = "NORMAL") -> OrderJournal:
        """Open (or create) the journal and load its mirror. Blocking: call off the loop.

        Raises:
            JournalError: see the class.
        """
        return cls(path, synchronous)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={self.synchronous}")
        return connection

    def _load(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = self._connect()
            try:
                connection.executescript(_SCHEMA)
                connection.row_factory = sqlite3.Row
                for row in connection.execute("SELECT * FROM orders ORDER BY created_ns"):
                    self._orders[(row["account"], row["client_order_id"])] = dict(row)
                self._limit_changes = [dict(r) for r in connection.execute(
                    "SELECT * FROM limit_changes ORDER BY seq")]
                self._kill_switch_changes = [dict(r) for r in connection.execute(
                    "SELECT * FROM kill_switch_changes ORDER BY seq")]
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise JournalError(self.path, f"{type(exc).__name__}: {exc}") from None

    # -- loop thread -------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the loop that runs commit callbacks and start the writer thread. Idempotent."""
        self._loop = loop
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tickstage.journal", daemon=True)
            self._thread.start()

    def write_order_nowait(self, row: dict[str, Any], on_commit: OnCommit | None = None) -> None:
        """Queue an order row (insert or replace); ``on_commit`` runs on the loop once durable.

        Raises:
            JournalClosedError: after :meth:`close`.
        """
        self._put("orders", row, on_commit)

    def append_limit_change_nowait(self, row: dict[str, Any], on_commit: OnCommit | None = None) -> None:
        """Queue a limit change (columns :data:`LIMIT_COLUMNS`)."""
        self._put("limit_changes", row, on_commit)

    def append_kill_switch_change_nowait(self, row: dict[str, Any], on_commit: OnCommit | None = None) -> None:
        """Queue a kill-switch change (columns :data:`KILL_SWITCH_COLUMNS`)."""
        self._put("kill_switch_changes", row, on_commit)

    def _put(self, table: str, row: dict[str, Any], on_commit: OnCommit | None) -> None:
        if self._closed:
            raise JournalClosedError(f"order journal {self.path} is closed")
        self._queued += 1
        self._queue.put((table, row, on_commit))

    def orders(self, account: str) -> list[dict[str, Any]]:
        """Return the committed order rows of ``account``, oldest first (copies)."""
        with self._lock:
            return [dict(row) for (acct, _), row in self._orders.items() if acct == account]

    def order(self, account: str, client_order_id: str) -> dict[str, Any] | None:
        """Return the committed row of one order (a copy), or ``None``."""
        with self._lock:
            row = self._orders.get((account, client_order_id))
            return dict(row) if row is not None else None

    def limit_changes(self) -> list[dict[str, Any]]:
        """Return every committed limit change, oldest first."""
        with self._lock:
            return [dict(row) for row in self._limit_changes]

    def kill_switch_changes(self) -> list[dict[str, Any]]:
        """Return every committed kill-switch change, oldest first."""
        with self._lock:
            return [dict(row) for row in self._kill_switch_changes]

    def statistics(self) -> JournalStatistics:
        """Return the journal's counters now."""
        return JournalStatistics(self._writes, self._batches, self._max_batch, self._errors,
                                 self._queue.qsize(), self._commit_ns_total, self._commit_ns_max,
                                 len(self._orders))

    def close(self, timeout_s: float = 5.0) -> None:
        """Commit what is queued, stop the writer thread. Blocking: call off the loop. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout_s)

    # -- writer thread -------------------------------------------------------------

    def _run(self) -> None:
        try:
            connection = self._connect()
        except sqlite3.Error as exc:
            _log.error("journal_open_failed", path=str(self.path), error=str(exc))
            return
        try:
            stop = False
            while not stop:
                batch = [self._queue.get()]
                while len(batch) < _MAX_BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if _STOP in batch:
                    stop = True
                    batch = [item for item in batch if item is not _STOP]
                if batch:
                    self._commit(connection, batch)
        finally:
            connection.close()

    def _commit(self, connection: sqlite3.Connection, batch: list) -> None:
        """Write a batch as one multi-row INSERT per table, in one transaction.

        One statement per table, not one per row: each statement hands the GIL
        back and forth once, and while the loop thread is busy every handoff
        can wait a whole switch interval (5 ms).
        """
        started = time.perf_counter_ns()
        ok, error = True, ""
        by_table: dict[str, list[dict]] = {}
        for table, row, _ in batch:   # rows in queue order: a later row of an order replaces an earlier one
            by_table.setdefault(table, []).append(row)
        statements = [_multi_insert(table, rows) for table, rows in by_table.items()]
        try:
            if len(statements) > 1:
                connection.execute("BEGIN")
            for sql, params in statements:
                connection.execute(sql, params)
            if len(statements) > 1:
                connection.execute("COMMIT")
        except sqlite3.Error as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
            self._errors += 1
            _log.error("journal_write_failed", path=str(self.path), error=error, rows=len(batch))
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        elapsed = time.perf_counter_ns() - started
        self._commit_ns_total += elapsed
        self._commit_ns_max = max(self._commit_ns_max, elapsed)
        if ok:
            with self._lock:
                for table, row, _ in batch:
                    if table == "orders":
                        self._orders[(row["account"], row["client_order_id"])] = dict(row)
                    elif table == "limit_changes":
                        self._limit_changes.append(dict(row))
                    else:
                        self._kill_switch_changes.append(dict(row))
            self._writes += len(batch)
            self._batches += 1
            self._max_batch = max(self._max_batch, len(batch))
        callbacks = [(cb, ok, error) for _, _, cb in batch if cb is not None]
        if callbacks and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(_run_callbacks, callbacks)
            except RuntimeError:  # the loop is closed: the desk is gone
                pass


_COLUMNS = {"orders": ORDER_COLUMNS, "limit_changes": LIMIT_COLUMNS, "kill_switch_changes": KILL_SWITCH_COLUMNS}
_VERB = {"orders": "INSERT OR REPLACE INTO", "limit_changes": "INSERT INTO", "kill_switch_changes": "INSERT INTO"}


def _multi_insert(table: str, rows: list[dict]) -> tuple[str, list]:
    """Return one ``INSERT ... VALUES (...), (...)`` statement for ``rows`` and its parameters (in order)."""
    columns = _COLUMNS[table]
    one = "(" + ", ".join("?" * len(columns)) + ")"
    sql = f"{_VERB[table]} {table} ({', '.join(columns)}) VALUES " + ", ".join([one] * len(rows))
    return sql, [row[c] for row in rows for c in columns]


def _run_callbacks(callbacks: list) -> None:
    for callback, ok, error in callbacks:
        try:
            callback(ok, error)
        except Exception as exc:  # noqa: BLE001 - one bad callback must not starve the others
            _log.error("journal_callback_failed", error_type=type(exc).__name__, exc_info=exc)


__all__ = ["JournalStatistics", "KILL_SWITCH_COLUMNS", "LIMIT_COLUMNS", "ORDER_COLUMNS", "OnCommit",
           "OrderJournal"]
