"""GroupSessions: closed / preOpen from the products' published trading sessions, at a given exchange time."""

from __future__ import annotations

import datetime as dt

import pytest

from actors.market.liveness import EXCHANGE_TZ
from actors.market.trading_sessions import GroupSessions


def _at(hhmm: str, day: int = 13) -> int:
    """2017-11-<day> at ``hhmm`` Asia/Shanghai, ns since the UNIX epoch (the fake exchange clock)."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    return int(dt.datetime(2017, 11, day, hour, minute, tzinfo=EXCHANGE_TZ).timestamp() * 1e9)


@pytest.mark.parametrize("products, hhmm", [
    (["rb"], "09:30"), (["rb"], "21:30"), (["rb"], "08:55"), (["cu"], "00:30"), (["au"], "02:00"),
    (["IF"], "14:59"), (["T"], "15:10"), (["510050"], "10:00"), (["m_o"], "22:00"), (["SRC"], "13:45"),
    (["IF", "rb"], "22:00"),   # one contract in session is enough
])
def test_verdict_when_a_contract_is_in_session_then_none(products, hhmm):
    """Inside any product's session (call auction included, night past midnight included) the group trades."""
    assert GroupSessions(products).verdict(_at(hhmm)) is None


@pytest.mark.parametrize("products, hhmm, next_open", [
    (["rb"], "10:20", "10:30"),      # the morning break
    (["rb"], "12:00", "13:30"),      # lunch
    (["rb"], "23:30", "08:55"),      # after rb's night session: it traded this trading day
    (["cu"], "01:30", "08:55"),
    (["rb"], "15:10", "20:55"),      # after the day's close, before the next trading day starts
    (["510050"], "12:00", "13:00"),
])
def test_verdict_when_between_sessions_then_closed_with_next_open(products, hhmm, next_open):
    """Between sessions or after the close: closed (not pre-open), the reason names the next opening."""
    verdict = GroupSessions(products).verdict(_at(hhmm))
    assert verdict is not None and not verdict.pre_open
    assert verdict.reason().startswith("closed:") and f"next opens at {next_open}" in verdict.reason()


@pytest.mark.parametrize("products, hhmm, next_open", [
    (["rb"], "16:00", "20:55"),      # the trading day started at 15:30; rb's night session is its first
    (["IF"], "08:00", "09:25"),      # no night session: the day session is the first
    (["IF"], "22:00", "09:25"),
    (["jd"], "06:00", "08:55"),      # a day-only commodity
    (["IF", "jd"], "08:30", "08:55"),
])
def test_verdict_when_nothing_opened_yet_this_trading_day_then_pre_open(products, hhmm, next_open):
    """Before any contract's first session of the trading day: pre-open, with the next opening."""
    verdict = GroupSessions(products).verdict(_at(hhmm))
    assert verdict is not None and verdict.pre_open
    assert verdict.reason().startswith("pre-open:") and f"opens at {next_open}" in verdict.reason()


def test_verdict_when_one_product_traded_tonight_then_closed_not_pre_open():
    """A group of rb (its night session over) and IF (not opened yet) at 23:30: closed, rb traded today."""
    verdict = GroupSessions(["rb", "IF"]).verdict(_at("23:30"))
    assert verdict is not None and not verdict.pre_open


@pytest.mark.parametrize("products", [[], ["zz_unknown"], ["rb", "zz_unknown"]])
def test_verdict_when_no_contract_or_unknown_product_then_never_closed(products):
    """The desk does not call a market shut that its table does not hold (nor an empty group)."""
    assert GroupSessions(products).verdict(_at("03:00")) is None
