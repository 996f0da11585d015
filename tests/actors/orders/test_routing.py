"""Routing a strategy account's orders over its real accounts by contract class or exchange."""

from __future__ import annotations

import pytest

from actors.orders.config import AccountSpec, OrdersConfig
from actors.orders.routing import contract_class, route_gateway


@pytest.mark.parametrize(("vt_symbol", "gateway"), [
    ("rb1801.SHFE", "CTP"), ("m1801-C-2800.DCE", "CTP"), ("IF1712.CFFEX", "CTP"),
    ("10001000.SSE", "SOPT"), ("90000001.SZSE", "SOPT"),
])
def test_route_gateway_when_class_route_then_futures_and_options_apart(vt_symbol, gateway):
    """Futures and futures options go to the CTP account, SSE/SZSE ETF options to the SOPT account."""
    assert route_gateway(("CTP", "SOPT"), {"futures": "CTP", "etf_options": "SOPT"}, vt_symbol) == gateway


def test_route_gateway_when_exchange_key_then_it_wins_and_unmatched_go_to_first_real():
    """An exchange key wins over the class; no match → the first real account."""
    route = {"etf_options": "A", "SZSE": "B"}
    assert route_gateway(("A", "B"), route, "90000001.SZSE") == "B"
    assert route_gateway(("A", "B"), route, "10001000.SSE") == "A"
    assert route_gateway(("B", "A"), {"SSE": "A"}, "rb1801.SHFE") == "B"
    assert contract_class("rb1801.SHFE") == "futures" and contract_class("x.SSE") == "etf_options"


@pytest.mark.parametrize(("route", "message"), [
    ({"stocks": "CTP"}, "neither a contract class"),
    ({"futures": "XTP"}, "not one of its real accounts"),
])
def test_account_spec_when_route_malformed_then_value_error(route, message):
    """A route key that is no class or exchange, or a gateway the account is not on, is refused at load."""
    with pytest.raises(ValueError, match=message):
        AccountSpec("acct-01", "t", ("CTP", "SOPT"), 0.0, route)


def test_from_toml_when_route_table_then_spec_routes():
    """``[accounts.<id>] route`` is read from the TOML document; a non-table is refused."""
    config = OrdersConfig.from_toml({"accounts": {"acct-01": {"trader": "t", "real": ["CTP", "SOPT"],
                                                              "route": {"etf_options": "SOPT"}}}})
    assert config.account("acct-01").gateway_for("10001000.SSE") == "SOPT"
    assert config.account("acct-01").gateway_for("rb1801.SHFE") == "CTP"
    with pytest.raises(ValueError, match="route"):
        OrdersConfig.from_toml({"accounts": {"acct-01": {"real": ["CTP"], "route": "CTP"}}})
