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


def test_gateway_spec_when_malformed_or_missing_then_config_error_names_it():
    """The gateway class comes from configuration as ``module:Class``; a bad one is refused by name, before
    vn.py starts."""
    import pytest

    from transport.errors import ConfigError
    from transport.process.app import DeskConfig
    from transport.venue.vnpy_engine import load_gateway_class

    for spec in ("sim.gateway.SimGateway", "sim.gateway:", ":SimGateway", "sim gateway:SimGateway"):
        with pytest.raises(ConfigError, match="module:Class"):
            DeskConfig(gateway=spec)
    with pytest.raises(ConfigError, match="cannot import"):
        load_gateway_class("sim.no_such_module:SimGateway")
    with pytest.raises(ConfigError, match="no class"):
        load_gateway_class("sim.gateway:NoSuchGateway")
    from sim.gateway import SimGateway

    assert load_gateway_class(DeskConfig().gateway) is SimGateway


async def test_desk_when_gateway_configured_then_that_class_is_connected_and_faults_api_only_on_simulator(
        tmp_path, data_dir):
    """The venue engine connects the configured class (importlib; transport imports no simulator); a desk whose
    gateway is not the simulator's serves no ``/admin/faults``."""
    import aiohttp

    from tests.conftest import JWT_SECRET
    from tests.transport.venue.recording_gateway import RecordingGateway
    from transport.process.app import Desk, DeskConfig
    from transport.signin.auth import mint_token

    RecordingGateway.connects.clear()
    config = DeskConfig(port=0, contracts=50, rate=50.0, jwt_secret=JWT_SECRET, progress_interval_s=0,
                        state_dir=str(tmp_path), gateway="tests.transport.venue.recording_gateway:RecordingGateway")
    assert not config.simulated
    desk = Desk(config)
    await desk.start()
    try:
        assert isinstance(desk.engine.gateway(), RecordingGateway)
        assert RecordingGateway.connects and RecordingGateway.connects[0]["contracts"] == 50
        token = mint_token(JWT_SECRET, "ops", "admin")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{desk.url}admin/faults", headers={"Authorization": f"Bearer {token}"}) as reply:
                assert reply.status == 404
    finally:
        await desk.stop()
