"""AccountActor: a strategy account's positions, PnL and margin are its own; the real account's apart."""

from __future__ import annotations

import pytest

from actors.orders.config import AccountSpec, OrdersConfig
from actors.orders.ports import Quote
from tests.actors.order_kit import ScriptedMarket, ScriptedPort

RB = Quote("rb1801.SHFE", "rb", 1.0, 10.0, 3900.0, 1.0, 0.0, 0.11, 0.11)
"""rb1801 as the CTP file gives it: tick 1, multiplier 10, margin ratio 0.11 long and short; last 3,900."""
IF = Quote("IF1711.CFFEX", "IF", 0.2, 300.0, 4000.0, 1.0, 0.0, 0.15, 0.15)
"""IF1711: tick 0.2, multiplier 300, margin ratio 0.15; last 4,000."""


def _config() -> OrdersConfig:
    return OrdersConfig(accounts=(AccountSpec("acct-01", "trader1", ("SIM",), capital=1_000_000.0),
                                  AccountSpec("acct-02", "trader2", ("SIM",), capital=500_000.0)),
                        rules=(), global_rules=(), status_interval_s=0.05)


async def _status(harness, account: str, trades: int) -> dict:
    """The first AccountStatus of ``account`` counting ``trades`` trades (bounded wait)."""
    def found():
        return [s for s in harness.pushes("accountStatus", account) if s["trades"] == trades]
    await harness.sink.wait(lambda: found(), timeout_s=5)
    return found()[-1]


async def test_account_status_when_two_strategy_accounts_share_a_real_account_then_each_shows_its_own(
        order_harness):
    """Fills on acct-02 move acct-02's margin only; acct-01's positions, PnL and margin come from its own fills."""
    port = ScriptedPort()
    harness = await order_harness(_config(), port=port, market=ScriptedMarket(RB, IF))
    harness.runtime.tell_path("accounts/acct-01", _real_account(1_000_000.0, 100_000.0, 900_000.0))
    harness.runtime.tell_path("accounts/acct-02", _real_account(1_000_000.0, 100_000.0, 900_000.0))

    port.trade("acct-02", "SIM.9", "t-1", 3900.0, 2.0)                                   # long open 2 rb
    port.trade("acct-01", "SIM.1", "t-2", 3890.0, 2.0)                                   # long open 2 rb
    port.trade("acct-01", "SIM.2", "t-3", 3910.0, 1.0, direction="short", offset="close")  # close 1 of them
    port.trade("acct-01", "SIM.3", "t-4", 4010.0, 1.0, direction="short", offset="open",
               vt_symbol="IF1711.CFFEX")                                                  # short open 1 IF
    one = await _status(harness, "acct-01", trades=3)
    two = await _status(harness, "acct-02", trades=1)

    # acct-01: long 1 rb @3890 marked 3900; short 1 IF @4010 marked 4000; 1 rb closed at 3910
    positions = {(p["vtSymbol"], p["direction"]): p for p in one["positions"]}
    assert positions[("rb1801.SHFE", "long")]["volumeLots"] == 1.0
    assert positions[("rb1801.SHFE", "long")]["avgPrice"] == 3890.0
    assert positions[("IF1711.CFFEX", "short")]["volumeLots"] == 1.0
    assert one["realizedPnl"] == pytest.approx(200.0)            # (3910 - 3890) × 1 × 10
    assert one["unrealizedPnl"] == pytest.approx(3100.0)         # (3900 - 3890) × 10 + (4010 - 4000) × 300
    assert one["margin"] == pytest.approx(184_290.0)             # 3900 × 10 × 1 × 0.11 + 4000 × 300 × 1 × 0.15
    assert one["balance"] == pytest.approx(1_003_300.0)          # 1,000,000 + 200 + 3,100
    assert one["available"] == pytest.approx(819_010.0)          # 1,003,300 - 184,290
    # acct-02: long 2 rb @3900 marked 3900
    assert [(p["vtSymbol"], p["direction"], p["volumeLots"]) for p in two["positions"]] == [
        ("rb1801.SHFE", "long", 2.0)]
    assert (two["realizedPnl"], two["unrealizedPnl"]) == (0.0, 0.0)
    assert two["margin"] == pytest.approx(8_580.0)               # 3900 × 10 × 2 × 0.11
    assert two["available"] == pytest.approx(491_420.0)          # 500,000 - 8,580
    # the real account behind both, labelled as such and the same for both
    for status in (one, two):
        assert (status["realBalance"], status["realAvailable"], status["realMargin"]) == (
            1_000_000.0, 900_000.0, 100_000.0)


async def test_account_status_when_only_another_account_traded_then_no_margin_and_full_available(order_harness):
    """acct-01 with no positions and no trades shows margin 0 and its whole capital available after acct-02's fill."""
    port = ScriptedPort()
    harness = await order_harness(_config(), port=port, market=ScriptedMarket(RB, IF))
    harness.runtime.tell_path("accounts/acct-01", _real_account(1_000_000.0, 7_814.0, 992_186.0))

    port.trade("acct-02", "SIM.9", "t-1", 3900.0, 2.0)
    await _status(harness, "acct-02", trades=1)
    one = await _status(harness, "acct-01", trades=0)

    assert one["positions"] == [] and one["trades"] == 0
    assert (one["margin"], one["realizedPnl"], one["unrealizedPnl"]) == (0.0, 0.0, 0.0)
    assert (one["balance"], one["available"]) == (1_000_000.0, 1_000_000.0)
    assert one["realMargin"] == 7_814.0


def _real_account(balance: float, frozen: float, available: float) -> bytes:
    from actors.orders.codec import encode_vnpy_account

    return encode_vnpy_account(vt_accountid="SIM.SIM", gateway_name="SIM", balance=balance, frozen=frozen,
                               available=available, ts_ns=1)
