"""One risk rule per module, named as vn.py's risk manager names them.

:data:`RULES` maps a rule name (its module name, the ``<rule>`` of
``risk/<rule>/<account>``) to its actor class.
"""

from __future__ import annotations

from actors.risk.rules.active_order import ActiveOrderRule
from actors.risk.rules.daily_loss import DailyLossRule
from actors.risk.rules.duplicate_order import DuplicateOrderRule
from actors.risk.rules.error_rate import ErrorRateRule
from actors.risk.rules.kill_switch import KillSwitchRule
from actors.risk.rules.order_cancel import OrderCancelRule
from actors.risk.rules.order_flow import OrderFlowRule
from actors.risk.rules.order_notional import OrderNotionalRule
from actors.risk.rules.order_validity import OrderValidityRule
from actors.risk.rules.order_volume import OrderVolumeRule
from actors.risk.rules.position_limit import PositionLimitRule
from actors.risk.rules.price_band import PriceBandRule
from actors.risk.rules.trade_limit import TradeLimitRule
from actors.risk.rules.trading_hours import TradingHoursRule
from actors.risk.rules.venue import VenueRule

RULES = {cls.rule: cls for cls in (
    OrderValidityRule, VenueRule, TradingHoursRule, KillSwitchRule, OrderFlowRule, OrderVolumeRule, OrderNotionalRule,
    PriceBandRule, DuplicateOrderRule, ActiveOrderRule, OrderCancelRule, TradeLimitRule, PositionLimitRule,
    DailyLossRule, ErrorRateRule,
)}
"""Rule name → actor class."""


def rule_defaults() -> dict[str, dict[str, float]]:
    """Return rule name → default limits (for :class:`~actors.risk.limits.LimitStore`)."""
    return {name: dict(cls.defaults) for name, cls in RULES.items()}


__all__ = [
    "ActiveOrderRule",
    "DailyLossRule",
    "DuplicateOrderRule",
    "ErrorRateRule",
    "KillSwitchRule",
    "OrderCancelRule",
    "OrderFlowRule",
    "OrderNotionalRule",
    "OrderValidityRule",
    "OrderVolumeRule",
    "PositionLimitRule",
    "PriceBandRule",
    "RULES",
    "TradeLimitRule",
    "TradingHoursRule",
    "VenueRule",
    "rule_defaults",
]
