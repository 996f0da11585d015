"""Every risk rule and every validity check, through a real order actor: an order it approves, and an order it
refuses naming rule, limit and observed value (numbers where they exist, hand-computed here)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from actors._envelope import encode_actor_message
from actors.orders.codec import encode_order_command
from actors.orders.ports import Quote
from actors.risk.rules import RULES
from actors.risk.rules.trading_hours import hhmm
from tests.actors.order_kit import RB, ScriptedMarket, ScriptedPort, ScriptedVenues, harness_config
from transport.edge.client import client_message

RB_MAX = Quote("rb1805.SHFE", "rb", 1.0, 10.0, 3900.0, 1.0, 100.0)
"""A contract whose ContractData says at most 100 lots per order."""
RB_STEP = Quote("rb1810.SHFE", "rb", 1.0, 10.0, 3900.0, 2.0)
"""A contract whose ContractData says orders of 2, 4, 6 ... lots."""
HC_NO_TICK = Quote("hc1801.SHFE", "hc", 1.0, 10.0, math.nan)
"""A known contract without a tick yet."""
NAN = math.nan


def _order(**fields) -> dict:
    return fields


@dataclass
class Case:
    """One rule (or validity check): how to set it up, an order it approves, an order it refuses, and the numbers."""

    id: str
    rules: tuple[str, ...]
    refused: dict
    rule: str
    limit: float
    observed: float
    passing: dict | None = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    prepare: Callable[[Any], Awaitable[None]] | None = None
    port: Callable[[], ScriptedPort] = ScriptedPort
    config: dict = field(default_factory=dict)
    venues: Callable[[], ScriptedVenues | None] = lambda: None


async def _reply(harness, client_order_id: str, **order) -> dict:
    """Submit an order (kit defaults: rb1801.SHFE, long open limit 3900 × 1) and wait for its reply."""
    account = order.pop("account_field", None)
    if account is None:
        harness.submit(client_order_id, **order)
    else:   # the order names another account than the order actor it is sent to
        data = client_message(99, submitOrder={
            "clientOrderId": client_order_id, "account": account, "vtSymbol": "rb1801.SHFE", "direction": "long",
            "offset": "open", "orderType": "limit", "price": 3900.0, "volumeLots": 1.0})
        harness.runtime.tell_path("orders/acct-01", encode_order_command("client/1", "trader1", data, "client/1"))
    await harness.sink.wait(lambda: harness.reply_of(client_order_id) is not None)
    return harness.reply_of(client_order_id)


async def _accepted(harness, *ids: str, **order) -> None:
    for client_order_id in ids:
        reply = await _reply(harness, client_order_id, **order)
        assert reply["status"] == "accepted", reply


async def _cancelled_one(harness) -> None:
    await _accepted(harness, "c-0")
    harness.command(cancelOrder={"clientOrderId": "c-0", "account": "acct-01"})
    await harness.sink.wait(lambda: any(m["order"]["state"] == "cancelled" for m in harness.pushes("orderUpdated")))


async def _two_gateway_rejections(harness) -> None:
    for client_order_id in ("e-1", "e-2"):
        reply = await _reply(harness, client_order_id)
        assert reply["rejection"]["rule"] == "gateway"


async def _halted(harness) -> None:
    harness.limits.set_kill_switch_nowait("account", "acct-01", "halted", "test", "test")


async def _lost_2000(harness) -> None:
    harness.port.trade("acct-01", "SIM.90", "t-1", 4100.0, 1.0)   # long 1 rb @4100, marked 3900: -2,000
    rule = harness.actor("risk/daily_loss/acct-01")
    await _until(lambda: rule.loss == 2000.0)


async def _until(predicate, timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.01)


def _hours_excluding_now() -> dict:
    now = hhmm(time.time_ns())
    opens = 1300 if now < 1200 else 100
    return {"product_sessions": 0.0, "window_1_open": opens, "window_1_close": opens + 100}


VALIDITY = [
    Case("account", (), _order(account_field="acct-02"), "order_validity", NAN, NAN),
    Case("client-order-id-size", (), _order(client_order_id="x" * 65), "order_validity", 64.0, 65.0),
    Case("vt-symbol-size", (), _order(vt_symbol="r" * 60 + ".SHFE"), "order_validity", 64.0, 65.0),
    Case("vt-symbol-without-exchange", (), _order(vt_symbol="rb1801"), "order_validity", NAN, NAN),
    Case("unknown-contract", (), _order(vt_symbol="zz9999.SHFE"), "order_validity", 0.0, 0.0),
    Case("sub-lot-volume", (), _order(volume=1e-9), "order_validity", 1.0, 1e-9),
    Case("fractional-volume", (), _order(volume=1.5), "order_validity", 1.0, 1.5),
    Case("nan-volume", (), _order(volume=NAN), "order_validity", 1.0, NAN),
    Case("min-volume-multiple", (), _order(vt_symbol="rb1810.SHFE", volume=3.0), "order_validity", 2.0, 3.0,
         passing=_order(vt_symbol="rb1810.SHFE", volume=4.0)),
    Case("max-volume", (), _order(vt_symbol="rb1805.SHFE", volume=101.0), "order_validity", 100.0, 101.0,
         passing=_order(vt_symbol="rb1805.SHFE", volume=100.0)),
    Case("negative-price", (), _order(price=-1.0), "order_validity", 0.0, -1.0),
    Case("nan-price", (), _order(price=NAN), "order_validity", 0.0, NAN),
    Case("off-tick-grid", (), _order(price=3900.5), "order_validity", 1.0, 3900.5),
]
"""One order per validity check (actors/orders/validity.py), refused by the order actor before any rule."""

RULE_CASES = [
    Case("order_validity", ("order_validity",), _order(price=3900.5), "order_validity", 1.0, 3900.5),
    Case("trading_hours", ("trading_hours",), _order(), "trading_hours", NAN, NAN,    # numbers: see the test
         limits={"product_sessions": 0.0}),                                            # passing: all day
    Case("kill_switch", ("kill_switch",), _order(), "kill_switch", 0.0, 2.0, prepare=_halted),
    Case("order_flow", ("order_flow",), _order(), "order_flow", 2.0, 3.0, limits={"limit": 2, "window_s": 60},
         prepare=lambda h: _accepted(h, "f-1", "f-2")),
    Case("order_volume", ("order_volume",), _order(volume=6.0), "order_volume", 5.0, 6.0, limits={"limit": 5},
         passing=_order(volume=5.0)),
    Case("order_notional", ("order_notional",), _order(volume=3.0), "order_notional", 100_000.0, 117_000.0,
         limits={"limit": 100_000}, passing=_order(volume=2.0)),            # 3900 × 3 × 10; 3900 × 2 × 10 = 78,000
    Case("price_band", ("price_band",), _order(price=4200.0), "price_band", 5.0, 300 / 3900 * 100,
         passing=_order(price=4095.0)),                                       # 4095 is 5.0 % away: on the band
    Case("price_band-no-last-price", ("price_band",), _order(vt_symbol="hc1801.SHFE"), "price_band", 1.0, 0.0),
    Case("duplicate_order", ("duplicate_order",), _order(), "duplicate_order", 2.0, 3.0, limits={"limit": 2},
         prepare=lambda h: _accepted(h, "d-1", "d-2")),
    Case("active_order", ("active_order",), _order(), "active_order", 2.0, 3.0, limits={"limit": 2},
         prepare=lambda h: _accepted(h, "a-1", "a-2")),
    Case("order_cancel", ("order_cancel",), _order(), "order_cancel", 1.0, 1.0, limits={"limit": 1},
         prepare=_cancelled_one),
    Case("order_cancel-per-contract", ("order_cancel",), _order(), "order_cancel", 1.0, 1.0,
         limits={"per_contract": 1}, prepare=_cancelled_one),
    Case("trade_limit", ("trade_limit",), _order(volume=4.0), "trade_limit", 5.0, 8.0, limits={"limit": 5},
         passing=_order(volume=4.0), prepare=lambda h: _accepted(h, "w-1", volume=4.0)),   # 4 working + 4
    Case("position_limit", ("position_limit",), _order(volume=4.0), "position_limit", 5.0, 8.0,
         limits={"limit": 5}, passing=_order(volume=4.0), prepare=lambda h: _accepted(h, "p-1", volume=4.0)),
    Case("daily_loss", ("daily_loss",), _order(), "daily_loss", 1000.0, 2000.0, limits={"limit": 1000},
         prepare=_lost_2000, config={"status_interval_s": 0.05}),
    Case("venue", ("venue",), _order(), "venue", 1.0, 0.0, passing=None,
         venues=lambda: ScriptedVenues(SIM="reconnecting")),
    Case("error_rate", ("error_rate",), _order(), "error_rate", 50.0, 100.0,
         limits={"limit": 50, "min_orders": 2}, prepare=_two_gateway_rejections,
         port=lambda: ScriptedPort(refuse={"e-1", "e-2"})),
]
"""One refused order per rule (the rule's own limits small), and one it approves."""


async def _harness(order_harness, case: Case):
    config = harness_config(rules=case.rules, limits={rule: case.limits for rule in case.rules}, **case.config)
    return await order_harness(config, port=case.port(), market=ScriptedMarket(RB, RB_MAX, RB_STEP, HC_NO_TICK),
                               venues=case.venues())


def _numbers_equal(actual: float, expected: float) -> bool:
    return (math.isnan(actual) and math.isnan(expected)) or actual == pytest.approx(expected)


def test_rule_cases_when_listed_then_every_rule_has_one():
    """The corpus holds a refused order for each of the 15 rules."""
    assert {case.rule for case in RULE_CASES} == set(RULES) and len(RULES) == 15


@pytest.mark.parametrize("case", VALIDITY + RULE_CASES, ids=lambda case: case.id)
async def test_invalid_order_when_submitted_then_refused_naming_rule_limit_and_observed(order_harness, case):
    """Every order of the corpus is refused, naming the rule, the limit and the observed value; none is sent."""
    limits = _hours_excluding_now() if case.id == "trading_hours" else case.limits
    case = Case(**{**case.__dict__, "limits": limits})
    harness = await _harness(order_harness, case)
    if case.prepare is not None:
        await case.prepare(harness)
    sent_before = len(harness.port.sends)
    before = hhmm(time.time_ns())
    order = dict(case.refused)
    client_order_id = order.pop("client_order_id", "bad-1")

    reply = await _reply(harness, client_order_id, **order)

    rejection = reply["rejection"]
    assert reply["status"] == "rejected" and rejection["rule"] == case.rule, reply
    if case.id == "trading_hours":
        after = hhmm(time.time_ns())
        assert rejection["limit"] == limits["window_1_open"]
        assert rejection["observed"] in (before, after)
    else:
        assert _numbers_equal(rejection["limit"], case.limit), rejection
        assert _numbers_equal(rejection["observed"], case.observed), rejection
    assert rejection["reason"]
    assert len(harness.port.sends) == sent_before


@pytest.mark.parametrize("case", [c for c in VALIDITY + RULE_CASES if c.passing is not None], ids=lambda c: c.id)
async def test_valid_order_when_submitted_then_accepted_by_the_same_rule(order_harness, case):
    """The rule (or check) of each corpus entry approves an order within its limit: it is sent once."""
    harness = await _harness(order_harness, case)

    reply = await _reply(harness, "good-1", **case.passing)

    assert reply["status"] == "accepted", reply
    assert harness.port.sent_ids() == ["good-1"]


async def test_trade_limit_when_three_orders_of_4_against_5_then_only_the_first_accepted(order_harness):
    """Working orders count: 4 lots working + 4 more would pass a daily limit of 5, whether or not anything filled."""
    harness = await order_harness(harness_config(rules=("trade_limit",), limits={"trade_limit": {"limit": 5}}))

    replies = [await _reply(harness, f"t-{i}", volume=4.0) for i in range(3)]

    assert [r["status"] for r in replies] == ["accepted", "rejected", "rejected"]
    assert [(r["rejection"]["limit"], r["rejection"]["observed"]) for r in replies[1:]] == [(5.0, 8.0)] * 2
    assert harness.port.sent_ids() == ["t-0"]


async def test_trade_limit_when_working_order_cancelled_then_its_lots_free(order_harness):
    """A cancelled order's unfilled lots stop counting; a fill counts as traded."""
    harness = await order_harness(harness_config(rules=("trade_limit",), limits={"trade_limit": {"limit": 5}}))
    await _accepted(harness, "t-0", volume=4.0)
    harness.command(cancelOrder={"clientOrderId": "t-0", "account": "acct-01"})
    await harness.sink.wait(lambda: any(m["order"]["state"] == "cancelled" for m in harness.pushes("orderUpdated")))

    accepted = await _reply(harness, "t-1", volume=5.0)

    assert accepted["status"] == "accepted"
    assert harness.actor("risk/trade_limit/acct-01").observed() == 5.0


async def test_daily_loss_when_restarted_then_refuses_from_the_rebuilt_loss_before_any_pnl_period(order_harness):
    """A restarted daily_loss asks the account for its PnL at once: a loss past the limit refuses the next order,
    though the account's next PnL period is 30 s away."""
    config = harness_config(rules=("daily_loss",), limits={"daily_loss": {"limit": 1000}}, status_interval_s=30.0)
    harness = await order_harness(config)
    harness.port.trade("acct-01", "SIM.90", "t-1", 4100.0, 1.0)   # long 1 rb @4100 marked 3900: loss 2,000
    await harness.runtime.wait_idle()

    harness.runtime.tell_path("risk/daily_loss/acct-01", encode_actor_message("crash", "test", source="test"))
    await _until(lambda: harness.runtime.registry.entry("risk/daily_loss/acct-01").restarts == 1)
    await harness.runtime.wait_idle()
    reply = await _reply(harness, "after-restart")

    assert reply["rejection"]["rule"] == "daily_loss"
    assert (reply["rejection"]["limit"], reply["rejection"]["observed"]) == (1000.0, 2000.0)
    assert harness.port.sends == []


async def test_daily_loss_when_a_position_has_no_mark_then_refuses_fail_closed_until_it_has(order_harness):
    """A loss that cannot be known (a contract held without a last price) refuses with a clear reason; the first
    fully marked PnL lifts it."""
    market = ScriptedMarket(RB, HC_NO_TICK)
    port = ScriptedPort()
    port.trades.append(_trade("hc1801.SHFE"))   # held before the desk (re)started, no tick of hc yet
    config = harness_config(rules=("daily_loss",), limits={"daily_loss": {"limit": 1000}}, status_interval_s=0.05)
    harness = await order_harness(config, port=port, market=market)

    refused = await _reply(harness, "o-1")
    market.set_last("hc1801.SHFE", 3800.0)
    rule = harness.actor("risk/daily_loss/acct-01")
    await _until(lambda: rule.loss is not None)
    accepted = await _reply(harness, "o-2")

    assert refused["rejection"]["rule"] == "daily_loss" and "fail-closed" in refused["rejection"]["reason"]
    assert refused["rejection"]["limit"] == 1000.0 and math.isnan(refused["rejection"]["observed"])
    assert rule.loss == -1000.0   # long 1 hc @3700 marked 3800: a gain of 1,000
    assert accepted["status"] == "accepted"


def _trade(vt_symbol: str):
    from actors.orders.ports import GatewayTrade

    return GatewayTrade("t-0", "SIM.0", vt_symbol, "long", "open", 3700.0, 1.0, time.time_ns())


async def test_venue_when_gateway_not_ready_then_refused_naming_it_and_when_ready_then_sent(order_harness):
    """The ``venue`` rule refuses at once, naming the gateway and its state, while the account's gateway is not
    contractsReady (nothing sent); once it is, the same order goes out."""
    venues = ScriptedVenues(SIM="connecting")
    harness = await order_harness(harness_config(rules=("venue",)), venues=venues)

    for state in ("connecting", "connected", "reconnecting", "failed", "disconnected"):
        venues.set("SIM", state)
        reply = await _reply(harness, f"v-{state}")
        assert reply["status"] == "rejected" and reply["rejection"]["rule"] == "venue", reply
        assert "SIM" in reply["rejection"]["reason"] and state in reply["rejection"]["reason"]
    assert harness.port.sends == []

    venues.set("SIM", "contractsReady")
    assert (await _reply(harness, "v-ready"))["status"] == "accepted"
    assert harness.port.sent_ids() == ["v-ready"]
async def test_kill_switch_when_halted_then_refusal_names_who_when_and_why(order_harness):
    """A halted account's refusal says "halted by <user> at <UTC time>: <reason>", not only a state's rank."""
    harness = await order_harness(harness_config(rules=("kill_switch",)))
    row = harness.limits.set_kill_switch_nowait("account", "acct-01", "halted", "ops1", "fat finger")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(row["ts_ns"] // 1_000_000_000))

    reply = await _reply(harness, "k-1")

    assert reply["rejection"]["rule"] == "kill_switch"
    assert reply["rejection"]["reason"] == f"account acct-01 is halted by ops1 at {when}: fat finger"


async def test_venue_when_gateway_never_logged_in_then_refused_by_venue_before_the_contract_check(order_harness):
    """A gateway that never logged in knows no contract: the order actor asks the venue's state before its
    contract check, so the refusal is rule ``venue`` naming the gateway and its state, not "unknown contract";
    with the rule off (limit 0) the contract check answers as before."""
    venues = ScriptedVenues(SIM="reconnecting")
    harness = await order_harness(harness_config(rules=("venue",)), venues=venues)

    reply = await _reply(harness, "v-unknown", vt_symbol="zz9999.SHFE")
    assert reply["status"] == "rejected" and reply["rejection"]["rule"] == "venue", reply
    assert "SIM" in reply["rejection"]["reason"] and "reconnecting" in reply["rejection"]["reason"], reply

    harness.limits.change_nowait("venue", "acct-01", "limit", 0.0, "test")  # as the admin API turns it off
    reply = await _reply(harness, "v-off", vt_symbol="zz9999.SHFE")
    assert reply["rejection"]["rule"] == "order_validity", reply
    assert harness.port.sends == []
