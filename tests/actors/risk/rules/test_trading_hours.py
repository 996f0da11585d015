"""TradingHoursRule: each product's own sessions, night sessions included; a default window for the rest."""

from __future__ import annotations

import datetime as dt

import pytest

from actors.orders.risk_gate import CheckView
from actors.risk._rule import EXCHANGE_TZ
from actors.risk.rules.trading_hours import TradingHoursRule


def _rule(**limits) -> TradingHoursRule:
    rule = TradingHoursRule()
    rule.limits = {**TradingHoursRule.defaults, **limits}
    rule.on_limits()
    return rule


def _at(group: str, vt_symbol: str, hour: int, minute: int) -> CheckView:
    """An order of ``group`` on Monday 2017-11-13 at ``hour:minute`` exchange time (Asia/Shanghai)."""
    ts_ns = int(dt.datetime(2017, 11, 13, hour, minute, tzinfo=EXCHANGE_TZ).timestamp()) * 10**9
    return CheckView(1, "o-1", "acct-01", vt_symbol, group, "long", "open", "limit", 3900.0, 1.0, 3900.0, 1.0, 10.0,
                     ts_ns)


@pytest.mark.parametrize(("group", "vt_symbol", "hour", "minute"), [
    ("rb", "rb1801.SHFE", 22, 30),        # SHFE rebar night session, to 23:00
    ("rb", "rb1801.SHFE", 10, 0),
    ("au", "au1712.SHFE", 1, 30),         # gold: night session to 02:30
    ("cu", "cu1712.SHFE", 0, 30),         # copper: night session to 01:00
    ("IF", "IF1711.CFFEX", 13, 10),       # CFFEX index futures: afternoon from 13:00
    ("T", "T1712.CFFEX", 15, 10),         # treasury futures: to 15:15
    ("m_o", "m1801-C-2800.DCE", 22, 0),   # a DCE option trades in its underlying's sessions
    ("SRC", "SR801C6400.CZCE", 21, 30),   # a CZCE option product id: SR's sessions
    ("zz", "zz1801.XXX", 3, 0),           # a product without data: the default window (all day)
])
def test_trading_hours_when_inside_the_products_session_then_approved(group, vt_symbol, hour, minute):
    """Inside one of its product's published sessions an order passes."""
    assert _rule().check(_at(group, vt_symbol, hour, minute)) is None


@pytest.mark.parametrize(("group", "vt_symbol", "hour", "minute", "next_open"), [
    ("rb", "rb1801.SHFE", 23, 30, 855),     # rebar's night session closed at 23:00
    ("cu", "cu1712.SHFE", 1, 30, 855),      # copper's closed at 01:00, gold's has not
    ("rb", "rb1801.SHFE", 10, 20, 1030),    # the commodity morning break
    ("IF", "IF1711.CFFEX", 9, 20, 925),     # CFFEX opens later ...
    ("IF", "IF1711.CFFEX", 15, 10, 925),    # ... and index futures close at 15:00
    ("jd", "jd1801.DCE", 21, 30, 855),      # eggs: no night session
])
def test_trading_hours_when_outside_the_products_sessions_then_refused_with_next_open(group, vt_symbol, hour,
                                                                                      minute, next_open):
    """Outside its product's sessions an order is refused: limit = next opening (HHMM), observed = now (HHMM)."""
    rejection = _rule().check(_at(group, vt_symbol, hour, minute))

    assert rejection is not None and rejection.rule == "trading_hours"
    assert (rejection.limit, rejection.observed) == (float(next_open), float(hour * 100 + minute))


def test_trading_hours_when_product_sessions_off_then_default_windows_for_every_product():
    """``product_sessions = 0``: the configured windows apply to every product, a window past midnight included."""
    rule = _rule(product_sessions=0.0, window_1_open=2200.0, window_1_close=100.0)

    assert rule.check(_at("rb", "rb1801.SHFE", 0, 30)) is None
    refused = rule.check(_at("rb", "rb1801.SHFE", 10, 0))
    assert (refused.limit, refused.observed) == (2200.0, 1000.0)
