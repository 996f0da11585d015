"""A headless vn.py MainEngine with the configured gateways, contained.

The gateways are named by configuration (``[venue.gateways.<name>]``, transport/venue/gateways.py; without
it the simulator, :data:`DEFAULT_GATEWAY`, as ``SIM``) and their classes imported here with importlib, so the
venue room imports no venue of its own. Each gateway's connection is followed (transport/venue/connection.py)
and its market data re-subscribed on every (re)connection (transport/venue/subscriptions.py).

vn.py's side effects are kept in check (transport/venue/vnpy_home.py): its folder
lives under tickstage's state dir, its loguru sinks are off and its log
events go to structlog, and ``MainEngine()``'s ``chdir`` is undone.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, is_dataclass
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from transport.errors import ConfigError
from transport.venue.connection import VenueConnections
from transport.venue.gateways import SIMULATOR_CLASS, SIMULATOR_NAME, GatewayConfig, simulator_gateway
from transport.venue.subscriptions import MarketSubscriptions
from transport.venue.vnpy_home import contain_vnpy, restoring_cwd

if TYPE_CHECKING:
    from vnpy.event import EventEngine
    from vnpy.trader.engine import MainEngine

    from transport.venue.vnpy_bridge import VnpyBridge

_log = structlog.get_logger("vnpy")
GATEWAY_NAME = SIMULATOR_NAME
DEFAULT_GATEWAY = SIMULATOR_CLASS
"""The vn.py gateway class of this build, ``module:Class``: the simulator (sim/gateway.py)."""


def check_gateway_spec(spec: str) -> tuple[str, str]:
    """Return ``(module, class name)`` of a ``module:Class`` gateway spec, without importing it.

    Raises:
        ConfigError: ``spec`` is not ``dotted.module:ClassName``.
    """
    module, sep, name = spec.partition(":")
    if not sep or not name.isidentifier() or not all(part.isidentifier() for part in module.split(".")):
        raise ConfigError(f"gateway must be 'module:Class' (e.g. {DEFAULT_GATEWAY!r}), not {spec!r}")
    return module, name


def load_gateway_class(spec: str) -> type:
    """Import and return the vn.py ``BaseGateway`` subclass named by ``spec`` (``module:Class``).

    Import it only after :func:`transport.venue.vnpy_home.contain_vnpy` (a gateway module imports vn.py).

    Raises:
        ConfigError: a malformed spec, a module that does not import, or a name it does not define.
    """
    module_name, name = check_gateway_spec(spec)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"gateway {spec!r}: cannot import {module_name!r}: {exc}") from None
    gateway_class = getattr(module, name, None)
    if not isinstance(gateway_class, type):
        raise ConfigError(f"gateway {spec!r}: {module_name!r} defines no class {name!r}")
    return gateway_class


class _NoOffsetConverters(dict):
    """An ``OmsEngine.offset_converters`` that never keeps a converter (see :func:`without_offset_conversion`)."""

    def __setitem__(self, gateway_name: str, converter: Any) -> None:
        pass


def without_offset_conversion(main_engine: MainEngine) -> None:
    """Stop vn.py's OmsEngine from keeping an ``OffsetConverter`` per gateway.

    vn.py 4.5's OmsEngine creates one for every gateway that sends a contract
    and, on vn.py's EventEngine thread, feeds it every order event of a
    contract that is not ``net_position`` (CTP's SHFE/INE contracts, the
    simulator's): ``PositionHolding.update_order`` then re-sums the frozen
    volume over *all* active orders of that contract (``calculate_frozen``),
    so each order event costs O(open orders) and a burst O(n²), holding the
    GIL against the loop (10,000 resting orders: answers seconds late,
    orders ``outcomeUnknown``, vn.py's event queue and RSS growing after the
    burst). The desk never converts offsets (``convert_order_request`` is
    not called: orders go out with the offset the trader chose), so nothing
    reads those sums; without a converter vn.py's ``convert_order_request``
    returns the request unchanged. Call before the gateways are added.
    Source: vnpy/trader/engine.py ``OmsEngine.process_order_event``,
    vnpy/trader/converter.py ``PositionHolding.calculate_frozen`` (4.5.0).
    """
    main_engine.get_engine("oms").offset_converters = _NoOffsetConverters()


class VnpyEngine:
    """Owns vn.py's EventEngine, MainEngine and the configured gateways, and follows their connections.

    Args:
        home: the folder vn.py's ``.vntrader`` goes in; None: ``$TICKSTAGE_STATE_DIR``.
        gateways: the vn.py gateways to add and connect, in order (transport/venue/gateways.py); a ``str``
            is one ``module:Class`` connected as ``SIM`` (the form before 0.2.0).

    Raises:
        ConfigError: a gateway class is not ``module:Class``, or two gateways share a name.
    """

    def __init__(self, home: Path | None = None, gateways: Sequence[GatewayConfig] | str = DEFAULT_GATEWAY) -> None:
        if isinstance(gateways, str):
            gateways = (simulator_gateway(gateways),)
        names = [gateway.name for gateway in gateways]
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"gateway names must be given and unique, not {names}")
        for gateway in gateways:
            check_gateway_spec(gateway.class_spec)
        contain_vnpy(home)
        self.gateways: tuple[GatewayConfig, ...] = tuple(gateways)
        self.connections = VenueConnections((gateway.name, gateway.class_spec) for gateway in self.gateways)
        """Each gateway's connection state (transport/venue/connection.py)."""
        self.subscriptions = MarketSubscriptions(self.connections)
        self.main_engine: MainEngine | None = None
        self.event_engine: EventEngine | None = None

    def start(self, bridge: VnpyBridge, setting: dict[str, Any], also: tuple[Any, ...] = ()) -> None:
        """Start vn.py, attach the bridge's guarded handlers, connect every configured gateway.

        Args:
            bridge: :class:`transport.venue.vnpy_bridge.VnpyBridge`.
            setting: the simulator's connect setting: the base of every simulator gateway's own settings.
            also: more bridges, each ``attach(event_engine, main_engine)``-ed before the
                gateways connect (the order bridge: it must hear the orders a
                reconnecting gateway replays).

        Raises:
            ConfigError: a gateway class does not import, or a secret setting cannot be read (the message
                names the key, never the value). A gateway whose ``connect`` raises is not an error here: its
                state is ``failed`` with the exception's type as the last error.
        """
        from vnpy.trader.engine import MainEngine
        from vnpy.trader.event import EVENT_LOG

        from transport.venue.event_engine import PromptEventEngine
        from transport.venue.vnpy_bridge import guarded

        classes = [load_gateway_class(gateway.class_spec) for gateway in self.gateways]
        settings = [gateway.connect_setting(setting if gateway.takes_desk_setting else None) for gateway in self.gateways]
        self.event_engine = PromptEventEngine()
        with restoring_cwd():
            self.main_engine = MainEngine(self.event_engine)
        without_offset_conversion(self.main_engine)
        bridge.attach(self.event_engine)
        self.connections.attach(self.event_engine)
        self.subscriptions.attach(self.event_engine, self.main_engine)
        for extra in also:
            extra.attach(self.event_engine, self.main_engine)
        self.event_engine.register(EVENT_LOG, guarded(self._on_log, lambda exc: None))
        for gateway, gateway_class, gateway_setting in zip(self.gateways, classes, settings):
            self.main_engine.add_gateway(gateway_class, gateway.name)
            self.connections.connecting(gateway.name)
            try:
                with restoring_cwd():
                    self.main_engine.connect(gateway_setting, gateway.name)
            except ConfigError:
                raise
            except Exception as exc:  # noqa: BLE001 - a venue that cannot connect is a state, not a crash
                if gateway.simulated:
                    raise   # the simulator's setting errors are the operator's to fix at start
                # the message may quote the setting it choked on: only the exception's type is shown
                self.connections.connect_failed(gateway.name, f"connect raised {type(exc).__name__}")
                _log.error("venue_connect_failed", gateway=gateway.name, error_type=type(exc).__name__)
        del settings

    @staticmethod
    def _on_log(event: Any) -> None:
        log = event.data
        _log.info("vnpy_logged", gateway=getattr(log, "gateway_name", ""), message=getattr(log, "msg", ""))

    def gateway(self, name: str = "") -> Any:
        """Return the gateway instance called ``name`` (default: the first configured; None before :meth:`start`)."""
        return self.main_engine.get_gateway(name or self.gateways[0].name) if self.main_engine else None

    def venue_states(self) -> dict[str, str]:
        """Return vn.py gateway name → venue connection state (loop thread; reads flags, never waits).

        States: ``"connected"``, ``"marketDataDown"`` (orders pass, ticks do not),
        ``"disconnected"``, ``"unknown"`` (the gateway does not say). A gateway's
        ``connection_state()`` answers when it has one (the simulator's,
        sim/gateway.py); otherwise the login flags of its trading and market-data
        APIs, as vn.py's CTP-family gateways keep them (``td_api.login_status``,
        ``md_api.login_status``; source: vnpy_ctp ``CtpTdApi`` / ``CtpMdApi``).
        """
        main_engine = self.main_engine
        if main_engine is None:
            return {}
        states = {}
        for name, gateway in dict(getattr(main_engine, "gateways", {})).items():
            states[name] = _venue_state(gateway)
        return states

    def progress(self) -> dict[str, Any] | None:
        """Return the replay/synthetic progress of the simulator as a dict, if it reports one."""
        gateway = self.gateway()
        progress = getattr(gateway, "progress", None)
        if progress is None:
            return None
        value = progress()
        return asdict(value) if is_dataclass(value) else dict(value)

    def close(self) -> None:
        """Close gateways and stop vn.py's threads (blocking; run off the loop)."""
        if self.main_engine is not None:
            with restoring_cwd():
                self.main_engine.close()
            self.main_engine = None
            self.connections.closed()


VENUE_STATES = ("connected", "marketDataDown", "disconnected", "unknown")
"""Every state :meth:`VnpyEngine.venue_states` reports."""


def _venue_state(gateway: Any) -> str:
    probe = getattr(gateway, "connection_state", None)
    try:
        if callable(probe):
            state = str(probe())
            return state if state in VENUE_STATES else "unknown"
        td_api, md_api = getattr(gateway, "td_api", None), getattr(gateway, "md_api", None)
        if td_api is None or not hasattr(td_api, "login_status"):
            return "unknown"
        if not td_api.login_status:
            return "disconnected"
        return "connected" if md_api is None or getattr(md_api, "login_status", True) else "marketDataDown"
    except Exception:  # noqa: BLE001 - a gateway's own bug must not break a scrape
        return "unknown"


__all__ = ["DEFAULT_GATEWAY", "GATEWAY_NAME", "VENUE_STATES", "VnpyEngine", "check_gateway_spec",
           "load_gateway_class", "without_offset_conversion"]
