"""Soak: the recorded trading day at 10× with faults, watching memory, loop stalls and latency over time.

Issue 18's memory row: RSS flat (growth < 2 % after warm-up) over an hour,
and no loop stall over 50 ms. Runs sim/harness/scenarios/trading-day.toml
through ``sim.harness.runner.run_scenario`` (a full in-process desk on
loopback: simulator gateway replaying the recorded day, vn.py, actors,
probes over WebSocket), at ``--speed`` (default 20×, see the warm-up below) for ``--minutes``
(default 60; ``--quick``: 2), its faults spread evenly over the run. Once
a second it samples, on the desk's loop:

* ``rss_mb``: VmRSS of the process;
* ``loop_lag_max_ms``: the latest a 10 ms loop timer ran in that second;
* ``send_p99_ms``: the worst socket's frame built → written p99 (the
  sessions' ``SocketOutbox.send_latency``);
* ``replay_pass``: how many times the replay has restarted the tape (0 in the first pass);

and every ``HEAP_EVERY_S`` seconds glibc's heap, RSS's anonymous and file-backed parts and pymalloc's arenas
(:func:`heap_figures`, :func:`rss_parts_mb`, :func:`parse_mallocstats`).

Verdict (``passed``): after the warm-up the mean RSS of the last tenth of the run is within
``--max-growth`` (2 %) of the first tenth after warm-up, and no loop stall
after warm-up exceeds ``--max-stall-ms`` (50 ms), outside the seconds the
scenario's own faults stall or restart things (from 3 s before each ``at_s``
to 3 s after its end, excluded and listed).

**The warm-up is one whole pass of the recorded day** (and at least ``--warmup-s``, default a quarter of the
run, at most 5 minutes): it ends when the replay restarts the tape from its beginning (``sim/feed.py``
loops; ``replay_pass`` counts it from the feed's exchange time jumping back). The rule's reason: what the
desk and the harness hold is bounded by what the tape has shown them, and the tape shows it late.
Contracts first trade all day long (2017-11-13's tape: 209 of its 429 in the night session's first half
hour, 280 in the night, 69 at the day session's open 08:59–09:29, the last at 14:59:27), and each leaves
state that lives as long as the desk (vn.py's ``OmsEngine.ticks``; the tick batches' skeletons, one per
group and row count, ``schemas/_templates.py``). The tape's rate differs by session (its 09:00 hour has
531,260 rows, its 23:00 hour 152,493): what is in flight follows it, and pymalloc's arenas (an arena is
given back only when no object in it lives) keep its high-water mark. A verdict whose first tenth is in
the night session and last tenth in the day session compares two markets, not memory at rest. After one
pass every contract has ticked and every session's rate has been seen: growth in the second pass is
growth. At 10× (issue 18's speed) a pass is ~58 min, so a verdict at 10× needs ``--minutes 120``; the
default 20× (the scenario's own speed) judges a second pass within the hour: the scenario sets ``[desk]
loop = true`` (the simulator restarts the tape at its end; the hour of 2026-12-05 07:27 ran before it did, and
its replay stopped at the tape's end). A run that ends before the pass does fails the verdict and says so; ``--no-warmup-pass`` judges after ``--warmup-s`` alone
(diagnostic runs shorter than a pass).

With ``--tracemalloc N`` it traces allocations (N frames each;
slower: read its RSS and stalls as a diagnosis, not a verdict), snapshots the heap when the warm-up ends and
5 s before the timeline ends (the desk still running: the runner stops it, and frees what it held, at the end), and writes the top ``--tracemalloc-top`` differences by traceback (``tracemalloc_top``) and by
file (``tracemalloc_files``). Writes ``--json`` and a PNG of the three series
against time beside it. Exit status 1 when the verdict fails. The machine is
shared: a neighbour's burst shows up as loop lag; read the plot.

Usage::

    .venv/bin/python perf/soak.py --quick --json soak.json     # ~2.5 min
    .venv/bin/python perf/soak.py --json soak.json             # ~62 min at 20×: a warm-up pass, a judged pass
    .venv/bin/python perf/soak.py --speed 10 --minutes 120 --json soak.json  # ~2 h at 10×
    .venv/bin/python perf/soak.py --minutes 6 --tracemalloc 12 --json soak-heap.json  # where memory goes
"""

from __future__ import annotations

