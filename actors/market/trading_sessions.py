"""Whether a group's contracts are trading now, from their products' published sessions (issue 14).

A group is ``closed`` when none of its contracts is inside one of its
product's trading sessions at the current exchange time, and ``preOpen``
when, besides, none of them has opened yet in the current trading day (the
contracts are not yet trading, rather than between sessions or after the
close). A group with a contract whose product the table does not hold, or
with no contracts at all, is never judged closed: the desk does not claim a
market shut that it knows nothing of.

Sessions: :mod:`actors.risk.product_sessions` (the exchanges' published
trading hours, Asia/Shanghai, the call auction included). Trading day: the
Chinese futures exchanges count a night session to the *next* trading day
(SHFE, DCE, CZCE, INE trading rules: "the night session belongs to the
following trading day"), so a trading day starts after the day session's
last close (15:00, CFFEX treasury futures 15:15): :data:`TRADING_DAY_START_HHMM`.
Holidays and weekends are not in the table (the exchanges' calendar is not
held here): on a holiday the sessions say open and the venue's silence shows.

The exchange time is the caller's: the replay's clock for a replay, the wall
clock for a live venue (actors/market/group.py chooses).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from actors.market.liveness import EXCHANGE_TZ
from actors.risk.product_sessions import Window, sessions_of

TRADING_DAY_START_HHMM = 1530
"""A trading day starts here, exchange time: after every day session's close (15:00; CFFEX bonds 15:15)."""


@dataclass(frozen=True)
class SessionVerdict:
    """Why a group is not trading now.

    Attributes:
        pre_open: True when no contract of the group has opened yet in the current trading day.
        next_open_hhmm: the soonest session opening of any of its products, HHMM exchange time.
        products: the group's products, sorted (the ones the table holds).
    """

    pre_open: bool
    next_open_hhmm: int
    products: tuple[str, ...]

    def reason(self) -> str:
        """Return the words a trader reads: ``"pre-open: rb opens at 20:55 (exchange time, ...)"``."""
        products = ", ".join(self.products[:6]) + (" ..." if len(self.products) > 6 else "")
        when = f"{self.next_open_hhmm // 100:02d}:{self.next_open_hhmm % 100:02d}"
        if self.pre_open:
            return (f"pre-open: {products} not trading yet today, next session opens at {when} "
                    "(exchange time, the products' published trading hours)")
        return (f"closed: outside the trading sessions of {products}, next opens at {when} "
                "(exchange time, the products' published trading hours)")


class GroupSessions:
    """The trading sessions of one group's products.

    Args:
        products: the product id (CTP ``ProductID``, vn.py's group, ``"rb"``, ``"m_o"``) of every contract.
    """

    def __init__(self, products: Iterable[str]) -> None:
        found: dict[str, tuple[Window, ...]] = {}
        self.unknown: list[str] = []
        for product in sorted(set(products)):
            windows = sessions_of(product)
            if windows is None:
                self.unknown.append(product)
            else:
                found[product] = windows
        self.windows = found

    def verdict(self, exchange_ts_ns: int) -> SessionVerdict | None:
        """Return why the group is not trading at ``exchange_ts_ns``, or None when it is (or may be).

        Args:
            exchange_ts_ns: the exchange's clock now, ns since the UNIX epoch.

        Returns:
            None when some contract is inside a session, a product is not in the table, or there is no
            contract; else a :class:`SessionVerdict`.
        """
        if not self.windows or self.unknown:
            return None
        local = dt.datetime.fromtimestamp(exchange_ts_ns / 1e9, EXCHANGE_TZ)
        now = local.hour * 100 + local.minute
        if any(opens <= now < closes for windows in self.windows.values() for opens, closes in windows):
            return None
        since_start = _trading_day_minutes(now)
        pre_open = all(since_start < min(_trading_day_minutes(opens) for opens, _ in windows)
                       for windows in self.windows.values())
        upcoming = [opens for windows in self.windows.values() for opens, _ in windows]
        later = [opens for opens in upcoming if _trading_day_minutes(opens) > since_start]
        next_open = min(later, key=_trading_day_minutes) if later else min(upcoming, key=_trading_day_minutes)
        return SessionVerdict(pre_open, next_open, tuple(self.windows))


def _trading_day_minutes(hhmm: int) -> int:
    """Minutes from the trading day's start (:data:`TRADING_DAY_START_HHMM`) to ``hhmm``, 0 .. 1439."""
    minutes = (hhmm // 100) * 60 + hhmm % 100
    start = (TRADING_DAY_START_HHMM // 100) * 60 + TRADING_DAY_START_HHMM % 100
    return (minutes - start) % (24 * 60)


__all__ = ["GroupSessions", "SessionVerdict", "TRADING_DAY_START_HHMM"]
