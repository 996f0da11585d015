"""Shared pieces of the perf/ scripts: a seeded market, percentiles, a table.

Scripts in perf/ run as ``python perf/bench_<noun>.py``; this module is
imported from there (``perf/`` is ``sys.path[0]``), never from the packages.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np

PRODUCTS: tuple[tuple[str, str, float, float], ...] = (
    ("rb", "SHFE", 1.0, 3800), ("cu", "SHFE", 10.0, 53000), ("au", "SHFE", 0.05, 280),
    ("ru", "SHFE", 5.0, 14000), ("al", "SHFE", 5.0, 15500), ("zn", "SHFE", 5.0, 25000),
    ("ni", "SHFE", 10.0, 90000), ("ag", "SHFE", 1.0, 3900), ("hc", "SHFE", 1.0, 4100),
    ("bu", "SHFE", 2.0, 2400), ("pb", "SHFE", 5.0, 19000), ("sn", "SHFE", 10.0, 143000),
    ("sc", "INE", 0.1, 400), ("m", "DCE", 1.0, 2800), ("i", "DCE", 0.5, 480),
    ("j", "DCE", 0.5, 1900), ("jm", "DCE", 0.5, 1300), ("a", "DCE", 1.0, 3800),
    ("y", "DCE", 2.0, 6000), ("p", "DCE", 2.0, 5500), ("c", "DCE", 1.0, 1750),
    ("cs", "DCE", 1.0, 2000), ("l", "DCE", 5.0, 9700), ("v", "DCE", 5.0, 6500),
    ("pp", "DCE", 1.0, 8700), ("jd", "DCE", 1.0, 4000), ("SR", "CZCE", 1.0, 6500),
    ("CF", "CZCE", 5.0, 15200), ("TA", "CZCE", 2.0, 5500), ("MA", "CZCE", 1.0, 2750),
    ("RM", "CZCE", 1.0, 2300), ("OI", "CZCE", 2.0, 6600), ("FG", "CZCE", 1.0, 1450),
    ("ZC", "CZCE", 0.2, 640), ("SF", "CZCE", 2.0, 5900), ("SM", "CZCE", 2.0, 7500),
    ("IF", "CFFEX", 0.2, 4050), ("IC", "CFFEX", 0.2, 6500), ("IH", "CFFEX", 0.2, 2850),
    ("T", "CFFEX", 0.005, 94),
)  # fmt: skip
"""(product, exchange, price tick, typical price) of 40 Chinese futures products, Nov 2017 levels."""


@dataclass
class Market:
    """A seeded market: contracts (``ContractData``) and a pool of ``TickData`` to cycle through.

    Attributes:
        contracts: vn.py ``ContractData``, one per contract.
        group_of: vt_symbol → group name (the product, as the bridge derives it).
        groups: group names, in product order.
        ticks: the tick pool, in feed order; feeders cycle through it.
    """

    contracts: list
    group_of: dict[str, str]
    groups: list[str]
    ticks: list


def build_market(n_contracts: int, n_groups: int, pool_size: int, seed: int) -> Market:
    """Build ``n_contracts`` contracts over ``n_groups`` products and ``pool_size`` ticks.

    Activity per contract is lognormal (sigma 1.28: the busiest 10 % of
    contracts get half the ticks); each tick moves the bid by -1/0/+1 tick.
    Import vn.py (``transport.venue.vnpy_home.contain_vnpy``) before calling.
    """
    from vnpy.trader.constant import Exchange, Product
    from vnpy.trader.object import ContractData, TickData

    rng = np.random.default_rng(seed)
    products = PRODUCTS[:n_groups]
    contracts, group_of = [], {}
    for i in range(n_contracts):
        product, exchange, _, _ = products[i % n_groups]
        contract = ContractData(symbol=f"{product}{2401 + i // n_groups}", exchange=Exchange(exchange),
                                name=f"{product} {i // n_groups}", product=Product.FUTURES, size=10,
                                pricetick=products[i % n_groups][2], gateway_name="BENCH")
        contracts.append(contract)
        group_of[contract.vt_symbol] = product
    weights = rng.lognormal(0.0, 1.28, n_contracts)
    index = rng.choice(n_contracts, pool_size, p=weights / weights.sum())
    steps = np.array([products[i % n_groups][2] for i in range(n_contracts)])
    levels = np.array([products[i % n_groups][3] for i in range(n_contracts)]) / steps
    bid_ticks = np.round(levels[index] + rng.integers(-20, 21, pool_size))
    bids = bid_ticks * steps[index]
    lasts = (bid_ticks + rng.integers(0, 2, pool_size)) * steps[index]
    start = dt.datetime(2024, 1, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    ticks = []
    for k, (i, bid, last, bv, av, vol) in enumerate(zip(
            index.tolist(), bids.tolist(), lasts.tolist(), rng.integers(1, 200, pool_size).tolist(),
            rng.integers(1, 200, pool_size).tolist(), rng.integers(1, 90_000, pool_size).tolist())):
        c = contracts[i]
        ticks.append(TickData(symbol=c.symbol, exchange=c.exchange, gateway_name="BENCH", name=c.name,
                              datetime=start + dt.timedelta(milliseconds=k // 4), volume=vol,
                              open_interest=50_000, last_price=last, bid_price_1=bid,
                              ask_price_1=bid + steps[i], bid_volume_1=bv, ask_volume_1=av))
    return Market(contracts, group_of, [p[0] for p in products], ticks)


def subscriptions(n_clients: int, groups: list[str], per_client: int, seed: int) -> list[list[str]]:
    """Return, for each client, ``per_client`` distinct groups chosen with ``seed``."""
    rng = np.random.default_rng([seed, 2])
    return [[groups[j] for j in rng.choice(len(groups), per_client, replace=False)] for _ in range(n_clients)]


def percentiles_ms(values_ms, prefix: str) -> dict[str, float | None]:
    """Return ``{prefix_p50_ms, prefix_p99_ms, prefix_max_ms}`` of latencies in ms (None when empty)."""
    values = np.asarray(values_ms, dtype=np.float64)
    if values.size == 0:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p99_ms": None, f"{prefix}_max_ms": None}
    p50, p99 = np.percentile(values, [50, 99])
    return {f"{prefix}_p50_ms": round(float(p50), 3), f"{prefix}_p99_ms": round(float(p99), 3),
            f"{prefix}_max_ms": round(float(values.max()), 3)}


class LoopLag:
    """How late a 5 ms ``asyncio.sleep`` wakes up on the server's loop (ms)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            self.samples.append((time.perf_counter() - started - 0.005) * 1e3)

    def take_p99_ms(self) -> float | None:
        """Return the p99 since the last take and start over."""
        samples, self.samples = self.samples, []
        return round(float(np.percentile(samples, 99)), 3) if samples else None

    def stop(self) -> None:
        """Cancel the probe."""
        self._task.cancel()


