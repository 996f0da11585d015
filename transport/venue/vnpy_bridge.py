"""The bridge from vn.py's gateways to the actors on the loop thread.

Its handlers are direct handlers of the desk's EventEngine (transport/venue/event_engine.py): the thread that
puts a tick, contract or feed status (a gateway's market data thread, the simulator's feed) calls them, so a tick
waits neither behind the queue of vn.py's one dispatcher thread nor for that thread to run; vn.py's own handlers
(its OmsEngine, the algo engine) still get every event from the dispatcher. On a plain vn.py ``EventEngine``
the dispatcher thread calls them, as below.

vn.py 4.5's EventEngine (measured): one dispatcher thread runs every handler, and an
exception in a handler kills that thread for good; one
``call_soon_threadsafe`` per event caps at 60–200k events/s while a deque
plus one pending-wakeup flag reaches 200–439k. So:

* each handler is wrapped by :func:`guarded` (an exception is logged and
  counted; the dispatcher lives on);
* ticks are conflated on the vn.py thread into a latest-per-``vt_symbol``
  map, stamped with the gateway receive time, and the loop is woken at most
  once per batch;
* on the loop, :meth:`VnpyBridge.drain` turns the batch into numpy columns,
  one ``TickBatch`` per touched group, and tells ``market/group/<group>``.

Clock skew (issue 14): each drain adds its ticks' ``venue receive − exchange
time`` to :attr:`VnpyBridge.clock_skew` per exchange (a rolling minimum, see
transport/latency.py); each TickBatch carries the skew of its group's exchange
(that of the group's first instrument: a watchlist spanning exchanges gets
one of them), so frames, ``/metrics`` and ``tickstage watch`` show it.

Drains are at least ``drain_interval_ms`` apart (default 5 ms), so a busy
group gets one TickBatch per interval rather than one per loop turn.

A drain routes its ticks in slices of at most ``drain_slice_ticks`` ticks' worth of work (issue 18),
whole product groups at a time: each slice sends the TickBatches of the groups it took and, while
ticks remain, the next slice runs on the next loop turn (``call_soon``), so an order reply or a socket
read queued meanwhile waits for one slice, not for the whole drain, and a group still gets one
TickBatch per drain. Ticks not yet routed stay conflated: a newer tick of a contract taken by a later
drain replaces its waiting one in place. A feed status goes out once no tick taken before it waits.
What waits between slices and what each slice takes: :class:`~transport.venue.drain_backlog.DrainBacklog`.

Venue liveness: a gateway that puts an ``EVENT_FEED_STATUS`` event (data: a
:class:`FeedStatus`; the simulator does on a disconnected or reconnected feed
and at the end of a replay, the venue connection on a dropped or restored
front) has it sent, after the ticks queued before it, as ``groupStatus``
(``sourceDown``, ``live``, ``ended``) to the groups of that gateway's contracts,
each group showing the worst of its gateways' states (transport/venue/feed_status.py).

Groups: one per exchange product (``rb``, ``IF``, ``m_o`` ... by ProductID),
created under ``market`` as contracts appear, plus watchlists from config
and users' own watchlist groups, edited at run time (transport/venue/watchlists.py).
"""

from __future__ import annotations

import asyncio
import functools
import math
import operator
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from actors import ActorRuntime, ChildSpec, encode_actor_message, spawn
from actors.errors import RuntimeStoppedError
from actors.market.frames import InstrumentInfo, encode_instruments_added, encode_tick_batch
from actors.market.group import GroupActor
from actors.market.l1 import L1Table
from actors.market.ticks import TICK_FIELDS, TICKS_PATH, encode_tick_detail, tick_row
from actors.paths import group_child, group_path
from schemas.venue_events import EVENT_FEED_STATUS, FeedStatus
from transport.latency import ExchangeClockSkew
from transport.venue.drain_backlog import DRAIN_SLICE_TICKS, TICK_BATCH_COST_TICKS, DrainBacklog
from transport.venue.feed_status import FeedStatusBook
from transport.venue.watchlists import WatchlistEdit, WatchlistGroups

if TYPE_CHECKING:
    from vnpy.event import EventEngine

