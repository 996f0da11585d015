"""Each vn.py gateway's connection lifecycle, derived from the events and log lines it emits.

vn.py has no connection event: a gateway of the CTP family reports its connection in ``EVENT_LOG`` texts.
:class:`VenueConnections` listens on vn.py's EventEngine (its handlers run on vn.py's dispatcher thread,
guarded) and keeps one :class:`GatewayConnection` per gateway, read from the loop thread (a lock guards
them). States (:data:`GATEWAY_STATES`):

============== =============================================================================================
state          entered when
============== =============================================================================================
disconnected   before ``connect``, and after ``close``
connecting     ``MainEngine.connect`` was called; no login yet
connected      the trading front logged in (``交易服务器登录成功``); contracts still being queried
contractsReady the contract query finished (``合约信息查询成功``): orders may go out
reconnecting   the trading front dropped (``交易服务器连接断开，原因<n>``), or did not answer within
               :data:`CONNECT_TIMEOUT_S` of ``connect`` (a CTP API that cannot reach its front retries
               silently, with no callback); the API retries by itself
failed         authentication or login was refused (``交易服务器授权验证失败``, ``交易服务器登录失败``: vnpy_ctp
               stops retrying), or ``connect`` raised
============== =============================================================================================

The market-data front is followed apart (``行情服务器登录成功`` / ``行情服务器连接断开``): while it is down
the groups hear ``sourceDown``. Source: vnpy_ctp 6.7 ``CtpTdApi`` / ``CtpMdApi`` (the texts of
``onFrontConnected``, ``onFrontDisconnected``, ``onRspUserLogin``, ``onRspAuthenticate``,
``onRspQryInstrument``); vnpy_sopt writes the same texts, and the simulator (sim/gateway.py) too.

On every transition that takes a gateway's feed down or up, an ``EVENT_FEED_STATUS`` event
(schemas/venue_events.py) is put on vn.py's engine, behind the ticks already queued, so the groups show
``sourceDown`` / ``live`` (transport/venue/vnpy_bridge.py). Every time a gateway becomes ready
(``contractsReady``) the listeners of :attr:`VenueConnections.on_ready` run on vn.py's thread: the
market-data subscriptions are renewed there (transport/venue/subscriptions.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from schemas.venue_events import EVENT_FEED_STATUS, FeedStatus

_log = structlog.get_logger("transport.venue.connection")

CONNECT_TIMEOUT_S = 10.0
"""How long a gateway may stay ``connecting`` before it is shown ``reconnecting`` (its API retrying), seconds."""

GATEWAY_STATES = ("disconnected", "connecting", "connected", "contractsReady", "reconnecting", "failed")
"""Every state of a gateway's connection, in the order a clean start goes through them (the last two aside)."""

READY_STATE = "contractsReady"
"""The one state in which orders for a gateway go out."""

TD_CONNECTED = "交易服务器连接成功"
TD_LOGGED_IN = "交易服务器登录成功"
TD_CONTRACTS = "合约信息查询成功"
TD_DISCONNECTED = "交易服务器连接断开"
TD_FAILED = ("交易服务器授权验证失败", "交易服务器登录失败")
MD_LOGGED_IN = "行情服务器登录成功"
MD_DISCONNECTED = "行情服务器连接断开"
MD_FAILED = "行情服务器登录失败"
"""EVENT_LOG texts of the CTP family (vnpy_ctp 6.7 ``ctp_gateway.py``), matched at the start of the message."""


@dataclass(frozen=True)
class GatewayStatus:
    """One gateway's connection now (no secrets: name, class and counts only).

    Attributes:
        name: the vn.py gateway name.
        class_spec: its class, ``module:Class``.
        state: one of :data:`GATEWAY_STATES`.
        since_ns: when it entered ``state``, ns since UNIX epoch.
        last_error: the last failure or disconnection the gateway reported (its log text), ``""``: none.
        market_data: the market-data front is logged in.
        contracts: contracts the gateway has sent since it started.
        subscriptions: market-data subscriptions sent on its latest (re)connection.
        connects: times it became ready (``contractsReady``).
    """

    name: str
    class_spec: str
    state: str
    since_ns: int
    last_error: str
    market_data: bool
    contracts: int
    subscriptions: int
    connects: int

    @property
    def ready(self) -> bool:
        """Orders for this gateway may go out."""
        return self.state == READY_STATE

    def as_json(self) -> dict[str, Any]:
        """Return the status for the admin API (camelCase keys)."""
        return {"name": self.name, "class": self.class_spec, "state": self.state, "sinceTsNs": self.since_ns,
                "lastError": self.last_error, "marketData": self.market_data, "contracts": self.contracts,
                "subscriptions": self.subscriptions, "connects": self.connects}


