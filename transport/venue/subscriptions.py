"""Market-data subscriptions, renewed on every (re)connection of a gateway.

A CTP market-data front forgets a client's subscriptions when the connection drops, and vn.py does not
renew them for the desk: after a reconnect the screen freezes (vnpy issue 2355). The desk needs every
contract a gateway lists: each belongs to its product's group (transport/venue/vnpy_bridge.py), which a
watchlist, a detail panel or an account's position may show. So each time a gateway becomes ready
(``contractsReady``, transport/venue/connection.py) :class:`MarketSubscriptions` sends a
``SubscribeRequest`` for every contract that gateway has sent, and one for each contract it sends later.

Runs on vn.py's dispatcher thread (the ``on_ready`` listener and the contract handler), where
``MainEngine.subscribe`` calls the gateway; it never touches the loop.
"""

from __future__ import annotations

from typing import Any

import structlog

from transport.venue.connection import READY_STATE, GatewayConnection, VenueConnections

_log = structlog.get_logger("transport.venue.subscriptions")


class MarketSubscriptions:
    """Subscribes every contract of a gateway when it becomes ready, and each later one as it arrives.

    Args:
        connections: the gateways' lifecycle (its ``on_ready`` listeners get this one).
    """

    def __init__(self, connections: VenueConnections) -> None:
        self.connections = connections
        self.main_engine: Any = None
        self.sent = 0
        """SubscribeRequests sent since start."""
        self.errors = 0
        connections.on_ready.append(self.renew)

    def attach(self, event_engine: Any, main_engine: Any) -> None:
        """Keep the MainEngine; subscribe contracts that arrive while their gateway is ready (vn.py's thread)."""
        from vnpy.trader.event import EVENT_CONTRACT

        from transport.venue.vnpy_bridge import guarded

        self.main_engine = main_engine
        event_engine.register(EVENT_CONTRACT, guarded(self._on_contract_event, self._failed))

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        _log.error("subscribe_failed", error_type=type(exc).__name__, error=str(exc))

    def _on_contract_event(self, event: Any) -> None:
        contract = event.data
        status = self.connections.status(getattr(contract, "gateway_name", ""))
        if status is not None and status.state == READY_STATE:
            self._subscribe(contract.gateway_name, [contract])

    def renew(self, connection: GatewayConnection) -> None:
        """Subscribe every contract ``connection``'s gateway has sent (vn.py's thread, just before it is
        ``contractsReady``)."""
        contracts = self.connections.contracts_of(connection.name)
        count = self._subscribe(connection.name, contracts)
        self.connections.note_subscriptions(connection.name, count)
        _log.info("subscriptions_renewed", gateway=connection.name, contracts=count)

    def _subscribe(self, gateway_name: str, contracts: list[Any]) -> int:
        from vnpy.trader.object import SubscribeRequest

        gateway = self.main_engine.get_gateway(gateway_name) if self.main_engine is not None else None
        if gateway is None:
            return 0
        sent = 0
        for contract in contracts:
            try:   # the gateway's own subscribe: MainEngine.subscribe writes a log line per contract
                gateway.subscribe(SubscribeRequest(contract.symbol, contract.exchange))
                sent += 1
            except Exception as exc:  # noqa: BLE001 - one bad contract must not stop the others
                self._failed(exc)
        self.sent += sent
        return sent


__all__ = ["MarketSubscriptions"]