class GcPauses:
    """Times every garbage collection of this process (``gc.callbacks``), ms, per generation."""

    def __init__(self) -> None:
        import gc

        self._gc = gc
        self._started = 0
        self.pauses_ms: list[tuple[int, float]] = []  # (generation, ms)
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
        elif self._started:
            self.pauses_ms.append((info["generation"], (time.perf_counter_ns() - self._started) / 1e6))

    def take(self) -> dict:
        """Return ``{gc_collections, gc_gen2_collections, gc_pause_total_ms, gc_pause_max_ms}`` and start over."""
        pauses, self.pauses_ms = self.pauses_ms, []
        return {"gc_collections": len(pauses), "gc_gen2_collections": sum(g == 2 for g, _ in pauses),
                "gc_pause_total_ms": round(sum(ms for _, ms in pauses), 2),
                "gc_pause_max_ms": round(max((ms for _, ms in pauses), default=0.0), 2)}

    def stop(self) -> None:
        """Stop timing."""
        self._gc.callbacks.remove(self._on_gc)


def machine() -> dict:
    """Return what the numbers depend on: CPUs, Python, platform, switch interval, load now."""
    import aiohttp
    import uvloop

    return {"cpu_count": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform(),
            "aiohttp": aiohttp.__version__, "uvloop": uvloop.__version__,
            "switch_interval_s": sys.getswitchinterval(), "load_average_1m": round(os.getloadavg()[0], 2)}


def ratio(candidate, baseline) -> float | None:
    """Return ``candidate / baseline`` rounded, or None when either is missing or zero."""
    if candidate is None or not baseline:
        return None
    return round(candidate / baseline, 3)


