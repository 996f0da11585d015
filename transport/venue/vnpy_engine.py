"""A headless vn.py MainEngine with the simulator gateway, contained.

vn.py's side effects are kept in check (transport/venue/vnpy_home.py): its folder
lives under tickstage's state dir, its loguru sinks are off and its log
events go to structlog, and ``MainEngine()``'s ``chdir`` is undone.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import structlog

from transport.venue.vnpy_home import contain_vnpy, restoring_cwd

_log = structlog.get_logger("vnpy")
GATEWAY_NAME = "SIM"


class _NoOffsetConverters(dict):
    """An ``OmsEngine.offset_converters`` that never keeps a converter (see :func:`without_offset_conversion`)."""

    def __setitem__(self, gateway_name: str, converter: Any) -> None:
        pass


def without_offset_conversion(main_engine: Any) -> None:
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
    """Owns vn.py's EventEngine, MainEngine and the simulator gateway."""

    def __init__(self, home: Path | None = None) -> None:
        """Contain vn.py (its home folder under ``home``; see :func:`transport.venue.vnpy_home.contain_vnpy`)."""
        contain_vnpy(home)
        self.main_engine: Any = None
        self.event_engine: Any = None

    def start(self, bridge: Any, setting: dict[str, Any], also: tuple[Any, ...] = ()) -> None:
        """Start vn.py, attach the bridge's guarded handlers, connect the simulator.

        Args:
            bridge: :class:`transport.venue.vnpy_bridge.VnpyBridge`.
            setting: the simulator gateway's connect setting.
            also: more bridges, each ``attach(event_engine, main_engine)``-ed before the
                gateway connects (the order bridge: it must hear the orders a
                reconnecting gateway replays).
        """
        from vnpy.event import EventEngine
        from vnpy.trader.engine import MainEngine
        from vnpy.trader.event import EVENT_LOG

        from sim.gateway import SimGateway
        from transport.venue.vnpy_bridge import guarded

        self.event_engine = EventEngine()
        with restoring_cwd():
            self.main_engine = MainEngine(self.event_engine)
        without_offset_conversion(self.main_engine)
        bridge.attach(self.event_engine)
        for extra in also:
            extra.attach(self.event_engine, self.main_engine)
        self.event_engine.register(EVENT_LOG, guarded(self._on_log, lambda exc: None))
        self.main_engine.add_gateway(SimGateway, GATEWAY_NAME)
        self.main_engine.connect(setting, GATEWAY_NAME)

    @staticmethod
    def _on_log(event: Any) -> None:
        log = event.data
        _log.info("vnpy_logged", gateway=getattr(log, "gateway_name", ""), message=getattr(log, "msg", ""))

    def gateway(self) -> Any:
        """Return the simulator gateway instance."""
        return self.main_engine.get_gateway(GATEWAY_NAME) if self.main_engine else None

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


__all__ = ["GATEWAY_NAME", "VnpyEngine", "without_offset_conversion"]
