"""Benchmark the simulator's tick sources: replay parsing, synthesis, vn.py tick building.

Budget (DESIGN.md §11, ingest): 100,000 ticks/s on one core; a source must
not be the bottleneck, so each must exceed it alone. Baseline: ``csv.reader``
over the same decompressed text without any conversion (the floor of a CSV
replay), measured in the same run.

Each case streams rows in batches of 10,000 and times every batch with
``time.perf_counter_ns``; the table shows rows/s over the run and the p50/p99
cost per row across batches.

Run: ``python perf/bench_sim.py [--data ../shared/data] [--rows 200000]``.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

BATCH_ROWS = 10_000
BUDGET_ROWS_PER_S = 100_000
SEED = 7


def _time_batches(rows: Iterable[object], limit: int) -> tuple[int, np.ndarray]:
    """Consume up to ``limit`` rows; return the count and ns per row of each full batch."""
    per_row_ns = []
    count = 0
    iterator = iter(rows)
    while count < limit:
        start = time.perf_counter_ns()
        taken = sum(1 for _ in itertools.islice(iterator, min(BATCH_ROWS, limit - count)))
        elapsed = time.perf_counter_ns() - start
        if taken == 0:
            break
        count += taken
        per_row_ns.append(elapsed / taken)
    return count, np.array(per_row_ns)


def _baseline(path: Path) -> Iterable[list[str]]:
    from sim.replay import open_text

    with open_text(path) as text:
        reader = csv.reader(text)
        next(reader)
        yield from reader


def _built_ticks(path: Path) -> Iterable[object]:
    from sim._convert import TickBuilder, exchange_of
    from sim.replay import iter_ticks

    builder = TickBuilder("SIM")
    for row in iter_ticks(path):
        yield builder.tick(row, exchange_of(row.exchange), row.symbol)


def main() -> None:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("TICKSTAGE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--rows", type=int, default=200_000, help="rows per case")
    args = parser.parse_args()

    from transport.vnpy_home import contain_vnpy

    contain_vnpy(Path(tempfile.mkdtemp(prefix="tickstage-bench-")))
    from sim.instruments import load_instruments
    from sim.replay import iter_ticks
    from sim.synthetic import SyntheticMarket

    l1 = args.data / "cn_futopt_l1_20171113_0900-1000.csv.gz"
    depth = args.data / "cffex_ctp_depthmd_20160818.csv.gz"
    templates = list(load_instruments(args.data / "cn_futopt_instruments_20171113.csv").values())
    cases: list[tuple[str, Callable[[], Iterable[object]], str]] = [
        ("csv.reader only, L1 16 cols", lambda: _baseline(l1), "l1"),
        ("iter_ticks, L1 16 cols", lambda: iter_ticks(l1), "l1"),
        ("iter_ticks + TickData, L1", lambda: _built_ticks(l1), "l1"),
        ("csv.reader only, CTP 45 cols", lambda: _baseline(depth), "depth"),
        ("iter_ticks, CTP 45 cols", lambda: iter_ticks(depth), "depth"),
    ]
    for contracts in (2_000, 20_000):
        market = SyntheticMarket(contracts=contracts, seed=SEED, templates=templates)
        cases.append((f"synthetic, {contracts:,} contracts", market.ticks, "l1"))

    baselines: dict[str, float] = {}
    print(f"rows per case: {args.rows:,}; batches of {BATCH_ROWS:,}; budget {BUDGET_ROWS_PER_S:,} rows/s")
    print(f"{'case':34} {'rows':>9} {'rows/s':>11} {'p50 ns/row':>11} {'p99 ns/row':>11} {'/baseline':>10} {'/budget':>8}")
    for name, make, family in cases:
        count, per_row_ns = _time_batches(make(), args.rows)
        rate = 1e9 / per_row_ns.mean() if len(per_row_ns) else 0.0
        baselines.setdefault(family, rate)
        print(
            f"{name:34} {count:>9,} {rate:>11,.0f} {np.percentile(per_row_ns, 50):>11,.0f} "
            f"{np.percentile(per_row_ns, 99):>11,.0f} {rate / baselines[family]:>10.2f} {rate / BUDGET_ROWS_PER_S:>8.2f}"
        )


if __name__ == "__main__":
    main()
