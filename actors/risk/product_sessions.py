"""Trading sessions of the China futures and options products, by product, in exchange time.

Source: the exchanges' published trading hours (SHFE and INE, DCE, CZCE,
GFEX, CFFEX, and SSE for ETF options), as of 2024. Times are Asia/Shanghai
(UTC+8, no daylight saving) as HHMM numbers; a window is ``[open, close)``.
Each session opens with the exchange's call-auction order entry (08:55 for
the commodity day session, 20:55 for the night session, 09:25 for CFFEX and
SSE), when orders are already taken. A night session past midnight is
written as two windows (``2100-2400`` and ``0000-0100``).

=========================================  ==========================================
products                                   sessions
=========================================  ==========================================
commodity day session (every commodity)    0855-1015, 1030-1130, 1330-1500
night to 02:30: au ag sc                   2055-2400, 0000-0230
night to 01:00: cu al zn pb ni sn ss ao bc 2055-2400, 0000-0100
night to 23:00: rb hc bu ru fu sp br nr lu 2055-2300
  a b m y p c cs i j jm l v pp eg eb pg rr
  fb SR CF CY TA MA FG RM OI ZC SA PF SH PX
CFFEX equity index futures and options     0925-1130, 1300-1500
  IF IC IH IM IO MO HO
CFFEX treasury futures T TF TS TL          0925-1130, 1300-1515
SSE ETF options 510050 510300 510500 ...   0925-1130, 1300-1500
=========================================  ==========================================

Options trade in their underlying's sessions: a product id of an option
(``m_o``, CZCE ``SRC``/``SRP``) is looked up as its underlying (``m``, ``SR``).
Holidays and weekends are not in the table (no session then, by the
exchanges' calendar, which this module does not hold).
"""

from __future__ import annotations

Window = tuple[int, int]
"""``(open, close)`` HHMM, exchange time; open inclusive, close exclusive."""

_DAY = ((855, 1015), (1030, 1130), (1330, 1500))
_NIGHT_0230 = ((2055, 2400), (0, 230))
_NIGHT_0100 = ((2055, 2400), (0, 100))
_NIGHT_2300 = ((2055, 2300),)
_CFFEX_INDEX = ((925, 1130), (1300, 1500))
_CFFEX_BOND = ((925, 1130), (1300, 1515))
_SSE_OPTIONS = ((925, 1130), (1300, 1500))

_COMMODITIES_DAY_ONLY = ("wr", "jd", "bb", "lh", "lg", "WH", "PM", "RI", "JR", "LR", "SF", "SM", "AP", "CJ", "UR",
                         "PK", "RS", "si", "lc", "ec")
_NIGHT_TO_0230 = ("au", "ag", "sc")
_NIGHT_TO_0100 = ("cu", "al", "zn", "pb", "ni", "sn", "ss", "ao", "bc")
_NIGHT_TO_2300 = ("rb", "hc", "bu", "ru", "fu", "sp", "br", "nr", "lu", "a", "b", "m", "y", "p", "c", "cs", "i", "j",
                  "jm", "l", "v", "pp", "eg", "eb", "pg", "rr", "fb", "SR", "CF", "CY", "TA", "MA", "FG", "RM", "OI",
                  "ZC", "SA", "PF", "SH", "PX")

PRODUCT_SESSIONS: dict[str, tuple[Window, ...]] = {
    **{product: _DAY for product in _COMMODITIES_DAY_ONLY},
    **{product: _DAY + _NIGHT_0230 for product in _NIGHT_TO_0230},
    **{product: _DAY + _NIGHT_0100 for product in _NIGHT_TO_0100},
    **{product: _DAY + _NIGHT_2300 for product in _NIGHT_TO_2300},
    **{product: _CFFEX_INDEX for product in ("IF", "IC", "IH", "IM", "IO", "MO", "HO")},
    **{product: _CFFEX_BOND for product in ("T", "TF", "TS", "TL")},
    **{product: _SSE_OPTIONS for product in ("510050", "510300", "510500", "588000", "588080", "159919", "159915",
                                             "159922", "159901")},
}
"""Product id (CTP ``ProductID``) → its trading windows, HHMM exchange time (module table)."""


def sessions_of(product: str) -> tuple[Window, ...] | None:
    """Return the trading windows of a product, or ``None`` when the table does not hold it.

    Args:
        product: CTP product id (the contract group): ``"rb"``, an option product
            ``"m_o"`` / ``"SRC"`` (looked up as its underlying), ``"510050"``.
    """
    found = PRODUCT_SESSIONS.get(product)
    if found is not None or not product:
        return found
    if product.endswith(("_o", "_O")):
        return PRODUCT_SESSIONS.get(product[:-2])
    if product[-1] in "CP" and len(product) > 1:
        return PRODUCT_SESSIONS.get(product[:-1])
    return None


def inside(windows: tuple[Window, ...], now_hhmm: int) -> bool:
    """Return whether ``now_hhmm`` (exchange time) falls in one of ``windows``."""
    return any(opens <= now_hhmm < closes for opens, closes in windows)


def next_open(windows: tuple[Window, ...], now_hhmm: int) -> int:
    """Return the next window opening after ``now_hhmm`` (HHMM; wraps to the first of the day)."""
    later = [opens for opens, _ in windows if opens > now_hhmm]
    return min(later) if later else min(opens for opens, _ in windows)


__all__ = ["PRODUCT_SESSIONS", "Window", "inside", "next_open", "sessions_of"]