import argparse
import array
import asyncio
import ctypes
import dataclasses
import os
import sys
import time
from pathlib import Path


from _common import run_benchmark, machine, rss_mb, write_png

SCENARIO = Path(__file__).resolve().parents[1] / "sim" / "harness" / "scenarios" / "trading-day.toml"
LAG_PERIOD_S = 0.01
"""Period of the loop-lag probe's timer, seconds."""
LAST_SNAPSHOT_BEFORE_END_S = 5.0
"""``--tracemalloc``'s last snapshot is taken this long before the timeline ends, with the desk running."""
COLUMNS = ("t_s", "rss_mb", "loop_lag_max_ms", "send_p99_ms", "replay_pass", "malloc_used_mb", "malloc_free_mb", "py_blocks",
           "rss_anon_mb", "rss_file_mb", "arenas", "arenas_highwater", "arena_mb", "arena_used_mb", "arena_free_mb")
"""What :class:`Sampler` records each second."""
HEAP_EVERY_S = 10
"""Seconds between samples of the malloc heap (:func:`heap_figures`: it walks glibc's free lists and pymalloc's
arenas)."""
_INT_COLUMNS = frozenset({"py_blocks", "arenas", "arenas_highwater", "replay_pass"})
"""Columns that are counts (written to the JSON as ints)."""
_SKIPPED_IN_PROCESS = {"nats_disconnect", "restart_desk"}
"""Faults left out: the in-process desk has no NATS, and a desk restart starts a second desk (RSS jumps)."""


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def heap_figures() -> dict:
    """glibc's heap (``mallinfo2``: in use, free but kept) and CPython's allocated blocks, MB and counts.

    ``malloc_used_mb`` counts every live malloc block, the Python heap's arenas and native
    buffers (pycapnp, numpy, zlib, OpenSSL) alike; ``malloc_free_mb`` is freed memory glibc
    keeps (fragmentation); ``py_blocks`` is ``sys.getallocatedblocks()`` (live Python objects,
    roughly; pymalloc's count, 0 under ``PYTHONMALLOC=malloc``). Empty off glibc.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return {}
    info = libc.mallinfo2()
    return {"malloc_used_mb": round((info.uordblks + info.hblkhd) / 2**20, 1),
            "malloc_free_mb": round(info.fordblks / 2**20, 1), "py_blocks": sys.getallocatedblocks()}


def parse_mallocstats(text: str) -> dict:
    """Read CPython's object-allocator (pymalloc) figures from ``sys._debugmallocstats()``'s report.

    Args:
        text: the report, as CPython 3.8–3.13 print it (``# arenas allocated current = 113`` lines, numbers
            with thousands separators, then ``Total = ...`` closing the arenas' section).

    Returns:
        ``arenas`` (arenas allocated now; each is 1 MiB on 64-bit CPython ≥ 3.10, mmap'd and given back only
        when every block in it is free), ``arenas_highwater`` (most ever held at once), ``arena_mb`` (the
        arenas' total size), ``arena_used_mb`` (bytes in allocated blocks: live objects) and ``arena_free_mb``
        (bytes in available blocks and unused pools: memory held by arenas that no object uses, i.e.
        fragmentation). Keys whose line is missing are left out; an empty dict when none is found.
    """
    values: dict[str, int] = {}
    total = None
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if not sep:
            continue
        try:
            number = int(value.strip().replace(",", ""))
        except ValueError:
            continue
        name = name.strip()
        if name.startswith("# "):
            values[name[2:].strip()] = number
        elif " unused pools * " in name:
            values["unused pools"] = number
        elif name == "Total" and total is None:  # the first Total closes the arenas' section
            total = number
    figures = {}
    for key, source in (("arenas", "arenas allocated current"), ("arenas_highwater", "arenas highwater mark")):
        if source in values:
            figures[key] = values[source]
    if total is not None:
        figures["arena_mb"] = round(total / 2**20, 2)
    if "bytes in allocated blocks" in values:
        figures["arena_used_mb"] = round(values["bytes in allocated blocks"] / 2**20, 2)
    if "bytes in available blocks" in values:
        free = values["bytes in available blocks"] + values.get("unused pools", 0)
        figures["arena_free_mb"] = round(free / 2**20, 2)
    return figures


def mallocstats_text() -> str:
    """Return ``sys._debugmallocstats()``'s report (it writes to the C-level stderr, fd 2: captured through a
    temporary file swapped in for fd 2 for the call; a line another thread writes to stderr meanwhile lands in
    it and is dropped). Its arenas' section is missing when pymalloc is not the object allocator in use
(``PYTHONMALLOC=malloc``, or ``--tracemalloc``, whose hooks wrap it): :func:`parse_mallocstats` then returns
``{}``."""
    import tempfile

    sys.stderr.flush()
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        return capture.read().decode("utf-8", "replace")


def rss_parts_mb() -> dict:
    """``RssAnon`` (heap, arenas, stacks) and ``RssFile`` (mapped files: libraries' code paged in) of
    /proc/self/status, MB."""
    parts = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                key = "rss_anon_mb" if line.startswith("RssAnon") else "rss_file_mb"
                parts[key] = round(int(line.split()[1]) / 1024, 1)
    return parts


class PassCounter:
    """Counts the replay's passes over its tape from the exchange time of the last row it emitted.

    The feed (``sim/feed.py``) restarts the tape from its beginning at its end; its exchange time then jumps
    back. A jump back of more than ``rewind_ns`` is a new pass (a ``clock_skew`` fault shifts stamps by
    seconds, and only the ticks', not the feed's own exchange time).

    Args:
        rewind_ns: least jump back that counts as a restart of the tape, ns (default one hour: the tape's
            sessions are hours apart, a fault's skew is seconds).
    """

    def __init__(self, rewind_ns: int = 3_600 * 10**9) -> None:
        self.rewind_ns = rewind_ns
        self.passes = 0
        self._latest_ns = 0

    def observe(self, exchange_time_ns: int) -> int:
        """Note the feed's exchange time (UNIX ns; 0: nothing emitted yet) and return the passes completed."""
        if exchange_time_ns and self._latest_ns and exchange_time_ns < self._latest_ns - self.rewind_ns:
            self.passes += 1
        if exchange_time_ns:
            self._latest_ns = exchange_time_ns
        return self.passes


class Sampler:
    """Once a second: RSS, the second's worst loop lag, the sockets' send p99 and the replay's pass (loop
    thread)."""

    def __init__(self, desks: list) -> None:
        self.desks = desks
        self.passes = PassCounter()
        self.columns: dict[str, array.array] = {name: array.array("d") for name in COLUMNS}
        """One float per second and column (NaN: not sampled that second): in fixed memory per second, so the
        probe's own samples hardly count in the RSS it judges (a dict a second was ~1.8 MB an hour, 1 %)."""
        self._loop = asyncio.get_running_loop()
        self._lag_max_ms = 0.0
        self._started = time.monotonic()
        self._tasks = [asyncio.create_task(self._lag()), asyncio.create_task(self._sample())]

    async def _lag(self) -> None:
        while True:
            due = self._loop.time() + LAG_PERIOD_S
            await asyncio.sleep(LAG_PERIOD_S)
            self._lag_max_ms = max(self._lag_max_ms, (self._loop.time() - due) * 1e3)

    def _send_p99_ms(self) -> float | None:
        if not self.desks:
            return None
        registry = self.desks[-1].runtime.registry
        worst = [s.outbox.send_latency.percentiles() for e in registry.children("sessions")
                 if (s := e.instance) is not None and getattr(s, "outbox", None) is not None]
        worst = [h.p99_ns for h in worst if h.samples]
        return round(max(worst) / 1e6, 3) if worst else None

    def _replay_pass(self) -> int | None:
        engine = getattr(self.desks[-1], "engine", None) if self.desks else None
        progress = engine.progress() if engine is not None else None
        if not progress:
            return None
        return self.passes.observe(int(progress.get("exchange_time_ns", 0)))

    async def _sample(self) -> None:
        count = 0
        while True:
            await asyncio.sleep(1.0)
            lag, self._lag_max_ms = self._lag_max_ms, 0.0
            row = {"t_s": round(time.monotonic() - self._started, 1), "rss_mb": rss_mb(),
                   "loop_lag_max_ms": round(lag, 2), "send_p99_ms": self._send_p99_ms(),
                   "replay_pass": self._replay_pass()}
            if count % HEAP_EVERY_S == 0:
                row.update(heap_figures())
                row.update(rss_parts_mb())
                row.update(parse_mallocstats(mallocstats_text()))
            count += 1
            for name, column in self.columns.items():
                value = row.get(name)
                column.append(float("nan") if value is None else value)

    @property
    def rows(self) -> list[dict]:
        """The samples, one dict a second (the columns sampled that second)."""
        names = list(self.columns)
        return [{name: (int(v) if name in _INT_COLUMNS else v) for name, v in zip(names, values, strict=True)
                 if v == v}
                for values in zip(*self.columns.values(), strict=True)]

    def stop(self) -> None:
        """Cancel both probes."""
        for task in self._tasks:
            task.cancel()


class HeapDiff:
    """tracemalloc snapshots at the warm-up's end and at the end, and their difference (loop thread)."""

    def __init__(self, frames: int, warmup_s: float, top: int) -> None:
        import tracemalloc

        self.top = top
        self.first = self.last = None
        self.warmup_rss_mb = self.last_rss_mb = 0.0
        self.traced_mb = 0.0
        tracemalloc.start(frames)
        self._task = asyncio.create_task(self._first(warmup_s))
        self._last_task: asyncio.Task | None = None

    async def _first(self, warmup_s: float) -> None:
        await asyncio.sleep(warmup_s)
        self.first = self._snapshot()
        self.warmup_rss_mb = rss_mb()

    def last_at(self, delay_s: float) -> None:
        """Take the last snapshot ``delay_s`` from now, while the desk still runs (the runner stops it at
        the end of the timeline, freeing what it held: a snapshot after that shows no desk growth)."""
        async def last() -> None:
            import tracemalloc

            await asyncio.sleep(delay_s)
            self.last = self._snapshot()
            self.last_rss_mb = rss_mb()
            self.traced_mb = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)

        self._last_task = asyncio.create_task(last())

    @staticmethod
    def _snapshot():
        import tracemalloc

        return tracemalloc.take_snapshot().filter_traces((
            tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")))

    def finish(self) -> dict:
        """Stop tracing; return the top differences by traceback and by file, bytes and allocation counts."""
        import tracemalloc

        self._task.cancel()
        if self._last_task is not None:
            self._last_task.cancel()
        last = self.last
        traced_mb = self.traced_mb
        tracemalloc.stop()
        if self.first is None or last is None:
            return {"tracemalloc_error": "the run ended before the warm-up did, or before the last snapshot"}
        by_trace = sorted(last.compare_to(self.first, "traceback"), key=lambda d: -d.size_diff)[:self.top]
        by_file = sorted(last.compare_to(self.first, "filename"), key=lambda d: -d.size_diff)[:self.top]
        return {
            "tracemalloc_traced_mb": traced_mb, "tracemalloc_warmup_rss_mb": self.warmup_rss_mb,
            "tracemalloc_last_rss_mb": self.last_rss_mb,
            "tracemalloc_top": [{"size_diff_kb": round(d.size_diff / 1024, 1), "count_diff": d.count_diff,
                                 "size_kb": round(d.size / 1024, 1),
                                 "traceback": [f"{_short(f.filename)}:{f.lineno}" for f in d.traceback]}
                                for d in by_trace],
            "tracemalloc_files": [{"file": _short(d.traceback[0].filename), "size_diff_kb": round(d.size_diff / 1024, 1),
                                   "count_diff": d.count_diff} for d in by_file],
        }


def _short(filename: str) -> str:
    """A traced file's path from the repository or site-packages, not the machine's."""
    for marker in ("site-packages/", "/truth/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def soak_scenario(minutes: float, speed: float):
    """Return trading-day.toml at ``speed``× for ``minutes``, its faults spread evenly over the run."""
    from sim.harness.scenario import load_scenario

    scenario = load_scenario(SCENARIO)
    duration_s = minutes * 60
    faults = [f for f in scenario.faults if f.kind not in _SKIPPED_IN_PROCESS]
    spacing = duration_s / (len(faults) + 1)
    faults = tuple(dataclasses.replace(f, at_s=round((i + 1) * spacing, 1)) for i, f in enumerate(faults))
    return dataclasses.replace(scenario, name="soak", duration_s=duration_s, faults=faults,
                               desk=dataclasses.replace(scenario.desk, speed=speed))


def warmup_end_s(rows: list[dict], warmup_s: float, whole_pass: bool) -> float | None:
    """Return when the warm-up ends, s from the samples' start: ``warmup_s``, or with ``whole_pass`` the first
    sample of the replay's second pass if later (module docstring); None when ``whole_pass`` and the run never
    got there."""
    if not whole_pass:
        return warmup_s
    second = next((r["t_s"] for r in rows if r.get("replay_pass", 0) >= 1), None)
    return None if second is None else max(warmup_s, second)


def judge(rows: list[dict], faults, warmup_s: float, offset_s: float, args) -> dict:
    """Return the verdict: RSS growth after warm-up, the worst loop stall outside fault windows.

    ``warmup_s`` counts from the samples' start; with ``args.warmup_pass`` the warm-up also lasts the
    replay's first pass (:func:`warmup_end_s`); a run that never finished one is judged after ``warmup_s``
    and fails, saying so.
    """
    excluded = [(offset_s + f.at_s - 3.0, offset_s + f.at_s + f.duration_ms / 1e3 + 3.0) for f in faults]
    pass_end_s = warmup_end_s(rows, warmup_s, args.warmup_pass)
    failures = []
    if pass_end_s is None:
        failures.append("the replay did not start a second pass of the tape: state bounded by the tape may "
                        "still have been arriving (the simulator stops at the tape's end unless its setting "
                        "loop is on; see the module docstring)")
    else:
        warmup_s = pass_end_s
    after = [r for r in rows if r["t_s"] >= warmup_s]
    if len(after) < 10:
        return {"passed": False, "failures": [*failures, f"only {len(after)} samples after the {warmup_s} s warm-up"]}
    tenth = max(1, len(after) // 10)
    first = sum(r["rss_mb"] for r in after[:tenth]) / tenth
    last = sum(r["rss_mb"] for r in after[-tenth:]) / tenth
    growth = (last - first) / first
    calm = [r for r in after if not any(a <= r["t_s"] <= b for a, b in excluded)]
    stall = max((r["loop_lag_max_ms"] for r in calm), default=0.0)
    if growth > args.max_growth:
        failures.append(f"RSS grew {growth:.1%} after warm-up ({first:.1f} → {last:.1f} MB), over "
                        f"{args.max_growth:.0%}")
    if stall > args.max_stall_ms:
        failures.append(f"a loop stall of {stall:.1f} ms outside fault windows, over {args.max_stall_ms} ms")
    return {"passed": not failures, "failures": failures, "rss_growth": round(growth, 4),
            "rss_first_mb": round(first, 1), "rss_last_mb": round(last, 1), "max_stall_ms": round(stall, 2),
            "warmup_end_s": round(warmup_s, 1), "judged_s": round(after[-1]["t_s"] - after[0]["t_s"], 1),
            "fault_windows_s": [(round(a, 1), round(b, 1)) for a, b in excluded]}


async def main(args) -> dict:
    """Run the soak and return the JSON document."""
    import sim.harness.runner as runner
    import transport.process.app as app

    scenario = soak_scenario(args.minutes, args.speed)
    desks: list = []
    start = app.Desk.start

    async def start_and_keep(desk, *a, **k):  # the runner builds its Desk inside: keep a handle to sample it
        desks.append(desk)
        return await start(desk, *a, **k)

    settled = runner.wait_settled
    timeline_started: list[float] = []

    async def settled_and_mark(*a, **k):  # the timeline (fault at_s) starts when the runner's warm-up ends
        result = await settled(*a, **k)
        timeline_started.append(time.monotonic())
        if heap is not None:
            heap.last_at(max(1.0, scenario.duration_s - LAST_SNAPSHOT_BEFORE_END_S))
        return result

    app.Desk.start, runner.wait_settled = start_and_keep, settled_and_mark
    sampler = Sampler(desks)
    default_warmup_s = args.warmup_s if args.warmup_s is not None else min(300.0, scenario.duration_s / 4)
    heap = HeapDiff(args.tracemalloc, default_warmup_s + 10.0, args.tracemalloc_top) if args.tracemalloc else None
    started = time.monotonic()
    try:
        report = await runner.run_scenario(scenario)
        heap_figures = heap.finish() if heap is not None else {}
    finally:
        sampler.stop()
        app.Desk.start, runner.wait_settled = start, settled
    timeline_offset_s = (timeline_started[0] if timeline_started else started) - started
    warmup_s = args.warmup_s if args.warmup_s is not None else min(300.0, scenario.duration_s / 4)
    # warm-up counts from the timeline's start: the desk's own start (replay load, probes) comes before it
    verdict = judge(sampler.rows, scenario.faults, timeline_offset_s + warmup_s, timeline_offset_s, args)
    print(f"soak {args.minutes} min at {args.speed}×: {'passed' if verdict['passed'] else 'FAILED'} "
          f"{verdict.get('failures') or ''} rss {verdict.get('rss_first_mb')} → {verdict.get('rss_last_mb')} MB, "
          f"max stall {verdict.get('max_stall_ms')} ms, judged from t = {verdict.get('warmup_end_s')} s for "
          f"{verdict.get('judged_s')} s; scenario {'passed' if report.passed else 'failed'} "
          f"{report.failures}", file=sys.stderr, flush=True)
    return {"verdict": verdict, "samples": sampler.rows, "scenario_passed": report.passed,
            "scenario_failures": report.failures, "faults": [f.kind for f in scenario.faults],
            "max_rss_mb": report.max_rss_mb, "loop_lag_p99_ms": report.loop_lag_p99_ms,
            "machine": machine(), "load_average_1m": round(os.getloadavg()[0], 2),
            "args": {k: v for k, v in vars(args).items() if k not in ("json", "png")}, **heap_figures}


def plot(document: dict, path: str) -> None:
    """RSS, loop lag, send p99, the heap (malloc in use, Python's allocated blocks) and RSS's parts beside
    pymalloc's arenas against time."""
    rows = document["samples"]
    t = [r["t_s"] for r in rows]
    heap = [r for r in rows if "malloc_used_mb" in r]
    write_png(path, f"soak: trading day at {document['args']['speed']}× with faults, "
                    f"{document['args']['minutes']} min (shared 2-core machine)", [
        ("RSS MB", "seconds", {"rss": (t, [r["rss_mb"] for r in rows])}, None),
        ("loop lag max ms / s", "seconds", {"loop lag": (t, [r["loop_lag_max_ms"] for r in rows])},
         document["args"]["max_stall_ms"]),
        ("send p99 ms (built → written)", "seconds", {"worst socket": (t, [r.get("send_p99_ms") for r in rows])},
         None),
        ("heap: malloc in use MB, Python blocks / 10,000", "seconds", {
            "malloc in use": ([r["t_s"] for r in heap], [r["malloc_used_mb"] for r in heap]),
            "Python blocks / 10k": ([r["t_s"] for r in heap], [r["py_blocks"] / 1e4 for r in heap])}, None),
        ("RSS parts and pymalloc arenas MB", "seconds", {
            name: ([r["t_s"] for r in heap if key in r], [r[key] for r in heap if key in r])
            for name, key in (("RSS anonymous", "rss_anon_mb"), ("RSS files", "rss_file_mb"),
                              ("arenas held", "arena_mb"), ("arenas' live blocks", "arena_used_mb"),
                              ("arenas' free blocks", "arena_free_mb"))
            if any(key in r for r in heap)}, None),
    ])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--quick`` runs 2 minutes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 minutes")
    parser.add_argument("--minutes", type=float, help="run length (default 60, quick 2)")
    parser.add_argument("--speed", type=float, default=20.0,
                        help="replay speed of the recorded day (default 20: a warm-up pass and a judged pass in "
                             "the hour; 10 needs --minutes 120)")
    parser.add_argument("--warmup-s", type=float, help="excluded from the verdict (default a quarter, ≤ 300 s)")
    parser.add_argument("--no-warmup-pass", dest="warmup_pass", action="store_false",
                        help="judge after --warmup-s even if the replay has not played the whole tape once")
    parser.add_argument("--max-growth", type=float, default=0.02, help="RSS growth allowed after warm-up")
    parser.add_argument("--max-stall-ms", type=float, default=50.0, help="worst loop stall allowed, ms")
    parser.add_argument("--json", help="write the results here (and a PNG beside it)")
    parser.add_argument("--png", help="write the plot here (default: --json with .png)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="trace allocations with this many frames; diff the heap after warm-up vs the end")
    parser.add_argument("--tracemalloc-top", type=int, default=25, help="differences kept in the JSON")
    args = parser.parse_args(argv)
    args.minutes = args.minutes or (2.0 if args.quick else 60.0)
    return args


if __name__ == "__main__":
    document = run_benchmark(parse_args, main, plot)
    sys.exit(0 if document["verdict"]["passed"] else 1)
