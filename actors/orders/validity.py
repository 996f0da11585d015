"""Order validity: the one check of what an order must be before any limit applies.

:func:`check_order` is the only place these checks live. The order actor
calls it on every new order before asking any rule (so an invalid order is
refused even where ``order_validity`` is not configured), and
:class:`~actors.risk.rules.order_validity.OrderValidityRule` calls it for a
check it is asked by message. Every refusal is rule ``order_validity`` and
carries the bound as ``limit`` and the offending value as ``observed``, in
the check's unit; NaN only where no number exists (an order for another
account, a vt_symbol without an exchange).

===========================  ====================================  =====================
check                        limit                                 observed
===========================  ====================================  =====================
account                      NaN                                   NaN
client order id size         64 bytes                              its size, bytes
vt_symbol                    64 bytes / NaN (no ``.exchange``)     its size, bytes / NaN
contract known               0 (a price tick > 0 is required)      its price tick (0: unknown)
volume, whole lots           the contract's ``min_volume``, lots   the volume, lots
volume, contract maximum     the contract's ``max_volume``, lots   the volume, lots
price                        0 (a limit price > 0 is required)     the price
price on the tick grid       the price tick                        the price
===========================  ====================================  =====================

Source: vn.py risk manager 2.0 ``OrderValidityRule`` (the contract exists,
the price is on the tick grid, the volume is valid) and vn.py's
``ContractData`` (``pricetick``, ``min_volume``, ``max_volume``): an order is
a whole number of lots, at least ``min_volume`` and a multiple of it, as the
Chinese futures exchanges take it.
"""

from __future__ import annotations

import math
from typing import Any

from actors.market.watchlists import MAX_VT_SYMBOL_BYTES, vt_symbol_fits
from actors.orders.config import MAX_CLIENT_ORDER_ID_BYTES, client_order_id_fits
from actors.risk.rejection import Rejection

RULE = "order_validity"
"""The rule name every validity refusal carries."""
GRID_TOLERANCE = 1e-6
"""Fraction of a tick a price may miss the grid by (binary floating point of decimal ticks)."""

NAN = math.nan


def check_order(*, account: str, expected_account: str, client_order_id: str, vt_symbol: str, order_type: str,
                price: float, volume_lots: float, contract: Any) -> Rejection | None:
    """Return why an order is invalid, or ``None`` when it is a valid order for a known contract.

    Args:
        account: the account the order names.
        expected_account: the account of the order actor that took it.
        client_order_id: the client's id (1..64 UTF-8 bytes).
        vt_symbol: ``"rb1801.SHFE"``.
        order_type: orders.capnp ``OrderType`` name (``"limit"``, ``"market"`` ...).
        price: quote currency; 0 only for a market order.
        volume_lots: lots.
        contract: the contract's :class:`~actors.orders.ports.Quote` (``price_tick``,
            ``min_volume``, ``max_volume``), or ``None`` when unknown.

    Returns:
        A :class:`Rejection` of rule ``order_validity`` (limit and observed as in the
        module table), or ``None``.
    """
    if account != expected_account:
        return Rejection(RULE, NAN, NAN, f"order for {account[:64]!r} sent to {expected_account}")
    if not client_order_id_fits(client_order_id):
        size = len(client_order_id.encode())
        return Rejection(RULE, float(MAX_CLIENT_ORDER_ID_BYTES), float(size),
                         f"client order id must be 1..{MAX_CLIENT_ORDER_ID_BYTES} bytes, not {size}")
    if vt_symbol and not vt_symbol_fits(vt_symbol):   # an empty one is refused just below, as malformed
        symbol_bytes = len(vt_symbol.encode())
        return Rejection(RULE, float(MAX_VT_SYMBOL_BYTES), float(symbol_bytes),
                         f"vt_symbol of {symbol_bytes} bytes, over {MAX_VT_SYMBOL_BYTES}")
    if not vt_symbol or "." not in vt_symbol.strip("."):
        return Rejection(RULE, NAN, NAN, f"bad vt_symbol {vt_symbol!r}: want <symbol>.<exchange>")
    tick = float(contract.price_tick) if contract is not None else 0.0
    if not tick > 0:
        return Rejection(RULE, 0.0, tick if math.isfinite(tick) else 0.0,
                         f"unknown contract {vt_symbol} (no price tick)")
    problem = check_volume(volume_lots, contract)
    if problem is not None:
        return problem
    if order_type == "market":
        if not (math.isfinite(price) and price >= 0):
            return Rejection(RULE, 0.0, price, f"price {price!r} of a market order must be finite and >= 0")
        return None
    if not (math.isfinite(price) and price > 0):
        return Rejection(RULE, 0.0, price, f"price {price!r} must be a finite number > 0 (0 only for market orders)")
    steps = price / tick
    if abs(steps - round(steps)) > GRID_TOLERANCE * max(1.0, abs(steps)):
        return Rejection(RULE, tick, price, f"price {price:g} is not on the {tick:g} tick grid")
    return None


def check_volume(volume_lots: float, contract: Any) -> Rejection | None:
    """Return why a volume is not a valid order size of ``contract``, or ``None``.

    A valid volume is a whole number of lots, at least the contract's
    ``min_volume`` (1 when not given) and a whole multiple of it, and at most
    its ``max_volume`` when one is given. Exact arithmetic: 1e-9 lots is not
    "nearly 0 lots", it is not a whole lot.
    """
    step = float(getattr(contract, "min_volume", 1.0) or 1.0)
    if not (step >= 1 and step.is_integer()):
        step = 1.0   # fractional lots are no order size on these exchanges
    volume = float(volume_lots)
    if not math.isfinite(volume) or volume < step or not volume.is_integer() or not (volume / step).is_integer():
        return Rejection(RULE, step, volume, f"volume {volume!r} is not a whole number of lots, at least {step:g} "
                         f"and a multiple of {step:g}")
    most = float(getattr(contract, "max_volume", 0.0) or 0.0)
    if most > 0 and volume > most:
        return Rejection(RULE, most, volume, f"volume {volume:g} over the contract's {most:g}-lot maximum")
    return None


def check_record(record: Any, account_sent: str, contract: Any) -> Rejection | None:
    """Return :func:`check_order` of an :class:`~actors.orders.record.OrderRecord` (its account is the actor's)."""
    return check_order(account=account_sent, expected_account=record.account, client_order_id=record.client_order_id,
                       vt_symbol=record.vt_symbol, order_type=record.order_type, price=record.price,
                       volume_lots=record.volume, contract=contract)


__all__ = ["GRID_TOLERANCE", "RULE", "check_order", "check_record", "check_volume"]
