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
- ``peak``: synthetic peak ticks per second outside bursts (0: 2 × ``rate``).
- ``copies``, ``shift_s``: replay the tape as K copies under distinct
  symbols, each ``shift_s`` later (sim/multiplex.py), to reach desk size.
- ``max_gap_s``: cut longer pauses of the tape (overnight, lunch) to this.
- ``record``: write every emitted tick to this tape file (sim/tape.py).

``replay`` may name a ``.tape`` (sim/tape.py) as well as a CSV tape.

As CTP (vnpy_ctp 6.7), it writes the connection's log texts (``交易服务器连接成功``,
``交易服务器登录成功``, ``合约信息查询成功``, ``行情服务器登录成功``; :data:`TD_CONNECTED` ...), sends
the contracts, then the venue replays the day's orders and trades; every :data:`SNAPSHOT_INTERVAL_S`
it sends an account or a position snapshot in turn.

Faults (sim/harness/faults.py) steer a connected gateway from any thread:
:meth:`SimGateway.disconnect_venue` / :meth:`SimGateway.reconnect_venue` (both fronts drop as a CTP
front does: orders are refused locally, the venue answers those in flight unheard, and replays them
at the reconnect; ``venue_disconnect``),
:meth:`SimGateway.disconnect_feed` / :meth:`SimGateway.reconnect_feed`
(ticks stop while the market moves on; each puts an ``EVENT_FEED_STATUS``
event, ``sourceDown`` / ``live``, as the end of a replay puts ``ended``:
schemas/venue_events.py), :meth:`SimGateway.burst` (× the
rate), :meth:`SimGateway.set_clock_skew` (exchange stamps shifted).

A replay emits the contracts of the instruments file at connect (a pre-scan
of a 30 MB tape is not affordable) and the contract of any other symbol
just before its first tick, with a tick size guessed from its prices.
Every tick is emitted whatever was subscribed. As a CTP market-data front answers
``SubscribeMarketData`` with the contract's current depth snapshot (``OnRtnDepthMarketData`` right
after ``OnRspSubUnSubMarketData``), ``subscribe`` emits the contract's latest quote at once, with its
original exchange time (a trader must not read it as a fresh trade): after a reconnect every
subscribed contract shows its current quote before its next trade, however quiet it is. The latest
quote moves on while the venue is down (rows coming due are kept, not emitted). Orders go to the venue of :mod:`sim.exchange` (keys ``venue``,
``order_latency_ms``, ``order_no_answer_probability`` ...), which answers and
fills them against the same ticks.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vnpy.event import EventEngine
from vnpy.trader.constant import Exchange
from vnpy.trader.gateway import BaseGateway
from vnpy.trader.object import CancelRequest, OrderData, OrderRequest, SubscribeRequest

from sim._convert import SIM_EXCHANGES, TickBuilder, contract_data, exchange_of
from sim.errors import SimNotConnectedError
from sim.exchange import ExchangeSettings, SimExchange
from sim.feed import ReplayProgress, TickFeed
from sim.instruments import InstrumentRef, derive_product, guess_price_tick, load_instruments
from sim.multiplex import compress_gaps, multiplex, multiplex_refs
from sim.replay import ReplayTick, iter_ticks
from sim.settings import DEFAULT_SETTING, SimSettings
from sim.synthetic import SyntheticMarket
from sim.tape import TapeWriter, is_tape, iter_tape_ticks, tape_instruments

TD_CONNECTED = "交易服务器连接成功"
TD_LOGGED_IN = "交易服务器登录成功"
TD_CONTRACTS = "合约信息查询成功"
TD_DISCONNECTED = "交易服务器连接断开，原因{reason}"
MD_LOGGED_IN = "行情服务器登录成功"
MD_DISCONNECTED = "行情服务器连接断开，原因{reason}"
ORDER_NOT_SENT = "委托请求发送失败，错误代码：{code}"
"""The connection log texts the simulator writes, as vnpy_ctp 6.7 writes them (``ctp_gateway.py``:
``onFrontConnected``, ``onRspUserLogin``, ``onRspQryInstrument``, ``onFrontDisconnected``, ``send_order``),
so a desk follows the simulator's connection exactly as a CTP one."""

