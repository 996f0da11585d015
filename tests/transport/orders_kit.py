"""Helpers of the order path's socket tests: order desks on their own journal and venue."""

from __future__ import annotations

import asyncio
import itertools
import math

from actors.orders.config import AccountSpec, OrdersConfig
from transport.signin.auth import mint_token

SYMBOL = "rb1801.SHFE"
"""Traded in the tests: ~2 ticks/s of exchange time in the recorded hour, tick 1, multiplier 10."""
_venues = itertools.count(1)

HIGH_LIMITS = {"active_order": {"limit": 100_000}, "order_flow": {"limit": 100_000},
               "duplicate_order": {"limit": 100_000}, "position_limit": {"limit": 1_000_000},
               "trade_limit": {"limit": 1_000_000}}
"""Limits no test order reaches (the storm sends thousands through every rule)."""


REPLAY_LIMITS = {"trading_hours": {"product_sessions": 0.0}}
"""Desk-wide limits of the test desks: they replay a recorded morning at whatever time the test runs, so the
products' real sessions would refuse by the clock of the test machine."""


def orders_config(tmp_path, *, limits=None, **kwargs) -> OrdersConfig:
    """Two accounts (acct-01 of trader1, acct-02 of trader2), every rule, a journal in ``tmp_path``."""
    accounts = (AccountSpec("acct-01", "trader1", capital=1_000_000.0),
                AccountSpec("acct-02", "trader2", capital=1_000_000.0))
    overrides = limits or {}
    kwargs.setdefault("limits", REPLAY_LIMITS)
    return OrdersConfig(accounts=accounts, journal=kwargs.pop("journal", tmp_path / "orders.sqlite3"),
                        account_limits={a.account: overrides for a in accounts}, **kwargs)


def venue_setting(**settings) -> dict:
    """A simulator exchange of its own (``venue`` unique in this process) with ``settings``."""
    return {"venue": f"test-venue-{next(_venues)}", **settings}


def token(secret: str, user: str, accounts=(), role: str = "trader") -> str:
    """A token of ``user`` granting ``accounts``."""
    return mint_token(secret, user, role, accounts=list(accounts))


async def last_price(desk, vt_symbol: str = SYMBOL, timeout_s: float = 10.0) -> float:
    """Wait for the desk's first tick of ``vt_symbol``; return its last price."""
    async with asyncio.timeout(timeout_s):
        while True:
            quote = desk.bridge.quote(vt_symbol)
            if quote is not None and math.isfinite(quote.last_price) and quote.last_price > 0:
                return quote.last_price
            await asyncio.sleep(0.02)


def order(client_order_id: str, price: float, account: str = "acct-01", volume: float = 1.0,
          direction: str = "long", offset: str = "open") -> dict:
    """The ``submitOrder`` member of a ClientMessage."""
    return {"submitOrder": {"clientOrderId": client_order_id, "account": account, "vtSymbol": SYMBOL,
                            "direction": direction, "offset": offset, "orderType": "limit", "price": price,
                            "volumeLots": volume}}


def venue(desk):
    """The desk's simulator exchange."""
    return desk.engine.gateway().exchange
