"""vn.py is contained: its folder under tickstage's state dir, the working directory kept."""

from __future__ import annotations

import os
from pathlib import Path

import vnpy.trader.utility as vnpy_utility


async def test_desk_when_started_then_cwd_unchanged_and_vnpy_home_under_state_dir(desk):
    """MainEngine's chdir is undone and vn.py's .vntrader lives in TICKSTAGE_STATE_DIR."""
    state_dir = Path(os.environ["TICKSTAGE_STATE_DIR"]).resolve()
    assert Path(os.getcwd()).resolve() != vnpy_utility.TRADER_DIR.resolve()
    assert vnpy_utility.TEMP_DIR.resolve() == state_dir / ".vntrader"
    assert desk.engine.main_engine is not None


async def test_desk_when_orders_rest_on_a_contract_then_vnpy_does_no_per_order_scan_of_active_orders(
        desk, eventually, monkeypatch):
    """vn.py's OmsEngine keeps no OffsetConverter on a desk: an order event costs O(1), not a re-sum of every
    active order of its contract (``PositionHolding.calculate_frozen``) on vn.py's thread."""
    from vnpy.trader.constant import Direction, Offset, OrderType
    from vnpy.trader.converter import PositionHolding
    from vnpy.trader.object import OrderRequest

    from tests.transport.orders_kit import SYMBOL, last_price

    sums = []
    original = PositionHolding.calculate_frozen
    monkeypatch.setattr(PositionHolding, "calculate_frozen", lambda self: sums.append(1) or original(self))
    main_engine = desk.engine.main_engine
    price = await last_price(desk)
    contract = await eventually(lambda: main_engine.get_contract(SYMBOL), what="the contract in vn.py")
    assert not contract.net_position   # SHFE: long and short positions apart, where vn.py converts offsets
    symbol, _, _ = SYMBOL.partition(".")
    sent = [main_engine.send_order(OrderRequest(symbol, contract.exchange, Direction.LONG, OrderType.LIMIT, 1,
                                                price - 20, Offset.CLOSE, f"resting-{n}"), "SIM")
            for n in range(20)]
    assert all(sent)
    await eventually(lambda: all(main_engine.get_order(v) is not None for v in sent), what="order events")
    assert sums == []
    assert main_engine.get_converter("SIM") is None
