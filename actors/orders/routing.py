"""Which real account (vn.py gateway) a strategy account's order goes to.

A strategy account sits on 1–2 real accounts (``[accounts.<id>] real``) and routes each order by a rule keyed
by contract class or exchange (``[accounts.<id>] route``)::

    [accounts.acct-01]
    real = ["CTP", "SOPT"]
    route = { futures = "CTP", etf_options = "SOPT" }   # or by exchange: { SSE = "SOPT", SZSE = "SOPT" }

Contract classes, from the exchange of the ``vt_symbol`` (source: the China markets' structure — futures and
futures options trade on SHFE, INE, DCE, CZCE, CFFEX and GFEX, through a CTP account; ETF options trade on the
SSE and SZSE, through a SOPT (stock options) account):

* ``futures``: futures and futures options (every exchange but SSE and SZSE);
* ``etf_options``: ETF options (SSE, SZSE).

An exchange key wins over a class key; an order that matches neither goes to the first real account.
"""

from __future__ import annotations

from collections.abc import Mapping

CONTRACT_CLASSES = ("futures", "etf_options")
"""The route keys that name a contract class."""

ETF_OPTION_EXCHANGES = frozenset({"SSE", "SZSE"})
"""Exchanges whose contracts are ETF options (the desk trades no stocks)."""

EXCHANGES = frozenset({"SHFE", "INE", "DCE", "CZCE", "CFFEX", "GFEX", "SSE", "SZSE"})
"""The exchanges a route may name (vn.py ``Exchange`` values the desk trades)."""


def contract_class(vt_symbol: str) -> str:
    """Return ``"etf_options"`` for an SSE/SZSE contract, else ``"futures"`` (``"rb1801.SHFE"`` → futures)."""
    return "etf_options" if vt_symbol.rpartition(".")[2] in ETF_OPTION_EXCHANGES else "futures"


def check_route(account: str, real: tuple[str, ...], route: Mapping[str, str]) -> None:
    """Check a route table against the account's real accounts.

    Raises:
        ValueError: a key that is neither a contract class (:data:`CONTRACT_CLASSES`) nor an exchange
            (:data:`EXCHANGES`), or a gateway that is not one of ``real``.
    """
    for key, gateway in route.items():
        if key not in CONTRACT_CLASSES and key not in EXCHANGES:
            raise ValueError(f"account {account}: route key {key!r} is neither a contract class "
                             f"{list(CONTRACT_CLASSES)} nor an exchange {sorted(EXCHANGES)}")
        if gateway not in real:
            raise ValueError(f"account {account}: route {key} = {gateway!r} is not one of its real accounts "
                             f"{list(real)}")


def route_gateway(real: tuple[str, ...], route: Mapping[str, str], vt_symbol: str) -> str:
    """Return the vn.py gateway name an order of ``vt_symbol`` goes to (exchange key, class key, first real)."""
    exchange = vt_symbol.rpartition(".")[2]
    return route.get(exchange) or route.get(contract_class(vt_symbol)) or real[0]


__all__ = ["CONTRACT_CLASSES", "ETF_OPTION_EXCHANGES", "EXCHANGES", "check_route", "contract_class",
           "route_gateway"]
