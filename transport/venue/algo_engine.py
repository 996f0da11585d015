"""vnpy_algotrading's ``AlgoEngine`` adapted to the desk: :class:`DeskAlgoEngine` and a fixed ``TwapAlgo``.

vn.py runs the algo templates (``TwapAlgo``, ``IcebergAlgo``, ``SniperAlgo``, ``StopAlgo``, ``BestLimitAlgo``,
vnpy_algotrading's own) in its ``AlgoEngine``; the desk's job service (:class:`~transport.venue.vnpy_algos.DeskAlgos`)
adds this subclass to its MainEngine. :class:`DeskAlgoEngine` is vnpy_algotrading 1.x's ``AlgoEngine`` with
these changes:

* ``send_order`` never calls the gateway: it submits a ``submitOrder`` to ``orders/<account>`` as the session
  ``algos`` (actors/sessions/algo_host.py), so every child order passes the same risk rules and
  journal as a manual one. Its client order id is ``a<16 hex of account and jobId>-<n>``. A child a rule refuses
  pauses the algo with the reason.
* order and trade events reach an algo by the child's client order id (the desk's order reference
  ``tickstage:<account>:<client order id>``), not by the gateway's vt_orderid.
* each algo is guarded on its own: an exception raised by one algo's ``update_tick``, ``update_timer``,
  ``update_order`` or ``update_trade`` is logged (``algo_failed``), stops THAT algo (vnpy_algotrading's
  ``AlgoTemplate.stop``: status STOPPED, its open child orders cancelled through :meth:`cancel_order`, its ticks no
  longer delivered) and is handed to the desk's ``algo_failed`` (the job ends with the error as its reason); the
  handler goes on to the other algos of the same event, so one faulty algo starves none. Each whole vn.py handler
  is guarded too, as the last line of defence: an exception outside any one algo (the desk's own code) is logged
  (``algo_handler_failed``) and handed to the desk's ``failed``; neither ever stops the EventEngine's thread.
* a tick reaches the algos of its vt_symbol without indexing every contract that ticks, and ``close`` leaves the
  algos as they are (a stopping desk keeps its jobs in the journal).
* its ``TwapAlgo`` sends the slice of the last interval (:func:`twap_algo_class`).

Threads: its event handlers and the templates run on vn.py's EventEngine thread, as in vn.py. The desk behind it
is an :class:`AlgoDesk` (its ``desk`` attribute).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Protocol

import structlog

_log = structlog.get_logger("transport.venue.algo_engine")


class AlgoDesk(Protocol):
    """What :class:`DeskAlgoEngine` asks of the desk's job service (EventEngine thread).

    Attributes:
        child_by_vt: gateway vt_orderid → child client order id, filled as the desk learns the pairs.
    """

    child_by_vt: dict[str, str]

    def submit_child(self, algo: Any, direction: Any, price: float, volume: float, order_type: Any,
                     offset: Any) -> str:
        """Submit a child order of ``algo`` (volume in lots, price in quote currency); return its client order
        id, ``""`` when not sent."""

    def cancel_child(self, algo: Any, client_order_id: str) -> None:
        """Cancel a child order by its client order id."""

    def child_of(self, reference: str, vt_orderid: str) -> str:
        """Return the child client order id of a vn.py order event's reference, or ``""``."""

    def child_state(self, client_order_id: str, active: bool) -> None:
        """Note whether a child order is still open."""

    def algo_failed(self, algo: Any, exc: Exception) -> None:
        """``algo`` raised ``exc`` and the engine has stopped it (already logged): end its job with the reason."""

    def failed(self, exc: Exception) -> None:
        """A handler raised outside any one algo (already logged)."""


MAX_ERROR_CHARS = 200
"""Longest error text :func:`describe_error` keeps (characters; a job's message stays readable and bounded)."""


