"""Tapes (sim.tape) and the calibration they are built from (sim.calibration)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from sim.calibration import DAY_20171113, calibrate
from sim.errors import TapeFormatError
from sim.replay import ReplayTick
from sim.synthetic import SyntheticMarket
from sim.tape import (
    TAPE_MAGIC,
    TapeWriter,
    is_tape,
    iter_tape_frames,
    iter_tape_ticks,
    tape_instruments,
    write_synthetic_tape,
)

L1_HEADER = (
    "TradingDay,ActionDay,UpdateTime,UpdateMillisec,ExchangeID,InstrumentID,ProductID,ProductClass,"
    "LastPrice,Volume,OpenInterest,BidPrice1,BidVolume1,AskPrice1,AskVolume1,InSession"
)


def test_write_synthetic_tape_when_same_seed_twice_then_files_are_byte_identical(tmp_path: Path) -> None:
    """Two tapes of the same seed and arguments are the same bytes; another seed differs."""
    paths = [tmp_path / name for name in ("a.tape", "b.tape", "c.tape")]
    for path, seed in zip(paths, (7, 7, 8), strict=True):
        write_synthetic_tape(path, SyntheticMarket(contracts=20_000, seed=seed), seconds=5)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_iter_tape_ticks_when_synthetic_tape_then_rows_equal_the_market_ticks(tmp_path: Path) -> None:
    """Reading a synthetic tape back gives the market's own ticks (level 1: a tape keeps no depth) and instruments."""
    market = SyntheticMarket(contracts=500, seed=3)
    written = write_synthetic_tape(tmp_path / "m.tape", market, seconds=3)
    assert is_tape(tmp_path / "m.tape")
    assert list(iter_tape_ticks(tmp_path / "m.tape")) == [
        row._replace(depth=None) for row in itertools.islice(market.ticks(), written)]
    assert tape_instruments(tmp_path / "m.tape") == list(market.instruments)


def test_tape_writer_when_rows_and_frames_then_both_read_back(tmp_path: Path) -> None:
    """Rows of unseen symbols become instruments first; frames come back with client and time."""
    row = ReplayTick("rb1801", "SHFE", "rb", "F", 1_510_534_800_500_000_000, 3863.0, 3858.0, 3863.0,
                     638, 323, 644484, 1748530, True)
    with TapeWriter(tmp_path / "r.tape", "test", row.ts_ns) as writer:
        writer.write_rows([row, row._replace(symbol="cu1801", exchange="SHFE", product="cu")])
        writer.write_frame("probe", 42, b"\x00frame")
        writer.write_rows([row._replace(last=3864.0)])
    assert [t.symbol for t in iter_tape_ticks(tmp_path / "r.tape")] == ["rb1801", "cu1801", "rb1801"]
    assert next(iter_tape_ticks(tmp_path / "r.tape")) == row
    assert [ref.symbol for ref in tape_instruments(tmp_path / "r.tape")] == ["rb1801", "cu1801"]
    assert list(iter_tape_frames(tmp_path / "r.tape")) == [("probe", 42, b"\x00frame")]


@pytest.mark.parametrize("content", [b"", b"not a tape at all", TAPE_MAGIC + b"\x10\x00\x00\x00abc",
                                     TAPE_MAGIC + b"\x08\x00\x00\x00" + b"\xff" * 8])
def test_iter_tape_ticks_when_file_is_not_a_whole_tape_then_raises_tape_format_error(
    tmp_path: Path, content: bytes
) -> None:
    """No magic, a truncated record or undecodable bytes raise TapeFormatError, never a crash."""
    path = tmp_path / "bad.tape"
    path.write_bytes(content)
    with pytest.raises(TapeFormatError):
        list(iter_tape_ticks(path))


def test_calibrate_when_small_tape_then_counts_grids_and_moves_are_tabulated(tmp_path: Path) -> None:
    """A hand-written tape gives its instrument counts, its SHFE grid and its one-tick moves."""
    rows = [
        "20171113,20171113,09:00:00,0,SHFE,rb1801,rb,F,3860.0,1,1,3859.0,1,3860.0,1,True",
        "20171113,20171113,09:00:00,500,SHFE,rb1801,rb,F,3861.0,2,1,3860.0,1,3861.0,1,True",
        "20171113,20171113,09:00:01,0,SHFE,rb1801,rb,F,3861.0,3,1,3860.0,1,3861.0,1,True",
        "20171113,20171113,09:00:01,500,SHFE,cu1801,cu,F,53000.0,1,1,52990.0,1,53000.0,1,True",
        "20171113,20171113,09:00:02,0,SHFE,cu1801,cu,F,53000.0,1,1,52990.0,1,53000.0,1,False",
    ]
    (tmp_path / "l1.csv").write_text("\n".join([L1_HEADER, *rows]) + "\n")
    (tmp_path / "instruments.csv").write_text(
        "InstrumentID,ExchangeID,ProductID,ProductClass,VolumeMultiple,PriceTick\n"
        "rb1801,SHFE,rb,F,10,1\ncu1801,SHFE,cu,F,5,10\n")
    figures = calibrate(tmp_path / "l1.csv", tmp_path / "instruments.csv")
    assert figures.instruments == {"F": 2, "O": 0}
    assert figures.mean_ticks["F"] == 2.0
    assert figures.grid_phases_ms == {"SHFE": (0, 500)}
    assert figures.step_probabilities["F"] == (0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0)
    assert figures.spread_probabilities["F"][0] == 1.0


def test_day_20171113_when_shipped_then_matches_the_data_readme_figures() -> None:
    """The shipped table agrees with the recorded day's figures: 429 instruments, busiest tenth ≈ 48 %."""
    assert DAY_20171113.instruments == {"F": 250, "O": 179}
    assert DAY_20171113.top_decile_share == pytest.approx(0.48, abs=0.015)
    total = sum(DAY_20171113.instruments[c] * DAY_20171113.mean_ticks[c] for c in "FO")
    assert total == pytest.approx(2_809_468, rel=1e-4)
    assert DAY_20171113.grid_phases_ms["SHFE"] == (0, 500) and "DCE" in DAY_20171113.irregular_ms_weights
