"""Flattens: ``flattenPosition`` as one closing limit order per contract, side held and offset (issue 17).

A flatten of account *A* with client order id *F* (optionally of one
contract) is:

1. The account's holdings, per contract and side, today and yesterday
   (:func:`holdings_of`): from the fills of its own orders, as vn.py's
   ``PositionHolding.update_trade`` counts them, less the lots of its working
   closing orders (vn.py's "frozen" lots), so a flatten never closes more than
   is held and not already being closed: reduce-only by construction.
2. Per side held, the closing volume split by offset (:func:`split_close`) as
   vn.py's ``OffsetConverter.convert_order_request(req, lock=False,
   net=False)`` splits it (vnpy/trader/converter.py
   ``PositionHolding.convert_order_request_shfe``, vn.py 4.5.0): on SHFE and
   INE, ``closeToday`` for today's lots and ``closeYesterday`` for the rest
   (those exchanges charge and match them apart); elsewhere one ``close``.
3. Each closing order is a limit order at the price the aggressiveness asks
   (:func:`closing_price`), child client order id ``F.1``, ``F.2`` ... (in
   contract, side, offset order), and goes through the validity check, every
   risk rule and the write-ahead journal as any order does; its decision
   reaches the account's sessions as order events.

The flatten is idempotent by *F*: a retry gets the first ``flattenReply`` and
sends nothing. The children carry ``reference`` ``"flatten:F"``, journaled, so
after a restart a retry finds them and answers with them. Nothing held is a
``nothingHeld`` answer; a contract held without the bid or ask the
aggressiveness needs refuses the whole flatten (rule ``flatten``), nothing sent.

Every method runs on the loop thread, inside the order actor's handlers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from actors.orders.book import OrderBook
from actors.orders.codec import encode_flatten_reply
from actors.orders.config import MAX_CLIENT_ORDER_ID_BYTES
from actors.orders.ports import MarketPort, Quote
from actors.orders.record import OrderRecord
from actors.risk.rejection import Rejection

NAN = math.nan
RULE = "flatten"
"""The rule name of a flatten's own refusals (``Rejection.rule``)."""
AGGRESSIVENESS = ("passive", "touch", "cross")
"""orders.capnp ``Aggressiveness`` names."""
TODAY_YESTERDAY_EXCHANGES = frozenset({"SHFE", "INE"})
"""Exchanges that close today's and yesterday's lots with distinct offsets (vn.py ``OffsetConverter``)."""
CHILD_SUFFIX_BYTES = 4
"""Bytes kept for a child id's ``.<n>`` suffix: a flatten's client order id is 1..60 bytes."""
MAX_FLATTEN_ID_BYTES = MAX_CLIENT_ORDER_ID_BYTES - CHILD_SUFFIX_BYTES
_CLOSES = ("close", "closeToday", "closeYesterday")
_OPPOSITE = {"long": "short", "short": "long"}


@dataclass
class Holding:
    """One side held in one contract (lots; vn.py ``PositionHolding`` ``long_td``/``long_yd`` ...).

    Attributes:
        vt_symbol: ``"rb1801.SHFE"``.
        side: ``"long"`` or ``"short"``.
        today: lots opened today and still held.
        yesterday: lots held from before today.
    """

    vt_symbol: str
    side: str
    today: float = 0.0
    yesterday: float = 0.0


def exchange_of(vt_symbol: str) -> str:
    """Return the exchange of ``"rb1801.SHFE"`` (``"SHFE"``)."""
    return vt_symbol.rpartition(".")[2]


def _reduce(holding: Holding, offset: str, lots: float) -> None:
    """Take ``lots`` closed with ``offset`` off ``holding``, as vn.py's ``PositionHolding.update_trade``."""
    if offset == "closeToday":
        holding.today -= lots
    elif offset == "closeYesterday":
        holding.yesterday -= lots
    elif exchange_of(holding.vt_symbol) in TODAY_YESTERDAY_EXCHANGES:
        holding.yesterday -= lots   # a plain close on SHFE/INE closes yesterday's lots
    else:
        holding.today -= lots
        if holding.today < 0:
            holding.yesterday += holding.today
            holding.today = 0.0