SNAPSHOT_INTERVAL_S = 2
"""Seconds between two snapshot queries, the account and the positions in turn (vnpy_ctp: every 2 timer events)."""

DISCONNECT_REASON = 4097
"""``onFrontDisconnected`` reason of a simulated venue disconnection (CTP: 0x1001, network read failed)."""

RECORD_BATCH_ROWS = 1000
"""Ticks per tape record when a run is recorded (``record`` setting)."""

CLOSE_TIMEOUT_S = 5.0
"""Longest wait for the feed thread in :meth:`SimGateway.close`, seconds."""

SYNTHETIC_SOURCE = "synthetic"
"""``ReplayProgress.source`` of a synthetic market."""

_UNSEEN = object()


@dataclass(eq=False)
class TickWatch:
    """Waits for the first tick of some products emitted from a given moment on (:meth:`SimGateway.watch_ticks`).

    The fault report (sim/harness/runner.py) starts a recovery clock here when the
    market was quiet after a fault: the desk cannot show a tick before the
    feed has emitted it.

    Attributes:
        products: products (group names, ``"rb"``, ``"m_o"``) watched; empty: any.
        after_ns: ticks emitted at or after this count, UNIX ns.
        first_ns: when the feed thread emitted the first such tick, UNIX ns; 0 until then.
    """

    products: frozenset[str]
    after_ns: int
    first_ns: int = 0


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
        self._venue_attached = False
        self._builder = TickBuilder(gateway_name)
        self._instruments: dict[str, InstrumentRef] = {}
        self._known: dict[str, tuple[Exchange, str] | None] = {}
        self._latest: dict[str, ReplayTick] = {}
        """symbol → its latest row, emitted or not (the subscribe snapshot)."""
        self._emit_lock = threading.Lock()
        """Orders the feed's ticks and the subscribe snapshots on vn.py's queue: a snapshot is never older than a
        tick put before it."""
        self.snapshots_sent = 0
        """Subscribe snapshots emitted so far."""
        self._source_name = ""
        self.market: SyntheticMarket | None = None
        """The synthetic market, when connected to one."""
        self._skew_ns = 0
        self._recorder: TapeWriter | None = None
        self._recorded: list[ReplayTick] = []
        self.exchange: SimExchange | None = None
        """The venue this gateway's orders go to (sim/exchange.py), once connected."""
        self._watches: tuple[TickWatch, ...] = ()
        self._watch_lock = threading.Lock()
        self._link_down = False
        self._link_lock = threading.Lock()
        self._timer_count = 0
        self._snapshot_turn = False
        self._timer_registered = False
        self.venue_disconnects = 0
        """Simulated venue disconnections so far (:meth:`disconnect_venue`)."""

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
        exchange_settings = ExchangeSettings.from_setting(setting)
        self.exchange = SimExchange.venue(exchange_settings.venue)
        self.exchange.configure(exchange_settings)
        self._instruments = load_instruments(settings.instruments) if settings.instruments else {}
        self._known = {}
        self._latest = {}
        self._builder = TickBuilder(self.gateway_name)
        self.market = None
        if settings.replay is not None:
            if is_tape(settings.replay):
                self._instruments.update({ref.symbol: ref for ref in tape_instruments(settings.replay)})
            if settings.copies > 1:
                self._instruments = {ref.symbol: ref for ref in multiplex_refs(self._instruments.values(),
                                                                               settings.copies)}
            source = _replay_source(settings)
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
                peak_per_s=settings.peak_per_s,
            )
            self.market = market
            source = market.ticks
            self._source_name = SYNTHETIC_SOURCE
            self._instruments = {ref.symbol: ref for ref in market.instruments}
            refs = market.instruments
            pace = 1.0 if settings.paced else math.inf
        if settings.record is not None:
            self._recorder = TapeWriter(settings.record, self._source_name, time.time_ns())
            self._recorder.add_instruments(list(self._instruments.values()))
        self._link_down = False
        self.write_log(TD_CONNECTED)
        self.write_log(TD_LOGGED_IN)
        emitted = sum(self._publish_contract(ref) for ref in refs)
        self.write_log(TD_CONTRACTS)
        self.exchange.attach(self)
        self._venue_attached = True
        self.write_log(MD_LOGGED_IN)
        if not self._timer_registered:
            from vnpy.trader.event import EVENT_TIMER

            self.event_engine.register(EVENT_TIMER, self._on_timer)
            self._timer_registered = True
        self._feed = TickFeed(
            source=source,
            emit=self._emit,
            speed=pace,
            loop=settings.loop,
            log=self.write_log,
            name=f"{self.gateway_name}.feed",
            source_name=self._source_name,
            reported_speed=settings.speed,
            on_finished=lambda: self._feed_status("ended", f"replay of {Path(self._source_name).name} finished"),
            on_dropped=self._keep_latest,
        )
        self.write_log(f"connected to {self._source_name}: {emitted} contracts, speed {settings.speed:g}")
        self._feed.start()

    def close(self) -> None:
        """Stop the feed thread and wait for it, at most :data:`CLOSE_TIMEOUT_S`.

        Runs on the caller's thread (``MainEngine.close``). Idempotent.
        """
        self._venue_attached = False
        if self._timer_registered:
            from vnpy.trader.event import EVENT_TIMER

            self.event_engine.unregister(EVENT_TIMER, self._on_timer)
            self._timer_registered = False
        if self._feed is not None and not self._feed.stop(CLOSE_TIMEOUT_S):
            self.write_log(f"feed thread did not stop within {CLOSE_TIMEOUT_S:g} s")
        if self.exchange is not None:
            self.exchange.detach(self, CLOSE_TIMEOUT_S)
        if self._recorder is not None and (self._feed is None or not self._feed.is_alive()):
            self._recorder.write_rows(self._recorded, self._instruments)
            self._recorded = []
            self._recorder.close()
            self._recorder = None

    def disconnect_venue(self) -> None:
        """Simulate a lost connection to the venue, both fronts (any thread).

        As a CTP front that drops: the desk hears ``交易服务器连接断开`` and ``行情服务器连接断开``, ticks
        stop, the market-data subscriptions are forgotten (a new market-data session starts empty), orders
        are refused locally (``send_order`` returns ``""``) and queries raise. The venue lives on: orders
        already sent are answered and filled there, and the desk learns of it from the replay at
        :meth:`reconnect_venue`. Idempotent.
        """
        with self._link_lock:
            if self._link_down or self.exchange is None:
                return
            self._link_down = True
            self.venue_disconnects += 1
            self.exchange.cut(self)
            if self._feed is not None:
                self._feed.pause()
            self.subscriptions.clear()
        self.write_log(TD_DISCONNECTED.format(reason=DISCONNECT_REASON))
        self.write_log(MD_DISCONNECTED.format(reason=DISCONNECT_REASON))

    def reconnect_venue(self) -> None:
        """End a simulated venue disconnection as CTP reconnects (any thread).

        Logs in again (the CTP texts), sends every contract, writes ``合约信息查询成功``, then the venue
        replays the day's orders, trades and account (sim/exchange.py ``attach``: a new session), the
        market-data front logs in and ticks flow again. Idempotent.
        """
        with self._link_lock:
            if not self._link_down or self.exchange is None:
                return
            self.write_log(TD_CONNECTED)
            self.write_log(TD_LOGGED_IN)
            for symbol, known in list(self._known.items()):
                ref = self._instruments.get(symbol)
                if known is not None and ref is not None:
                    self.on_contract(contract_data(ref, known[0], self.gateway_name))
            self._link_down = False   # before the desk can hear it is ready and subscribe
            self.write_log(TD_CONTRACTS)
            self.exchange.attach(self)
            self.write_log(MD_LOGGED_IN)
            if self._feed is not None:
                self._feed.resume()

    @property
    def venue_connected(self) -> bool:
        """False between :meth:`disconnect_venue` and :meth:`reconnect_venue` (any thread)."""
        return not self._link_down

    def connection_state(self) -> str:
        """Return the venue connection as ``/metrics`` reports it (any thread).

        ``"connected"``: orders reach the venue and market data flows (or the tape ended);
        ``"marketDataDown"``: orders reach the venue, ticks are cut (:meth:`disconnect_feed`);
        ``"disconnected"``: not connected, or closed.
        """
        if not self._venue_attached or self._link_down:
            return "disconnected"
        return "marketDataDown" if self._feed is not None and self._feed.paused else "connected"

    def disconnect_feed(self) -> None:
        """Simulate a lost market-data connection: ticks stop, the market moves on (any thread)."""
        if self._feed is not None:
            self._feed.pause()
            self.write_log("market data disconnected (simulated)")
            self._feed_status("sourceDown", "market data disconnected (simulated)")

    def reconnect_feed(self) -> None:
        """End a simulated disconnection: ticks flow again from the current market (any thread)."""
        if self._feed is not None:
            self._feed.resume()
            self.write_log("market data reconnected (simulated)")
            self._feed_status("live", "market data reconnected")

    def _feed_status(self, state: str, reason: str) -> None:
        """Put an ``EVENT_FEED_STATUS`` event on vn.py's engine, behind the ticks already put (any thread)."""
        from schemas.venue_events import EVENT_FEED_STATUS, FeedStatus

        self.on_event(EVENT_FEED_STATUS, FeedStatus(state, f"venue {self.gateway_name} {reason}", time.time_ns(),
                                                    self.gateway_name))

    def burst(self, factor: float) -> None:
        """Multiply the tick rate by ``factor`` (1.0 ends a burst); any thread.

        The feed plays ``factor`` × faster from the next row: a replay's
        exchange time, or a synthetic market's virtual clock (its exchange
        stamps run ahead by ``factor - 1`` × the burst's length).

        Raises:
            ValueError: ``factor`` is not > 0.
        """
        if not factor > 0:
            raise ValueError(f"burst factor must be > 0, got {factor}")
        if self._feed is not None:
            self._feed.set_speed_factor(factor)

    @property
    def recorder(self) -> TapeWriter | None:
        """The tape this run's ticks are written to (``record`` setting), or None; others may add frames."""
        return self._recorder

    def set_clock_skew(self, skew_ns: int) -> None:
        """Shift the exchange timestamps of emitted ticks by ``skew_ns`` (0 ends the skew); any thread."""
        self._skew_ns = int(skew_ns)

    def watch_ticks(self, products: Iterable[str], after_ns: int) -> TickWatch:
        """Return a :class:`TickWatch` that notes the first tick of ``products`` emitted at or after ``after_ns``.

        Any thread. Costs the feed one attribute test per tick while no watch is open.
        """
        watch = TickWatch(frozenset(products), after_ns)
        with self._watch_lock:
            self._watches = (*self._watches, watch)
        return watch

    def clear_watches(self) -> None:
        """Forget every open watch (any thread)."""
        with self._watch_lock:
            self._watches = ()

    def _note_watches(self, product: str) -> None:
        """Close the watches a tick of ``product`` emitted now satisfies (feed thread)."""
        now_ns = time.time_ns()
        with self._watch_lock:
            for watch in self._watches:
                if now_ns >= watch.after_ns and (not watch.products or product in watch.products):
                    watch.first_ns = now_ns
            self._watches = tuple(w for w in self._watches if not w.first_ns)

    def progress(self) -> ReplayProgress:
        """Return the feed's progress; safe from any thread."""
        if self._feed is None:
            return ReplayProgress(0, 0.0, 0.0, 0, False, self._source_name)
        return self._feed.progress()

    def subscribe(self, req: SubscribeRequest) -> None:
        """Record a subscription and emit the contract's latest quote, as CTP answers one (caller's thread).

        The snapshot tick keeps the quote's exchange time (``datetime``) and cumulative volume, so it
        adds no trade; it is not sent to the venue's matching (sim/exchange.py has seen that row).
        Nothing while the venue is disconnected (the subscription is lost, as CTP's is), nor before the
        contract's first row. Every tick is emitted regardless of subscriptions.
        """
        if self._link_down:
            return
        self.subscriptions[req.vt_symbol] = req
        with self._emit_lock:
            row = self._latest.get(req.symbol)
            known = self._known.get(req.symbol) if row is not None else None
            if known is None or self._link_down:
                return
            self.snapshots_sent += 1
            self.on_tick(self._builder.tick(row, *known))

    def _keep_latest(self, row: ReplayTick) -> None:
        """Keep a row that came due while the feed is paused as its contract's latest quote (feed thread)."""
        if self._skew_ns:
            row = row._replace(ts_ns=row.ts_ns + self._skew_ns)
        self._latest[row.symbol] = row

    def send_order(self, req: OrderRequest) -> str:
        """Send an order to the venue; quick and non-blocking (the answer comes from its thread).

        The SUBMITTING ``OrderData`` (with ``req.reference``) is emitted before this returns.

        Returns:
            The vt_orderid, or ``""`` (vn.py's local reject) when not connected.
        """
        if self.exchange is None:
            self.write_log(f"order for {req.vt_symbol} not sent: not connected")
            return ""
        if self._link_down:
            self.write_log(ORDER_NOT_SENT.format(code=-1))
            return ""
        return self.exchange.send_order(self, req)

    def cancel_order(self, req: CancelRequest) -> None:
        """Ask the venue to cancel an order (answered after the order latency)."""
        if self.exchange is not None and not self._link_down:
            self.exchange.cancel_order(req)

    def query_order(self, vt_orderid: str = "", reference: str = "") -> OrderData | None:
        """Return the venue's current view of an order (by vt_orderid or reference), or None; any thread.

        Raises:
            SimNotConnectedError: not connected to a venue (no answer either way).
        """
        if self.exchange is None or self._link_down:
            raise SimNotConnectedError(self.gateway_name)
        return self.exchange.query_order(vt_orderid, reference)

    def query_account(self) -> None:
        """Emit the account data of this gateway's real account (balance, margin as frozen)."""
        if self.exchange is not None:
            self.exchange.query_account()

    def query_position(self) -> None:
        """Emit the position snapshot of this gateway's real account (one PositionData per contract traded)."""
        if self.exchange is not None and not self._link_down:
            self.exchange.query_position()

    def _on_timer(self, event: object) -> None:
        """Every :data:`SNAPSHOT_INTERVAL_S` (vn.py's 1 s timer), query the account or the positions in turn, as
        vnpy_ctp's ``process_timer_event`` does (vn.py's EventEngine thread)."""
        self._timer_count += 1
        if self._timer_count < SNAPSHOT_INTERVAL_S or self._link_down:
            return
        self._timer_count = 0
        self._snapshot_turn = not self._snapshot_turn
        try:
            (self.query_account if self._snapshot_turn else self.query_position)()
        except Exception as exc:  # noqa: BLE001 - an exception would kill vn.py's dispatcher thread for good
            self.write_log(f"snapshot query failed: {type(exc).__name__}: {exc}")

    def _publish_contract(self, ref: InstrumentRef) -> bool:
        """Emit a contract once and remember its exchange and name; False when vn.py cannot serve it."""
        exchange = exchange_of(ref.exchange)
        if exchange is None:
            self._known[ref.symbol] = None
            self.write_log(f"{ref.symbol}: exchange {ref.exchange!r} is not served; its ticks are skipped")
            return False
        self._known[ref.symbol] = (exchange, ref.name)
        contract = contract_data(ref, exchange, self.gateway_name)
        self.on_contract(contract)
        if self.exchange is not None:
            self.exchange.on_contract(contract)
        return True

    def _emit(self, row: ReplayTick) -> bool:
        """Emit one row as a tick, its contract first when new; runs on the feed thread."""
        known = self._known.get(row.symbol, _UNSEEN)
        if known is _UNSEEN:
            self._publish_contract(self._instruments.get(row.symbol) or _guess_instrument(row, self._instruments))
            known = self._known[row.symbol]
        if known is None:
            return False
        exchange, name = known  # type: ignore[misc]
        if self._skew_ns:
            row = row._replace(ts_ns=row.ts_ns + self._skew_ns)
        if self._recorder is not None:
            self._recorded.append(row)
            if len(self._recorded) >= RECORD_BATCH_ROWS:
                self._recorder.write_rows(self._recorded, self._instruments)
                self._recorded = []
        tick = self._builder.tick(row, exchange, name)
        if self._link_down:
            self._latest[row.symbol] = row
            return False
        if self._watches:
            self._note_watches(row.product)  # before the bridge can receive it: emission ≤ receipt
        with self._emit_lock:
            self._latest[row.symbol] = row
            self.on_tick(tick)
        if self.exchange is not None:
            self.exchange.on_tick(tick)
        return True