def describe_error(exc: BaseException) -> str:
    """Return ``"<error type>: <message>"`` of ``exc`` on one line, the message cut to :data:`MAX_ERROR_CHARS`.

    Never raises: an exception whose ``str`` itself raises is described as ``<unprintable>``.
    """
    try:
        text = " ".join(str(exc).split())
    except Exception:  # noqa: BLE001 - a faulty algo's exception must not fail the report of its failure
        text = "<unprintable>"
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def twap_algo_class() -> type:
    """Return vnpy_algotrading's ``TwapAlgo`` with its last slice sent (imports vnpy_algotrading on call)."""
    from vnpy_algotrading.algos.twap_algo import TwapAlgo as VnpyTwapAlgo

    class TwapAlgo(VnpyTwapAlgo):
        """vnpy_algotrading's TWAP, its last slice sent: vnpy_algotrading 1.1.0 (algos/twap_algo.py) checks
        ``total_count >= time`` before the slice of that same second, so 10 lots over 10 s at 1 s intervals sends
        9 slices and finishes 1 lot short. Here the slice of the last interval goes out, and the algo finishes one
        timer later (its open slice cancelled) if it is not filled by then."""

        def on_timer(self) -> None:
            from vnpy.trader.constant import Direction

            self.timer_count += 1
            self.total_count += 1
            self.put_event()
            if self.total_count > self.time:
                self.write_log("执行时间已结束，停止算法")
                self.finish()
                return
            if self.timer_count < self.interval:
                return
            self.timer_count = 0
            tick = self.get_tick()
            if not tick:
                return
            self.cancel_all()
            order_volume = min(self.order_volume, self.volume - self.traded)
            if order_volume <= 0:
                return
            if self.direction == Direction.LONG:
                if tick.ask_price_1 <= self.price:
                    self.buy(self.price, order_volume, offset=self.offset)
            elif tick.bid_price_1 >= self.price:
                self.sell(self.price, order_volume, offset=self.offset)

    return TwapAlgo


