"""Margin ratios of simulated instruments (sim.margins) and the synthetic universe that carries them."""

from __future__ import annotations

import pytest

from sim.margins import (
    DEFAULT_FUTURES_MARGIN_RATIO,
    futures_margin_ratio,
    futures_option_short_margin_per_unit,
    short_ratio,
    sse_short_margin_per_unit,
)
from sim.synthetic import SyntheticMarket


def test_futures_margin_ratio_when_product_known_then_its_ratio_else_the_default():
    """rb is margined at 9 %, an unknown product at the default."""
    assert futures_margin_ratio("rb") == 0.09
    assert futures_margin_ratio("zz") == DEFAULT_FUTURES_MARGIN_RATIO


@pytest.mark.parametrize(("right", "premium", "underlying", "strike", "expected"), [
    ("C", 0.10, 3.0, 3.0, 0.10 + 0.36),                  # at the money: 12 % of S
    ("C", 0.01, 3.0, 3.5, 0.01 + 0.21),                  # 0.5 out of the money: floor 7 % of S
    ("P", 0.05, 3.0, 2.9, 0.05 + max(0.36 - 0.1, 0.203)),  # 0.1 out of the money
    ("P", 2.9, 0.5, 3.0, 3.0),                           # deep in the money put: capped at the strike
], ids=["call_atm", "call_far_otm", "put_otm", "put_capped"])
def test_sse_short_margin_per_unit_when_priced_then_the_sse_formula(right, premium, underlying, strike, expected):
    """SSE: call premium + max(12 % S − OTM, 7 % S); put min(premium + max(12 % S − OTM, 7 % K), K)."""
    assert sse_short_margin_per_unit(right, premium, underlying, strike) == pytest.approx(expected)


def test_futures_option_short_margin_per_unit_when_otm_then_half_the_futures_margin_at_least():
    """DCE/CZCE: premium + max(F r − ½ OTM, ½ F r)."""
    assert futures_option_short_margin_per_unit("C", 50.0, 3000.0, 3000.0, 0.1) == pytest.approx(350.0)
    assert futures_option_short_margin_per_unit("P", 5.0, 3000.0, 2000.0, 0.1) == pytest.approx(155.0)


def test_margin_rules_when_right_unknown_then_value_error():
    """A right other than C or P is refused."""
    with pytest.raises(ValueError):
        sse_short_margin_per_unit("X", 0.1, 3.0, 3.0)
    with pytest.raises(ValueError):
        futures_option_short_margin_per_unit("X", 1.0, 3000.0, 3000.0, 0.1)
    assert short_ratio(1.0, 0.0) == 0.0


def test_synthetic_market_when_built_then_every_instrument_carries_nonzero_seller_margin():
    """Futures carry their product's ratio long and short; options none long, the seller's rule short."""
    market = SyntheticMarket(contracts=120, rate_per_s=100.0, seed=3)
    kinds = {"F": 0, "O": 0, "SSE": 0}
    for ref in market.instruments:
        assert ref.short_margin_ratio > 0, ref
        if ref.product_class == "F":
            assert ref.long_margin_ratio == ref.short_margin_ratio == futures_margin_ratio(ref.product)
            kinds["F"] += 1
        else:
            assert ref.long_margin_ratio == 0.0
            kinds["SSE" if ref.exchange == "SSE" else "O"] += 1
    assert all(kinds.values()), kinds
