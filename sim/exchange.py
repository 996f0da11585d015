"""The simulator's exchange: accepts orders from ``SimGateway`` and fills them against the market.

A :class:`SimExchange` is a *venue*: it outlives the gateways that connect to
it within a process (named, :meth:`SimExchange.venue`), the way an exchange
outlives a desk that restarts. On every (re)connect it replays the day's
orders and trades to the new gateway, as CTP does, so a restarted desk can
resolve what it sent before it died.

Orders (as vn.py 4.5's gateways behave): ``send_order`` returns the
vt_orderid at once and emits the SUBMITTING ``OrderData`` (carrying
``OrderRequest.reference``) before it returns. The exchange's answer —
REJECTED (unknown contract, price off the tick grid or outside the price
limits, volume not in whole lots) or NOTTRADED — comes ``latency_ms`` later
from the exchange's own thread (at once, on the caller's thread, when the
latency is 0). With probability ``no_answer_probability`` the answer is lost:
the order is live at the exchange but no event says so until the desk asks
(:meth:`SimExchange.query_order`) or it fills. Limit orders fill when the
market crosses them (a buy at or above the ask, a sell at or below the bid),
at most the quoted size per tick (partial fills); FAK cancels the rest, FOK
fills all or nothing. Cancels are answered after the same latency.

Venue order ids are unique across restarts, as CTP's
``frontid_sessionid_orderref``: every attach (a gateway's connect) opens a
session numbered by the wall clock in ms (strictly increasing within the
process: :func:`new_session`), and orders and trades are numbered within it:
orderid ``"<session>_<n>"``, so vt_orderid ``"SIM.<session>_<n>"``. A desk
restarted on its journal never gets the id of an order it sent before, in
this process (the venue lives on) or a new one (a new venue, a later clock).

Settings (keys of the gateway's connect setting, all optional):
``venue`` (name, default ``"SIM"``), ``order_latency_ms`` (0),
``order_no_answer_probability`` (0.0), ``order_seed`` (7),
``account_capital`` (10,000,000, quote currency), ``margin_rate`` (0.1: the margin ratio of a contract
without its own ``long_margin_ratio`` / ``short_margin_ratio``; each net position is margined at its
average open price),
``price_limit_percent`` (10: limits ± that percent of the first price seen),
``drop_copy`` (a file that gets one line per received order, sim/drop_copy.py;
default ``$TICKSTAGE_SIM_DROP_COPY``).
"""

from __future__ import annotations

import bisect
import copy
import heapq
import itertools
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vnpy.trader.constant import Direction, OrderType, Status
from vnpy.trader.object import (AccountData, CancelRequest, ContractData, OrderData, OrderRequest, PositionData,
                                TickData, TradeData)

from sim.drop_copy import DropCopy
from sim.settings import ExchangeSettings

_GRID_TOLERANCE = 1e-6
_ACTIVE = (Status.SUBMITTING, Status.NOTTRADED, Status.PARTTRADED)
_session_lock = threading.Lock()
_last_session = 0


@dataclass(frozen=True, slots=True)
class ExchangeStatistics:
    """What the exchange did since it was created.

    Attributes:
        orders_received: ``send_order`` calls.
        distinct_references: distinct ``OrderRequest.reference`` values among them.
        most_per_reference: most orders sent with one reference (1 when every order was sent once).
        accepted, rejected, unanswered, fills, cancels: counts (cancels: orders cancelled).
        cancel_requests: ``cancel_order`` calls, whether or not the order was still live.
    """

    orders_received: int
    distinct_references: int
    most_per_reference: int
    accepted: int
    rejected: int
    unanswered: int
    fills: int
    cancels: int
    cancel_requests: int = 0