def holdings_of(records: Iterable[OrderRecord], yesterday: dict[tuple[str, str], float] | None = None
                ) -> dict[tuple[str, str], Holding]:
    """Return what an account holds and may still close, per ``(vt_symbol, side)``.

    Args:
        records: the account's orders of the day (their ``traded`` lots are fills; offsets as orders.capnp).
        yesterday: lots held from before today per ``(vt_symbol, side)`` (none given: 0).

    Returns:
        Holdings with today's fills applied and the lots of working closing orders (volume less traded)
        taken off as vn.py freezes them, none below 0; sides with nothing left to close are left out.
    """
    held: dict[tuple[str, str], Holding] = {}

    def side(vt_symbol: str, name: str) -> Holding:
        key = (vt_symbol, name)
        if key not in held:
            held[key] = Holding(vt_symbol, name, 0.0, float((yesterday or {}).get(key, 0.0)))
        return held[key]

    ordered = sorted(records, key=lambda r: r.created_ns)
    for record in ordered:
        if record.direction not in _OPPOSITE or not record.traded > 0:
            continue
        if record.offset == "open":
            side(record.vt_symbol, record.direction).today += record.traded
        elif record.offset in _CLOSES:
            _reduce(side(record.vt_symbol, _OPPOSITE[record.direction]), record.offset, record.traded)
    for record in ordered:
        if record.final or record.direction not in _OPPOSITE or record.offset not in _CLOSES:
            continue
        remaining = max(0.0, record.volume - record.traded)
        _reduce(side(record.vt_symbol, _OPPOSITE[record.direction]), record.offset, remaining)
    for holding in held.values():
        holding.today, holding.yesterday = max(0.0, holding.today), max(0.0, holding.yesterday)
    return {key: h for key, h in held.items() if h.today + h.yesterday > 0}


def split_close(holding: Holding) -> list[tuple[str, float]]:
    """Return the ``(offset, lots)`` closing orders of everything ``holding`` holds.

    As vn.py's ``PositionHolding.convert_order_request_shfe`` for a close of the whole side: on SHFE/INE
    ``closeToday`` for today's lots, then ``closeYesterday`` for yesterday's; elsewhere one ``close``.
    """
    if exchange_of(holding.vt_symbol) not in TODAY_YESTERDAY_EXCHANGES:
        total = holding.today + holding.yesterday
        return [("close", total)] if total > 0 else []
    return [(offset, lots) for offset, lots in (("closeToday", holding.today), ("closeYesterday", holding.yesterday))
            if lots > 0]


def closing_price(direction: str, quote: Quote, aggressiveness: str, ticks: float = 0.0) -> float:
    """Return the limit price of a closing order of ``direction``, or NaN when the book lacks the side needed.

    Args:
        direction: the closing order's direction (``"short"`` sells a long position).
        quote: the contract's latest best bid and ask and its price tick (quote currency).
        aggressiveness: ``passive`` (the order's own side: a sell at the ask, a buy at the bid), ``touch``
            (the opposite best), ``cross`` (``ticks`` price ticks beyond the touch).
        ticks: whole price ticks >= 0, for ``cross``.
    """
    selling = direction == "short"
    own, opposite = (quote.ask_price, quote.bid_price) if selling else (quote.bid_price, quote.ask_price)
    price = own if aggressiveness == "passive" else opposite
    if not (math.isfinite(price) and price > 0):
        return NAN
    if aggressiveness == "cross":
        price += (-ticks if selling else ticks) * quote.price_tick
    tick = quote.price_tick
    if tick > 0:
        price = round(round(price / tick) * tick, 10)
    return price if price > 0 else NAN


def request_problem(client_order_id: str, aggressiveness: str, ticks: float) -> str:
    """Why a flattenPosition is malformed (``""``: it is not): its id, or ``ticks`` of a cross."""
    if not 1 <= len(client_order_id.encode()) <= MAX_FLATTEN_ID_BYTES:
        return f"clientOrderId of a flatten must be 1..{MAX_FLATTEN_ID_BYTES} bytes (its orders add '.<n>')"
    if aggressiveness not in AGGRESSIVENESS:
        return f"aggressiveness {aggressiveness!r} is not one of {', '.join(AGGRESSIVENESS)}"
    if not (math.isfinite(ticks) and ticks >= 0 and float(ticks).is_integer()):
        return f"ticks {ticks!r} must be a whole number >= 0"
    return ""


class FlattenHost(Protocol):
    """What :class:`Flattens` needs of the order actor (loop thread, never blocking)."""

    account: str
    path: str
    market: MarketPort

    @property
    def log(self) -> Any:
        """The structlog logger of the message being handled."""

    def send_reply(self, session: str, payload: bytes) -> None:
        """Send a ServerMessage to one session."""

    def admit(self, record: OrderRecord, account_sent: str) -> None:
        """Take a new order (already in the book) through validity and the risk rules to the write-ahead."""


