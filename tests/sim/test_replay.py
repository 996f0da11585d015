"""Recorded CTP tapes and instrument reference data (sim.replay, sim.instruments)."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
from pathlib import Path

import pytest

from sim.errors import InstrumentsFormatError, ReplayFormatError
from sim.instruments import guess_price_tick, load_instruments, parse_option
from sim.replay import EXCHANGE_TZ, ReplayTick, iter_ticks

SLICE = "cn_futopt_l1_20171113_0900-1000.csv.gz"
DAY = "cn_futopt_l1_20171113.csv.gz"
DEPTH = "cffex_ctp_depthmd_20160818.csv.gz"
INSTRUMENTS = "cn_futopt_instruments_20171113.csv"
L1_HEADER = (
    "TradingDay,ActionDay,UpdateTime,UpdateMillisec,ExchangeID,InstrumentID,ProductID,ProductClass,"
    "LastPrice,Volume,OpenInterest,BidPrice1,BidVolume1,AskPrice1,AskVolume1,InSession"
)
RB_ROW = "20171113,20171113,09:00:00,500,SHFE,rb1801,rb,F,3863.0,644484,1748530,3858.0,638,3863.0,323,True"


def _ns(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=EXCHANGE_TZ).timestamp() * 1000) * 1_000_000


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_iter_ticks_when_l1_slice_then_first_row_has_recorded_values(data_dir: Path) -> None:
    """The first row of the 09:00 slice comes back field for field, time in UNIX ns."""
    first = next(iter_ticks(data_dir / SLICE))
    assert first == ReplayTick(
        symbol="CF801",
        exchange="CZCE",
        product="CF",
        product_class="F",
        ts_ns=_ns(2017, 11, 13, 9, 0, 0),
        last=15215.0,
        bid=15205.0,
        ask=15210.0,
        bid_volume=21,
        ask_volume=2,
        volume=88008,
        open_interest=169098,
        in_session=True,
    )


def test_iter_ticks_when_rows_carry_milliseconds_then_ts_ns_adds_them(data_dir: Path) -> None:
    """rb1801's first row, 09:00:00 + 500 ms, is stamped 500 ms after the second."""
    rb = next(t for t in iter_ticks(data_dir / SLICE) if t.symbol == "rb1801")
    assert rb.ts_ns == _ns(2017, 11, 13, 9, 0, 0) + 500_000_000
    assert (rb.last, rb.bid, rb.ask, rb.volume) == (3863.0, 3858.0, 3863.0, 644484)


def test_iter_ticks_when_night_session_then_action_day_dates_the_tick(data_dir: Path) -> None:
    """The whole-day tape opens on Friday 2017-11-10 20:59 (ActionDay), not on its TradingDay."""
    first = next(iter_ticks(data_dir / DAY))
    assert first.ts_ns == _ns(2017, 11, 10, 20, 59, 0)


def test_iter_ticks_when_depth_market_data_then_identity_is_derived_and_empty_is_zero(data_dir: Path) -> None:
    """The 44-field CFFEX dump gets exchange, product and class from the symbol; empty prices read 0.0."""
    first = next(iter_ticks(data_dir / DEPTH))
    assert (first.symbol, first.exchange, first.product, first.product_class) == ("IC1608", "CFFEX", "IC", "F")
    assert (first.last, first.bid, first.ask, first.in_session) == (6470.8, 0.0, 0.0, False)
    assert first.ts_ns == _ns(2016, 8, 18, 7, 3, 11) + 500_000_000


def test_iter_ticks_when_depth_dump_read_whole_then_every_row_is_cffex(data_dir: Path) -> None:
    """All 180,312 rows of the CFFEX dump stream, each with exchange CFFEX and a known product."""
    count = 0
    products = set()
    for tick in iter_ticks(data_dir / DEPTH):
        count += 1
        products.add(tick.product)
        assert tick.exchange == "CFFEX"
    assert count == 180_312
    assert products == {"IC", "IF", "IH", "T", "TF"}


def test_iter_ticks_when_slice_read_whole_then_rows_are_counted_and_volume_never_falls(data_dir: Path) -> None:
    """The 09:00 slice holds 531,260 rows in time order; cumulative volume never decreases per symbol."""
    volumes: dict[str, int] = {}
    previous_ns = 0
    count = 0
    for tick in iter_ticks(data_dir / SLICE):
        count += 1
        assert tick.ts_ns >= previous_ns
        assert tick.volume >= volumes.get(tick.symbol, 0)
        volumes[tick.symbol] = tick.volume
        previous_ns = tick.ts_ns
    assert count == 531_260
    assert len(volumes) == 361


def test_iter_ticks_when_plain_csv_then_reads_like_gzip(tmp_path: Path) -> None:
    """An uncompressed tape and its gzipped copy give the same rows."""
    plain = _write(tmp_path / "tape.csv", L1_HEADER, RB_ROW, RB_ROW.replace(",500,", ",750,"))
    packed = tmp_path / "tape.bin"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(iter_ticks(plain)) == list(iter_ticks(packed))
    assert [t.ts_ns % 1_000_000_000 for t in iter_ticks(plain)] == [500_000_000, 750_000_000]


