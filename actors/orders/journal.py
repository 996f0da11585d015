"""The durable order journal: SQLite in WAL mode, written on the loop thread, a mirror in memory.

An order goes to the gateway only once its write-ahead row is committed
(exactly once): a restarted actor or process neither forgets nor re-sends it.
The order actor commits that row itself (:meth:`OrderJournal.write_orders_now`;
a burst's rows in one transaction: group commit), then calls ``send_order``
in the same handler. Every other row (an order's later states, limit and
kill-switch changes) is queued (``*_nowait``) and committed in the loop's
next turn when it decides a reply or someone waits for it (``on_commit``),
else within ``flush_delay_s``. Callbacks run on the loop thread, after the commit.

Why on the loop thread, although actors do no blocking I/O (actors/README.md):
with ``journal_mode=WAL`` and ``synchronous=NORMAL`` a commit appends to the
WAL file (page cache) without an fsync: ~30 µs of CPU alone, ~50–90 µs p50
in perf/bench_orders.py (``journal_commit_p50_us``, on a loaded 2-core
machine), while the hand-off to a writer thread and back (queue, GIL,
``call_soon_threadsafe``, a ``journaled`` message) cost the order path p50
~0.8 ms and p99 ~10 ms. What could take milliseconds stays off the loop:
automatic checkpoints are off on the loop's connection; a checkpoint thread
runs ``wal_checkpoint(PASSIVE)`` (which never blocks the writer) on its own
connection every ``checkpoint_every_commits`` commits, with its fsyncs.
``synchronous=FULL`` (an fsync per commit, surviving a power cut) would put
an fsync on the loop: measure it first.

A restarted order actor reads the mirror after committing what is queued; a
new process loads it from the file once, at start (:meth:`OrderJournal.open`,
blocking: call it off the loop, ``asyncio.to_thread``). Tables: ``orders``
(one row per account and client order id, replaced on each change),
``limit_changes`` and ``kill_switch_changes`` (append-only: who, when, what),
``audit`` (append-only admin audit, pruned by :meth:`OrderJournal.prune_audit`;
read with :meth:`OrderJournal.audit_rows`, off the loop; never mirrored in memory),
``quarantined_rows`` (rows that could not be read back).

Loading trusts no row (actors/orders/journal_rows.py): one that cannot be read
as what its table holds (a wrong type, a NULL, text in a number column, an
unknown state name) is quarantined — moved to ``quarantined_rows`` with its key
and the reason, logged (``journal_row_quarantined``) and counted
(:attr:`JournalStatistics.quarantined`) — and never reaches an actor; the rest
of the journal loads. A quarantined order's client order id stays known
(:meth:`OrderJournal.quarantined_orders`): its order actor refuses to send it
again.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from actors.orders.errors import JournalClosedError, JournalError
from actors.orders.journal_rows import (
    ALGO_JOB_COLUMNS,
    AUDIT_COLUMNS,
    CHECKS,
    KILL_SWITCH_COLUMNS,
    LIMIT_COLUMNS,
    MAX_ROWS_PER_STATEMENT,
    ORDER_COLUMNS,
    SCHEMA,
    missing_columns,
    multi_insert,
    order_key,
    quarantine_at_load,
    quarantine_row,
    read_checked,
)

_log = structlog.get_logger("actors.orders.journal")

FLUSH_DELAY_S = 0.05
"""Longest wait of a queued row nobody waits for, seconds. Each commit hands the GIL to vn.py's threads
during its I/O: flushing every 2 ms raised the order path's p50 ~0.5 → 0.8–1.8 ms (perf/bench_orders.py).
Such a row lost in a crash is rebuilt by the recovery's gateway queries (actors/orders/book.py)."""
FLUSH_ROWS = 256
"""Queued rows that trigger a flush at once."""
CHECKPOINT_EVERY_COMMITS = 500
"""Commits between two WAL checkpoints (on the checkpoint thread)."""
BUSY_TIMEOUT_S = 0.2
"""Longest wait of the loop's connection for a lock; past it the write fails (the order is refused)."""

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
        queued: rows waiting for the next commit now.
        commit_ns_total: time in transactions (loop thread), ns.
        commit_ns_max: slowest transaction, ns.
        orders: order rows in the mirror.
        write_ahead: write-ahead commits (:meth:`OrderJournal.write_orders_now`).
        checkpoints: WAL checkpoints run by the checkpoint thread.
        commit_ns_recent: the last (up to 1,024) transaction times, ns, oldest first.
        quarantined: rows kept in ``quarantined_rows`` because they could not be read back (all tables,
            earlier runs included).
    """

    writes: int
    batches: int
    max_batch: int
    errors: int
    queued: int
    commit_ns_total: int
    commit_ns_max: int
    orders: int
    write_ahead: int = 0
    checkpoints: int = 0
    commit_ns_recent: tuple[int, ...] = ()
    quarantined: int = 0


class OrderJournal:
    """SQLite journal of orders, limit changes and kill-switch changes.

    Use :meth:`open` (blocking) to create one; :meth:`start` binds the loop
    whose thread writes (and runs the commit callbacks) and starts the
    checkpoint thread.

    Args:
        path: the SQLite file (created with its folder when missing).
        synchronous: ``"NORMAL"`` or ``"FULL"``.
        flush_delay_s: see :data:`FLUSH_DELAY_S`.
        checkpoint_every_commits: see :data:`CHECKPOINT_EVERY_COMMITS`.

    Raises:
        JournalError: the file cannot be opened, created or read.
    """

    def __init__(self, path: str | Path, synchronous: str = "NORMAL", flush_delay_s: float = FLUSH_DELAY_S,
                 checkpoint_every_commits: int = CHECKPOINT_EVERY_COMMITS) -> None:
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        self.flush_delay_s = flush_delay_s
        self.checkpoint_every_commits = checkpoint_every_commits
        self._lock = threading.Lock()
        self._orders: dict[tuple[str, str], dict[str, Any]] = {}
        self._limit_changes: list[dict[str, Any]] = []
        self._kill_switch_changes: list[dict[str, Any]] = []
        self._algo_jobs: dict[str, dict[str, Any]] = {}
        self._quarantined: list[dict[str, Any]] = []
        self._pending: list[tuple[str, dict[str, Any], OnCommit | None]] = []
        self._flush_armed: asyncio.Handle | None = None
        self._flush_soon = False
        self._thread: threading.Thread | None = None
        self._checkpoint_wanted = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._writes = self._batches = self._max_batch = self._errors = 0
        self._commit_ns_total = self._commit_ns_max = self._write_ahead = self._checkpoints = 0
        self._commits_since_checkpoint = 0
        self._recent: collections.deque[int] = collections.deque(maxlen=1024)
        self._load()
        try:
            self._connection = self._connect(check_same_thread=False)
            self._connection.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error as exc:
            raise JournalError(self.path, f"{type(exc).__name__}: {exc}") from None

    @classmethod
    def open(cls, path: str | Path, synchronous: str = "NORMAL") -> OrderJournal:
        """Open (or create) the journal and load its mirror. Blocking: call off the loop.

        Raises:
            JournalError: see the class.
        """
        return cls(path, synchronous)

    def _connect(self, check_same_thread: bool = True) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=check_same_thread,
                                     timeout=BUSY_TIMEOUT_S)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={self.synchronous}")
        return connection

    def _load(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = self._connect()
            try:
                connection.executescript(SCHEMA)
                connection.row_factory = sqlite3.Row
                for table in CHECKS:
                    present = {row["name"] for row in connection.execute(f"PRAGMA table_info({table})")}
                    for column in missing_columns(table, present):   # a journal of an earlier version
                        connection.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
                bad: list[tuple[str, int, dict[str, Any]]] = []
                self._orders = {order_key(row): row for row in read_checked(connection, "orders", "created_ns", bad)}
                self._limit_changes = read_checked(connection, "limit_changes", "seq", bad)
                self._kill_switch_changes = read_checked(connection, "kill_switch_changes", "seq", bad)
                quarantine_at_load(connection, bad, self.path)
                self._quarantined = [dict(r) for r in connection.execute(
                    "SELECT * FROM quarantined_rows ORDER BY seq")]
                self._algo_jobs = {r["job_id"]: dict(r) for r in connection.execute("SELECT * FROM algo_jobs")}
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise JournalError(self.path, f"{type(exc).__name__}: {exc}") from None

    # -- loop thread -------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the loop that writes and runs commit callbacks; start the checkpoint thread. Idempotent."""
        self._loop = loop
        if self._thread is None:
            self._thread = threading.Thread(target=self._run_checkpoints, name="tickstage.journal", daemon=True)
            self._thread.start()

    def write_orders_now(self, rows: list[dict[str, Any]]) -> tuple[bool, str]:
        """Commit order rows now, with every row queued before them (one transaction; loop thread).

        The write-ahead records of orders: durable when this returns
        ``(True, "")``. Blocks for one WAL append (no fsync with
        ``synchronous=NORMAL``; see the module docstring for figures).

        Returns:
            ``(ok, error)``: ``(False, text)`` when SQLite failed (the rows are not journaled).

        Raises:
            JournalClosedError: after :meth:`close`.
        """
        if self._closed:
            raise JournalClosedError(f"order journal {self.path} is closed")
        self._write_ahead += 1
        return self._commit([("orders", row, None) for row in rows])

    def write_order_nowait(self, row: dict[str, Any], on_commit: OnCommit | None = None, *,
                           soon: bool = False) -> None:
        """Queue an order row (insert or replace); ``on_commit`` runs on the loop once durable.

        ``soon``: commit it in the loop's next turn rather than within ``flush_delay_s``
        (a row deciding an order's reply: a retry after a crash must get the same reply).

        Raises:
            JournalClosedError: after :meth:`close`.
        """
        self._put("orders", row, on_commit, soon)

    def append_limit_change_nowait(self, row: dict[str, Any], on_commit: OnCommit | None = None) -> None:
        """Queue a limit change (columns :data:`LIMIT_COLUMNS`)."""
        self._put("limit_changes", row, on_commit)

    def append_kill_switch_change_nowait(self, row: dict[str, Any], on_commit: OnCommit | None = None) -> None:
        """Queue a kill-switch change (columns :data:`KILL_SWITCH_COLUMNS`)."""
        self._put("kill_switch_changes", row, on_commit)

    def append_audit_now(self, row: dict[str, Any]) -> tuple[bool, str]:
        """Commit one admin audit row (columns :data:`AUDIT_COLUMNS`) now, with every queued row (loop thread).

        Durable when this returns ``(True, "")``, before the admin's answer goes out; one WAL
        append, as :meth:`write_orders_now`.

        Raises:
            JournalClosedError: after :meth:`close`.
        """
        if self._closed:
            raise JournalClosedError(f"order journal {self.path} is closed")
        batch, self._pending = self._pending, []
        if self._flush_armed is not None:
            self._flush_armed.cancel()
            self._flush_armed, self._flush_soon = None, False
        return self._commit([*batch, ("audit", row, None)])

    def audit_rows(self, since_ns: int = 0, until_ns: int = 2**63 - 1, user: str | None = None,
                   limit: int = 1000) -> list[dict[str, Any]]:
        """Return committed audit rows with ``since_ns <= ts_ns < until_ns`` (and ``user``), oldest first.

        The newest ``limit`` rows of the range. Blocking (its own connection): call it off the
        loop, ``asyncio.to_thread``; call :meth:`flush` on the loop first to see queued rows.

        Raises:
            JournalError: the file cannot be read.
        """
        sql = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit WHERE ts_ns >= ? AND ts_ns < ?"
        params: list[Any] = [since_ns, until_ns]
        if user is not None:
            sql += " AND user = ?"
            params.append(user)
        sql += " ORDER BY seq DESC LIMIT ?"
        params.append(limit)
        try:
            connection = self._connect()
            try:
                connection.row_factory = sqlite3.Row
                rows = [dict(r) for r in connection.execute(sql, params)]
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise JournalError(self.path, f"{type(exc).__name__}: {exc}") from None
        rows.reverse()
        return rows

    def prune_audit(self, keep_rows: int, min_ts_ns: int) -> int:
        """Delete audit rows older than ``min_ts_ns`` (UNIX ns) or beyond the newest ``keep_rows``.

        Blocking (its own connection, waits up to 5 s for the lock): call it off the loop.

        Returns:
            Rows deleted.

        Raises:
            JournalError: the file cannot be written.
        """
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
            try:
                cursor = connection.execute(
                    "DELETE FROM audit WHERE ts_ns < ? OR seq <= (SELECT MAX(seq) FROM audit) - ?",
                    (min_ts_ns, keep_rows))
                return cursor.rowcount
            finally:
                connection.close()
        except sqlite3.Error as exc:
            raise JournalError(self.path, f"{type(exc).__name__}: {exc}") from None

    def _put(self, table: str, row: dict[str, Any], on_commit: OnCommit | None, soon: bool = False) -> None:
        if self._closed:
            raise JournalClosedError(f"order journal {self.path} is closed")
        self._pending.append((table, row, on_commit))
        loop = self._loop
        if loop is None:  # not started (tools, tests): write at once
            self.flush()
        elif on_commit is not None or soon or len(self._pending) >= FLUSH_ROWS:
            if not self._flush_soon:
                if self._flush_armed is not None:
                    self._flush_armed.cancel()
                self._flush_armed, self._flush_soon = loop.call_soon(self.flush), True
        elif self._flush_armed is None:
            self._flush_armed = loop.call_later(self.flush_delay_s, self.flush)

    def flush(self) -> None:
        """Commit every queued row now, in one transaction (loop thread; the delayed flush calls it)."""
        if self._closed:
            return
        if self._flush_armed is not None:
            self._flush_armed.cancel()
            self._flush_armed, self._flush_soon = None, False
        if self._pending:
            batch, self._pending = self._pending, []
            self._commit(batch)

    def orders(self, account: str) -> list[dict[str, Any]]:
        """Commit what is queued, then return the committed order rows of ``account``, oldest first (copies).

        A restarted order actor rebuilds from this: it sees every row its previous
        incarnation queued (loop thread; blocking for one commit when rows are queued).
        """
        if self._pending:
            self.flush()
        with self._lock:
            return [dict(row) for (acct, _), row in self._orders.items() if acct == account]

    def order(self, account: str, client_order_id: str) -> dict[str, Any] | None:
        """Return the committed row of one order (a copy), or ``None``."""
        with self._lock:
            row = self._orders.get((account, client_order_id))
            return dict(row) if row is not None else None

    def write_algo_job_nowait(self, row: dict[str, Any]) -> None:
        """Queue an algo job's row (columns :data:`ALGO_JOB_COLUMNS`), replacing the job's previous one (loop thread)."""
        with self._lock:
            self._algo_jobs[row["job_id"]] = dict(row)
        self._put("algo_jobs", row, None)

    def algo_jobs(self) -> list[dict[str, Any]]:
        """Return every algo job's latest row (copies)."""
        with self._lock:
            return [dict(row) for row in self._algo_jobs.values()]

    def limit_changes(self) -> list[dict[str, Any]]:
        """Return every committed limit change, oldest first."""
        with self._lock:
            return [dict(row) for row in self._limit_changes]

    def kill_switch_changes(self) -> list[dict[str, Any]]:
        """Return every committed kill-switch change, oldest first."""
        with self._lock:
            return [dict(row) for row in self._kill_switch_changes]

    def quarantined_orders(self, account: str) -> dict[str, str]:
        """Return client order id → why, of every quarantined order row of ``account`` (ids are still "seen")."""
        with self._lock:
            return {row["client_order_id"]: row["reason"] for row in self._quarantined
                    if row["source_table"] == "orders" and row["account"] == account and row["client_order_id"]}

    def quarantined(self) -> list[dict[str, Any]]:
        """Return every quarantined row (columns of ``quarantined_rows``), oldest first (copies)."""
        with self._lock:
            return [dict(row) for row in self._quarantined]

    def quarantine_order_nowait(self, row: dict[str, Any], reason: str) -> None:
        """Queue moving an order row that an actor could not read to ``quarantined_rows`` (loop thread).

        Raises:
            JournalClosedError: after :meth:`close`.
        """
        account, client_order_id = order_key(row)
        _log.error("journal_row_quarantined", path=str(self.path), table="orders", account=account,
                   client_order_id=client_order_id, reason=reason)
        self._put("quarantined_rows", quarantine_row("orders", row, reason), None, soon=True)

    def statistics(self) -> JournalStatistics:
        """Return the journal's counters now."""
        return JournalStatistics(self._writes, self._batches, self._max_batch, self._errors, len(self._pending),
                                 self._commit_ns_total, self._commit_ns_max, len(self._orders),
                                 self._write_ahead, self._checkpoints, tuple(self._recent), len(self._quarantined))

    def close(self, timeout_s: float = 5.0) -> None:
        """Commit what is queued, stop the checkpoint thread, close the file. Idempotent. Blocking: call it
        off the loop, once the loop no longer writes (after the runtime's shutdown)."""
        if self._closed:
            return
        self._closed = True   # a delayed flush on the loop now does nothing: this one commits the queue
        if self._flush_armed is not None:
            self._flush_armed.cancel()
        if self._pending:
            batch, self._pending = self._pending, []
            self._commit(batch)
        if self._thread is not None:
            self._checkpoint_wanted.set()
            self._thread.join(timeout_s)
        self._connection.close()

    # -- the commit (loop thread) ----------------------------------------------------

    def _commit(self, batch: list) -> tuple[bool, str]:
        """Write a batch in one transaction (one multi-row INSERT per table) and run its callbacks.

        Rows in queue order: a later row of an order replaces an earlier one.
        """
        started = time.perf_counter_ns()
        ok, error = True, ""
        by_table: dict[str, list[dict]] = {}
        for table, row, _ in batch:
            by_table.setdefault(table, []).append(row)
        statements = [multi_insert(table, rows[i:i + MAX_ROWS_PER_STATEMENT])
                      for table, rows in by_table.items() for i in range(0, len(rows), MAX_ROWS_PER_STATEMENT)]
        connection = self._connection
        many = len(statements) > 1 or "quarantined_rows" in by_table
        try:
            if many:
                connection.execute("BEGIN")
            for sql, params in statements:
                connection.execute(sql, params)
            for row in by_table.get("quarantined_rows", ()):   # moved, not copied: nothing reads it again
                connection.execute("DELETE FROM orders WHERE account = ? AND client_order_id = ?",
                                   (row["account"], row["client_order_id"]))
            if many:
                connection.execute("COMMIT")
        except sqlite3.Error as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"
            self._errors += 1
            _log.error("journal_write_failed", path=str(self.path), error=error, rows=len(batch))
            if connection.in_transaction:
                try:
                    connection.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
        elapsed = time.perf_counter_ns() - started
        self._commit_ns_total += elapsed
        self._commit_ns_max = max(self._commit_ns_max, elapsed)
        self._recent.append(elapsed)
        if ok:
            with self._lock:
                for table, row, _ in batch:
                    if table == "orders":
                        self._orders[(row["account"], row["client_order_id"])] = dict(row)
                    elif table == "limit_changes":
                        self._limit_changes.append(dict(row))
                    elif table == "kill_switch_changes":
                        self._kill_switch_changes.append(dict(row))
                    elif table == "quarantined_rows":
                        self._orders.pop((row["account"], row["client_order_id"]), None)
                        self._quarantined.append(dict(row))
                    # audit rows are never mirrored: audit_rows() reads them from the file
            self._writes += len(batch)
            self._batches += 1
            self._max_batch = max(self._max_batch, len(batch))
            self._commits_since_checkpoint += 1
            if self._commits_since_checkpoint >= self.checkpoint_every_commits:
                self._commits_since_checkpoint = 0
                self._checkpoint_wanted.set()
        callbacks = [(cb, ok, error) for _, _, cb in batch if cb is not None]
        if callbacks:   # rare (limit and kill-switch changes): threadsafe, for close() off the loop
            try:
                self._loop.call_soon_threadsafe(_run_callbacks, callbacks)
            except (AttributeError, RuntimeError):   # no loop bound, or closed
                _run_callbacks(callbacks)
        return ok, error

    # -- checkpoint thread ---------------------------------------------------------

    def _run_checkpoints(self) -> None:
        """Copy the WAL into the database when asked (its own connection; fsyncs happen here)."""
        try:
            connection = self._connect()
        except sqlite3.Error as exc:
            _log.error("journal_checkpointer_failed", path=str(self.path), error=str(exc))
            return
        try:
            while True:
                self._checkpoint_wanted.wait()
                self._checkpoint_wanted.clear()
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self._checkpoints += 1
                except sqlite3.Error as exc:
                    _log.warning("journal_checkpoint_failed", path=str(self.path), error=str(exc))
                if self._closed:
                    return
        finally:
            connection.close()


def _run_callbacks(callbacks: list) -> None:
    for callback, ok, error in callbacks:
        try:
            callback(ok, error)
        except Exception as exc:  # noqa: BLE001 - one bad callback must not starve the others
            _log.error("journal_callback_failed", error_type=type(exc).__name__, exc_info=exc)


__all__ = ["AUDIT_COLUMNS", "CHECKPOINT_EVERY_COMMITS", "FLUSH_DELAY_S", "JournalStatistics", "KILL_SWITCH_COLUMNS",
           "LIMIT_COLUMNS", "ORDER_COLUMNS", "OnCommit", "OrderJournal"]