class Flattens:
    """The flattens of one account: their answers, by client order id.

    Args:
        book: the account's orders.
        host: the order actor.

    Attributes:
        answers: flatten client order id → ``(vtSymbol, status, child ids, rejection)``.
        flattens: flattens started (retries not counted).
    """

    def __init__(self, book: OrderBook, host: FlattenHost) -> None:
        self.book = book
        self.host = host
        self.answers: dict[str, tuple[str, str, list[str], Rejection | None]] = {}
        self.flattens = 0

    def flatten(self, request, user: str, session: str, correlation: int) -> None:
        """Handle a stream.capnp ``flattenPosition`` (an orders.capnp ``FlattenPosition`` reader)."""
        flatten_id, vt_symbol = request.clientOrderId, request.vtSymbol
        answer = self.answers.get(flatten_id) or self._recovered(flatten_id, vt_symbol)
        if answer is None:
            answer = self._start(request, user)
            self.answers[flatten_id] = answer
        self._reply(flatten_id, answer, session, correlation)

    def _recovered(self, flatten_id: str, vt_symbol: str) -> tuple[str, str, list[str], None] | None:
        """The answer of a flatten a previous incarnation started (its journaled children), or None."""
        reference = flatten_reference(flatten_id)
        children = sorted((r for r in self.book.orders.values() if r.reference == reference),
                          key=lambda r: r.created_ns)
        if not children:
            return None
        return vt_symbol, "sent", [r.client_order_id for r in children], None

    def _start(self, request, user: str) -> tuple[str, str, list[str], Rejection | None]:
        flatten_id, vt_symbol = request.clientOrderId, request.vtSymbol
        aggressiveness, ticks = str(request.aggressiveness), request.ticks
        problem = request_problem(flatten_id, aggressiveness, ticks)
        if problem:
            return vt_symbol, "rejected", [], Rejection(RULE, NAN, NAN, problem)
        if request.account != self.host.account:
            return vt_symbol, "rejected", [], Rejection(
                RULE, NAN, NAN, f"flatten for {request.account[:64]!r} sent to {self.host.account}")
        if self.book.get(f"{flatten_id}.1") is not None:
            return vt_symbol, "rejected", [], Rejection(
                RULE, NAN, NAN, f"client order id {flatten_id}.1 already names another order of {self.host.account}")
        held = [h for key, h in sorted(holdings_of(self.book.orders.values()).items())
                if not vt_symbol or key[0] == vt_symbol]
        if not held:
            return vt_symbol, "nothingHeld", [], None
        planned = []
        for holding in held:
            direction = _OPPOSITE[holding.side]
            quote = self.host.market.quote(holding.vt_symbol)
            price = closing_price(direction, quote, aggressiveness, ticks) if quote is not None else NAN
            if not math.isfinite(price):
                return vt_symbol, "rejected", [], Rejection(
                    RULE, NAN, NAN, f"no {'bid/ask' if quote is not None else 'quote'} of {holding.vt_symbol} to "
                    f"price a {aggressiveness} close: nothing sent")
            planned += [(holding.vt_symbol, direction, offset, price, lots) for offset, lots in split_close(holding)]
        self.flattens += 1
        now, reference, children = time.time_ns(), flatten_reference(flatten_id), []
        for n, (symbol, direction, offset, price, lots) in enumerate(planned, 1):
            record = OrderRecord(f"{flatten_id}.{n}", self.host.account, symbol, direction, offset, "limit", price,
                                 lots, reference, user, created_ns=now + n, updated_ns=now + n)
            quote = self.host.market.quote(symbol)
            record.group = quote.group if quote is not None else ""
            self.book.add(record)
            children.append(record.client_order_id)
        self.host.log.info("flatten_started", client_order_id=flatten_id, vt_symbol=vt_symbol or "*",
                           aggressiveness=aggressiveness, orders=len(children))
        for client_order_id in children:
            self.host.admit(self.book.orders[client_order_id], self.host.account)
        return vt_symbol, "sent", children, None

    def _reply(self, flatten_id: str, answer, session: str, correlation: int) -> None:
        vt_symbol, status, children, rejection = answer
        self.host.send_reply(session, encode_flatten_reply(flatten_id, self.host.account, vt_symbol, status,
                                                           children, correlation, self.host.path,
                                                           rejection=rejection))


def flatten_reference(flatten_id: str) -> str:
    """Return the ``reference`` a flatten's closing orders carry (journaled: a retry finds them after a restart)."""
    return f"flatten:{flatten_id}"


__all__ = ["AGGRESSIVENESS", "Flattens", "Holding", "MAX_FLATTEN_ID_BYTES", "RULE", "TODAY_YESTERDAY_EXCHANGES",
           "closing_price", "exchange_of", "flatten_reference", "holdings_of", "request_problem", "split_close"]
