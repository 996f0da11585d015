"""The journal's tables: columns, schema, and the multi-row INSERT of a batch (actors/orders/journal.py).

Columns are append-only, like the Cap'n Proto fields: a journal written by an
earlier version gains the new columns when it is opened (:func:`missing_columns`),
its old rows holding NULL there. ``quarantined_rows`` keeps every row recovery
could not read (the row as JSON, its table, key and why), moved out of its table
so nothing reads it again, and kept in the file for the operators.
"""

from __future__ import annotations

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
"""
MAX_ROWS_PER_STATEMENT = 1000
"""Most rows per statement (30 columns × 1,000 stays under SQLite's 32,766 parameters)."""

_COLUMNS = {"orders": ORDER_COLUMNS, "limit_changes": LIMIT_COLUMNS, "kill_switch_changes": KILL_SWITCH_COLUMNS,
            "audit": AUDIT_COLUMNS, "quarantined_rows": QUARANTINE_COLUMNS}
_VERB = {"orders": "INSERT OR REPLACE INTO", "limit_changes": "INSERT INTO", "kill_switch_changes": "INSERT INTO",
         "audit": "INSERT INTO", "quarantined_rows": "INSERT INTO"}


def multi_insert(table: str, rows: list[dict]) -> tuple[str, list]:
    """Return one ``INSERT ... VALUES (...), (...)`` statement for ``rows`` and its parameters (in order)."""
    columns = _COLUMNS[table]
    one = "(" + ", ".join("?" * len(columns)) + ")"
    sql = f"{_VERB[table]} {table} ({', '.join(columns)}) VALUES " + ", ".join([one] * len(rows))
    return sql, [row[c] for row in rows for c in columns]


def missing_columns(table: str, present: set[str]) -> list[str]:
    """Return the columns of ``table`` a journal written by an earlier version lacks (``ALTER TABLE`` adds them)."""
    return [column for column in _COLUMNS[table] if column not in present]


__all__ = ["AUDIT_COLUMNS", "KILL_SWITCH_COLUMNS", "LIMIT_COLUMNS", "MAX_ROWS_PER_STATEMENT", "ORDER_COLUMNS",
           "QUARANTINE_COLUMNS", "SCHEMA", "missing_columns", "multi_insert"]