def test_iter_ticks_when_counts_are_written_as_floats_then_they_parse_as_lots(tmp_path: Path) -> None:
    """Counts written ``644484.0`` (some recorders do) parse as whole lots."""
    tape = _write(tmp_path / "tape.csv", L1_HEADER, RB_ROW.replace("644484", "644484.0"))
    assert next(iter_ticks(tape)).volume == 644484


def test_iter_ticks_when_blank_lines_then_they_are_skipped(tmp_path: Path) -> None:
    """Blank lines between rows are ignored."""
    tape = _write(tmp_path / "tape.csv", L1_HEADER, RB_ROW, "", RB_ROW)
    assert len(list(iter_ticks(tape))) == 2


def test_iter_ticks_when_header_lacks_a_column_then_raises_on_line_1(tmp_path: Path) -> None:
    """A header without LastPrice is refused with the path and line 1."""
    tape = _write(tmp_path / "tape.csv", L1_HEADER.replace("LastPrice", "Last"), RB_ROW)
    with pytest.raises(ReplayFormatError) as caught:
        next(iter_ticks(tape))
    assert (caught.value.line, caught.value.path) == (1, str(tape))
    assert "LastPrice" in str(caught.value)


def test_iter_ticks_when_file_is_empty_then_raises_on_line_1(tmp_path: Path) -> None:
    """An empty file has no header: ReplayFormatError on line 1."""
    tape = _write(tmp_path / "tape.csv")
    with pytest.raises(ReplayFormatError) as caught:
        list(iter_ticks(tape))
    assert caught.value.line == 1


def test_iter_ticks_when_a_price_is_not_a_number_then_raises_with_its_line(tmp_path: Path) -> None:
    """A bad LastPrice on the third line is reported as line 3; it is also a ValueError."""
    tape = _write(tmp_path / "tape.csv", L1_HEADER, RB_ROW, RB_ROW.replace("3863.0,644484", "x,644484"))
    rows = iter_ticks(tape)
    assert next(rows).symbol == "rb1801"
    with pytest.raises(ValueError) as caught:
        next(rows)
    assert isinstance(caught.value, ReplayFormatError)
    assert caught.value.line == 3


def test_iter_ticks_when_a_row_is_short_then_raises_with_its_line(tmp_path: Path) -> None:
    """A row with fewer fields than the header is reported with its line."""
    tape = _write(tmp_path / "tape.csv", L1_HEADER, RB_ROW.rsplit(",", 2)[0])
    with pytest.raises(ReplayFormatError) as caught:
        list(iter_ticks(tape))
    assert caught.value.line == 2
    assert "fields" in caught.value.reason


def test_iter_ticks_when_gzip_is_truncated_then_raises_replay_format_error(tmp_path: Path, data_dir: Path) -> None:
    """A gzip file cut short fails as ReplayFormatError, not as a bare EOFError."""
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes((data_dir / DEPTH).read_bytes()[:50_000])
    with pytest.raises(ReplayFormatError):
        for _ in iter_ticks(cut):
            pass


def test_iter_ticks_when_closed_early_then_later_rows_are_not_read(data_dir: Path) -> None:
    """Taking 10 rows from the 30 MB day tape and closing the generator is enough."""
    rows = iter_ticks(data_dir / DAY)
    assert len(list(itertools.islice(rows, 10))) == 10
    rows.close()


def test_load_instruments_when_reference_file_then_rb1801_has_tick_multiplier_and_expiry(data_dir: Path) -> None:
    """rb1801 is SHFE futures, tick 1.0, 10 per lot, expiring 2018-01-15; 429 instruments in all."""
    instruments = load_instruments(data_dir / INSTRUMENTS)
    rb = instruments["rb1801"]
    assert (rb.exchange, rb.product, rb.product_class) == ("SHFE", "rb", "F")
    assert (rb.price_tick, rb.multiplier, rb.expiry) == (1.0, 10.0, dt.date(2018, 1, 15))
    assert len(instruments) == 429
    assert instruments["SR801C6400"].product_class == "O"


def test_load_instruments_when_a_column_is_missing_then_raises_on_line_1(tmp_path: Path) -> None:
    """An instruments file without PriceTick is refused with line 1."""
    path = _write(tmp_path / "i.csv", "InstrumentID,ExchangeID,ProductID,ProductClass,VolumeMultiple", "rb1801,SHFE,rb,F,10")
    with pytest.raises(InstrumentsFormatError) as caught:
        load_instruments(path)
    assert caught.value.line == 1


