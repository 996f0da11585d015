"""The journal's rows on disk: its tables and columns, the statements that write them, the checks on rows
read back, and the quarantine record of one that fails.

Columns are append-only, like the Cap'n Proto fields: a journal written by an
earlier version gains the new columns when it is opened (:func:`missing_columns`),
its old rows holding NULL there. ``quarantined_rows`` keeps every row recovery
could not read (the row as JSON, its table, key and why), moved out of its table
so nothing reads it again, and kept in the file for the operators.

The journal (actors/orders/journal.py) reads its file once, at open, and
trusts none of it: an ``orders`` row must rebuild an
:class:`~actors.orders.record.OrderRecord` (:meth:`OrderRecord.from_row`), a
``limit_changes`` row must carry a finite limit ≥ 0 (what
``LimitStore.change_nowait`` accepts), a ``kill_switch_changes`` row a scope
and a state named in schemas/accounts.capnp. A row that fails is quarantined:
moved to ``quarantined_rows`` (:func:`quarantine_row`), logged with its key and
counted, never handed to an actor, so one bad row cannot crash-loop an actor
or the desk.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any

import structlog

import schemas
from actors.orders.errors import JournalRowError
from actors.orders.record import INT64_MAX, OrderRecord, decode_real

_log = structlog.get_logger("actors.orders.journal")

# -- TABLES: columns, schema and the multi-row INSERT of a batch ---------------------------------

ORDER_COLUMNS = (
    "account", "client_order_id", "user", "vt_symbol", "direction", "offset", "order_type", "price",
    "volume", "reference", "grp", "state", "vt_orderid", "status", "traded", "avg_price",
    "rejection_rule", "rejection_limit", "rejection_observed", "rejection_reason", "reply_status",
    "decided_ns", "created_ns", "updated_ns", "sent_ns", "cancel_requested", "rejected_by_gateway",
    "trade_volume", "reason", "replaces",
)
LIMIT_COLUMNS = ("ts_ns", "changed_by", "rule", "scope", "name", "old_value", "new_value")
KILL_SWITCH_COLUMNS = ("ts_ns", "changed_by", "scope", "target", "state", "previous", "reason")
AUDIT_COLUMNS = ("ts_ns", "user", "action", "target", "result", "repeated")
"""The admin audit (transport/admin/audit.py): UNIX ns, the token's ``sub``, what, on what, how it ended,
refusals folded into this row."""
QUARANTINE_COLUMNS = ("quarantined_ns", "source_table", "account", "client_order_id", "row_json", "reason")
"""``quarantined_rows``: when (ns since UNIX epoch), from which table, the order's key (``""`` for other
tables, or when unreadable), the row as JSON (non-finite floats by name, blobs as hex), why."""
ALGO_JOB_COLUMNS = ("job_id", "account", "user", "template", "vt_symbol", "direction", "offset", "price", "volume",
                    "setting_json", "status", "traded", "avg_price", "children", "message", "updated_ns")
"""``algo_jobs``: one row per algo job (transport/venue/vnpy_algos.py), replaced on change: its request, the
template's settings as JSON, its status, lots traded and their average price, child orders sent, the latest message,
when written (ns since UNIX epoch). A restarted desk resumes the unfinished ones paused."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS orders (
  {", ".join(ORDER_COLUMNS)},
  PRIMARY KEY (account, client_order_id)
);
CREATE TABLE IF NOT EXISTS limit_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, {", ".join(LIMIT_COLUMNS)});
CREATE TABLE IF NOT EXISTS kill_switch_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT,
  {", ".join(KILL_SWITCH_COLUMNS)});
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, {", ".join(AUDIT_COLUMNS)});
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (ts_ns);
CREATE INDEX IF NOT EXISTS audit_by_user ON audit (user, ts_ns);
CREATE TABLE IF NOT EXISTS quarantined_rows (seq INTEGER PRIMARY KEY AUTOINCREMENT,
  {", ".join(QUARANTINE_COLUMNS)});
