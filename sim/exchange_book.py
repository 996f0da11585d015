"""The simulator exchange's settings, statistics and per-account book (sim/exchange.py uses them).

Settings are the keys of the gateway's connect setting (sim/exchange.py's
docstring lists them); prices in quote currency, volumes in lots.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim.errors import SimSettingError


DROP_COPY_ENV = "TICKSTAGE_SIM_DROP_COPY"
"""Environment variable naming the venue's drop-copy file when the ``drop_copy`` setting is empty."""


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    """Typed exchange settings (module docstring).

    Attributes:
        venue: venue name; gateways connecting with the same name share one exchange.
        latency_ms: delay of each answer (accept, reject, cancel), milliseconds.
        no_answer_probability: chance that an order's answer is never sent, 0..1.
        seed: seed of the no-answer draws.
        capital: starting balance of each real account, quote currency.
        margin_rate: margin per position value, 0..1.
        price_limit_percent: price limits, ± percent of the first price seen of a contract.
        drop_copy: append every received order to this file (sim/drop_copy.py); ``""``: none. Setting
            ``drop_copy``, else the environment variable ``TICKSTAGE_SIM_DROP_COPY``.
    """

    venue: str = "SIM"
    latency_ms: float = 0.0
    no_answer_probability: float = 0.0
    seed: int = 7
    capital: float = 10_000_000.0
    margin_rate: float = 0.1
    price_limit_percent: float = 10.0
    drop_copy: str = ""

    @classmethod
    def from_setting(cls, setting: Mapping[str, Any]) -> ExchangeSettings:
        """Read the exchange's keys of a gateway setting; missing keys take the defaults.

        Raises:
            SimSettingError: a value is of the wrong type or out of range.
        """
        def number(key: str, default: float) -> float:
            value = setting.get(key, default)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise SimSettingError(key, value, "must be a number") from None
            if not math.isfinite(number) or number < 0:
                raise SimSettingError(key, value, "must be a finite number >= 0")
            return number

        probability = number("order_no_answer_probability", 0.0)
        if probability > 1:
            raise SimSettingError("order_no_answer_probability", probability, "must be within 0..1")
        return cls(venue=str(setting.get("venue", "SIM") or "SIM"), latency_ms=number("order_latency_ms", 0.0),
                   no_answer_probability=probability, seed=int(number("order_seed", 7)),
                   capital=number("account_capital", 10_000_000.0), margin_rate=number("margin_rate", 0.1),
                   price_limit_percent=number("price_limit_percent", 10.0),
                   drop_copy=str(setting.get("drop_copy") or os.environ.get(DROP_COPY_ENV, "")))


@dataclass(frozen=True, slots=True)
class ExchangeStatistics:
    """What the exchange did since it was created.

    Attributes:
        orders_received: ``send_order`` calls.
        distinct_references: distinct ``OrderRequest.reference`` values among them.
        most_per_reference: most orders sent with one reference (1 when every order was sent once).
        accepted, rejected, unanswered, fills, cancels: counts (cancels: orders cancelled).
        cancel_requests: ``cancel_order`` calls, whether or not the order was still live.
    """

    orders_received: int
    distinct_references: int
    most_per_reference: int
    accepted: int
    rejected: int
    unanswered: int
    fills: int
    cancels: int
    cancel_requests: int = 0


class AccountBook:
    """One real account's position per contract and its cash (quote currency)."""

    def __init__(self, capital: float) -> None:
        self.capital = capital
        self.realized = 0.0
        self.positions: dict[str, tuple[float, float, float]] = {}   # vt_symbol → (net lots, avg, size)

    def fill(self, vt_symbol: str, signed: float, price: float, size: float) -> None:
        net, avg, _ = self.positions.get(vt_symbol, (0.0, 0.0, size))
        if net and (net > 0) != (signed > 0):
            closed = min(abs(net), abs(signed))
            self.realized += (price - avg) * closed * size * (1 if net > 0 else -1)
        new = net + signed
        if new == 0:
            avg = 0.0
        elif net == 0 or (net > 0) != (new > 0):
            avg = price
        elif abs(new) > abs(net):
            avg = (avg * abs(net) + price * abs(signed)) / abs(new)
        self.positions[vt_symbol] = (new, avg, size)


__all__ = ["AccountBook", "DROP_COPY_ENV", "ExchangeSettings", "ExchangeStatistics"]