def desk_algo_engine_class() -> type:
    """Return :class:`DeskAlgoEngine`, vnpy_algotrading's ``AlgoEngine`` whose orders go through the desk.

    ``MainEngine.add_engine`` builds it; set its ``desk`` (an :class:`AlgoDesk`) before the engine sees an
    event. Imports vnpy_algotrading on call.
    """
    from vnpy_algotrading.engine import AlgoEngine

    class DeskAlgoEngine(AlgoEngine):
        """vnpy_algotrading's AlgoEngine whose orders go through the desk (module docstring)."""

        desk: AlgoDesk

        def close(self) -> None:
            """Leave the algos as they are: a stopping desk keeps its jobs in the journal (resumed paused)."""

        def load_algo_template(self) -> None:
            super().load_algo_template()
            self.add_algo_template(twap_algo_class())   # replaces vn.py's TwapAlgo under the same name

        def process_tick_event(self, event: Any) -> None:
            """Give a tick to the algos of its vt_symbol, if any, adding nothing for a contract without one.

            vnpy_algotrading 1.x indexes its ``defaultdict(set)`` with every tick's vt_symbol: each
            contract that ticked left an empty set for good (all 20,000 on the desk, growing through the
            trading day as contracts first trade). Only vt_symbols an algo ever ran on stay (an emptied set
            is not dropped here: ``start_algo`` may be filling it on another thread).
            """
            for algo in list(self.symbol_algo_map.get(event.data.vt_symbol, ())):
                self._run_algo(algo, "update_tick", event.data)

        def process_timer_event(self, event: Any) -> None:
            """Give vn.py's 1 s timer to every algo, each guarded (vnpy_algotrading's loop, one raising algo
            stopped instead of ending the loop for the algos after it)."""
            for algo in list(self.algos.values()):
                self._run_algo(algo, "update_timer")

        def register_event(self) -> None:
            from vnpy.trader.event import EVENT_ORDER, EVENT_TICK, EVENT_TIMER, EVENT_TRADE

            for event_type, handler in ((EVENT_TICK, self.process_tick_event),
                                        (EVENT_TIMER, self.process_timer_event),
                                        (EVENT_ORDER, self.process_order_event),
                                        (EVENT_TRADE, self.process_trade_event)):
                self.event_engine.register(event_type, self._guard(handler))

        def _guard(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
            """Wrap a whole vn.py handler: the last line of defence, vn.py's dispatcher thread never dies."""
            def guarded(event: Any) -> None:
                try:
                    handler(event)
                except Exception as exc:  # noqa: BLE001 - never vn.py's thread
                    _log.error("algo_handler_failed", handler=handler.__name__, error=describe_error(exc))
                    self.desk.failed(exc)
            guarded.__name__ = handler.__name__
            return guarded

        def _run_algo(self, algo: Any, method: str, *args: Any) -> None:
            """Call ``algo.<method>(*args)``; if it raises, stop that algo and tell the desk (EventEngine thread)."""
            try:
                getattr(algo, method)(*args)
            except Exception as exc:  # noqa: BLE001 - an algo's bug stops that algo, never the others
                self._stop_failed(algo, method, exc)

        def _stop_failed(self, algo: Any, method: str, exc: Exception) -> None:
            """Stop an algo that raised through vn.py's own stop (its open child orders cancelled), then hand it
            to the desk's ``algo_failed``. An algo whose stop raises too is taken out of the engine by hand: it
            gets no more events either way. The handler's loop goes on to the other algos whatever happens here."""
            _log.error("algo_failed", algo=algo.algo_name, method=method, error=describe_error(exc))
            if algo.status.name not in ("STOPPED", "FINISHED"):
                try:
                    algo.stop()
                except Exception as stop_exc:  # noqa: BLE001 - a faulty algo's stop must not starve the others
                    _log.error("algo_stop_failed", algo=algo.algo_name, error=describe_error(stop_exc))
                    self._drop(algo)
            try:
                self.desk.algo_failed(algo, exc)
            except Exception as desk_exc:  # noqa: BLE001 - as the last-line guard, without ending the loop
                _log.error("algo_handler_failed", handler="algo_failed", error=describe_error(desk_exc))
                self.desk.failed(desk_exc)

        def _drop(self, algo: Any) -> None:
            """Mark ``algo`` stopped and remove it from the engine's maps (what vnpy_algotrading's
            ``put_algo_event`` does for a stopped algo), without calling any of its code."""
            from vnpy_algotrading.base import AlgoStatus

            algo.status = AlgoStatus.STOPPED
            if self.algos.get(algo.algo_name) is algo:
                del self.algos[algo.algo_name]
            for algos in self.symbol_algo_map.values():
                algos.discard(algo)

        def process_order_event(self, event: Any) -> None:
            order = event.data
            client_order_id = self.desk.child_of(order.reference or "", order.vt_orderid)
            algo = self.orderid_algo_map.get(client_order_id) if client_order_id else None
            if algo is not None:
                view = copy.copy(order)
                view.vt_orderid = client_order_id
                self.desk.child_state(client_order_id, order.is_active())
                if algo.status.name in ("RUNNING", "PAUSED"):
                    self._run_algo(algo, "update_order", view)

        def process_trade_event(self, event: Any) -> None:
            trade = event.data
            client_order_id = self.desk.child_by_vt.get(trade.vt_orderid)
            algo = self.orderid_algo_map.get(client_order_id) if client_order_id else None
            if algo is not None and algo.status.name in ("RUNNING", "PAUSED"):
                view = copy.copy(trade)
                view.vt_orderid = client_order_id
                self._run_algo(algo, "update_trade", view)

        def send_order(self, algo: Any, direction: Any, price: float, volume: float, order_type: Any,
                       offset: Any) -> str:
            from vnpy.trader.utility import round_to

            contract = self.main_engine.get_contract(algo.vt_symbol)
            if not contract:
                return ""
            volume = round_to(volume, contract.min_volume)
            if not volume:
                return ""
            client_order_id = self.desk.submit_child(algo, direction, price, volume, order_type, offset)
            if client_order_id:
                self.orderid_algo_map[client_order_id] = algo
            return client_order_id

        def cancel_order(self, algo: Any, vt_orderid: str) -> None:
            self.desk.cancel_child(algo, vt_orderid)

    return DeskAlgoEngine


__all__ = ["AlgoDesk", "MAX_ERROR_CHARS", "describe_error", "desk_algo_engine_class", "twap_algo_class"]