CREATE TABLE IF NOT EXISTS algo_jobs ({", ".join(ALGO_JOB_COLUMNS)}, PRIMARY KEY (job_id));
"""
MAX_ROWS_PER_STATEMENT = 1000
"""Most rows per statement (30 columns × 1,000 stays under SQLite's 32,766 parameters)."""

_COLUMNS = {"orders": ORDER_COLUMNS, "limit_changes": LIMIT_COLUMNS, "kill_switch_changes": KILL_SWITCH_COLUMNS,
            "audit": AUDIT_COLUMNS, "quarantined_rows": QUARANTINE_COLUMNS, "algo_jobs": ALGO_JOB_COLUMNS}
_VERB = {"orders": "INSERT OR REPLACE INTO", "limit_changes": "INSERT INTO", "kill_switch_changes": "INSERT INTO",
         "audit": "INSERT INTO", "quarantined_rows": "INSERT INTO", "algo_jobs": "INSERT OR REPLACE INTO"}


def multi_insert(table: str, rows: list[dict]) -> tuple[str, list]:
    """Return one ``INSERT ... VALUES (...), (...)`` statement for ``rows`` and its parameters (in order)."""
    columns = _COLUMNS[table]
    one = "(" + ", ".join("?" * len(columns)) + ")"
    sql = f"{_VERB[table]} {table} ({', '.join(columns)}) VALUES " + ", ".join([one] * len(rows))
    return sql, [row[c] for row in rows for c in columns]


def missing_columns(table: str, present: set[str]) -> list[str]:
    """Return the columns of ``table`` a journal written by an earlier version lacks (``ALTER TABLE`` adds them)."""
    return [column for column in _COLUMNS[table] if column not in present]


# -- CHECKS: rows read back -------------------------------------------------------------------------

KILL_SWITCH_SCOPE_NAMES = frozenset(schemas.accounts.KillSwitchScope.schema.enumerants)
KILL_SWITCH_STATE_NAMES = frozenset(schemas.accounts.KillSwitchState.schema.enumerants)

ROW_ERRORS = (JournalRowError, KeyError, TypeError, ValueError, OverflowError)
"""What reading a bad row may raise (:class:`JournalRowError` for every failure the checks foresee)."""


def check_order_row(row: dict[str, Any]) -> dict[str, Any]:
    """Return ``row`` when it rebuilds an :class:`OrderRecord`.

    Raises:
        JournalRowError: see :meth:`OrderRecord.from_row`.
    """
    OrderRecord.from_row(row)
    return row


def check_limit_row(row: dict[str, Any]) -> dict[str, Any]:
    """Return a ``limit_changes`` row with its values as floats (``old_value`` NaN when NULL).

    Raises:
        JournalRowError: a text column that is not text, ``ts_ns`` not an integer, ``new_value``
            not a finite number ≥ 0.
    """
    table = "limit_changes"
    out = dict(row)
    _count(table, row, "ts_ns")
    for column in ("changed_by", "rule", "scope", "name"):
        _text(table, row, column)
    out["old_value"] = decode_real(row["old_value"], table, "old_value", null=True)
    new_value = decode_real(row["new_value"], table, "new_value")
    if not (math.isfinite(new_value) and new_value >= 0):
        raise JournalRowError(table, "new_value", row["new_value"], "a limit is a finite number >= 0")
    out["new_value"] = new_value
    return out


def check_kill_switch_row(row: dict[str, Any]) -> dict[str, Any]:
    """Return a ``kill_switch_changes`` row whose scope and state are accounts.capnp names.

    Raises:
        JournalRowError: a bad type, or a scope / state (``previous`` too, unless empty) not named in
            accounts.capnp's ``KillSwitchScope`` / ``KillSwitchState``.
    """
    table = "kill_switch_changes"
    _count(table, row, "ts_ns")
    for column in ("changed_by", "target", "reason"):
        _text(table, row, column)
    if _text(table, row, "scope") not in KILL_SWITCH_SCOPE_NAMES:
        raise JournalRowError(table, "scope", row["scope"], f"not one of {sorted(KILL_SWITCH_SCOPE_NAMES)}")
    if _text(table, row, "state") not in KILL_SWITCH_STATE_NAMES:
        raise JournalRowError(table, "state", row["state"], f"not one of {sorted(KILL_SWITCH_STATE_NAMES)}")
    previous = _text(table, row, "previous")
    if previous and previous not in KILL_SWITCH_STATE_NAMES:
        raise JournalRowError(table, "previous", previous, f"not one of {sorted(KILL_SWITCH_STATE_NAMES)}")
    return dict(row)


CHECKS = {"orders": check_order_row, "limit_changes": check_limit_row,
          "kill_switch_changes": check_kill_switch_row}
"""Table → its row check."""


def order_key(row: Any) -> tuple[str, str]:
    """Return ``(account, client order id)`` of an order row, each ``""`` when it is not text."""
    get = row.get if isinstance(row, dict) else (lambda _: None)
    account, client_order_id = get("account"), get("client_order_id")
    return (account if isinstance(account, str) else "",
            client_order_id if isinstance(client_order_id, str) else "")


def quarantine_row(table: str, row: dict[str, Any], reason: str, now_ns: int | None = None) -> dict[str, Any]:
    """Return the ``quarantined_rows`` row keeping ``row`` of ``table`` (as JSON) and why."""
    account, client_order_id = order_key(row) if table == "orders" else ("", "")
    return {"quarantined_ns": now_ns or time.time_ns(), "source_table": table, "account": account,
            "client_order_id": client_order_id, "row_json": row_json(row), "reason": reason}


def row_json(row: dict[str, Any]) -> str:
    """Return ``row`` as JSON text: non-finite floats by name, blobs as ``{"hex": ...}``, keys sorted."""
    def cell(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        if isinstance(value, bytes | bytearray | memoryview):
            return {"hex": bytes(value).hex()}
        return value

    return json.dumps({str(k): cell(v) for k, v in row.items()}, sort_keys=True, allow_nan=False)


BadRows = list[tuple[str, int, dict[str, Any]]]
"""(table, rowid, ``quarantined_rows`` row) of every row that failed its check."""


def read_checked(connection: sqlite3.Connection, table: str, order_by: str, bad: BadRows) -> list[dict[str, Any]]:
    """Return the rows of ``table`` (ordered by ``order_by``) that pass its check; append the others to ``bad``.

    ``connection`` must have ``row_factory = sqlite3.Row``. Blocking: the journal's load, off the loop.
    """
    good = []
    for raw in connection.execute(f"SELECT rowid AS _rowid, * FROM {table} ORDER BY {order_by}"):
        row = dict(raw)
        rowid = row.pop("_rowid")
        try:
            good.append(CHECKS[table](row))
        except ROW_ERRORS as exc:
            bad.append((table, rowid, quarantine_row(table, row, f"{type(exc).__name__}: {exc}")))
    return good


def quarantine_at_load(connection: sqlite3.Connection, bad: BadRows, path: str | Path) -> None:
    """Move the ``bad`` rows to ``quarantined_rows`` in one transaction; log each with its key.

    A file that cannot be written (read-only) keeps them where they are: logged, quarantined again at the next load.
    """
    for table, rowid, row in bad:
        _log.error("journal_row_quarantined", path=str(path), table=table, rowid=rowid, account=row["account"],
                   client_order_id=row["client_order_id"], reason=row["reason"])
    if not bad:
        return
    try:
        connection.execute("BEGIN")
        for table, rowid, row in bad:
            columns = ", ".join(row)
            connection.execute(f"INSERT INTO quarantined_rows ({columns}) VALUES ({', '.join('?' * len(row))})",
                               list(row.values()))
            connection.execute(f"DELETE FROM {table} WHERE rowid = ?", (rowid,))
        connection.execute("COMMIT")
    except sqlite3.Error as exc:
        _log.error("journal_quarantine_failed", path=str(path), rows=len(bad), error=str(exc))
        if connection.in_transaction:
            connection.execute("ROLLBACK")


def _text(table: str, row: dict[str, Any], column: str) -> str:
    value = row[column]
    if not isinstance(value, str):
        raise JournalRowError(table, column, value, "not text")
    return value


def _count(table: str, row: dict[str, Any], column: str) -> int:
    value = row[column]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT64_MAX:
        raise JournalRowError(table, column, value, f"not an integer within 0..{INT64_MAX}")
    return value


__all__ = ["AUDIT_COLUMNS", "CHECKS", "KILL_SWITCH_COLUMNS", "KILL_SWITCH_SCOPE_NAMES",
           "KILL_SWITCH_STATE_NAMES", "LIMIT_COLUMNS", "MAX_ROWS_PER_STATEMENT", "ORDER_COLUMNS",
           "QUARANTINE_COLUMNS", "ROW_ERRORS", "SCHEMA", "BadRows", "check_kill_switch_row", "check_limit_row",
           "check_order_row", "missing_columns", "multi_insert", "order_key", "quarantine_at_load",
           "quarantine_row", "read_checked", "row_json"]
