"""What the order path needs from outside the actors: the gateway, the market and the journal.

The gateway and the market are in-process objects used on the loop thread, handed to the actors in
their context args (like the vn.py bridge to the market-source actor): calling them
never blocks. transport/venue/vnpy_orders.py implements :class:`OrderPort` over
vn.py's ``MainEngine``; transport/venue/vnpy_bridge.py implements
:class:`MarketPort` from the latest ticks it routed; actors/orders/journal.py's
``OrderJournal`` implements :class:`JournalPort`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from actors.orders.record import OrderRecord


class Quote(NamedTuple):
    """Reference data and the latest price of one contract.

    Attributes:
        vt_symbol: ``"rb1801.SHFE"``.
        group: contract group (exchange product), ``"rb"``.
        price_tick: quote currency.
        multiplier: units per lot.
        last_price: latest last price, quote currency (NaN: no tick yet).
        min_volume: smallest order, lots; volumes are whole multiples of it (vn.py ``ContractData.min_volume``).
        max_volume: largest order, lots; 0: none given (vn.py ``ContractData.max_volume``).
        long_margin_ratio: margin per unit of long position value, 0..1; 0: none given (CTP
            ``InstrumentField.LongMarginRatio``, passed in ``ContractData.extra``).
        short_margin_ratio: the same for short positions (``ShortMarginRatio``).
        bid_price: latest best bid, quote currency (NaN: none yet, or none in the book).
        ask_price: latest best ask, quote currency (NaN: none yet, or none in the book).
    """

    vt_symbol: str
    group: str
    price_tick: float
    multiplier: float
    last_price: float
    min_volume: float = 1.0
    max_volume: float = 0.0
    long_margin_ratio: float = 0.0
    short_margin_ratio: float = 0.0
    bid_price: float = math.nan
    ask_price: float = math.nan


class GatewayOrder(NamedTuple):
    """What the gateway says about one order when asked.

    Attributes:
        vt_orderid: vn.py id.
        status: orders.capnp ``OrderStatus`` name.
        traded: lots filled.
    """

    vt_orderid: str
    status: str
    traded: float


class GatewayTrade(NamedTuple):
    """One fill already routed to an account (for a restarted actor).

    Attributes:
        vt_tradeid: vn.py id (fills are deduplicated by it).
        vt_orderid: the order's vn.py id.
        vt_symbol: contract.
        direction: orders.capnp ``Direction`` name.
        offset: orders.capnp ``Offset`` name.
        price: quote currency.
        volume: lots.
        ts_ns: trade time, ns since UNIX epoch.
    """

    vt_tradeid: str
    vt_orderid: str
    vt_symbol: str
    direction: str
    offset: str
    price: float
    volume: float
    ts_ns: int


class OrderPort(Protocol):
    """The order actors' way to the gateway (loop thread, never blocking)."""

    def send(self, record: OrderRecord, gateway_name: str) -> str:
        """Send the order through ``MainEngine.send_order``; return its vt_orderid or ``""`` (local reject)."""

    def cancel(self, record: OrderRecord) -> None:
        """Ask the gateway to cancel the order (``MainEngine.cancel_order``)."""

    def query(self, record: OrderRecord) -> GatewayOrder | None:
        """Return what the venue knows of the order now (asked by vt_orderid and by reference
        ``tickstage:<account>:<client order id>``), ``None`` when the venue says it does not know it.

        Raises:
            VenueUnavailableError: the venue cannot be asked now (ask again later; not an answer).
        """

    def trades_for(self, account: str) -> list[GatewayTrade]:
        """Return every fill routed to ``account`` so far (a restarted actor rebuilds from them)."""

    def account_data(self, gateway_name: str) -> tuple[float, float, float] | None:
        """Return the latest (balance, frozen, available) of a real account, quote currency."""


class MarketPort(Protocol):
    """Reference data and latest prices (loop thread, memory reads)."""

    def quote(self, vt_symbol: str) -> Quote | None:
        """Return the contract's reference data and last price, ``None`` when unknown."""


class JournalPort(Protocol):
    """The order rows of the durable journal, as the order path reads and writes them (loop thread).

    Rows are dicts of the journal's ``orders`` columns (:meth:`OrderRecord.row`).
    """

    def write_orders_now(self, rows: list[dict[str, Any]]) -> tuple[bool, str]:
        """Commit the write-ahead rows now (one transaction); return ``(ok, error)``."""

    def write_order_nowait(self, row: dict[str, Any], *, soon: bool = False) -> None:
        """Queue an order row (insert or replace); ``soon``: commit it in the loop's next turn."""

    def orders(self, account: str) -> list[dict[str, Any]]:
        """Return the committed order rows of ``account``."""

    def quarantined_orders(self, account: str) -> dict[str, str]:
        """Return client order id → why, of every quarantined order row of ``account``."""

    def quarantine_order_nowait(self, row: dict[str, Any], reason: str) -> None:
        """Queue moving an order row that could not be read to the quarantine."""


class SendFence(Protocol):
    """The venue-host lease as an order actor's send path checks it (loop thread, never blocking).

    A NATS venue-host with a standby implements it (transport/cluster/order_stream.py); the one-process desk
    has none and sends at once.
    """

    def epoch(self) -> int:
        """Return the epoch (lease revision) of the venue-host lease this host holds now by its own monotonic
        clock, 0 when it does not hold it (then nothing may be sent)."""

    def replicate_ahead(self, rows: list[dict[str, Any]], epoch: int, done: Callable[[bool, str], None]) -> None:
        """Store the write-ahead ``rows`` (``orders`` columns) on the replicated journal under ``epoch``; call
        ``done(acknowledged, error)`` once on the loop thread when every row is acknowledged or one failed."""


class NoMarket:
    """A :class:`MarketPort` that knows no contract (tests without a market)."""

    def quote(self, vt_symbol: str) -> Quote | None:
        """Return ``None``."""
        return None


__all__ = ["GatewayOrder", "GatewayTrade", "JournalPort", "MarketPort", "NoMarket", "OrderPort", "Quote", "SendFence"]
