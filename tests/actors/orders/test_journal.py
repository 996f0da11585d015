"""OrderJournal: lossless floats, every row checked on load, unreadable rows quarantined (kept, counted)."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
from structlog.testing import capture_logs

from actors.orders.errors import JournalRowError
from actors.orders.journal import OrderJournal
from actors.orders.record import OrderRecord, Rejection
from tests.actors.order_kit import damage_rows


def _record(client_order_id: str, **fields) -> OrderRecord:
    values = dict(client_order_id=client_order_id, account="acct-01", vt_symbol="rb1801.SHFE", direction="long",
                  offset="open", order_type="limit", price=3900.0, volume=1.0, created_ns=1, updated_ns=1)
    values.update(fields)
    return OrderRecord(**values)


def _write(path, *records: OrderRecord) -> None:
    journal = OrderJournal.open(path)
    ok, error = journal.write_orders_now([record.row() for record in records])
    assert ok, error
    journal.close()


def test_journal_when_price_is_nan_or_infinite_then_read_back_exactly(tmp_path):
    """A NaN / ±inf float (a validity rejection's price, volume, observed value) reads back as itself, not NULL."""
    path = tmp_path / "orders.sqlite3"
    rejected = _record("nan-1", price=math.nan, volume=math.inf, state="rejected", reply_status="rejected",
                       rejection=Rejection("validity", math.nan, -math.inf, "price must be finite"))
    _write(path, rejected)

    row = OrderJournal.open(path).order("acct-01", "nan-1")
    again = OrderRecord.from_row(row)

    assert math.isnan(again.price) and again.volume == math.inf
    assert math.isnan(again.rejection.limit) and again.rejection.observed == -math.inf
    assert again.row() == rejected.row()   # the same row once more


BAD_ORDER_CELLS = {
    "null-price": {"price": None},
    "text-volume": {"volume": "lots"},
    "blob-traded": {"traded": b"\x00\x01"},
    "unknown-state": {"state": "teleported"},
    "unknown-direction": {"direction": "sideways"},
    "text-created": {"created_ns": "yesterday"},
    "float-flag": {"cancel_requested": 0.5},
    "nan-price-working": {"price": "NaN", "state": "working"},
    "null-symbol": {"vt_symbol": None},
}


def _corrupt(path) -> None:
    """Write good rows through the journal, then damage copies of them with plain SQL (as a bad tool would)."""
    _write(path, _record("good-1", state="working", vt_orderid="SIM.9_1", reply_status="accepted"))
    damage_rows(path, "good-1", BAD_ORDER_CELLS)
    connection = sqlite3.connect(path)
    limit = ("INSERT INTO limit_changes (ts_ns, changed_by, rule, scope, name, old_value, new_value) "
             "VALUES (?,?,?,?,?,?,?)")
    connection.execute(limit, (1, "ops", "order_flow", "acct-01", "limit", 50.0, 20.0))       # good
    connection.execute(limit, (2, "ops", "order_flow", "acct-01", "limit", 20.0, "lots"))     # garbage text
    connection.execute(limit, (3, "ops", "order_flow", "acct-01", "limit", 20.0, None))       # NULL
    kill = ("INSERT INTO kill_switch_changes (ts_ns, changed_by, scope, target, state, previous, reason) "
            "VALUES (?,?,?,?,?,?,?)")
    connection.execute(kill, (1, "ops", "account", "acct-01", "halted", "active", "test"))    # good
    connection.execute(kill, (2, "ops", "account", "acct-01", "melted", "halted", "test"))    # unknown state
    connection.execute(kill, (3, 7, "planet", "acct-01", "active", "halted", "test"))         # wrong types
    connection.commit()
    connection.close()


def test_journal_when_rows_are_corrupted_then_they_are_quarantined_and_the_rest_loads(tmp_path):
    """Wrong types, NULLs, garbage text, unknown names: each bad row moves to quarantined_rows, logged with its
    key and counted; good rows load; reopening finds the quarantine kept and nothing bad left."""
    path = tmp_path / "orders.sqlite3"
    _corrupt(path)

    with capture_logs() as logs:
        journal = OrderJournal.open(path)

    assert [row["client_order_id"] for row in journal.orders("acct-01")] == ["good-1"]
    assert [row["new_value"] for row in journal.limit_changes()] == [20.0]
    assert [row["state"] for row in journal.kill_switch_changes()] == ["halted"]
    assert journal.statistics().quarantined == len(BAD_ORDER_CELLS) + 4
    assert set(journal.quarantined_orders("acct-01")) == set(BAD_ORDER_CELLS)
    logged = [(e["table"], e["client_order_id"]) for e in logs if e["event"] == "journal_row_quarantined"]
    assert sorted(c for t, c in logged if t == "orders") == sorted(BAD_ORDER_CELLS)
    assert journal.quarantined_orders("acct-01")["unknown-state"].startswith("JournalRowError: orders.state")
    kept = {row["client_order_id"]: json.loads(row["row_json"]) for row in journal.quarantined()}
    assert kept["blob-traded"]["traded"] == {"hex": "0001"} and kept["null-price"]["price"] is None
    journal.close()

    again = OrderJournal.open(path)   # moved, not copied: nothing to quarantine twice
    assert again.statistics().quarantined == len(BAD_ORDER_CELLS) + 4
    assert len(again.orders("acct-01")) == 1
    connection = sqlite3.connect(path)
    assert connection.execute("SELECT count(*) FROM orders").fetchone() == (1,)
    connection.close()
    again.close()


def test_journal_when_written_by_an_earlier_version_then_new_columns_added_and_old_rows_read(tmp_path):
    """A journal without the ``reason`` column (and with NULL rejection figures for NaN) opens and reads."""
    path = tmp_path / "orders.sqlite3"
    _write(path, _record("old-1", state="rejected", reply_status="rejected",
                         rejection=Rejection("validity", math.nan, 5.0, "x")))
    connection = sqlite3.connect(path)
    connection.executescript("""
        CREATE TABLE old AS SELECT * FROM orders; DROP TABLE orders;
        UPDATE old SET rejection_limit = NULL;""")
    columns = [d[0] for d in connection.execute("SELECT * FROM old").description if d[0] != "reason"]
    connection.executescript(f"""
        CREATE TABLE orders ({", ".join(columns)}, PRIMARY KEY (account, client_order_id));
        INSERT INTO orders SELECT {", ".join(columns)} FROM old; DROP TABLE old;""")
    connection.close()

    journal = OrderJournal.open(path)
    record = OrderRecord.from_row(journal.order("acct-01", "old-1"))

    assert record.reason == "" and math.isnan(record.rejection.limit) and journal.statistics().quarantined == 0
    journal.close()


def test_from_row_when_a_column_is_bad_then_journal_row_error_names_it():
    """The error says which column and why; it is also a ValueError."""
    row = _record("x").row() | {"volume": "many"}
    with pytest.raises(JournalRowError) as caught:
        OrderRecord.from_row(row)
    assert caught.value.column == "volume" and isinstance(caught.value, ValueError)