_log = structlog.get_logger("transport.venue.vnpy_bridge")
_LEADING_LETTERS = re.compile(r"^[A-Za-z]+")
_EMPTY_GROUP_EXCHANGE = "NONE"
"""Subject token standing for the exchange of a group with no instruments (an emptied watchlist)."""
_DEPTH_OF = operator.attrgetter(*(f"{side}_{what}_{level}" for side, what in (
    ("bid", "price"), ("bid", "volume"), ("ask", "price"), ("ask", "volume")) for level in range(1, 6)))
"""vn.py TickData → its five levels (bid prices, bid volumes, ask prices, ask volumes; 0: no such level)."""
_FLOAT_COLUMNS = ("lastPrices", "bidPrices", "askPrices", "bidVolumesLots", "askVolumesLots",
                  "volumesLots", "openInterestsLots")


def _is_repeat(routes: list[tuple[Any, int]], exchange_ns: int, volume_lots: float) -> bool:
    """Return whether a tick repeats its contract's last one: the same exchange time and cumulative volume.

    A venue answers a (re)subscription with the contract's current quote (CTP: ``OnRtnDepthMarketData``
    right after ``SubscribeMarketData``; the simulator does the same), which the desk already showed
    before a disconnection when the contract did not trade since. It refreshes the group's row (its
    receive time says the feed is back) but is no new tick of the contract's detail history: a chart
    must not draw it as a trade. Compared with the row as of the last drain (loop thread).
    """
    group, index = routes[0]
    table = group.table
    if index >= table.size:
        return False
    columns = table.columns(("exchangeTsNs", "volumesLots"))   # views: the int64 stamp stays exact
    return int(columns["exchangeTsNs"][index]) >= exchange_ns and float(columns["volumesLots"][index]) == volume_lots


def guarded(handler: Callable[[Any], None], on_error: Callable[[BaseException], None]) -> Callable:
    """Wrap a vn.py event handler so an exception never reaches the EventEngine.

    Args:
        handler: ``handler(event)``, run on vn.py's dispatcher thread.
        on_error: called with the exception (log and count it).
    """

    @functools.wraps(handler)
    def wrapper(event: Any) -> None:
        try:
            handler(event)
        except Exception as exc:  # noqa: BLE001 - the dispatcher thread must survive
            on_error(exc)

    return wrapper


def product_of(contract: Any) -> str:
    """Return a contract's ProductID: ``extra["product"]``, the option portfolio, or its leading letters."""
    extra = getattr(contract, "extra", None) or {}
    if extra.get("product"):
        return str(extra["product"])
    portfolio = getattr(contract, "option_portfolio", None)
    if portfolio:
        return str(portfolio)
    match = _LEADING_LETTERS.match(contract.symbol)
    return match.group(0) if match else contract.symbol


def contract_terms(contract: Any) -> tuple[float, float, float, float]:
    """Return a ContractData's order and margin terms for :class:`~actors.orders.ports.Quote`.

    Returns:
        ``(min_volume, max_volume, long_margin_ratio, short_margin_ratio)``: lots (min 1 when
        not given), lots (0: none given), and 0..1 ratios from ``extra`` (0: none given;
        vn.py's ContractData has no margin field, the simulator passes CTP's ratios there).
    """
    extra = getattr(contract, "extra", None) or {}

    def number(value: Any, default: float) -> float:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return default
        return value if 0 < value < math.inf else default

    return (number(getattr(contract, "min_volume", 1), 1.0), number(getattr(contract, "max_volume", None), 0.0),
            number(extra.get("long_margin_ratio"), 0.0), number(extra.get("short_margin_ratio"), 0.0))


@dataclass
class _Group:
    name: str
    instruments: list[InstrumentInfo] = field(default_factory=list)
    table: L1Table = field(default_factory=L1Table)
    announced: int = 0          # instruments already sent to the group actor
    version: int = 0
    rows: list = field(default_factory=list)   # (index, floats..., ints...) of this drain
    seq: int = 0                # tick batches sent to the group actor (TickBatch.seq of the last)
    gateways: set = field(default_factory=set)   # vn.py gateway names of its contracts

    @property
    def path(self) -> str:
        return group_path(self.name)


