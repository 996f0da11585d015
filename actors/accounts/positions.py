"""Positions of one account from its fills, deduplicated by trade id, marked to market.

Chinese futures hold long and short positions side by side: an ``open`` fill
adds to the side of its direction, a ``close``/``closeToday``/``closeYesterday``
fill reduces the opposite side (a short close reduces the long position). A
fill with offset ``none`` (net-position gateways) first reduces the opposite
side, then opens the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

_OPPOSITE = {"long": "short", "short": "long", "net": "net"}


@dataclass(slots=True)
class Position:
    """One side held in one contract.

    Attributes:
        volume: lots held.
        avg_price: average open price, quote currency.
        realized: today's realized PnL of this side, quote currency.
        multiplier: units per lot.
    """

    volume: float = 0.0
    avg_price: float = 0.0
    realized: float = 0.0
    multiplier: float = 1.0


class PositionBook:
    """Positions by (vt_symbol, side) built from fills; each vt_tradeid counts once."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, str], Position] = {}
        self.trade_ids: set[str] = set()
        self.duplicates = 0

    def apply(self, vt_tradeid: str, vt_symbol: str, direction: str, offset: str, price: float,
              volume: float, multiplier: float) -> bool:
        """Apply one fill; return False (and change nothing) when its vt_tradeid was seen.

        Args:
            direction: orders.capnp ``Direction`` name of the fill.
            offset: orders.capnp ``Offset`` name.
            price: quote currency.
            volume: lots.
            multiplier: units per lot.
        """
        if vt_tradeid in self.trade_ids:
            self.duplicates += 1
            return False
        self.trade_ids.add(vt_tradeid)
        opposite = _OPPOSITE.get(direction, "long")
        if offset == "open":
            self._open(vt_symbol, direction, price, volume, multiplier)
        elif offset in ("close", "closeToday", "closeYesterday"):
            self._reduce(vt_symbol, opposite, price, volume, multiplier)
        else:
            rest = self._reduce(vt_symbol, opposite, price, volume, multiplier)
            if rest > 0:
                self._open(vt_symbol, direction, price, rest, multiplier)
        return True

    def _side(self, vt_symbol: str, side: str, multiplier: float) -> Position:
        position = self.positions.get((vt_symbol, side))
        if position is None:
            position = self.positions[(vt_symbol, side)] = Position(multiplier=multiplier or 1.0)
        return position

    def _open(self, vt_symbol: str, side: str, price: float, volume: float, multiplier: float) -> None:
        position = self._side(vt_symbol, side, multiplier)
        total = position.avg_price * position.volume + price * volume
        position.volume += volume
        position.avg_price = total / position.volume if position.volume else 0.0

    def _reduce(self, vt_symbol: str, side: str, price: float, volume: float, multiplier: float) -> float:
        """Reduce ``side`` by up to ``volume``; return the lots left over (nothing held to close)."""
        position = self._side(vt_symbol, side, multiplier)
        closed = min(position.volume, volume)
        sign = -1.0 if side == "short" else 1.0
        position.realized += (price - position.avg_price) * closed * position.multiplier * sign
        position.volume -= closed
        if position.volume <= 0:
            position.volume, position.avg_price = 0.0, 0.0
        return volume - closed

    @property
    def realized(self) -> float:
        """Today's realized PnL, quote currency."""
        return sum(p.realized for p in self.positions.values())

    def unrealized(self, mark: Callable[[str], float]) -> float:
        """Return the unrealized PnL at ``mark(vt_symbol)`` (NaN marks count as 0), quote currency."""
        total = 0.0
        for (vt_symbol, side), position in self.positions.items():
            total += self.unrealized_of(vt_symbol, side, position, mark(vt_symbol))
        return total

    @staticmethod
    def unrealized_of(vt_symbol: str, side: str, position: Position, mark_price: float) -> float:
        """Unrealized PnL of one side at ``mark_price`` (0 when it is NaN), quote currency."""
        if not position.volume or not math.isfinite(mark_price):
            return 0.0
        sign = -1.0 if side == "short" else 1.0
        return (mark_price - position.avg_price) * position.volume * position.multiplier * sign

    def margin(self, mark: Callable[[str], float], ratio: Callable[[str, str], float]) -> float:
        """Return the margin the positions held require, quote currency.

        Per side held: ``price × multiplier × volume × margin ratio``, where
        price is ``mark(vt_symbol)`` (the latest price), or the average open
        price before the contract's first tick, and the ratio is
        ``ratio(vt_symbol, side)`` (0..1; 0 adds nothing: contracts without a
        ratio, such as options bought, whose premium was paid in full).
        Source: CTP ``InstrumentField.LongMarginRatio`` / ``ShortMarginRatio``
        (margin by money: ratio × contract value), valued at the latest price
        as CTP's ``MarginPriceType`` "latest price" does; Chinese futures hold
        long and short side by side, each margined on its own.

        Args:
            mark: vt_symbol → latest price, quote currency (NaN or ≤ 0: none).
            ratio: (vt_symbol, side ``"long"``/``"short"``) → margin ratio, 0..1.
        """
        total = 0.0
        for (vt_symbol, side), position in self.positions.items():
            if not position.volume:
                continue
            price = mark(vt_symbol)
            if not (math.isfinite(price) and price > 0):
                price = position.avg_price
            total += price * position.multiplier * position.volume * ratio(vt_symbol, side)
        return total

    def symbols(self) -> set[str]:
        """Contracts with a position (or realized PnL) today."""
        return {vt_symbol for vt_symbol, _ in self.positions}


__all__ = ["Position", "PositionBook"]
