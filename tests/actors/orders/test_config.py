"""OrdersConfig: the order ticket's default size per contract ([orders] default_lots)."""

from __future__ import annotations

import math

import pytest

from actors.orders.config import OrdersConfig


def test_default_lots_when_configured_by_symbol_and_product_then_the_symbol_wins_and_else_one_lot():
    """A vt_symbol's entry wins over its product's; a contract of neither gets 1 lot."""
    config = OrdersConfig.from_toml({"orders": {"default_lots": {"rb": 5, "rb1805.SHFE": 2}}})

    assert config.default_lots_of("rb1801.SHFE", "rb") == 5.0
    assert config.default_lots_of("rb1805.SHFE", "rb") == 2.0
    assert config.default_lots_of("IF1801.CFFEX", "IF") == 1.0


@pytest.mark.parametrize("lots", [0, -1, 1.5, math.nan, math.inf, "5", True])
def test_default_lots_when_not_a_whole_number_of_lots_then_value_error_naming_the_key(lots):
    """0, negative, fractional, non-finite or non-numeric sizes are refused at start, naming the entry."""
    with pytest.raises(ValueError, match=r"orders\.default_lots\.rb "):
        OrdersConfig(default_lots={"rb": lots})