@dataclass(frozen=True)
class BridgeStatistics:
    """Counters of the bridge.

    Attributes:
        ticks_in: ticks received from vn.py.
        ticks_conflated: ticks replaced by a newer one of the same contract before being routed.
        drains: loop wake-ups that drained a batch.
        drain_slices: loop turns that routed ticks of a drain (more than ``drains`` when drains were sliced).
        batches_sent: TickBatch messages sent to groups.
        contracts: contracts known.
        groups: groups created.
        handler_errors: exceptions caught in vn.py handlers.
    """

    ticks_in: int
    ticks_conflated: int
    drains: int
    batches_sent: int
    contracts: int
    groups: int
    handler_errors: int
    drain_slices: int


class VnpyBridge:
    """Conflates vn.py ticks and routes them to the group aggregators.

    Args:
        runtime: the actor runtime (its loop is the target of the wake-ups).
        watchlists: watchlist group name → vt_symbols (from the config file).
        group_args: extra context args for every GroupActor (window_ms, ...).
        drain_interval_ms: least time between two drains, ms.
        drain_slice_ticks: most work one loop turn of a drain does, in ticks, each group's TickBatch
            counted as :data:`TICK_BATCH_COST_TICKS` (:data:`DRAIN_SLICE_TICKS`); the rest of a drain
            follows on the next turns.
        sink: ``sink(group, exchange, payload)`` takes each group's
            InstrumentsAdded and TickBatch messages instead of a local
            GroupActor (a ``venue-host`` node publishes them on NATS,
            transport/cluster/nats_ticks.py); ``None``: GroupActors in this process.

    Raises:
        ValueError: ``drain_slice_ticks`` below 1.
    """

    def __init__(self, runtime: ActorRuntime, watchlists: Mapping[str, Iterable[str]] | None = None,
                 group_args: Mapping[str, Any] | None = None, drain_interval_ms: float = 5.0,
                 sink: Callable[[str, str, bytes], None] | None = None,
                 drain_slice_ticks: int = DRAIN_SLICE_TICKS) -> None:
        if drain_slice_ticks < 1:
            raise ValueError(f"drain_slice_ticks must be at least 1, got {drain_slice_ticks}")
        self.runtime = runtime
        self._sink = sink
        self.loop: asyncio.AbstractEventLoop = runtime.loop
        self._watchlists = {name: list(symbols) for name, symbols in (watchlists or {}).items()}
        self._group_args = dict(group_args or {})
        self._lock = threading.Lock()
        self._ticks: dict[str, tuple[Any, int]] = {}
        self._contracts: list[Any] = []
        self._wake_pending = False
        self._drain_interval_s = drain_interval_ms / 1000
        self._last_drain = 0.0
        self._slice_ticks = drain_slice_ticks
        self._backlog = DrainBacklog()
        """Ticks taken by a drain and not yet routed, and the feed statuses waiting for them (loop thread)."""
        self._slice_armed = False
        self._slices = 0
        self._groups: dict[str, _Group] = {}
        self._routes: dict[str, list[tuple[_Group, int]]] = {}
        self._terms: dict[str, tuple[float, float, float, float]] = {}
        """vt_symbol → (min_volume, max_volume, long_margin_ratio, short_margin_ratio) for :meth:`quote`."""
        self._ticks_in = self._conflated = self._drains = self._batches = self._errors = 0
        self.detail_symbols: set[str] = set()
        """Contracts whose every tick also goes to the ``ticks`` actor (actors/market/ticks.py fills it)."""
        self.group_listeners: list[Callable[[str], None]] = []
        """Called with a group's name right after its GroupActor is created (loop thread)."""
        self._feed_statuses: list[FeedStatus] = []
        self._exchanges: dict[str, str] = {}  # vt_symbol → exchange name
        self.clock_skew = ExchangeClockSkew()
        """Per exchange, venue receive − exchange time of recent ticks (loop thread)."""
        self.feed_status: FeedStatus | None = None
        """The last feed status any gateway reported (None: never reported, presumed live)."""
        self.feed_statuses = FeedStatusBook()
        """Each gateway's latest feed status; a group shows the worst of its gateways' (loop thread)."""
        self.watchlist_groups = WatchlistGroups(self._groups, self._routes, new_group=self._new_group,
                                                route=self._route, send_rows=self._send_rows)
        """Users' watchlist groups edited at run time (transport/venue/watchlists.py)."""

    # -- vn.py thread ------------------------------------------------------

    def handlers(self) -> dict[str, Callable]:
        """Return event type → guarded handler, to register on vn.py's EventEngine."""
        from vnpy.trader.event import EVENT_CONTRACT, EVENT_TICK

        return {
            EVENT_TICK: guarded(self.on_tick_event, self._handler_failed),
            EVENT_CONTRACT: guarded(self.on_contract_event, self._handler_failed),
            EVENT_FEED_STATUS: guarded(self.on_feed_status_event, self._handler_failed),
        }

    def attach(self, event_engine: EventEngine) -> None:
        """Register the guarded handlers on a vn.py EventEngine: as direct handlers on the desk's
        :class:`~transport.venue.event_engine.PromptEventEngine` (called on the gateway's thread as it puts each
        event, so a tick does not wait in vn.py's one dispatcher queue nor for its thread), else on vn.py's
        dispatcher thread."""
        register = getattr(event_engine, "register_direct", event_engine.register)
        for event_type, handler in self.handlers().items():
            register(event_type, handler)

    def on_tick_event(self, event: Any) -> None:
        """Conflate one TickData (the gateway's thread: a direct handler; or vn.py's dispatcher thread)."""
        tick = event.data
        key = tick.vt_symbol
        received_ns = time.time_ns()
        with self._lock:
            self._ticks_in += 1
            if key in self._ticks:
                self._conflated += 1
            self._ticks[key] = (tick, received_ns)
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            self._wake()

    def on_contract_event(self, event: Any) -> None:
        """Queue one ContractData (the thread that put it)."""
        with self._lock:
            self._contracts.append(event.data)
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            self._wake()

    def on_feed_status_event(self, event: Any) -> None:
        """Queue a FeedStatus; it reaches the groups after the ticks drained with it (the thread that put it)."""
        status = event.data
        if not isinstance(status, FeedStatus):
            return
        with self._lock:
            self._feed_statuses.append(status)
            wake = not self._wake_pending
            self._wake_pending = True
        if wake:
            self._wake()

    def _wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._arm_drain)
        except RuntimeError:  # loop closed: the desk is shutting down
            pass

    def _arm_drain(self) -> None:
        """Drain now, or once ``drain_interval_ms`` has passed since the last drain (loop thread).

        Spacing drains lets each group's TickBatch carry more ticks: the
        per-message cost, not the per-tick cost, dominates (perf/bench_pipeline.py).
        """
        delay = self._last_drain + self._drain_interval_s - self.loop.time()
        if delay > 0:
            self.loop.call_later(delay, self.drain)
        else:
            self.drain()

    def _handler_failed(self, exc: BaseException) -> None:
        self._errors += 1
        _log.error("vnpy_handler_failed", error_type=type(exc).__name__, exc_info=exc)

    # -- loop thread ---------------------------------------------------------

    def drain(self) -> None:
        """Take everything vn.py sent since the last drain and route its first slice (loop thread); nothing
        once the runtime is shut down (the desk is stopping: a drain armed by vn.py's last events still
        runs, and would raise)."""
        try:
            self._drain()
        except RuntimeStoppedError:
            pass

    def _drain(self) -> None:
        market = self.runtime.registry.get("market")
        if market is None or market.instance is None:
            self.loop.call_later(0.01, self.drain)  # the tree is still starting
            return
        with self._lock:
            ticks, self._ticks = self._ticks, {}
            contracts, self._contracts = self._contracts, []
            statuses, self._feed_statuses = self._feed_statuses, []
            self._wake_pending = False
        self._drains += 1
        self._last_drain = self.loop.time()
        for contract in contracts:   # before the ticks: a tick of a new contract takes its ContractData's terms
            self._add_contract(contract)
        backlog = self._backlog
        drain = self._drains
        for vt_symbol, (tick, received_ns) in ticks.items():
            routes = self._routes.get(vt_symbol)
            if routes is None:
                routes = self._add_contract(tick)
            # by its product group (watchlist routes follow it); a waiting tick replaced in place is routed once
            if backlog.add(routes[0][0].name, vt_symbol, tick, received_ns, drain):
                self._conflated += 1
        backlog.add_statuses(drain, statuses)
        if contracts:
            for group in self._groups.values():
                self._flush_group(group)    # instruments added before any of their ticks
        self._route_slice()

    def _next_slice(self) -> None:
        """Route the next slice of a drain (loop thread, a ``call_soon`` callback)."""
        self._slice_armed = False
        try:
            self._route_slice()
        except RuntimeStoppedError:
            pass

    def _route_slice(self) -> None:
        """Route one slice of the waiting ticks, flush the groups they touched, announce the feed statuses
        now due, and arm the next slice while ticks remain (loop thread).

        A slice costs at most ``drain_slice_ticks`` ticks' worth of work and takes whole product groups
        (:meth:`~transport.venue.drain_backlog.DrainBacklog.take_slice`).
        """
        backlog = self._backlog
        taken = backlog.take_slice(self._slice_ticks)
        if taken:
            self._slices += 1
        watched = self.detail_symbols
        offsets: dict[str, list[int]] = {}  # exchange → recv − exch of this slice's ticks, ns
        touched: dict[str, _Group] = {}
        for vt_symbol, (tick, received_ns, _) in taken:
            routes = self._routes[vt_symbol]
            exchange_ns = int(tick.datetime.timestamp() * 1e9)
            exchange = self._exchanges[vt_symbol]
            if exchange in offsets:
                offsets[exchange].append(received_ns - exchange_ns)
            else:
                offsets[exchange] = [received_ns - exchange_ns]
            row = (tick.last_price, tick.bid_price_1, tick.ask_price_1, tick.bid_volume_1,
                   tick.ask_volume_1, tick.volume, tick.open_interest, exchange_ns, received_ns)
            if watched and vt_symbol in watched and not _is_repeat(routes, exchange_ns, tick.volume):
                self.runtime.tell_path(TICKS_PATH, encode_tick_detail(vt_symbol, [tick_row(row, _DEPTH_OF(tick))]))
            for group, index in routes:
                group.rows.append((index, row))
                touched[group.name] = group
        for exchange, values in offsets.items():
            self.clock_skew.observe(exchange, values)
        for group in touched.values():
            self._flush_group(group)
        for status in backlog.take_due_statuses():   # no tick taken by its drain or an earlier one waits
            self._announce_feed_status(status)
        if backlog and not self._slice_armed:
            self._slice_armed = True
            self.loop.call_soon(self._next_slice)
        self.runtime.schedule()

    def _announce_feed_status(self, status: FeedStatus) -> None:
        """Tell each local group of the reporting gateway the worst feed state of its contracts' gateways (loop thread).

        Per gateway (transport/venue/feed_status.py): a group of contracts on a gateway that is fine stays
        live while another gateway is down, and a down group's reason names its gateway.
        """
        self.feed_status = status
        self.feed_statuses.note(status)
        _log.info("feed_status_changed", state=status.state, reason=status.reason, gateway=status.gateway_name)
        # on a venue-host the sink carries it to the aggregators, in order with the group's batches (a dead
        # venue-host itself they learn of from its silence: transport/cluster/nats_ticks.py)
        for group in self._groups.values():
            if status.gateway_name and group.gateways and status.gateway_name not in group.gateways:
                continue   # another gateway's feed: this group's state did not change
            shown = self.feed_statuses.of_group(group.gateways)
            if shown is None:
                continue
            self._route(group, encode_actor_message("groupStatus", {
                "group": "", "state": shown.state, "reason": shown.reason, "sinceTsNs": shown.ts_ns},
                source="gateway"))

    def update_watchlist(self, group_name: str, add: Iterable[str], remove: Iterable[str]) -> WatchlistEdit:
        """Edit a user's watchlist group (loop thread): :meth:`WatchlistGroups.update`, whose errors it raises."""
        return self.watchlist_groups.update(group_name, add, remove)

    def watchlist_members(self, group_name: str) -> list[str]:
        """Return a group's vt_symbols in row order (``[]`` for an unknown group)."""
        return self.watchlist_groups.members(group_name)

    def knows(self, vt_symbol: str) -> bool:
        """Return whether the gateway has seen this contract (loop thread)."""
        return vt_symbol in self._routes

    def group_of(self, vt_symbol: str) -> str | None:
        """Return the contract's product group (``"rb"``), or None for an unknown contract."""
        routes = self._routes.get(vt_symbol)
        return routes[0][0].name if routes else None

    def latest_row(self, vt_symbol: str) -> tuple | None:
        """Return the contract's latest tick as a ``TICK_FIELDS`` tuple, or None before its first tick.

        Its depth is not kept here (the ``ticks`` actor marks levels 2..5 unknown).
        """
        routes = self._routes.get(vt_symbol)
        if not routes:
            return None
        group, index = routes[0]
        row = tuple(group.table.value(name, index) for name in TICK_FIELDS)
        if row[-1] == 0:  # gatewayRecvTsNs: never ticked
            return None
        return row[:-2] + (int(row[-2]), int(row[-1]))

    def _add_contract(self, contract: Any) -> list[tuple[_Group, int]]:
        vt_symbol = contract.vt_symbol
        if vt_symbol in self._routes:
            return self._routes[vt_symbol]
        exchange = getattr(contract.exchange, "name", str(contract.exchange))
        option_type = getattr(contract, "option_type", None)
        product_class = "O" if option_type else "F"
        expiry = getattr(contract, "option_expiry", None) if option_type else None
        info = InstrumentInfo(
            vt_symbol=vt_symbol, symbol=contract.symbol, exchange=exchange,
            product=product_of(contract), product_class=product_class,
            price_tick=float(getattr(contract, "pricetick", 0.0) or 0.0),
            multiplier=float(getattr(contract, "size", 0.0) or 0.0),
            name=getattr(contract, "name", "") or "",
            option_strike=float(getattr(contract, "option_strike", 0.0) or 0.0) if option_type else 0.0,
            option_expiry_ts_ns=int(expiry.timestamp() * 1_000_000_000) if expiry is not None else 0,
            option_type=("call" if getattr(option_type, "name", str(option_type)) == "CALL" else "put")
            if option_type else "",
            option_underlying=(getattr(contract, "option_underlying", "") or "") if option_type else "",
        )
        self._terms[vt_symbol] = contract_terms(contract)
        self._exchanges[vt_symbol] = exchange
        names = [info.product] + [w for w, symbols in self._watchlists.items() if vt_symbol in symbols]
        routes = []
        for name in names:
            group = self._groups.get(name) or self._new_group(name)
            group.instruments.append(info)
            group.table.resize(len(group.instruments))
            routes.append((group, len(group.instruments) - 1))
            gateway_name = getattr(contract, "gateway_name", "") or ""
            if gateway_name:
                group.gateways.add(gateway_name)
        self._routes[vt_symbol] = routes
        return routes

    def _new_group(self, name: str) -> _Group:
        group = _Group(name)
        self._groups[name] = group
        if self._sink is not None:
            return group
        spawn(self.runtime, "market", ChildSpec(group_child(name), GroupActor, {"group": name, **self._group_args}))
        for listener in self.group_listeners:
            listener(name)
        return group

    def _flush_group(self, group: _Group) -> None:
        if group.announced < len(group.instruments):
            group.version += 1
            self._route(group, encode_instruments_added(
                group=group.name, version=group.version, first_index=group.announced,
                instruments=group.instruments[group.announced:], source="gateway"))
            group.announced = len(group.instruments)
        if not group.rows:
            return
        rows, group.rows = group.rows, []
        columns = _columns(rows)
        group.table.apply(columns)
        self._send_rows(group, columns)

    def _send_rows(self, group: _Group, columns: Mapping[str, np.ndarray]) -> None:
        """Send L1 rows to a group as its next TickBatch (``seq`` + 1)."""
        self._batches += 1
        group.seq += 1
        self._route(group, encode_tick_batch(group.name, columns, seq=group.seq,
                                             exchange_skew_ns=self._skew_of(group)))

    def _skew_of(self, group: _Group) -> int:
        """The clock skew of the group's exchange (its first instrument's), ns (0: none measured)."""
        return self.clock_skew.skew_ns(group.instruments[0].exchange) if group.instruments else 0

    def _route(self, group: _Group, payload: bytes) -> None:
        if self._sink is None:
            self.runtime.tell_path(group.path, payload)
        else:
            self._sink(group.name, group.instruments[0].exchange if group.instruments else _EMPTY_GROUP_EXCHANGE,
                       payload)

    def resync_messages(self, group_name: str) -> list[bytes]:
        """Return the messages that rebuild a restarted group: all instruments, then all rows."""
        group = self._groups.get(group_name)
        if group is None:
            return []
        messages = [encode_instruments_added(group=group.name, version=group.version, first_index=0,
                                             instruments=group.instruments, source="gateway")]
        rows = group.table.peek_all()
        seen = rows["gatewayRecvTsNs"] != 0
        messages.append(encode_tick_batch(group.name, {k: v[seen] for k, v in rows.items()}, seq=group.seq,
                                          exchange_skew_ns=self._skew_of(group)))
        return messages

    def quote(self, vt_symbol: str):
        """Return the contract's reference data and latest last price (the order path's market port).

        Returns:
            :class:`actors.orders.ports.Quote` (group = its exchange product; best bid and ask), or
            ``None`` for a contract not seen. The prices are those of the contract's newest tick taken by a
            drain, also while it waits for a later slice (an order checked between slices sees it).
            Loop thread; a memory read.
        """
        from actors.orders.ports import Quote

        routes = self._routes.get(vt_symbol)
        if not routes:
            return None
        group, index = routes[0]
        info = group.instruments[index]
        tick = self._backlog.waiting(group.name, vt_symbol)
        if tick is not None:   # its newest tick waits for a later slice of a drain: quote that one
            last, bid, ask = tick.last_price, tick.bid_price_1, tick.ask_price_1
        else:
            table = group.table
            last, bid, ask = (table.value(name, index) for name in ("lastPrices", "bidPrices", "askPrices"))
        return Quote(vt_symbol, info.product, info.price_tick, info.multiplier, last,
                     *self._terms.get(vt_symbol, (1.0, 0.0, 0.0, 0.0)), bid_price=bid, ask_price=ask)

    def group_exchange(self, group_name: str) -> str:
        """Return the exchange of a group's first instrument (``""``: unknown group, ``"NONE"``: empty group)."""
        group = self._groups.get(group_name)
        if group is None:
            return ""
        return group.instruments[0].exchange if group.instruments else _EMPTY_GROUP_EXCHANGE

    def groups(self) -> dict[str, int]:
        """Return group name → number of instruments."""
        return {name: len(group.instruments) for name, group in self._groups.items()}

    def statistics(self) -> BridgeStatistics:
        """Return the bridge's counters now."""
        return BridgeStatistics(self._ticks_in, self._conflated, self._drains, self._batches,
                                len(self._routes), len(self._groups), self._errors, self._slices)

    def statistics_dict(self) -> dict[str, int]:
        """Return :meth:`statistics` as a plain dict (admin API, actor statistics)."""
        return dict(self.statistics().__dict__)


def _columns(rows: list) -> dict[str, np.ndarray]:
    indexes = np.fromiter((r[0] for r in rows), dtype=np.uint32, count=len(rows))
    values = np.array([r[1] for r in rows], dtype=np.float64)
    stamps = np.array([r[1][7:] for r in rows], dtype=np.int64)
    columns = {"indexes": indexes}
    for i, name in enumerate(_FLOAT_COLUMNS):
        columns[name] = values[:, i]
    columns["exchangeTsNs"] = stamps[:, 0]
    columns["gatewayRecvTsNs"] = stamps[:, 1]
    return columns


__all__ = ["DRAIN_SLICE_TICKS", "TICK_BATCH_COST_TICKS", "BridgeStatistics", "VnpyBridge", "contract_terms",
           "guarded", "product_of"]