def fmt(value) -> str:
    """Format a table cell: thousands for big numbers, 3 significant-ish digits otherwise."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def print_table(rows: list[tuple], header: tuple[str, ...], out=sys.stdout) -> None:
    """Print rows as an aligned plain-text table."""
    cells = [header] + [tuple(fmt(v) for v in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))),
              file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)


def rss_mb() -> float:
    """Return this process's resident set size (``VmRSS`` of /proc/self/status), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def write_png(path: str, title: str, panels: list[tuple]) -> None:
    """Write one PNG of stacked line plots with matplotlib (Agg backend: no display needed).

    Args:
        path: the PNG's path.
        title: the figure's title (name the machine's load: figures are from a shared box).
        panels: ``(y_label, x_label, {series: (xs, ys)}, goal)`` or the same with a fifth item ``"log"``
            (log y axis), one per panel; ``goal`` (a number or None) draws a dashed horizontal line. None
            values in ``ys`` are skipped.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 2.6 * len(panels)), squeeze=False)
    for ax, (y_label, x_label, series, goal, *scale) in zip(axes[:, 0], panels):
        for name, (xs, ys) in series.items():
            points = [(x, y) for x, y in zip(xs, ys) if y is not None]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=name)
        if goal is not None:
            ax.axhline(goal, linestyle="--", color="grey", linewidth=1, label="goal")
        if scale == ["log"]:
            ax.set_yscale("log")
        ax.set_ylabel(y_label)
        ax.set_xlabel(x_label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_bar_png(path: str, title: str, panels: list[tuple]) -> None:
    """Write one PNG of stacked grouped bar charts with matplotlib (Agg backend), for figures by case.

    Args:
        path: the PNG's path.
        title: the figure's title (name the machine's load: figures are from a shared box).
        panels: ``(y_label, {series: {category: value}}, goal)`` or the same with a fourth item ``"log"``
            (log y axis), one per panel; ``goal`` (a number or None) draws a dashed horizontal line. None
            values are left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.0 * len(panels)), squeeze=False)
    for ax, (y_label, series, goal, *scale) in zip(axes[:, 0], panels):
        categories = list(dict.fromkeys(category for values in series.values() for category in values))
        width = 0.8 / max(1, len(series))
        for offset, (name, values) in enumerate(series.items()):
            xs = [i + offset * width for i, category in enumerate(categories) if values.get(category) is not None]
            ys = [values[category] for category in categories if values.get(category) is not None]
            ax.bar(xs, ys, width=width, label=name)
        ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(categories))])
        ax.set_xticklabels(categories, rotation=20, ha="right", fontsize=7)
        if goal is not None:
            ax.axhline(goal, linestyle="--", color="grey", linewidth=1, label="goal")
        if scale == ["log"]:
            ax.set_yscale("log")
        ax.set_ylabel(y_label)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def cdf_series(values) -> tuple[list[float], list[float]]:
    """Return ``(sorted values, cumulative fraction)`` of ``values`` for a CDF panel (≤ 2,000 points)."""
    data = np.sort(np.asarray(values, dtype=np.float64))
    if data.size == 0:
        return [], []
    picks = np.unique(np.linspace(0, data.size - 1, min(data.size, 2000)).astype(np.int64))
    return data[picks].tolist(), ((picks + 1) / data.size).tolist()


def dump_json(path: str, data: dict) -> None:
    """Write ``data`` as indented JSON."""
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")


def write_outputs(json_path: str | None, png_path: str | None, document: dict, plot) -> None:
    """Write a benchmark's ``document`` as JSON to ``json_path`` (if given) and ``plot(document, png)`` to
    ``png_path``, or beside the JSON with a ``.png`` suffix when only ``json_path`` is given."""
    from pathlib import Path

    if json_path:
        dump_json(json_path, document)
    png = png_path or (str(Path(json_path).with_suffix(".png")) if json_path else None)
    if png:
        plot(document, png)


def run_benchmark(parse_args, main, plot) -> dict:
    """The ``__main__`` of a benchmark: parse, quiet logging, apply ``--switch-interval`` if the script has it,
    run ``main(arguments)`` on uvloop, write its JSON and PNG (:func:`write_outputs`); return the document."""
    import uvloop

    from transport.process.logs import configure_logging

    arguments = parse_args()
    configure_logging("warning")
    if getattr(arguments, "switch_interval", None):
        sys.setswitchinterval(arguments.switch_interval)
    document = uvloop.run(main(arguments))
    write_outputs(arguments.json, arguments.png, document, plot)
    return document