def test_load_instruments_when_a_tick_is_not_a_number_then_raises_with_its_line(tmp_path: Path) -> None:
    """A bad PriceTick is reported with its line number."""
    header = "InstrumentID,ExchangeID,ProductID,ProductClass,VolumeMultiple,PriceTick"
    path = _write(tmp_path / "i.csv", header, "rb1801,SHFE,rb,F,10,1", "rb1805,SHFE,rb,F,10,one")
    with pytest.raises(InstrumentsFormatError) as caught:
        load_instruments(path)
    assert caught.value.line == 3


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [("SR801C6400", ("SR801", "C", 6400.0)), ("m1801-P-2800", ("m1801", "P", 2800.0)), ("IC1711", None)],
)
def test_parse_option_when_symbol_given_then_reads_underlying_right_strike(symbol: str, expected: tuple | None) -> None:
    """Both CZCE and DCE option spellings parse; a future is not an option."""
    terms = parse_option(symbol)
    assert (terms and (terms.underlying, terms.right, terms.strike)) == expected


@pytest.mark.parametrize(
    ("prices", "tick"), [((3863.0, 3858.0), 1.0), ((6470.8, 6471.0), 0.2), ((101.365, 101.38), 0.005), ((), 1.0)]
)
def test_guess_price_tick_when_prices_seen_then_picks_the_largest_step_dividing_them(
    prices: tuple[float, ...], tick: float
) -> None:
    """The guess is the coarsest step of 1, 0.5, 0.2, ... that every price sits on."""
    assert guess_price_tick(*prices) == tick


def test_iter_ticks_when_ctp_dump_has_levels_two_to_five_then_depth_equals_the_recorded_fields(data_dir) -> None:
    """A raw CTP DepthMarketData dump fills ReplayTick.depth from BidPrice2..AskVolume5 (empty → 0.0, as CTP's
    no value); a cleaned L1 tape without those columns leaves it None."""
    import csv
    import itertools

    from sim.replay import DEPTH_FIELDS, open_text

    path = data_dir / "cffex_ctp_depthmd_20160818.csv.gz"
    with open_text(path) as text:
        raw = list(itertools.islice(csv.DictReader(text), 300))
    for row, tick in zip(raw, itertools.islice(iter_ticks(path), 300), strict=True):
        assert tick.depth == tuple(float(row[name]) if row[name] else 0.0 for name in DEPTH_FIELDS)
    first_l1 = next(iter_ticks(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"))
    assert first_l1.depth is None


def test_iter_ticks_when_depth_fields_filled_then_read_as_numbers(tmp_path) -> None:
    """Levels 2..5 of a CTP row with values are read as prices (quote currency) and volumes (lots)."""
    from sim.replay import DEPTH_FIELDS, REQUIRED_COLUMNS

    header = ["TradingDay", *REQUIRED_COLUMNS, *DEPTH_FIELDS]
    values = {"TradingDay": "20160818", "ActionDay": "20160818", "UpdateTime": "09:30:00", "UpdateMillisec": "500",
              "InstrumentID": "IF1609", "LastPrice": "3300.2", "Volume": "10", "OpenInterest": "5",
              "BidPrice1": "3300", "BidVolume1": "3", "AskPrice1": "3300.4", "AskVolume1": "4"}
    values.update({name: str(i + 1) for i, name in enumerate(DEPTH_FIELDS)})
    values["AskVolume5"] = ""
    path = tmp_path / "depth.csv"
    path.write_text(",".join(header) + "\n" + ",".join(values[name] for name in header) + "\n")
    (tick,) = list(iter_ticks(path))
    assert tick.depth == tuple(float(i + 1) for i in range(15)) + (0.0,)


def test_iter_ticks_when_a_long_tape_plays_then_the_parse_holds_no_memory_per_second_of_it(tmp_path):
    """The parse's cache of exchange seconds is bounded well below a day's ~34,000 seconds: a soak's replay
    held ~4 blocks per distinct second for the whole tape (+130,000 blocks over the recorded day)."""
    import sys

    from sim.replay import iter_ticks

    path = tmp_path / "long.csv"
    lines = ["TradingDay,ActionDay,UpdateTime,UpdateMillisec,ExchangeID,InstrumentID,ProductID,ProductClass,"
             "LastPrice,Volume,OpenInterest,BidPrice1,BidVolume1,AskPrice1,AskVolume1,InSession"]
    for i in range(20_000):
        h, m, s = 9 + i // 3600, i // 60 % 60, i % 60
        lines.append(f"20171113,20171113,{h:02d}:{m:02d}:{s:02d},0,SHFE,rb1801,rb,F,3800.0,{i},100,3799.0,1,"
                     f"3801.0,1,True")
    path.write_text("\n".join(lines) + "\n")
    ticks = iter_ticks(path)
    first = next(ticks)
    for _ in range(2_000):
        next(ticks)
    before = sys.getallocatedblocks()
    for last in itertools.islice(ticks, 17_000):   # the parse still running: its cache alive
        pass
    assert last.ts_ns - first.ts_ns == 19_000 * 10**9
    assert sys.getallocatedblocks() - before < 8_000
