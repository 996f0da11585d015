"""TradingHoursRule (``risk/trading_hours/<account>``): orders only inside the contract's trading sessions.

Source: the desk's requirements (trading hours), with each
product's own sessions, night sessions included, from the exchanges'
published trading hours (:mod:`actors.risk.product_sessions`, keyed by the
order's contract group = its CTP product id). A product the table does not
hold uses the configured default windows: exchange time (Asia/Shanghai) as
HHMM numbers, ``window_1_open = 900``, ``window_1_close = 1130``; up to four
windows, a window with open < 0 is unused, and a window whose close is before
its open spans midnight. ``product_sessions = 0`` applies the default windows
to every product (a desk replaying a recorded day at another time of day).
"""

from __future__ import annotations

from actors.risk._rule import EXCHANGE_UTC_OFFSET_NS, RiskRule
from actors.risk.product_sessions import Window, inside, next_open, sessions_of
from actors.risk.rejection import Rejection

WINDOWS = 4


def hhmm(ts_ns: int) -> int:
    """Return the exchange time of day of ``ts_ns`` (ns since epoch) as HHMM (integer arithmetic: the
    exchange's UTC offset is fixed)."""
    minutes = (ts_ns + EXCHANGE_UTC_OFFSET_NS) // 60_000_000_000 % 1440
    return minutes // 60 * 100 + minutes % 60


class TradingHoursRule(RiskRule):
    """Refuse an order submitted outside every trading window of its product.

    Limits: ``product_sessions`` (1: each product's published sessions; 0: the
    default windows for all), ``window_<i>_open`` / ``window_<i>_close`` (HHMM,
    the default windows; default: one window, all day). A refusal's observed
    value is the exchange time (HHMM) of the order, its limit the next opening
    (HHMM) of the product's windows.
    """

    rule = "trading_hours"
    main_limit = "window_1_open"
    defaults = {"product_sessions": 1.0, "window_1_open": 0.0, "window_1_close": 2400.0,
                **{f"window_{i}_{edge}": -1.0 for i in range(2, WINDOWS + 1) for edge in ("open", "close")}}

    def windows(self) -> list[tuple[float, float]]:
        """Return the default windows in use, (open, close) HHMM."""
        out = []
        for i in range(1, WINDOWS + 1):
            opens, closes = self.limits[f"window_{i}_open"], self.limits[f"window_{i}_close"]
            if opens >= 0 and closes >= 0:
                out.append((opens, closes))
        return out

    def on_limits(self) -> None:
        """Keep the default windows in use, split at midnight (read per check)."""
        split: list[Window] = []
        for opens, closes in self.windows():
            split += [(int(opens), int(closes))] if opens <= closes else [(int(opens), 2400), (0, int(closes))]
        self._default: tuple[Window, ...] = tuple(split)
        self._by_product = bool(self.limits["product_sessions"])

    def windows_of(self, product: str) -> tuple[Window, ...]:
        """Return the windows of a product: its published sessions, else the default windows."""
        if self._by_product:
            found = sessions_of(product)
            if found is not None:
                return found
        return self._default

    def check(self, order) -> Rejection | None:
        """Approve inside one of the product's windows, refuse outside (observed: HHMM now)."""
        now = hhmm(order.tsNs)
        windows = self.windows_of(order.group)
        if inside(windows, now):
            return None
        shown = ", ".join(f"{o:04d}-{c:04d}" for o, c in windows) or "none"
        limit = float(next_open(windows, now)) if windows else float("nan")
        return Rejection(self.rule, limit, float(now), f"{now:04d} is outside the trading hours of "
                         f"{order.group or order.vtSymbol} ({shown})")


__all__ = ["TradingHoursRule", "hhmm"]
