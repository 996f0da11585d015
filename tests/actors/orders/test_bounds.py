"""The bounds on what a client sends, each one function every door calls (issue 13): the gateway, the session
and the order actor's validity rule refuse the same inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import actors.orders.validity as validity
import actors.sessions.commands as commands
import actors.sessions.session as session
import transport.edge.inbound as inbound
import transport.edge.ws as ws
from actors.market.watchlists import MAX_VT_SYMBOL_BYTES, vt_symbol_fits
from actors.orders.config import MAX_CLIENT_ORDER_ID_BYTES, ORDER_MEMBERS, client_order_id_fits
from actors.orders.record import Rejection as RecordRejection
from actors.risk.rejection import Rejection

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("value", "fits"), [("", False), ("a", True), ("a" * 64, True), ("a" * 65, False),
                                             ("é" * 32, True), ("é" * 32 + "a", False)])
def test_bounds_when_measured_then_utf8_bytes_from_1_to_64(value, fits):
    """Both bounds count UTF-8 bytes, 1..64 inclusive (a 2-byte character counts twice)."""
    assert MAX_CLIENT_ORDER_ID_BYTES == MAX_VT_SYMBOL_BYTES == 64
    assert client_order_id_fits(value) is fits
    assert vt_symbol_fits(value) is fits


def test_doors_when_imported_then_share_one_function_and_one_member_set():
    """The gateway, its frame reader, the session (its command forwarder) and the validity rule call the same checks."""
    assert ws.client_order_id_fits is commands.client_order_id_fits is validity.client_order_id_fits
    assert inbound.vt_symbol_fits is session.vt_symbol_fits is validity.vt_symbol_fits is vt_symbol_fits
    assert ws.ORDER_MEMBERS is session.ORDER_MEMBERS is ORDER_MEMBERS
    assert ORDER_MEMBERS == {"submitOrder", "cancelOrder", "orderStatusRequest", "replaceOrder", "cancelAll",
                             "flattenPosition"}


@pytest.mark.parametrize(("cid", "symbol", "limit", "observed"), [
    ("a" * 65, "rb1801.SHFE", 64.0, 65.0),
    ("c1", "r" * 60 + ".SHFE", 64.0, 65.0),
])
def test_check_record_when_over_a_bound_then_rejection_names_limit_and_observed(cid, symbol, limit, observed):
    """The validity rule refuses what the doors refuse, with the limit and the observed size in bytes."""
    rejection = validity.check_order(account="acct-01", expected_account="acct-01", client_order_id=cid,
                                     vt_symbol=symbol, order_type="limit", price=3500.0, volume_lots=1.0,
                                     contract=None)
    assert (rejection.rule, rejection.limit, rejection.observed) == ("order_validity", limit, observed)


def test_rejection_when_imported_from_risk_then_no_order_module_is_loaded():
    """Rejection lives with the risk package; the order path re-exports the same class."""
    assert RecordRejection is Rejection
    code = "import actors.risk.rejection, sys; print(' '.join(m for m in sys.modules if m.startswith('actors.orders')))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            check=True).stdout.split()
    assert loaded == []