class AccountBook:
    """One real account's position per contract and its cash (quote currency)."""

    def __init__(self, capital: float) -> None:
        self.capital = capital
        self.realized = 0.0
        self.positions: dict[str, tuple[float, float, float]] = {}   # vt_symbol → (net lots, avg, size)

    def fill(self, vt_symbol: str, signed: float, price: float, size: float) -> None:
        net, avg, _ = self.positions.get(vt_symbol, (0.0, 0.0, size))
        if net and (net > 0) != (signed > 0):
            closed = min(abs(net), abs(signed))
            self.realized += (price - avg) * closed * size * (1 if net > 0 else -1)
        new = net + signed
        if new == 0:
            avg = 0.0
        elif net == 0 or (net > 0) != (new > 0):
            avg = price
        elif abs(new) > abs(net):
            avg = (avg * abs(net) + price * abs(signed)) / abs(new)
        self.positions[vt_symbol] = (new, avg, size)


def new_session() -> int:
    """Return a venue session number: UNIX time in ms, strictly greater than any returned before in this
    process (a later process gets a later clock: ids stay unique unless the wall clock steps back)."""
    global _last_session
    with _session_lock:
        _last_session = max(time.time_ns() // 1_000_000, _last_session + 1)
        return _last_session


class SimExchange:
    """A simulated venue; see the module docstring. Thread-safe: one lock guards its state."""

    _venues: dict[str, SimExchange] = {}
    _venues_lock = threading.Lock()

    @classmethod
    def venue(cls, name: str) -> SimExchange:
        """Return the venue called ``name``, creating it on first use."""
        with cls._venues_lock:
            exchange = cls._venues.get(name)
            if exchange is None:
                exchange = cls._venues[name] = cls(name)
            return exchange

    def __init__(self, name: str) -> None:
        self.name = name
        self.settings = ExchangeSettings(venue=name)
        self._lock = threading.RLock()
        self._gateway: Any = None
        self.session = new_session()
        """The current session number (orderids ``"<session>_<n>"``); a new one at every attach."""
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._arrivals = itertools.count()
        self._drop_copy: DropCopy | None = None
        self._orders: dict[str, OrderData] = {}
        self._trades: list[TradeData] = []
        self._resting: dict[str, tuple[list, list]] = {}   # vt_symbol → (buys best first, sells best first)
        self._quotes: dict[str, list[float]] = {}        # vt_symbol → [bid, ask, bid size left, ask size left]
        self._reference_prices: dict[str, float] = {}
        self._contracts: dict[str, ContractData] = {}
        self._books: dict[str, AccountBook] = {}
        self._references: Counter[str] = Counter()
        self._by_reference: dict[str, str] = {}   # reference → orderid of the first order sent with it
        self._random = random.Random(self.settings.seed)
        self._heap: list = []
        self._seq = itertools.count()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stop = False
        self._accepted = self._rejected = self._unanswered = self._fills = self._cancels = 0
        self._cancel_requests = 0

    # -- connection ---------------------------------------------------------------------------

    def configure(self, settings: ExchangeSettings) -> None:
        """Apply settings (latency, no-answer probability, seed, capital, drop copy ...)."""
        with self._lock:
            self.settings = settings
            self._random = random.Random(settings.seed)
            if settings.drop_copy and (self._drop_copy is None or str(self._drop_copy.path) != settings.drop_copy):
                self._drop_copy = DropCopy(settings.drop_copy)

    def attach(self, gateway: Any) -> None:
        """Make ``gateway`` the one that hears this venue; replay the day's orders, trades and
        account to it (as CTP does on every reconnect); open a new session; start the answer thread."""
        with self._lock:
            self._gateway = gateway
            self.session = new_session()
            self._ids = itertools.count(1)
            self._trade_ids = itertools.count(1)
            for order in self._orders.values():
                gateway.on_order(copy.copy(order))
            for trade in self._trades:
                gateway.on_trade(copy.copy(trade))
            self._emit_account()
            if self._thread is None or not self._thread.is_alive():
                self._stop = False
                self._thread = threading.Thread(target=self._run, name=f"{self.name}.exchange", daemon=True)
                self._thread.start()

    def detach(self, gateway: Any, timeout_s: float = 5.0) -> None:
        """Stop talking to ``gateway`` (it closed); answers still due wait for the next gateway."""
        with self._lock:
            if self._gateway is not gateway:
                return
            self._gateway = None
            self._stop = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def cut(self, gateway: Any) -> None:
        """Lose the connection to ``gateway`` without closing it (a dropped front, any thread).

        The venue lives on: orders already taken are answered, filled and cancelled on schedule, and
        nothing reaches the gateway until it attaches again (:meth:`attach` replays the day to it).
        """
        with self._lock:
            if self._gateway is gateway:
                self._gateway = None

    def on_contract(self, contract: ContractData) -> None:
        """Learn a contract (tick size, multiplier); any thread."""
        with self._lock:
            self._contracts[contract.vt_symbol] = contract

    def on_tick(self, tick: TickData) -> None:
        """Take the latest quote and fill resting orders it crosses (feed thread)."""
        vt_symbol = tick.vt_symbol
        quote = [tick.bid_price_1, tick.ask_price_1, tick.bid_volume_1, tick.ask_volume_1]
        if vt_symbol not in self._reference_prices and tick.last_price > 0:
            self._reference_prices[vt_symbol] = tick.last_price
        if vt_symbol not in self._resting:                 # the common case: no lock, no work
            self._quotes[vt_symbol] = quote
            return
        with self._lock:
            self._quotes[vt_symbol] = quote
            self._match(vt_symbol)

    # -- orders (caller's thread: the desk's loop) ---------------------------------------------

    def send_order(self, gateway: Any, req: OrderRequest) -> str:
        """Take an order: emit SUBMITTING now, answer after the latency; return the vt_orderid."""
        with self._lock:
            orderid = f"{self.session}_{next(self._ids)}"
            order = req.create_order_data(orderid, gateway.gateway_name)
            order.datetime = datetime.now().astimezone()
            self._orders[orderid] = order
            self._references[req.reference] += 1
            self._by_reference.setdefault(req.reference, orderid)
            if self._drop_copy is not None:
                self._drop_copy.record(order.vt_orderid, req.reference, time.time_ns())
            gateway.on_order(copy.copy(order))
            self._later(self._answer, orderid)
            return order.vt_orderid

    def cancel_order(self, req: CancelRequest) -> None:
        """Cancel an order after the latency (if it is still live then)."""
        with self._lock:
            self._cancel_requests += 1
            self._later(self._cancel, req.orderid)

    def query_order(self, vt_orderid: str = "", reference: str = "") -> OrderData | None:
        """Return a copy of the exchange's view of an order (by vt_orderid or reference), or None."""
        with self._lock:
            if vt_orderid:
                order = self._orders.get(vt_orderid.rpartition(".")[2])
                if order is not None:
                    return copy.copy(order)
            if reference:
                orderid = self._by_reference.get(reference)
                if orderid is not None:
                    return copy.copy(self._orders[orderid])
            return None

    def query_account(self) -> None:
        """Emit the account data of the attached gateway."""
        with self._lock:
            self._emit_account()

    def query_position(self) -> None:
        """Emit the attached gateway's position in every contract it has traded (a snapshot, as CTP's
        ``onRspQryInvestorPosition``: one ``PositionData`` per contract, long or short by the net's sign)."""
        with self._lock:
            gateway = self._gateway
            if gateway is None:
                return
            book = self._books.get(gateway.gateway_name)
            for vt_symbol, (net, avg, _) in (book.positions.items() if book else ()):
                symbol, _, _ = vt_symbol.rpartition(".")
                contract = self._contracts.get(vt_symbol)
                if contract is None:
                    continue
                gateway.on_position(PositionData(
                    symbol=symbol, exchange=contract.exchange, direction=Direction.LONG if net >= 0 else Direction.SHORT,
                    volume=abs(net), price=avg, gateway_name=gateway.gateway_name))

    def trades(self, gateway_name: str) -> list[TradeData]:
        """Return copies of the fills of one real account, in the order the venue made them; any thread."""
        with self._lock:
            return [copy.copy(trade) for trade in self._trades if trade.gateway_name == gateway_name]

    def positions(self, gateway_name: str) -> dict[str, float]:
        """Return the venue's net position per vt_symbol of one real account (lots, long positive); any thread."""
        with self._lock:
            book = self._books.get(gateway_name)
            return {vt_symbol: net for vt_symbol, (net, _, _) in book.positions.items()} if book else {}

    def statistics(self) -> ExchangeStatistics:
        """Return the exchange's counters now."""
        with self._lock:
            most = max(self._references.values(), default=0)
            return ExchangeStatistics(sum(self._references.values()), len(self._references), most,
                                      self._accepted, self._rejected, self._unanswered, self._fills,
                                      self._cancels, self._cancel_requests)

    # -- inside the lock -----------------------------------------------------------------------

    def _later(self, action: Callable[[str], None], orderid: str) -> None:
        if self.settings.latency_ms <= 0:
            action(orderid)
            return
        due = time.monotonic() + self.settings.latency_ms / 1000
        heapq.heappush(self._heap, (due, next(self._seq), action, orderid))
        self._wake.notify()

    def _run(self) -> None:
        with self._lock:
            while not self._stop:
                if not self._heap:
                    self._wake.wait()
                    continue
                due, _, action, orderid = self._heap[0]
                delay = due - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
                action(orderid)   # the venue moves on while no gateway listens (emits only to one attached)

    def _emit_order(self, order: OrderData) -> None:
        if self._gateway is not None:
            self._gateway.on_order(copy.copy(order))

    def _answer(self, orderid: str) -> None:
        order = self._orders[orderid]
        if order.status != Status.SUBMITTING:
            return
        reason = self._refusal(order)
        if reason:
            order.status = Status.REJECTED
            self._rejected += 1
            self._emit_order(order)
            if self._gateway is not None:
                self._gateway.write_log(f"order {order.vt_orderid} rejected: {reason}")
            return
        order.status = Status.NOTTRADED
        self._accepted += 1
        buys, sells = self._resting.setdefault(order.vt_symbol, ([], []))
        market = order.type == OrderType.MARKET
        arrival = next(self._arrivals)   # time priority among equal prices
        if order.direction == Direction.LONG:
            bisect.insort(buys, (-math.inf if market else -order.price, arrival, orderid))
        else:
            bisect.insort(sells, (-math.inf if market else order.price, arrival, orderid))
        if self._random.random() < self.settings.no_answer_probability:
            self._unanswered += 1
        else:
            self._emit_order(order)
        self._match(order.vt_symbol, immediate=orderid)

    def _refusal(self, order: OrderData) -> str:
        contract = self._contracts.get(order.vt_symbol)
        if contract is None:
            return f"unknown contract {order.vt_symbol}"
        minimum = contract.min_volume or 1
        if not (order.volume >= minimum and float(order.volume).is_integer() and order.volume % minimum == 0):
            return f"volume {order.volume} is not a whole number of lots (at least {minimum:g})"
        if order.type == OrderType.MARKET:
            return ""
        tick = contract.pricetick or 0
        if tick > 0 and abs(order.price / tick - round(order.price / tick)) > _GRID_TOLERANCE * max(
                1.0, abs(order.price / tick)):
            return f"price {order.price} is not on the {tick} tick grid"
        reference = self._reference_prices.get(order.vt_symbol)
        band = self.settings.price_limit_percent / 100
        if reference and not reference * (1 - band) <= order.price <= reference * (1 + band):
            return f"price {order.price} outside the limits {reference * (1 - band):g}..{reference * (1 + band):g}"
        return ""

    def _cancel(self, orderid: str) -> None:
        order = self._orders.get(orderid)
        if order is None or order.status not in _ACTIVE:
            return
        order.status = Status.CANCELLED
        self._cancels += 1
        self._unrest(order)
        self._emit_order(order)

    def _unrest(self, order: OrderData) -> None:
        """Take the order off its side of the book: a binary search for its entry (the key it was inserted
        with), not a scan of every resting order of the contract."""
        book = self._resting.get(order.vt_symbol)
        if book is None:
            return
        market = order.type == OrderType.MARKET
        if order.direction == Direction.LONG:
            side, key = book[0], -math.inf if market else -order.price
        else:
            side, key = book[1], -math.inf if market else order.price
        entry = (key, int(order.orderid), order.orderid)
        i = bisect.bisect_left(side, entry)
        if i < len(side) and side[i] == entry:
            del side[i]
        if not book[0] and not book[1]:
            del self._resting[order.vt_symbol]

    def _match(self, vt_symbol: str, immediate: str = "") -> None:
        """Fill the best resting orders the quote crosses (price order: O(1) when none does)."""
        book = self._resting.get(vt_symbol)
        if book is None:
            return
        quote = self._quotes.get(vt_symbol)
        if quote is not None:
            for side in book:
                while side:
                    order = self._orders[side[0][2]]
                    if not self._cross(order, quote) or order.status != Status.ALLTRADED:
                        break
                    side.pop(0)
        if immediate:
            order = self._orders[immediate]
            if order.type in (OrderType.FAK, OrderType.FOK) and order.status in _ACTIVE:
                order.status = Status.CANCELLED
                self._unrest(order)
                self._emit_order(order)
        if vt_symbol in self._resting and not book[0] and not book[1]:
            del self._resting[vt_symbol]

    def _cross(self, order: OrderData, quote: list[float]) -> bool:
        """Fill what the quote allows of ``order``; return whether anything filled."""
        bid, ask, bid_size, ask_size = quote
        buy = order.direction == Direction.LONG
        price, size = (ask, ask_size) if buy else (bid, bid_size)
        if price <= 0 or size <= 0:
            return False
        market = order.type == OrderType.MARKET
        if not market and (order.price < price if buy else order.price > price):
            return False
        volume = min(order.volume - order.traded, size)
        if order.type == OrderType.FOK and volume < order.volume - order.traded:
            return False
        quote[3 if buy else 2] = size - volume
        order.traded += volume
        order.status = Status.ALLTRADED if order.traded >= order.volume else Status.PARTTRADED
        self._fills += 1
        gateway_name = order.gateway_name
        trade = TradeData(symbol=order.symbol, exchange=order.exchange, orderid=order.orderid,
                          tradeid=f"{self.session}_{next(self._trade_ids)}", direction=order.direction,
                          offset=order.offset, price=price, volume=volume, datetime=datetime.now().astimezone(),
                          gateway_name=gateway_name)
        self._trades.append(trade)
        contract = self._contracts.get(order.vt_symbol)
        book = self._books.setdefault(gateway_name, AccountBook(self.settings.capital))
        book.fill(order.vt_symbol, volume if buy else -volume, price, contract.size if contract else 1.0)
        if self._gateway is not None:
            self._gateway.on_trade(copy.copy(trade))
        self._emit_order(order)
        self._emit_account()
        return True

    def _margin_of(self, vt_symbol: str, net: float, avg: float, size: float) -> float:
        """Return the margin of one net position, quote currency: ``|net| × average open price × size × ratio``.

        The ratio is the contract's own (``ContractData.extra`` ``long_margin_ratio`` / ``short_margin_ratio``,
        by the side held), else the venue's ``margin_rate``. Priced at the average open price, as CTP's
        ``MarginPriceType`` "open price" margins today's positions, so the figure changes only with fills.
        """
        if not net:
            return 0.0
        contract = self._contracts.get(vt_symbol)
        extra = getattr(contract, "extra", None) or {}
        key = "long_margin_ratio" if net > 0 else "short_margin_ratio"
        ratio = float(extra[key]) if key in extra else self.settings.margin_rate
        return abs(net) * avg * size * ratio

    def _emit_account(self) -> None:
        gateway = self._gateway
        if gateway is None:
            return
        book = self._books.setdefault(gateway.gateway_name, AccountBook(self.settings.capital))
        margin = sum(self._margin_of(vt_symbol, net, avg, size) for vt_symbol, (net, avg, size) in book.positions.items())
        gateway.on_account(AccountData(accountid=gateway.gateway_name, balance=book.capital + book.realized,
                                       frozen=margin, gateway_name=gateway.gateway_name))


__all__ = ["AccountBook", "ExchangeSettings", "ExchangeStatistics", "SimExchange", "new_session"]
