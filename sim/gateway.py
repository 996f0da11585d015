"""The simulator as a vn.py gateway: recorded or synthetic ticks through ``BaseGateway``.

``SimGateway`` is what the production market-data path sees in development:
``MainEngine.add_gateway(SimGateway)`` then ``MainEngine.connect(setting,
"SIM")``. It emits ``on_contract`` for every instrument it knows, then one
feed thread emits ``on_tick`` paced by exchange time × ``speed``.

Settings (:data:`sim.settings.DEFAULT_SETTING`):

- ``replay``: path of a recorded tape (CSV or CSV.gz, see :mod:`sim.replay`);
  empty → a synthetic market (:mod:`sim.synthetic`).
- ``speed``: replay speed, multiple of exchange time; 0 or inf → as fast as
  possible. A synthetic market is defined in wall time by ``rate``, so it
  plays at 1× unless speed is 0 or inf.
- ``contracts``, ``rate``, ``seed``: size, mean ticks per second and seed of
  a synthetic market.
- ``instruments``: CTP instruments CSV; empty → the
  ``cn_futopt_instruments_20171113.csv`` beside the replay file, if any.
  Synthetic contracts are cloned from it (default: built-in templates).
- ``loop``: restart the tape from its beginning at its end.

A replay emits the contracts of the instruments file at connect (a pre-scan
of a 30 MB tape is not affordable) and the contract of any other symbol
just before its first tick, with a tick size guessed from its prices.
Every tick is emitted whatever was subscribed: ``subscribe`` only records
the request. Orders are not simulated yet: ``send_order`` returns ``""``.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from vnpy.event import EventEngine
from vnpy.trader.constant import Exchange
from vnpy.trader.gateway import BaseGateway
from vnpy.trader.object import CancelRequest, OrderRequest, SubscribeRequest

from sim._convert import SIM_EXCHANGES, TickBuilder, contract_data, exchange_of
from sim.feed import ReplayProgress, TickFeed
from sim.instruments import InstrumentRef, derive_product, guess_price_tick, load_instruments
from sim.replay import ReplayTick, iter_ticks
from sim.settings import DEFAULT_SETTING, SimSettings
from sim.synthetic import SyntheticMarket

CLOSE_TIMEOUT_S = 5.0
"""Longest wait for the feed thread in :meth:`SimGateway.close`, seconds."""

SYNTHETIC_SOURCE = "synthetic"
"""``ReplayProgress.source`` of a synthetic market."""

_UNSEEN = object()


class SimGateway(BaseGateway):
    """A vn.py gateway replaying recorded CTP ticks or synthesizing a market.

    Thread use: ``connect``, ``close``, ``subscribe`` and the order methods
    run on the caller's thread (vn.py's ``MainEngine`` caller); ticks and
    lazily discovered contracts are emitted from the feed thread
    ``"<gateway_name>.feed"``; :meth:`progress` may be called from any thread.

    Args:
        event_engine: vn.py event engine the events are put on.
        gateway_name: name of this gateway (default ``"SIM"`` via ``MainEngine.add_gateway``).
    """

    default_name: str = "SIM"
    default_setting: dict[str, str | int | float | bool] = dict(DEFAULT_SETTING)
    exchanges: list[Exchange] = list(SIM_EXCHANGES)

    def __init__(self, event_engine: EventEngine, gateway_name: str = "SIM") -> None:
        super().__init__(event_engine, gateway_name)
        self.subscriptions: dict[str, SubscribeRequest] = {}
        """vt_symbol → the last subscribe request for it (ticks flow regardless)."""
        self._feed: TickFeed | None = None
        self._builder = TickBuilder(gateway_name)
        self._instruments: dict[str, InstrumentRef] = {}
        self._known: dict[str, tuple[Exchange, str] | None] = {}
        self._source_name = ""

    def connect(self, setting: dict) -> None:
        """Emit the contracts, then start the feed thread.

        Runs on the caller's thread; every contract known up front is put on
        the event engine before the first tick.

        Args:
            setting: keys of :data:`sim.settings.DEFAULT_SETTING` (module docstring).

        Raises:
            SimSettingError: a setting is invalid or names a missing file.
            ReplayFormatError: the replay file's header or first row is bad.
            InstrumentsFormatError: the instruments file is bad.
        """
        if self._feed is not None and self._feed.is_alive():
            self.write_log("already connected; close() before connecting again")
            return
        settings = SimSettings.from_setting(setting)
        self._instruments = load_instruments(settings.instruments) if settings.instruments else {}
        self._known = {}
        self._builder = TickBuilder(self.gateway_name)
        if settings.replay is not None:
            source = _replay_source(settings.replay)
            self._source_name = str(settings.replay)
            refs: Iterable[InstrumentRef] = self._instruments.values()
            pace = settings.speed
        else:
            market = SyntheticMarket(
                contracts=settings.contracts,
                rate_per_s=settings.rate_per_s,
                seed=settings.seed,
                templates=list(self._instruments.values()) or None,
                start_ns=time.time_ns(),
            )
            source = market.ticks
            self._source_name = SYNTHETIC_SOURCE
            self._instruments = {ref.symbol: ref for ref in market.instruments}
            refs = market.instruments
            pace = 1.0 if settings.paced else math.inf
        emitted = sum(self._publish_contract(ref) for ref in refs)
        self._feed = TickFeed(
            source=source,
            emit=self._emit,
            speed=pace,
            loop=settings.loop,
            log=self.write_log,
            name=f"{self.gateway_name}.feed",
            source_name=self._source_name,
            reported_speed=settings.speed,
        )
        self.write_log(f"connected to {self._source_name}: {emitted} contracts, speed {settings.speed:g}")
        self._feed.start()

    def close(self) -> None:
        """Stop the feed thread and wait for it, at most :data:`CLOSE_TIMEOUT_S`.

        Runs on the caller's thread (``MainEngine.close``). Idempotent.
        """
        if self._feed is not None and not self._feed.stop(CLOSE_TIMEOUT_S):
            self.write_log(f"feed thread did not stop within {CLOSE_TIMEOUT_S:g} s")

    def progress(self) -> ReplayProgress:
        """Return the feed's progress; safe from any thread."""
        if self._feed is None:
            return ReplayProgress(0, 0.0, 0.0, 0, False, self._source_name)
        return self._feed.progress()

    def subscribe(self, req: SubscribeRequest) -> None:
        """Record a subscription. Every tick is emitted regardless of subscriptions."""
        self.subscriptions[req.vt_symbol] = req

    def send_order(self, req: OrderRequest) -> str:
        """Refuse the order locally: simulated fills arrive in a later issue.

        Returns:
            ``""`` (vn.py's local reject); a gateway log line says why.
        """
        self.write_log(f"order for {req.vt_symbol} not sent: simulated orders arrive in a later issue")
        return ""

    def cancel_order(self, req: CancelRequest) -> None:
        """Do nothing: no order is ever live."""

    def query_account(self) -> None:
        """Do nothing: simulated accounts arrive with simulated orders."""

    def query_position(self) -> None:
        """Do nothing: simulated positions arrive with simulated orders."""

    def _publish_contract(self, ref: InstrumentRef) -> bool:
        """Emit a contract once and remember its exchange and name; False when vn.py cannot serve it."""
        exchange = exchange_of(ref.exchange)
        if exchange is None:
            self._known[ref.symbol] = None
            self.write_log(f"{ref.symbol}: exchange {ref.exchange!r} is not served; its ticks are skipped")
            return False
        self._known[ref.symbol] = (exchange, ref.name)
        self.on_contract(contract_data(ref, exchange, self.gateway_name))
        return True

    def _emit(self, row: ReplayTick) -> bool:
        """Emit one row as a tick, its contract first when new; runs on the feed thread."""
        known = self._known.get(row.symbol, _UNSEEN)
        if known is _UNSEEN:
            self._publish_contract(self._instruments.get(row.symbol) or _guess_instrument(row))
            known = self._known[row.symbol]
        if known is None:
            return False
        exchange, name = known  # type: ignore[misc]
        self.on_tick(self._builder.tick(row, exchange, name))
        return True


def _replay_source(path: Path) -> Callable[[], Iterable[ReplayTick]]:
    """Return a source for :class:`TickFeed` whose first pass was opened (and its first row read) now.

    Reading the header and first row at connect turns a bad file into an
    exception for the caller rather than a log line from the feed thread.
    """
    first_pass = iter_ticks(path)
    first_row = next(first_pass, None)
    passes = itertools.chain(
        [itertools.chain([first_row] if first_row is not None else [], first_pass)],
        (iter_ticks(path) for _ in itertools.count()),
    )
    return lambda: next(passes)


def _guess_instrument(row: ReplayTick) -> InstrumentRef:
    """Reference data for a symbol missing from the instruments file, from its first row."""
    return InstrumentRef(
        symbol=row.symbol,
        exchange=row.exchange,
        product=row.product or derive_product(row.symbol),
        product_class=row.product_class,
        price_tick=guess_price_tick(row.last, row.bid, row.ask),
        multiplier=1.0,
        name=row.symbol,
    )


__all__ = ["CLOSE_TIMEOUT_S", "SYNTHETIC_SOURCE", "ReplayProgress", "SimGateway"]
