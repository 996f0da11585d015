"""TradingHoursRule (``risk/trading_hours/<account>``): orders only inside the trading windows.

Source: the desk's requirements (DESIGN §4: trading hours). Windows are in
exchange time (Asia/Shanghai) as HHMM numbers: ``window_1_open = 900``,
``window_1_close = 1130``; up to four windows, a window with open < 0 is
unused, and a window whose close is before its open spans midnight.
"""

from __future__ import annotations

from actors.orders.record import Rejection
from actors.risk._rule import EXCHANGE_UTC_OFFSET_NS, RiskRule

WINDOWS = 4


def hhmm(ts_ns: int) -> int:
    """Return the exchange time of day of ``ts_ns`` (ns since epoch) as HHMM (integer arithmetic: the
    exchange's UTC offset is fixed)."""
    minutes = (ts_ns + EXCHANGE_UTC_OFFSET_NS) // 60_000_000_000 % 1440
    return minutes // 60 * 100 + minutes % 60


class TradingHoursRule(RiskRule):
    """Refuse an order submitted outside every window (default: one window, all day)."""

    rule = "trading_hours"
    main_limit = "window_1_open"
    defaults = {"window_1_open": 0.0, "window_1_close": 2400.0,
                **{f"window_{i}_{edge}": -1.0 for i in range(2, WINDOWS + 1) for edge in ("open", "close")}}

    def windows(self) -> list[tuple[float, float]]:
        """Return the windows in use, (open, close) HHMM."""
        out = []
        for i in range(1, WINDOWS + 1):
            opens, closes = self.limits[f"window_{i}_open"], self.limits[f"window_{i}_close"]
            if opens >= 0 and closes >= 0:
                out.append((opens, closes))
        return out

    def on_limits(self) -> None:
        """Keep the windows in use (read per check)."""
        self._windows = self.windows()

    def check(self, order) -> Rejection | None:
        """Approve inside a window, refuse outside (observed: HHMM now)."""
        now = hhmm(order.tsNs)
        windows = self._windows
        for opens, closes in windows:
            if (opens <= now < closes) if opens <= closes else (now >= opens or now < closes):
                return None
        shown = ", ".join(f"{int(o):04d}-{int(c):04d}" for o, c in windows) or "none"
        return self.rejection("window_1_open", now, f"{now:04d} is outside the trading hours ({shown})")


__all__ = ["TradingHoursRule", "hhmm"]
