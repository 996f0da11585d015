"""The order side of the vn.py bridge: order, trade and account events to the actors; orders to vn.py.

A sibling of transport/venue/vnpy_bridge.py, built the same way: each
handler is :func:`~transport.venue.vnpy_bridge.guarded`, appends the event to a
lock-protected pending list and wakes the loop at most once per batch
(``call_soon_threadsafe``); :meth:`OrderBridge.drain`, on the loop thread,
routes the batch. The handlers are direct handlers of the desk's EventEngine
(transport/venue/event_engine.py): the gateway's own thread calls them as it
puts the event, so an order's answer does not wait in vn.py's one dispatcher
queue behind the market's ticks (with the simulator's answer inside
``send_order``, the whole order path stays on the loop thread). Routing:

* ``EVENT_ORDER`` → ``orders/<account>`` (``vnpyOrder``);
* ``EVENT_TRADE`` → ``orders/<account>`` and ``accounts/<account>`` (``vnpyTrade``);
* ``EVENT_ACCOUNT`` → ``accounts/<account>`` of every strategy account on that
  real account (``vnpyAccount``).

The account of an order event is found by its vt_orderid (registered when the
order actor's ``send_order`` returned it) or, first, by the SUBMITTING echo's
``reference`` (``tickstage:<account>:<client order id>``) — whichever arrives
first. A SUBMITTING echo of an order already mapped (its ``send_order``
returned) is not routed: the order actor learned all it carries from the
return value. Trades follow their order's vt_orderid. Events that cannot be routed
yet wait up to :data:`PARK_S` seconds for a mapping, then are dropped and
counted.

It is also the order actors' :class:`~actors.orders.ports.OrderPort`:
``send`` calls ``MainEngine.send_order`` on the loop thread (the simulator's
returns at once and answers inside the call, or from its own thread after a configured latency), ``cancel`` calls
``MainEngine.cancel_order``, ``query`` asks the gateway (``query_order`` when
it has one, as the simulator does, else vn.py's OmsEngine cache). An order the
venue returns for a vt_orderid but whose reference names another order is not
this one (a venue reusing ids across restarts): the query falls back to the
reference. A gateway that cannot be asked raises
:class:`~actors.orders.errors.VenueUnavailableError`, so "not known" is only
ever the venue's own answer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from actors import ActorRuntime
from actors.errors import RuntimeStoppedError
from actors.orders.codec import encode_vnpy_account, encode_vnpy_order, encode_vnpy_trade
from actors.orders.config import OrdersConfig
from actors.orders.errors import VenueUnavailableError
from actors.orders.ports import GatewayOrder, GatewayTrade
from actors.orders.record import (
    DIRECTIONS,
    OFFSETS,
    ORDER_TYPES,
    STATUSES,
    VNPY_DIRECTIONS,
    VNPY_OFFSETS,
    VNPY_ORDER_TYPES,
    OrderRecord,
    parse_reference,
    reference_of,
)
from actors.paths import accounts_path, is_token, orders_path
from transport.venue.vnpy_bridge import guarded

if TYPE_CHECKING:
    from vnpy.event import EventEngine
    from vnpy.trader.engine import MainEngine

    from actors.orders.journal import OrderJournal
    from transport.venue.connection import VenueConnections

PARK_S = 10.0
"""How long an event without a known account waits for one, seconds."""

_log = structlog.get_logger("transport.venue.vnpy_orders")


@dataclass(frozen=True)
class OrderBridgeStatistics:
    """Counters of the order bridge.

    Attributes:
        orders_in, trades_in, accounts_in: vn.py events received.
        drains: loop wake-ups that drained a batch.
        sent: ``send_order`` calls; local_rejects: of them returning ``""``.
        vt_orderid_reused: ``send_order`` calls that returned a vt_orderid already mapped to another
            account's order (a venue reusing ids; logged).
        cancels: ``cancel_order`` calls.
        queries: gateway queries.
        parked: events waiting for a route now; unrouted: dropped after :data:`PARK_S`.
        handler_errors: exceptions caught in the vn.py handlers.
    """

    orders_in: int
    trades_in: int
    accounts_in: int
    drains: int
    sent: int
    local_rejects: int
    cancels: int
    queries: int
    parked: int
    unrouted: int
    handler_errors: int
    vt_orderid_reused: int = 0


def _ts_ns(when: Any) -> int:
    return int(when.timestamp() * 1e9) if when is not None else 0


class OrderBridge:
    """Routes vn.py order/trade/account events to the actors; sends orders to vn.py.

    Args:
        runtime: the actor runtime (its loop receives the wake-ups).
        config: accounts and their real accounts.
        journal: when given, its committed orders seed the vt_orderid → account map
            (a restarted process routes events of orders it sent before).
        venues: the gateways' connection states (transport/venue/connection.py ``VenueConnections``), or None:
            a gateway not ``contractsReady`` cannot be asked (:meth:`query` raises), since vn.py's cached view
            of a gateway that is away is not the venue's answer.
    """

    def __init__(self, runtime: ActorRuntime, config: OrdersConfig, journal: OrderJournal | None = None,
                 venues: VenueConnections | None = None) -> None:
        self.runtime = runtime
        self.venues = venues
        self.loop: asyncio.AbstractEventLoop = runtime.loop
        self.config = config
        self.main_engine: MainEngine | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Any]] = []
        self._wake_pending = False
        self._account_of: dict[str, str] = {}
        self._accounts_on: dict[str, list[str]] = {}
        for spec in config.accounts:
            for gateway in spec.real:
                self._accounts_on.setdefault(gateway, []).append(spec.account)
        self._trades: dict[str, list[GatewayTrade]] = {}
        self._trade_ids: set[str] = set()
        self._balances: dict[str, tuple[float, float, float]] = {}
        self._parked: deque[tuple[float, str, Any]] = deque()
        self._exchanges: dict[str, Any] = {}
        self._orders_in = self._trades_in = self._accounts_in = self._drains = 0
        self._sent = self._local_rejects = self._cancels = self._queries = self._unrouted = self._errors = 0
        self._reused = 0
        if journal is not None:
            for spec in config.accounts:
                for row in journal.orders(spec.account):
                    if row["vt_orderid"]:
                        self._account_of[row["vt_orderid"]] = spec.account

    # -- vn.py thread -----------------------------------------------------------------------

    def attach(self, event_engine: EventEngine, main_engine: MainEngine | None = None) -> None:
        """Register the guarded handlers on vn.py's EventEngine; keep the MainEngine for orders.

        On a :class:`~transport.venue.event_engine.PromptEventEngine` they are direct handlers, called on the
        gateway's thread as it puts each event, so an order's answer does not queue behind the ticks waiting for
        vn.py's dispatcher thread; on a plain vn.py ``EventEngine``, that dispatcher thread calls them.
        """
        from vnpy.trader.event import EVENT_ACCOUNT, EVENT_ORDER, EVENT_TRADE

        if main_engine is not None:
            self.main_engine = main_engine
        register = getattr(event_engine, "register_direct", event_engine.register)
        for event_type, kind in ((EVENT_ORDER, "order"), (EVENT_TRADE, "trade"), (EVENT_ACCOUNT, "account")):
            register(event_type, guarded(self._handler(kind), self._handler_failed))

    def _handler(self, kind: str) -> Callable[[Any], None]:
        def on_event(event: Any) -> None:
            with self._lock:
                self._pending.append((kind, event.data))
                wake = not self._wake_pending
                self._wake_pending = True
            if wake:
                try:
                    self.loop.call_soon_threadsafe(self.drain)
                except RuntimeError:  # loop closed: the desk is shutting down
                    pass

        on_event.__name__ = f"on_{kind}_event"
        return on_event

    def _handler_failed(self, exc: BaseException) -> None:
        self._errors += 1
        _log.error("vnpy_handler_failed", error_type=type(exc).__name__, exc_info=exc)

    # -- loop thread: routing -------------------------------------------------------------------

    def drain(self) -> None:
        """Route every event vn.py sent since the last drain (loop thread)."""
        with self._lock:
            batch, self._pending = self._pending, []
            self._wake_pending = False
        self._drains += 1
        try:
            if self._parked:
                parked, self._parked = self._parked, deque()
                now = time.monotonic()
                for since, kind, data in parked:
                    if not self._route(kind, data) and now - since < PARK_S:
                        self._parked.append((since, kind, data))
                    elif now - since >= PARK_S:
                        self._unrouted += 1
            for kind, data in batch:
                if kind == "order":
                    self._orders_in += 1
                elif kind == "trade":
                    self._trades_in += 1
                else:
                    self._accounts_in += 1
                if not self._route(kind, data):
                    self._parked.append((time.monotonic(), kind, data))
        except RuntimeStoppedError:
            # the desk is stopping: vn.py may still emit (a gateway closing, a venue replaying); nothing
            # routes any more, and a raise here would only be logged by the loop on every later batch
            self._parked.clear()
            return
        self.runtime.schedule()

    def _route(self, kind: str, data: Any) -> bool:
        if kind == "account":
            balance = (float(data.balance), float(data.frozen), float(data.available))
            self._balances[data.gateway_name] = balance
            payload = encode_vnpy_account(vt_accountid=data.vt_accountid, gateway_name=data.gateway_name,
                                          balance=balance[0], frozen=balance[1], available=balance[2],
                                          ts_ns=time.time_ns())
            for account in self._accounts_on.get(data.gateway_name, ()):
                self.runtime.tell_path(accounts_path(account), payload)
            return True
        account = self._account_of.get(data.vt_orderid)
        if kind == "order":
            if account is None:
                parsed = parse_reference(data.reference or "")
                if parsed is None or not is_token(parsed[0]):
                    return False
                account = self._account_of[data.vt_orderid] = parsed[0]
            elif data.status.name == "SUBMITTING":
                return True   # the echo of a send_order that returned already: its order actor knows it
            self.runtime.tell_path(orders_path(account), encode_vnpy_order(
                vt_orderid=data.vt_orderid, reference=data.reference or "", vt_symbol=data.vt_symbol,
                direction=DIRECTIONS.get(getattr(data.direction, "name", ""), "long"),
                offset=OFFSETS.get(data.offset.name, "none"), order_type=ORDER_TYPES.get(data.type.name, "limit"),
                price=float(data.price), volume=float(data.volume), traded=float(data.traded),
                status=STATUSES[data.status.name], ts_ns=_ts_ns(data.datetime), gateway_name=data.gateway_name,
                account=account))
            return True
        if account is None:
            return False
        trade = GatewayTrade(data.vt_tradeid, data.vt_orderid, data.vt_symbol,
                             DIRECTIONS.get(getattr(data.direction, "name", ""), "long"),
                             OFFSETS.get(data.offset.name, "none"), float(data.price), float(data.volume),
                             _ts_ns(data.datetime))
        if trade.vt_tradeid not in self._trade_ids:
            self._trade_ids.add(trade.vt_tradeid)
            self._trades.setdefault(account, []).append(trade)
        payload = encode_vnpy_trade(vt_tradeid=trade.vt_tradeid, vt_orderid=trade.vt_orderid,
                                    vt_symbol=trade.vt_symbol, direction=trade.direction, offset=trade.offset,
                                    price=trade.price, volume=trade.volume, ts_ns=trade.ts_ns,
                                    gateway_name=data.gateway_name, account=account)
        self.runtime.tell_path(orders_path(account), payload)
        self.runtime.tell_path(accounts_path(account), payload)
        return True

    # -- loop thread: the OrderPort ----------------------------------------------------------------

    def _exchange(self, code: str) -> Any:
        exchange = self._exchanges.get(code)
        if exchange is None:
            from vnpy.trader.constant import Exchange

            exchange = self._exchanges[code] = Exchange(code)
        return exchange

    def send(self, record: OrderRecord, gateway_name: str) -> str:
        """Call ``MainEngine.send_order`` with the client order id in the reference; return the vt_orderid.

        Returns ``""`` (a local reject) when vn.py is not running, the contract's
        exchange is unknown to vn.py, or the gateway raised (logged).
        """
        from vnpy.trader.constant import Direction, Offset, OrderType
        from vnpy.trader.object import OrderRequest

        self._sent += 1
        symbol, _, exchange_code = record.vt_symbol.rpartition(".")
        try:
            if self.main_engine is None:
                raise RuntimeError("vn.py is not running")
            request = OrderRequest(symbol, self._exchange(exchange_code), Direction[VNPY_DIRECTIONS[record.direction]],
                                   OrderType[VNPY_ORDER_TYPES[record.order_type]], record.volume, record.price,
                                   Offset[VNPY_OFFSETS[record.offset]],
                                   reference_of(record.account, record.client_order_id))
            vt_orderid = self.main_engine.send_order(request, gateway_name)
        except Exception as exc:  # noqa: BLE001 - a gateway bug is a local reject, not a crash
            _log.error("send_order_failed", client_order_id=record.client_order_id, error_type=type(exc).__name__,
                       error=str(exc), correlation_id=record.correlation_id or None)
            vt_orderid = ""
        _log.debug("order_sent", client_order_id=record.client_order_id, vt_orderid=vt_orderid,
                   gateway=gateway_name, correlation_id=record.correlation_id or None)
        if vt_orderid:
            previous = self._account_of.get(vt_orderid)
            if previous is not None and previous != record.account:
                self._reused += 1
                _log.error("vt_orderid_reused", vt_orderid=vt_orderid, account=record.account,
                           previous_account=previous, client_order_id=record.client_order_id)
            self._account_of[vt_orderid] = record.account
        else:
            self._local_rejects += 1
        return vt_orderid

    def cancel(self, record: OrderRecord) -> None:
        """Call ``MainEngine.cancel_order`` for an order with a vt_orderid."""
        from vnpy.trader.object import CancelRequest

        gateway_name, _, orderid = record.vt_orderid.partition(".")
        symbol, _, exchange_code = record.vt_symbol.rpartition(".")
        self._cancels += 1
        try:
            self.main_engine.cancel_order(CancelRequest(orderid, symbol, self._exchange(exchange_code)),
                                          gateway_name)
        except Exception as exc:  # noqa: BLE001 - logged; the order stays open and can be cancelled again
            _log.error("cancel_order_failed", client_order_id=record.client_order_id, error=str(exc),
                       correlation_id=record.correlation_id or None)

    def query(self, record: OrderRecord) -> GatewayOrder | None:
        """Ask the gateway what it knows of the order (by vt_orderid, else by reference).

        Returns:
            The venue's view, or ``None`` when the venue says it does not know the order (an order found
            by vt_orderid whose non-empty reference names another order does not count).

        Raises:
            VenueUnavailableError: vn.py is not running, or the gateway is not there, not connected, or not
                ``contractsReady`` (it dropped and has not logged in again: its replay is still to come).
        """
        self._queries += 1
        spec = self.config.account(record.account)
        gateway_name = record.vt_orderid.partition(".")[0] if record.vt_orderid else (
            spec.gateway_for(record.vt_symbol) if spec else "SIM")
        if self.main_engine is None:
            raise VenueUnavailableError(gateway_name, "vn.py is not running")
        gateway = self.main_engine.get_gateway(gateway_name)
        if gateway is None:
            raise VenueUnavailableError(gateway_name, "no such gateway")
        known = self.venues.venue_state(gateway_name) if self.venues is not None else None
        if known is not None and known[0] != "contractsReady":
            raise VenueUnavailableError(gateway_name, f"the gateway is {known[0]}")
        reference = reference_of(record.account, record.client_order_id)
        query_order = getattr(gateway, "query_order", None)
        if query_order is not None:
            try:
                order = query_order(record.vt_orderid, reference)
                if order is not None and order.reference and order.reference != reference:
                    order = query_order("", reference)
            except ConnectionError as exc:
                raise VenueUnavailableError(gateway_name, str(exc)) from None
        else:
            order = self.main_engine.get_order(record.vt_orderid) if record.vt_orderid else None
            if order is not None and order.reference and order.reference != reference:
                order = None
        if order is None:
            return None
        return GatewayOrder(order.vt_orderid, STATUSES[order.status.name], float(order.traded))

    def trades_for(self, account: str) -> list[GatewayTrade]:
        """Return every fill routed to ``account`` so far, each vt_tradeid once."""
        return list(self._trades.get(account, ()))

    def account_data(self, gateway_name: str) -> tuple[float, float, float] | None:
        """Return the latest (balance, frozen, available) of a real account, quote currency."""
        return self._balances.get(gateway_name)

    def statistics(self) -> OrderBridgeStatistics:
        """Return the bridge's counters now."""
        return OrderBridgeStatistics(self._orders_in, self._trades_in, self._accounts_in, self._drains, self._sent,
                                     self._local_rejects, self._cancels, self._queries, len(self._parked),
                                     self._unrouted, self._errors, self._reused)


__all__ = ["OrderBridge", "OrderBridgeStatistics", "PARK_S"]
