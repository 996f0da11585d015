"""Frame codec: numpy columns through Cap'n Proto bytes, against pycapnp's list API.

Measures, for frames of 1, 130, 1,000 and 5,000 rows (seeded values):

* build: ``actors.market.frames.encode_group_frame`` (cached skeleton + numpy
  column copies) vs. the baseline: the same ServerMessage built through
  pycapnp's API, setting list elements one by one (``rows.lastPrices[i] = v``);
* read: ``frame_columns`` (numpy views over the message bytes) vs. reading the
  columns with pycapnp (``list(frame.rows.lastPrices)``) inside ``from_bytes``;
* the Outbound wrapper around a frame: field-by-field vs. ``new_message(**fields)``.

Prints p50/p99 per operation and the candidate/baseline ratio; ``--json FILE``
writes them. Run: ``python perf/bench_codec.py [--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import dump_json, machine, print_table, ratio, write_png

import schemas
from actors import encode_outbound
from actors.market.frames import encode_group_frame, frame_columns
from schemas._columns import L1_DTYPES


def _rows(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: (rng.random(n) * 1e6).astype(dtype) for name, dtype in L1_DTYPES.items()}


def _baseline_build(rows: dict[str, np.ndarray]) -> bytes:
    message = schemas.stream.ServerMessage.new_message()
    envelope = message.init("envelope")
    envelope.sentTsNs = time.time_ns()
    frame = message.init("groupFrame")
    frame.group = "rb"
    frame.seq = 1
    columns = frame.init("rows")
    for name, values in rows.items():
        target = columns.init(name, len(values))
        for i, value in enumerate(values.tolist()):
            target[i] = value
    return message.to_bytes()


def _baseline_read(data: bytes) -> dict[str, list]:
    with schemas.stream.ServerMessage.from_bytes(data, traversal_limit_in_words=2**40) as message:
        columns = message.groupFrame.rows
        return {name: list(getattr(columns, name)) for name in L1_DTYPES}


def _time_us(fn, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - started) / 1000)
    p50, p99 = np.percentile(samples, [50, 99])
    return float(p50), float(p99)


def plot(results: dict, path: str) -> None:
    """p50 µs of each operation against rows per frame, numpy columns and pycapnp's list API."""
    sizes = sorted(int(n) for n in results["sizes"])
    panels = []
    for op in ("build", "read", "outbound"):
        panels.append((f"{op} p50 µs", "rows per frame", {
            "numpy columns": (sizes, [results["sizes"][str(n)][op]["p50_us"] for n in sizes]),
            "baseline": (sizes, [results["sizes"][str(n)][op]["baseline_p50_us"] for n in sizes]),
        }, None, "log"))
    write_png(path, f"bench_codec (shared 2-core machine, load {results['machine']['load_average_1m']})", panels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="write the results to this file (and a PNG beside it)")
    parser.add_argument("--png", help="write the plot here (default: --json with .png)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    repeat = 200 if args.quick else 2000
    results: dict = {"machine": machine(), "sizes": {}}
    table = []
    for n in (1, 130, 1000, 5000):
        rows = _rows(n, args.seed)
        reps = max(20, repeat // (1 + n // 500))
        ours = encode_group_frame(group="rb", seq=1, snapshot=False, window_ms=33, info_version=1, rows=rows,
                                  source="market/group/rb")
        base = _baseline_build(rows)
        assert all(np.array_equal(frame_columns(base)[k], rows[k]) for k in rows)
        measured = {
            "build": (_time_us(lambda: encode_group_frame(group="rb", seq=1, snapshot=False, window_ms=33,
                                                          info_version=1, rows=rows, source="market/group/rb"),
                               reps),
                      _time_us(lambda: _baseline_build(rows), max(5, reps // 10))),
            "read": (_time_us(lambda: frame_columns(ours), reps), _time_us(lambda: _baseline_read(base), max(5, reps // 10))),
            "outbound": (_time_us(lambda: encode_outbound(group="rb", seq=1, kind="delta", payload=ours, source="x"), reps),
                         _time_us(lambda: schemas.actor.ActorMessage.new_message(
                             outbound={"group": "rb", "seq": 1, "kind": "delta", "payload": ours}).to_bytes(), reps)),
        }
        results["sizes"][str(n)] = {
            op: {"p50_us": c[0], "p99_us": c[1], "baseline_p50_us": b[0], "baseline_p99_us": b[1],
                 "ratio_p50": ratio(c[0], b[0])} for op, (c, b) in measured.items()}
        results["sizes"][str(n)]["frame_bytes"] = len(ours)
        for op, (c, b) in measured.items():
            table.append((f"{op} {n} rows", c[0], c[1], b[0], b[1], ratio(c[0], b[0])))
    print_table(table, ("operation", "p50 µs", "p99 µs", "baseline p50", "baseline p99", "ratio p50"))
    if args.json:
        dump_json(args.json, results)
    png = args.png or (str(Path(args.json).with_suffix(".png")) if args.json else None)
    if png:
        plot(results, png)


if __name__ == "__main__":
    main()