def _replay_source(settings: SimSettings) -> Callable[[], Iterable[ReplayTick]]:
    """Return a source for :class:`TickFeed` whose first pass was opened (and its first row read) now.

    Reading the header and first row at connect turns a bad file into an
    exception for the caller rather than a log line from the feed thread.
    Each pass reads the tape (CSV or .tape), cuts its long pauses
    (``max_gap_s``) and multiplexes it (``copies``, ``shift_s``).
    """
    path = settings.replay
    read = iter_tape_ticks if is_tape(path) else iter_ticks

    def one_pass() -> Iterable[ReplayTick]:
        rows: Iterable[ReplayTick] = read(path)
        if settings.max_gap_s is not None:
            rows = compress_gaps(rows, settings.max_gap_s)
        return multiplex(rows, settings.copies, settings.shift_s)

    first_pass = iter(one_pass())
    first_row = next(first_pass, None)
    passes = itertools.chain(
        [itertools.chain([first_row] if first_row is not None else [], first_pass)],
        (one_pass() for _ in itertools.count()),
    )
    return lambda: next(passes)


def _guess_instrument(row: ReplayTick, known: Mapping[str, InstrumentRef] | None = None) -> InstrumentRef:
    """Reference data for a symbol missing from the instruments file.

    A contract of the same product and class in the file gives the price tick and
    multiplier (a recording of another year names other expiries: T1612 takes
    T1712's 0.005 and 10,000); otherwise they are guessed from the first row (a
    guess from one price may be coarser than the contract's tick: 101.48 → 0.01).
    """
    product = row.product or derive_product(row.symbol)
    sibling = next((ref for ref in (known or {}).values()
                    if ref.product == product and ref.product_class == row.product_class), None)
    return InstrumentRef(
        symbol=row.symbol,
        exchange=row.exchange or (sibling.exchange if sibling else ""),
        product=product,
        product_class=row.product_class,
        price_tick=sibling.price_tick if sibling else guess_price_tick(row.last, row.bid, row.ask),
        multiplier=sibling.multiplier if sibling else 1.0,
        name=row.symbol,
    )


__all__ = ["CLOSE_TIMEOUT_S", "SYNTHETIC_SOURCE", "ReplayProgress", "SimGateway", "TickWatch"]
