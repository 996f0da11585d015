"""Figures of the recorded trading day that the synthetic market is calibrated to.

The constant :data:`DAY_20171113` was computed once by this module's script
from ``../shared/data/cn_futopt_l1_20171113.csv.gz`` (the whole trading day
2017-11-13, night session included; in-session rows only) and the
instruments file beside it, and is shipped here so nothing reads the 30 MB
tape at run time. Recompute and print it with::

    python -m sim.calibration [--tape ../shared/data/cn_futopt_l1_20171113.csv.gz]

Source: github.com/MagicEthan/tick_data_clean, commit fdcd784 (real CTP L1, cleaned).
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

QUANTILE_PROBABILITIES: tuple[float, ...] = (
    0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0,
)
"""Probabilities at which every quantile table below is taken."""

STEP_RANGE_TICKS = 3
"""Bid moves are tabulated from -3 to +3 ticks; larger moves count at the ends."""

MAX_SPREAD_TICKS = 10
"""Spreads are tabulated from 1 to 10 ticks; wider ones count as 10."""

ALL_OPEN_WINDOWS_S = ((9 * 3600, 10 * 3600 + 15 * 60), (10 * 3600 + 30 * 60, 11 * 3600 + 30 * 60),
                      (13 * 3600 + 30 * 60, 15 * 3600))
"""Exchange-time windows (seconds of day, UTC+8) when every exchange trades (SHFE, DCE and CZCE
day sessions; CFFEX opens earlier and breaks later). Their per-second tick counts shape the rate profile."""


@dataclass(frozen=True)
class Calibration:
    """What the synthetic market copies from a recorded day.

    Attributes:
        instruments: ``{"F": n, "O": n}`` instruments with in-session ticks, by CTP product class.
        mean_ticks: ``{"F": x, "O": x}`` mean in-session ticks per instrument over the day.
        ticks_quantiles: ``{"F"|"O"|"all": q}``: ticks per instrument over
            the day divided by the class mean, at :data:`QUANTILE_PROBABILITIES`.
        top_decile_share: share of all ticks carried by the busiest 10 % of instruments.
        second_rate_quantiles: ticks per second of all instruments in the
            seconds of :data:`ALL_OPEN_WINDOWS_S`, divided by their mean, at :data:`QUANTILE_PROBABILITIES`.
        second_rate_autocorrelation: lag-1 autocorrelation of that per-second series.
        grid_phases_ms: exchange → millisecond phases its stamps fall on
            (``(0, 500)``: a 500 ms grid); absent for an irregular exchange.
        irregular_ms_weights: exchange → weights of 20 buckets of 50 ms for
            exchanges without a grid (DCE).
        step_probabilities: ``{"F"|"O": p}``: probability of a bid move of
            -3 … +3 ticks between consecutive updates of one instrument.
        spread_probabilities: ``{"F"|"O": p}``: probability of a spread of
            1 … 10 ticks.
    """

    instruments: dict[str, int]
    mean_ticks: dict[str, float]
    ticks_quantiles: dict[str, tuple[float, ...]]
    top_decile_share: float
    second_rate_quantiles: tuple[float, ...]
    second_rate_autocorrelation: float
    grid_phases_ms: dict[str, tuple[int, ...]]
    irregular_ms_weights: dict[str, tuple[float, ...]]
    step_probabilities: dict[str, tuple[float, ...]]
    spread_probabilities: dict[str, tuple[float, ...]]


# Computed by `python -m sim.calibration` from cn_futopt_l1_20171113.csv.gz (whole day, in-session rows).
DAY_20171113 = Calibration(
    instruments={'F': 250, 'O': 179},
    mean_ticks={'F': 10082.81, 'O': 1613.22},
    ticks_quantiles={'F': (0.0001, 0.00078, 0.00237, 0.01532, 0.03525, 0.09085, 0.20259, 0.34635, 0.55044, 0.85474, 1.23937, 1.71543, 2.62463, 3.85045, 4.09605, 4.39998, 5.10889), 'O': (0.0031, 0.0042, 0.00496, 0.008, 0.02777, 0.07253, 0.19167, 0.32147, 0.60562, 0.90366, 1.24509, 1.68632, 2.79379, 3.37413, 4.09301, 4.35802, 4.55425), 'all': (0.00015, 0.00096, 0.00155, 0.00455, 0.01576, 0.05931, 0.125, 0.22205, 0.37472, 0.55136, 0.92376, 1.65445, 2.95977, 4.52114, 6.08063, 6.3315, 7.86578)},
    top_decile_share=0.46955,
    second_rate_quantiles=(0.45857, 0.6065, 0.63608, 0.68786, 0.73963, 0.8062, 0.85797, 0.90975, 0.95413, 1.0133, 1.07986, 1.16862, 1.30915, 1.44228, 1.65678, 1.8047, 2.92894),
    second_rate_autocorrelation=0.78492,
    grid_phases_ms={'CFFEX': (400, 900), 'CZCE': (0,), 'SHFE': (0, 500)},
    irregular_ms_weights={'DCE': (0.05965, 0.06198, 0.05616, 0.05559, 0.06128, 0.04076, 0.0437, 0.02686, 0.02827, 0.06515, 0.0617, 0.06019, 0.05623, 0.05528, 0.06065, 0.0413, 0.04413, 0.02836, 0.02894, 0.06381)},
    step_probabilities={'F': (0.00969, 0.00751, 0.05787, 0.81782, 0.08998, 0.00932, 0.00781), 'O': (0.00637, 0.01385, 0.06716, 0.8243, 0.07013, 0.01378, 0.0044)},
    spread_probabilities={'F': (0.58662, 0.13819, 0.0421, 0.02574, 0.02463, 0.01866, 0.0129, 0.01264, 0.0112, 0.12732), 'O': (0.12437, 0.19052, 0.16929, 0.12714, 0.0944, 0.07225, 0.05544, 0.03973, 0.02807, 0.09879)},
)  # fmt: skip


def _ratios(counts: np.ndarray) -> tuple[float, ...]:
    if len(counts) == 0 or counts.mean() == 0:
        return ()
    return tuple(round(float(v), 5) for v in np.quantile(counts / counts.mean(), QUANTILE_PROBABILITIES))


def _autocorrelation(series: np.ndarray) -> float:
    if len(series) < 3 or series[:-1].std() == 0 or series[1:].std() == 0:
        return 0.0
    return round(float(np.corrcoef(series[:-1], series[1:])[0, 1]), 5)


def _probabilities(counter: collections.Counter, keys: range) -> tuple[float, ...]:
    total = sum(counter[k] for k in keys) or 1
    return tuple(round(counter[k] / total, 5) for k in keys)


def calibrate(tape: str | Path, instruments: str | Path | None = None) -> Calibration:
    """Compute a :class:`Calibration` from a recorded CTP L1 tape (in-session rows only).

    Args:
        tape: a ``cn_futopt_l1_*.csv(.gz)`` tape (sim.replay layout).
        instruments: the CTP instruments CSV giving each instrument's price
            tick; default: ``cn_futopt_instruments_20171113.csv`` beside the tape.

    Returns:
        The day's figures.

    Raises:
        ReplayFormatError, InstrumentsFormatError: a file is malformed.
        OSError: a file cannot be read.
    """
    from sim.instruments import guess_price_tick, load_instruments
    from sim.replay import iter_ticks

    tape = Path(tape)
    refs = load_instruments(instruments or tape.parent / "cn_futopt_instruments_20171113.csv")
    counts: collections.Counter = collections.Counter()
    classes: dict[str, str] = {}
    per_second: collections.Counter = collections.Counter()
    phases: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    steps = {"F": collections.Counter(), "O": collections.Counter()}
    spreads = {"F": collections.Counter(), "O": collections.Counter()}
    last_bid: dict[str, float] = {}
    utc_offset_s = 8 * 3600  # Asia/Shanghai: UTC+8, no daylight saving
    for tick in iter_ticks(tape):
        if not tick.in_session:
            continue
        symbol = tick.symbol
        counts[symbol] += 1
        product_class = "O" if tick.product_class == "O" else "F"
        classes[symbol] = product_class
        second, rest_ns = divmod(tick.ts_ns, 1_000_000_000)
        of_day = (second + utc_offset_s) % 86400
        if any(start <= of_day < end for start, end in ALL_OPEN_WINDOWS_S):
            per_second[second] += 1
        phases[tick.exchange][rest_ns // 1_000_000] += 1
        ref = refs.get(symbol)
        price_tick = ref.price_tick if ref else guess_price_tick(tick.bid, tick.ask)
        if tick.bid > 0 and tick.ask > tick.bid:
            spreads[product_class][min(round((tick.ask - tick.bid) / price_tick), MAX_SPREAD_TICKS)] += 1
            previous = last_bid.get(symbol)
            if previous is not None:
                move = round((tick.bid - previous) / price_tick)
                steps[product_class][max(-STEP_RANGE_TICKS, min(STEP_RANGE_TICKS, move))] += 1
            last_bid[symbol] = tick.bid
    by_class = {c: np.array([n for s, n in counts.items() if classes[s] == c], dtype=np.float64) for c in "FO"}
    every = np.array(sorted(counts.values(), reverse=True), dtype=np.float64)
    seconds = np.array([per_second[s] for s in sorted(per_second)], dtype=np.float64)
    grids: dict[str, tuple[int, ...]] = {}
    irregular: dict[str, tuple[float, ...]] = {}
    for exchange, histogram in sorted(phases.items()):
        total = sum(histogram.values())
        common = sorted(ms for ms, n in histogram.items() if n >= 0.05 * total)
        if sum(histogram[ms] for ms in common) >= 0.99 * total:
            grids[exchange] = tuple(common)
        else:
            buckets = np.bincount(np.repeat(np.array(list(histogram)) // 50, list(histogram.values())), minlength=20)
            irregular[exchange] = tuple(round(float(b) / total, 5) for b in buckets[:20])
    step_keys = range(-STEP_RANGE_TICKS, STEP_RANGE_TICKS + 1)
    return Calibration(
        instruments={c: len(by_class[c]) for c in "FO"},
        mean_ticks={c: round(float(by_class[c].mean()), 2) if len(by_class[c]) else 0.0 for c in "FO"},
        ticks_quantiles={"F": _ratios(by_class["F"]), "O": _ratios(by_class["O"]), "all": _ratios(every)},
        top_decile_share=round(float(every[: len(every) // 10].sum() / every.sum()), 5),
        second_rate_quantiles=_ratios(seconds),
        second_rate_autocorrelation=_autocorrelation(seconds),
        grid_phases_ms=grids,
        irregular_ms_weights=irregular,
        step_probabilities={c: _probabilities(steps[c], step_keys) for c in "FO"},
        spread_probabilities={c: _probabilities(spreads[c], range(1, MAX_SPREAD_TICKS + 1)) for c in "FO"},
    )


def format_calibration(calibration: Calibration, name: str = "DAY_20171113") -> str:
    """Return Python source assigning ``calibration`` to ``name`` (what this module ships)."""
    lines = [f"{name} = Calibration("]
    for item in fields(calibration):
        lines.append(f"    {item.name}={getattr(calibration, item.name)!r},")
    lines.append(")")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Compute the calibration from a tape and print it as Python source."""
    default_data = Path(os.environ.get("TICKSTAGE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser = argparse.ArgumentParser(prog="python -m sim.calibration", description=__doc__.splitlines()[0])
    parser.add_argument("--tape", type=Path, default=default_data / "cn_futopt_l1_20171113.csv.gz")
    parser.add_argument("--instruments", type=Path, default=None)
    args = parser.parse_args(argv)
    print(f"# Computed by `python -m sim.calibration` from {args.tape.name} (in-session rows).")
    print(format_calibration(calibrate(args.tape, args.instruments)))
    return 0


__all__ = ["DAY_20171113", "QUANTILE_PROBABILITIES", "Calibration", "calibrate", "format_calibration"]

if __name__ == "__main__":
    sys.exit(main())