class GatewayConnection:
    """The lifecycle of one gateway (mutated on vn.py's thread, read on any, under the owner's lock)."""

    def __init__(self, name: str, class_spec: str) -> None:
        self.name = name
        self.class_spec = class_spec
        self.state = "disconnected"
        self.since_ns = time.time_ns()
        self.last_error = ""
        self.market_data = False
        self.contracts: dict[str, Any] = {}
        """vt_symbol → ContractData of every contract the gateway sent."""
        self.subscriptions = 0
        self.connects = 0

    def move(self, state: str, error: str = "") -> bool:
        """Enter ``state`` (and note ``error``); return whether the state changed."""
        if error:
            self.last_error = error
        if state == self.state:
            return False
        self.state = state
        self.since_ns = time.time_ns()
        return True

    def status(self) -> GatewayStatus:
        """Return a frozen copy."""
        return GatewayStatus(self.name, self.class_spec, self.state, self.since_ns, self.last_error,
                             self.market_data, len(self.contracts), self.subscriptions, self.connects)


class VenueConnections:
    """Every configured gateway's connection state, from vn.py's events.

    Args:
        gateways: ``(gateway name, class spec)`` of each configured gateway.
    """

    def __init__(self, gateways: Iterable[tuple[str, str]]) -> None:
        self._lock = threading.Lock()
        self._connections = {name: GatewayConnection(name, spec) for name, spec in gateways}
        self._event_engine: Any = None
        self.on_ready: list[Callable[[GatewayConnection], None]] = []
        """Called with a gateway's connection each time it is about to become ready, before the state says so
        (vn.py's thread, lock not held; read its ``contracts`` with :meth:`contracts_of`)."""
        self.handler_errors = 0

    # -- vn.py thread ---------------------------------------------------------------------

    def attach(self, event_engine: Any) -> None:
        """Register the guarded log and contract handlers on vn.py's EventEngine."""
        from vnpy.trader.event import EVENT_CONTRACT, EVENT_LOG, EVENT_TIMER

        from transport.venue.vnpy_bridge import guarded

        self._event_engine = event_engine
        event_engine.register(EVENT_LOG, guarded(self.on_log_event, self._handler_failed))
        event_engine.register(EVENT_CONTRACT, guarded(self.on_contract_event, self._handler_failed))
        event_engine.register(EVENT_TIMER, guarded(self.on_timer_event, self._handler_failed))

    def on_timer_event(self, event: Any) -> None:
        """Show a gateway ``connecting`` for over :data:`CONNECT_TIMEOUT_S` as ``reconnecting`` (vn.py's 1 s timer)."""
        now_ns = time.time_ns()
        stalled = []
        with self._lock:
            for connection in self._connections.values():
                if connection.state == "connecting" and now_ns - connection.since_ns > CONNECT_TIMEOUT_S * 1e9:
                    connection.move("reconnecting", f"no login within {CONNECT_TIMEOUT_S:g} s of connecting; "
                                    "the gateway's API keeps retrying its fronts")
                    stalled.append(connection)
        for connection in stalled:
            self._changed(connection, "connecting", connection.market_data)

    def _handler_failed(self, exc: BaseException) -> None:
        self.handler_errors += 1
        _log.error("venue_handler_failed", error_type=type(exc).__name__, exc_info=exc)

    def on_contract_event(self, event: Any) -> None:
        """Count a contract of its gateway (vn.py's thread)."""
        contract = event.data
        with self._lock:
            connection = self._connections.get(getattr(contract, "gateway_name", ""))
            if connection is not None:
                connection.contracts[contract.vt_symbol] = contract

    def on_log_event(self, event: Any) -> None:
        """Move a gateway's state by a log text of the CTP family (vn.py's thread).

        On ``合约信息查询成功`` the :attr:`on_ready` listeners run first (the subscriptions are renewed), then
        the gateway is ``contractsReady``: whoever sees it ready sees it subscribed.
        """
        log = event.data
        message = str(getattr(log, "msg", ""))
        name = str(getattr(log, "gateway_name", ""))
        connection = self._connections.get(name)
        if connection is None:
            return
        if message.startswith(TD_CONTRACTS) and connection.state != READY_STATE:
            for listener in self.on_ready:
                listener(connection)
        with self._lock:
            before, market_before = connection.state, connection.market_data
            if message.startswith(TD_LOGGED_IN):
                connection.move("connected")
            elif message.startswith(TD_CONTRACTS):
                if connection.move(READY_STATE):
                    connection.connects += 1
            elif message.startswith(TD_DISCONNECTED):
                # a refused login is not retried by vnpy_ctp (``login_failed``): failed stays failed
                connection.move("failed" if connection.state == "failed" else "reconnecting", message)
            elif message.startswith(TD_FAILED):
                connection.move("failed", message)
            elif message.startswith(MD_LOGGED_IN):
                connection.market_data = True
            elif message.startswith((MD_DISCONNECTED, MD_FAILED)):
                connection.market_data = False
                connection.last_error = message
            else:
                return
        self._changed(connection, before, market_before)

    def _changed(self, connection: GatewayConnection, state_before: str, market_before: bool) -> None:
        if connection.state != state_before:
            _log.info("venue_state_changed", gateway=connection.name, state=connection.state,
                      previous_state=state_before, last_error=connection.last_error)
        feed_before = state_before == READY_STATE and market_before
        feed_now = connection.state == READY_STATE and connection.market_data
        if feed_before != feed_now and self._event_engine is not None:
            from vnpy.event import Event

            reason = (f"venue {connection.name} {connection.state}" + (
                "" if connection.market_data else ", market data down")) if not feed_now else (
                f"venue {connection.name} ready")
            self._event_engine.put(Event(EVENT_FEED_STATUS, FeedStatus(
                "live" if feed_now else "sourceDown", reason, time.time_ns(), connection.name)))

    # -- the engine's thread (connect / close) ----------------------------------------------

    def connecting(self, name: str) -> None:
        """Note that ``MainEngine.connect`` is about to be called for ``name``."""
        with self._lock:
            connection = self._connections.get(name)
            if connection is not None:
                connection.move("connecting")

    def connect_failed(self, name: str, error: str) -> None:
        """Note that connecting ``name`` raised (``error``: a message with no secret in it)."""
        with self._lock:
            connection = self._connections.get(name)
            if connection is not None:
                connection.move("failed", error)

    def closed(self) -> None:
        """Note that every gateway was closed."""
        with self._lock:
            for connection in self._connections.values():
                connection.move("disconnected")
                connection.market_data = False

    def contracts_of(self, name: str) -> list[Any]:
        """Return the ContractData of every contract gateway ``name`` has sent (a copy)."""
        with self._lock:
            connection = self._connections.get(name)
            return list(connection.contracts.values()) if connection is not None else []

    def note_subscriptions(self, name: str, count: int) -> None:
        """Record how many subscriptions were sent on ``name``'s latest (re)connection."""
        with self._lock:
            connection = self._connections.get(name)
            if connection is not None:
                connection.subscriptions = count

    # -- any thread -------------------------------------------------------------------------

    def status(self, name: str) -> GatewayStatus | None:
        """Return one gateway's status (None: not configured)."""
        with self._lock:
            connection = self._connections.get(name)
            return connection.status() if connection is not None else None

    def statuses(self) -> list[GatewayStatus]:
        """Return every gateway's status, in configuration order."""
        with self._lock:
            return [connection.status() for connection in self._connections.values()]

    def venue_state(self, gateway_name: str) -> tuple[str, int] | None:
        """Return ``(state, since_ns)`` of a gateway, or None when it is not configured.

        The risk rule ``venue``'s port (actors/risk/rules/venue.py): a memory read under a lock.
        """
        with self._lock:
            connection = self._connections.get(gateway_name)
            return (connection.state, connection.since_ns) if connection is not None else None


__all__ = ["CONNECT_TIMEOUT_S", "GATEWAY_STATES", "READY_STATE", "GatewayConnection", "GatewayStatus", "VenueConnections"]
