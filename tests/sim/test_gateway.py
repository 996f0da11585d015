"""SimGateway under a real vn.py EventEngine and MainEngine (sim.gateway)."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from vnpy.event import Event, EventEngine
from vnpy.trader.constant import Direction, Exchange, Offset, OrderType, Product
from vnpy.trader.engine import MainEngine
from vnpy.trader.event import EVENT_CONTRACT, EVENT_LOG, EVENT_TICK
from vnpy.trader.object import ContractData, OrderRequest, SubscribeRequest, TickData

from sim.errors import ReplayFormatError, SimSettingError
from sim.gateway import SimGateway
from sim.replay import EXCHANGE_TZ, iter_ticks
from transport.venue.vnpy_home import restoring_cwd

SLICE = "cn_futopt_l1_20171113_0900-1000.csv.gz"
WAIT_S = 5.0
L1_HEADER = (
    "TradingDay,ActionDay,UpdateTime,UpdateMillisec,ExchangeID,InstrumentID,ProductID,ProductClass,"
    "LastPrice,Volume,OpenInterest,BidPrice1,BidVolume1,AskPrice1,AskVolume1,InSession"
)


def _row(time: str, symbol: str = "zz1801", price: float = 100.5, volume: int = 1) -> str:
    return f"20171113,20171113,{time},0,SHFE,{symbol},zz,F,{price},{volume},10,{price - 0.5},1,{price},2,True"


def _tape(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([L1_HEADER, *rows]) + "\n", encoding="utf-8")
    return path


class Recorder:
    """Collect contract, tick and log events in arrival order; signal when a condition holds.

    Handlers run on the event engine's dispatcher thread and never raise
    (an exception there would kill vn.py's dispatcher for good).
    """

    def __init__(self, event_engine: EventEngine) -> None:
        self.events: list[tuple[str, object]] = []
        self.contracts: dict[str, ContractData] = {}
        self.ticks: list[TickData] = []
        self.tick_counts: Counter[str] = Counter()
        self.logs: list[str] = []
        self.ticks_before_contract = 0
        self._condition: Callable[[Recorder], bool] = lambda recorder: False
        self._met = threading.Event()
        self._lock = threading.Lock()
        event_engine.register(EVENT_CONTRACT, self._on_contract)
        event_engine.register(EVENT_TICK, self._on_tick)
        event_engine.register(EVENT_LOG, self._on_log)

    def wait_for(self, condition: Callable[[Recorder], bool], timeout_s: float = WAIT_S) -> bool:
        """Wait until ``condition(self)`` holds after some event, at most ``timeout_s``.

        Also checked every 50 ms: a condition on the gateway's own state (``progress().done``) may turn
        true after the last event, on the feed thread.
        """
        with self._lock:
            self._met.clear()
            self._condition = condition
        for _ in range(max(1, int(timeout_s / 0.05))):
            with self._lock:
                if condition(self):
                    return True
            if self._met.wait(0.05):
                return True
        return False

    def _check(self) -> None:
        with self._lock:
            try:
                if self._condition(self):
                    self._met.set()
            except Exception:  # a failing condition must not kill the dispatcher
                self._met.set()

    def _on_contract(self, event: Event) -> None:
        self.contracts[event.data.vt_symbol] = event.data
        self.events.append(("contract", event.data))
        self._check()

    def _on_tick(self, event: Event) -> None:
        if event.data.vt_symbol not in self.contracts:
            self.ticks_before_contract += 1
        self.ticks.append(event.data)
        self.tick_counts[event.data.vt_symbol] += 1
        self.events.append(("tick", event.data))
        self._check()

    def _on_log(self, event: Event) -> None:
        self.logs.append(event.data.msg)
        self._check()


@pytest.fixture
def engine() -> Iterator[tuple[MainEngine, SimGateway, Recorder]]:
    """A real MainEngine with SimGateway added and a recorder on its events; closed afterwards."""
    event_engine = EventEngine()
    with restoring_cwd():
        main_engine = MainEngine(event_engine)
    try:
        gateway = main_engine.add_gateway(SimGateway)
        assert isinstance(gateway, SimGateway)
        yield main_engine, gateway, Recorder(event_engine)
    finally:
        main_engine.close()


def _feed_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "SIM.feed"]


def test_connect_when_replaying_slice_at_max_speed_then_rb1801_ticks_carry_recorded_prices(
    engine: tuple[MainEngine, SimGateway, Recorder], data_dir: Path
) -> None:
    """At speed 0 the first 50 rb1801.SHFE ticks carry the tape's prices, volumes and times."""
    main_engine, _, recorder = engine
    expected = list(itertools.islice((t for t in iter_ticks(data_dir / SLICE) if t.symbol == "rb1801"), 50))
    main_engine.connect({"replay": str(data_dir / SLICE), "speed": 0}, "SIM")

    assert recorder.wait_for(lambda r: r.tick_counts["rb1801.SHFE"] >= 50, 30)
    got = [t for t in recorder.ticks if t.vt_symbol == "rb1801.SHFE"][:50]
    assert [(t.last_price, t.bid_price_1, t.ask_price_1, t.bid_volume_1, t.ask_volume_1) for t in got] == [
        (e.last, e.bid, e.ask, e.bid_volume, e.ask_volume) for e in expected
    ]
    assert [(t.volume, t.open_interest) for t in got] == [(e.volume, e.open_interest) for e in expected]
    assert [round(t.datetime.timestamp() * 1000) * 1_000_000 for t in got] == [e.ts_ns for e in expected]
    first = got[0]
    assert first.datetime.tzinfo == EXCHANGE_TZ
    assert (first.exchange, first.gateway_name, first.name, first.localtime) == (Exchange.SHFE, "SIM", "rb1801", None)


def test_connect_when_replaying_then_every_tick_follows_its_contract(
    engine: tuple[MainEngine, SimGateway, Recorder], data_dir: Path
) -> None:
    """The instruments file's 429 contracts come first; no tick precedes its contract."""
    main_engine, _, recorder = engine
    main_engine.connect({"replay": str(data_dir / SLICE), "speed": 0}, "SIM")

    assert recorder.wait_for(lambda r: len(r.ticks) >= 5000, 30)
    kinds = [kind for kind, _ in recorder.events]
    assert kinds[:429] == ["contract"] * 429
    assert recorder.ticks_before_contract == 0
    rb = recorder.contracts["rb1801.SHFE"]
    assert (rb.pricetick, rb.size, rb.product) == (1.0, 10.0, Product.FUTURES)
    assert main_engine.get_contract("rb1801.SHFE") is not None


def test_connect_when_option_in_instruments_then_contract_carries_strike_and_right(
    engine: tuple[MainEngine, SimGateway, Recorder], data_dir: Path
) -> None:
    """SR801C6400 becomes an option contract with strike 6400, a call on SR801.CZCE."""
    main_engine, _, recorder = engine
    main_engine.connect({"replay": str(data_dir / SLICE), "speed": 0}, "SIM")

    assert recorder.wait_for(lambda r: "SR801C6400.CZCE" in r.contracts)
    option = recorder.contracts["SR801C6400.CZCE"]
    assert (option.product, option.option_strike, option.option_underlying) == (Product.OPTION, 6400.0, "SR801.CZCE")


def test_connect_when_symbol_missing_from_instruments_then_its_contract_precedes_its_first_tick(
    engine: tuple[MainEngine, SimGateway, Recorder], tmp_path: Path
) -> None:
    """A symbol no instruments file names gets a contract, tick guessed from its prices, before its tick."""
    main_engine, gateway, recorder = engine
    tape = _tape(tmp_path / "tape.csv", _row("09:00:00"), _row("09:00:01", price=101.0, volume=2))
    main_engine.connect({"replay": str(tape), "speed": 0}, "SIM")

    assert recorder.wait_for(lambda r: len(r.ticks) == 2)
    assert [kind for kind, _ in recorder.events] == ["contract", "tick", "tick"]
    assert recorder.contracts["zz1801.SHFE"].pricetick == 0.5
    assert recorder.wait_for(lambda r: gateway.progress().done)


def test_connect_when_tape_ends_then_progress_is_done_and_a_log_says_so(
    engine: tuple[MainEngine, SimGateway, Recorder], tmp_path: Path
) -> None:
    """After the last row the feed logs the end and progress reports every row and done."""
    main_engine, gateway, recorder = engine
    tape = _tape(tmp_path / "tape.csv", *(_row(f"09:00:0{i}", volume=i + 1) for i in range(5)))
    main_engine.connect({"replay": str(tape), "speed": 0}, "SIM")

    assert recorder.wait_for(lambda r: any("replay finished" in line for line in r.logs))
    progress = gateway.progress()
    assert (progress.rows_emitted, progress.done, progress.source, progress.error) == (5, True, str(tape), "")
    assert progress.exchange_time_ns == next(iter_ticks(tape)).ts_ns + 4_000_000_000


def test_connect_when_paced_then_ticks_arrive_in_exchange_time_order(
    engine: tuple[MainEngine, SimGateway, Recorder], tmp_path: Path
) -> None:
    """At 100x, rows one exchange second apart are waited for and arrive in order."""
    main_engine, gateway, recorder = engine
    tape = _tape(tmp_path / "tape.csv", *(_row(f"09:00:0{i}", volume=i + 1) for i in range(6)))
    main_engine.connect({"replay": str(tape), "speed": 100.0}, "SIM")

    assert recorder.wait_for(lambda r: len(r.ticks) == 6)
    assert [t.volume for t in recorder.ticks] == [1, 2, 3, 4, 5, 6]
    assert gateway.progress().speed == 100.0


def test_connect_when_loop_then_tape_restarts_from_the_beginning(
    engine: tuple[MainEngine, SimGateway, Recorder], tmp_path: Path
) -> None:
    """With loop on, a three-row tape is played again and again."""
    main_engine, _, recorder = engine
    tape = _tape(tmp_path / "tape.csv", *(_row(f"09:00:0{i}", volume=i + 1) for i in range(3)))
    main_engine.connect({"replay": str(tape), "speed": 0, "loop": True}, "SIM")

    assert recorder.wait_for(lambda r: len(r.ticks) >= 9)
    assert [t.volume for t in recorder.ticks[:9]] == [1, 2, 3] * 3


def test_close_when_feed_waits_for_a_distant_row_then_thread_stops_and_progress_is_done(
    engine: tuple[MainEngine, SimGateway, Recorder], tmp_path: Path
) -> None:
    """A feed waiting an exchange hour for its next row is woken by close() and its thread ends."""
    main_engine, gateway, recorder = engine
    tape = _tape(tmp_path / "tape.csv", _row("09:00:00"), _row("10:00:00"))
    main_engine.connect({"replay": str(tape), "speed": 1.0}, "SIM")

    assert recorder.wait_for(lambda r: len(r.ticks) == 1)
    assert len(_feed_threads()) == 1
    gateway.close()
    assert _feed_threads() == []
    assert gateway.progress().done
    assert gateway.progress().rows_emitted == 1


def test_connect_when_synthetic_then_contracts_precede_ticks_with_bid_below_ask(
    engine: tuple[MainEngine, SimGateway, Recorder],
) -> None:
    """An empty replay setting synthesizes: 50 contracts, then ticks of those contracts only."""
    main_engine, gateway, recorder = engine
    main_engine.connect({"replay": "", "contracts": 50, "rate": 5000.0, "speed": 0}, "SIM")

    assert recorder.wait_for(lambda r: len(r.ticks) >= 2000)
    assert [kind for kind, _ in recorder.events[:50]] == ["contract"] * 50
    assert len(recorder.contracts) == 50
    assert recorder.ticks_before_contract == 0
    assert all(0 < t.bid_price_1 < t.ask_price_1 for t in recorder.ticks[:2000])
    assert gateway.progress().source == "synthetic"


def test_connect_when_already_connected_then_logs_and_keeps_one_feed(
    engine: tuple[MainEngine, SimGateway, Recorder], tmp_path: Path
) -> None:
    """A second connect while the feed runs is refused with a log line; one feed thread remains."""
    main_engine, _, recorder = engine
    tape = _tape(tmp_path / "tape.csv", _row("09:00:00"), _row("10:00:00"))
    main_engine.connect({"replay": str(tape), "speed": 1.0}, "SIM")
    assert recorder.wait_for(lambda r: len(r.ticks) == 1)
    main_engine.connect({"replay": str(tape), "speed": 1.0}, "SIM")

    assert recorder.wait_for(lambda r: any("already connected" in line for line in r.logs))
    assert len(_feed_threads()) == 1


@pytest.mark.parametrize(
    ("setting", "key"),
    [({"speed": -1.0}, "speed"), ({"contracts": 0}, "contracts"), ({"replay": "/no/such.csv"}, "replay")],
)
def test_connect_when_setting_invalid_then_raises_sim_setting_error(
    engine: tuple[MainEngine, SimGateway, Recorder], setting: dict, key: str
) -> None:
    """A negative speed, no contracts or a missing file fail at connect, naming the key."""
    main_engine, _, _ = engine
    with pytest.raises(SimSettingError) as caught:
        main_engine.connect(setting, "SIM")
    assert caught.value.key == key
    assert _feed_threads() == []


def test_connect_when_replay_header_is_bad_then_raises_before_any_contract(
    engine: tuple[MainEngine, SimGateway, Recorder], tmp_path: Path
) -> None:
    """A tape with a broken header fails in connect, on the caller's thread."""
    main_engine, _, _ = engine
    tape = tmp_path / "bad.csv"
    tape.write_text("Nope,Header\n1,2\n", encoding="utf-8")
    with pytest.raises(ReplayFormatError) as caught:
        main_engine.connect({"replay": str(tape)}, "SIM")
    assert caught.value.line == 1


def test_feed_when_a_later_row_is_bad_then_progress_reports_the_error(
    engine: tuple[MainEngine, SimGateway, Recorder], tmp_path: Path
) -> None:
    """A bad row mid-tape stops the feed; progress names the error and a log line says so."""
    main_engine, gateway, recorder = engine
    tape = _tape(tmp_path / "tape.csv", _row("09:00:00"), _row("09:00:01").replace("100.5,", "oops,", 1))
    main_engine.connect({"replay": str(tape), "speed": 0}, "SIM")

    assert recorder.wait_for(lambda r: any("stopped by an error" in line for line in r.logs))
    progress = gateway.progress()
    assert progress.done and progress.error.startswith("ReplayFormatError")


def test_send_order_when_not_connected_then_returns_empty_id_and_logs_why(
    engine: tuple[MainEngine, SimGateway, Recorder],
) -> None:
    """Before connect there is no venue: the order is refused locally ("") with a log line."""
    _, gateway, recorder = engine
    request = OrderRequest("rb1801", Exchange.SHFE, Direction.LONG, OrderType.LIMIT, 1, 3800.0, Offset.OPEN)
    assert gateway.send_order(request) == ""
    assert recorder.wait_for(lambda r: any("not connected" in line for line in r.logs))


def test_subscribe_then_request_is_recorded(engine: tuple[MainEngine, SimGateway, Recorder]) -> None:
    """subscribe() keeps the request by vt_symbol."""
    _, gateway, _ = engine
    gateway.subscribe(SubscribeRequest("rb1801", Exchange.SHFE))
    assert "rb1801.SHFE" in gateway.subscriptions


def test_subscribe_when_contract_quoted_then_its_latest_quote_is_emitted_with_its_exchange_time(
    engine: tuple[MainEngine, SimGateway, Recorder], tmp_path: Path
) -> None:
    """As CTP answers SubscribeMarketData with a depth snapshot: one tick repeating the latest quote, its exchange
    time and cumulative volume unchanged (no trade added); a contract never quoted gets nothing."""
    main_engine, gateway, recorder = engine
    tape = _tape(tmp_path / "tape.csv", _row("09:00:00"), _row("09:00:01", price=101.0, volume=2))
    main_engine.connect({"replay": str(tape), "speed": 0}, "SIM")
    assert recorder.wait_for(lambda r: len(r.ticks) == 2 and gateway.progress().done)
    last = recorder.ticks[-1]

    gateway.subscribe(SubscribeRequest("zz1801", Exchange.SHFE))
    gateway.subscribe(SubscribeRequest("zz1805", Exchange.SHFE))   # never quoted
    assert recorder.wait_for(lambda r: len(r.ticks) == 3)
    snapshot = recorder.ticks[-1]
    assert (snapshot.vt_symbol, snapshot.datetime, snapshot.volume, snapshot.last_price, snapshot.bid_price_1,
            snapshot.ask_price_1) == (last.vt_symbol, last.datetime, 2, 101.0, 100.5, 101.0)
    assert gateway.snapshots_sent == 1 and set(gateway.subscriptions) == {"zz1801.SHFE", "zz1805.SHFE"}


def test_subscribe_when_venue_disconnected_then_nothing_recorded_or_emitted(
    engine: tuple[MainEngine, SimGateway, Recorder], tmp_path: Path
) -> None:
    """While the venue is down a subscription is lost (as CTP's) and no snapshot is sent."""
    main_engine, gateway, recorder = engine
    tape = _tape(tmp_path / "tape.csv", _row("09:00:00"))
    main_engine.connect({"replay": str(tape), "speed": 0}, "SIM")
    assert recorder.wait_for(lambda r: len(r.ticks) == 1 and gateway.progress().done)
    gateway.disconnect_venue()
    gateway.subscribe(SubscribeRequest("zz1801", Exchange.SHFE))
    assert gateway.subscriptions == {} and gateway.snapshots_sent == 0


def test_progress_when_never_connected_then_reports_nothing_emitted(
    engine: tuple[MainEngine, SimGateway, Recorder],
) -> None:
    """Before connect, progress reports zero rows and not done."""
    _, gateway, _ = engine
    progress = gateway.progress()
    assert (progress.rows_emitted, progress.done) == (0, False)


def test_venue_disconnect_when_orders_in_flight_then_answered_unheard_and_replayed_at_reconnect(
        engine: tuple[MainEngine, SimGateway, Recorder]) -> None:
    """As a dropped CTP front: the CTP texts in order, orders refused locally and queries raising while down,
    subscriptions forgotten; the venue answers an order in flight meanwhile and replays it at the reconnect, after
    ``合约信息查询成功``; a position snapshot follows on query."""
    from vnpy.trader.event import EVENT_ORDER, EVENT_POSITION

    from sim.errors import SimNotConnectedError
    from sim.gateway import TD_CONTRACTS, TD_LOGGED_IN

    main_engine, gateway, recorder = engine
    orders, positions = [], []
    main_engine.event_engine.register(EVENT_ORDER, lambda event: orders.append(event.data))
    main_engine.event_engine.register(EVENT_POSITION, lambda event: positions.append(event.data))
    main_engine.connect({"contracts": 5, "rate": 50.0, "venue": "test-venue-disconnect", "order_latency_ms": 300},
                        "SIM")
    assert recorder.wait_for(lambda r: TD_CONTRACTS in r.logs and r.ticks)
    tick = recorder.ticks[-1]
    gateway.subscribe(SubscribeRequest(tick.symbol, tick.exchange))
    vt_orderid = gateway.send_order(OrderRequest(tick.symbol, tick.exchange, Direction.LONG, OrderType.LIMIT, 1,
                                                 tick.ask_price_1 + 10 * gateway.exchange._contracts[
                                                     tick.vt_symbol].pricetick, Offset.OPEN, "ref-1"))
    assert vt_orderid

    gateway.disconnect_venue()
    assert recorder.wait_for(lambda r: any(log.startswith("行情服务器连接断开") for log in r.logs))
    assert gateway.connection_state() == "disconnected" and gateway.subscriptions == {}
    assert gateway.send_order(OrderRequest(tick.symbol, tick.exchange, Direction.LONG, OrderType.LIMIT, 1,
                                           tick.bid_price_1, Offset.OPEN, "ref-2")) == ""
    with pytest.raises(SimNotConnectedError):
        gateway.query_order(vt_orderid)
    answered = threading.Event()   # nothing reaches vn.py while down: poll the venue itself, bounded
    for _ in range(int(WAIT_S / 0.01)):
        if gateway.exchange.query_order(vt_orderid).status.name != "SUBMITTING":
            answered.set()
            break
        answered.wait(0.01)
    assert answered.is_set()
    heard_before = [o.status.name for o in orders if o.vt_orderid == vt_orderid]
    assert heard_before == ["SUBMITTING"]   # the answer happened at the venue, unheard

    logs_before = len(recorder.logs)
    gateway.reconnect_venue()
    assert recorder.wait_for(lambda r: [o for o in orders if o.vt_orderid == vt_orderid][-1].status.name
                             in ("ALLTRADED", "NOTTRADED", "PARTTRADED"))
    texts = recorder.logs[logs_before:]
    assert texts.index(TD_LOGGED_IN) < texts.index(TD_CONTRACTS)
    assert gateway.exchange.statistics().orders_received == 1
    gateway.query_position()
    if gateway.exchange.positions("SIM"):
        assert recorder.wait_for(lambda r: positions)
        assert positions[-1].vt_symbol == tick.vt_symbol and positions[-1].volume == 1


def test_guess_instrument_when_symbol_missing_but_product_known_then_takes_the_products_tick_and_size(
        data_dir: Path) -> None:
    """A recording of another year (T1612 in 2016) takes its product's price tick and multiplier from the
    instruments file (T1712: 0.005, 10,000) instead of guessing from its first prices (101.48, 101.5 → 0.02)."""
    from sim.gateway import _guess_instrument
    from sim.instruments import load_instruments
    from sim.replay import ReplayTick

    known = load_instruments(data_dir / "cn_futopt_instruments_20171113.csv")
    row = ReplayTick("T1612", "CFFEX", "T", "F", 0, 101.48, 101.48, 101.5, 1, 1, 0, 0, True)
    guessed = _guess_instrument(row, known)
    assert (guessed.price_tick, guessed.multiplier, guessed.product) == (0.005, 10000.0, "T")
    assert _guess_instrument(row).price_tick == 0.02  # no reference data: guessed from the prices, too coarse
