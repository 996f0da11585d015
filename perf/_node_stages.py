"""Stage stamps inside ``tickstage run`` node processes, for perf/bench_nats.py (issue 18).

Run a node as ``python perf/_node_stages.py <cli args>`` (what :class:`nodes.NodeProcess` does when given
``stages=FILE``): before the desk starts, :func:`install` wraps the order path's methods at class level so each
call appends ``(stamp, time.perf_counter_ns())`` to one list; at exit the list is written to the file named by
:data:`STAGES_FILE_ENV` as JSON lines ``[stamp, ns]``. ``perf_counter_ns`` is ``CLOCK_MONOTONIC`` on Linux: one
clock for every process of the machine, so the bench's own stamps (an order sent, its reply read) and every
node's stamps share one timeline. The bench sends one order at a time and waits for its reply, so a stamp
between an order's send and its reply belongs to that order (:func:`order_timelines`); only order-path methods
are stamped, never the market's.

Each wrapper costs ~0.3–1 µs; a stamped order carries ~20 of them (inside the totals they bracket). The loop
callbacks an order's steps queue behind (the market bridge's drain, the actor runtime's pump) are timed too
(:data:`CALLBACKS`, :func:`loop_callbacks`): how long a loop turn waits is what they take.
:data:`SWITCH_INTERVAL_ENV` sets ``sys.setswitchinterval`` in the node before it starts (the GIL hand-over
interval, CPython's default 5 ms) so one run can compare intervals.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

STAGES_FILE_ENV = "TICKSTAGE_STAGES_FILE"
"""Environment variable: where the node writes its stamps at exit (JSON lines); unset: nothing is stamped."""
STAGES_PREFIX_ENV = "TICKSTAGE_STAGES_PREFIX"
"""Environment variable: a prefix of every stamp of this node (``host.``, ``edge.``), so nodes merge."""
SWITCH_INTERVAL_ENV = "TICKSTAGE_BENCH_SWITCH_INTERVAL_S"
"""Environment variable: ``sys.setswitchinterval`` of the node, seconds (unset: CPython's 0.005)."""

STAMPS: list[tuple[str, int]] = []
"""Every stamp of this process, in call order (list.append is atomic: vn.py's threads stamp too)."""
CALLBACKS: list[tuple[str, int, int]] = []
"""(what, started ns, took ns) of the loop callbacks an order's step waits behind: the market bridge's drain and
the actor runtime's pump slices (the node's own market work, which a loop turn of the order path queues behind)."""


def _time_callback(owner: type, name: str, what: str) -> None:
    """Record each call of ``owner.name`` (a loop callback) in :data:`CALLBACKS`."""
    original = getattr(owner, name, None)
    if original is None:
        return
    clock, calls = time.perf_counter_ns, CALLBACKS

    @functools.wraps(original)
    def timed(*args, **kwargs):
        started = clock()
        try:
            return original(*args, **kwargs)
        finally:
            calls.append((what, started, clock() - started))

    setattr(owner, name, timed)


def _wrap(owner: type, name: str, on_entry: str | None, on_exit: str | None = None,
          when: Callable[..., bool] | None = None) -> None:
    """Stamp ``on_entry`` before and ``on_exit`` after each call of ``owner.name`` (coroutines: after the
    await); ``when(*args)`` picks the calls stamped. An actor handler is also re-pointed in the class's
    dispatch table (actors/_dispatch.py builds it once per class). A method the code does not have (an older or
    newer commit) is left out."""
    original = getattr(owner, name, None)
    if original is None:
        return
    clock, stamps = time.perf_counter_ns, STAMPS
    if inspect.iscoroutinefunction(original):
        @functools.wraps(original)
        async def stamped(*args, **kwargs):
            picked = when is None or when(*args, **kwargs)
            if picked and on_entry:
                stamps.append((on_entry, clock()))
            try:
                return await original(*args, **kwargs)
            finally:
                if picked and on_exit:
                    stamps.append((on_exit, clock()))
    else:
        @functools.wraps(original)
        def stamped(*args, **kwargs):
            picked = when is None or when(*args, **kwargs)
            if picked and on_entry:
                stamps.append((on_entry, clock()))
            try:
                return original(*args, **kwargs)
            finally:
                if picked and on_exit:
                    stamps.append((on_exit, clock()))
    setattr(owner, name, stamped)
    handlers = owner.__dict__.get("_handlers")
    if isinstance(handlers, dict):
        for member, handler in list(handlers.items()):
            if handler is original:
                handlers[member] = stamped


def install(prefix: str = "") -> None:
    """Wrap the order path's methods; each stamp is named for the method it marks (``prefix`` first)."""
    from nats.aio.client import Client

    from actors import ActorRuntime
    from actors.orders.journal import OrderJournal
    from actors.orders.order import OrderActor
    from actors.orders.risk_gate import RiskGate
    from actors.orders.write_ahead import WriteAhead
    from actors.sessions.order_host import OrderHostActor
    from actors.sessions.session import SessionActor
    from transport.cluster.nats_bus import NatsBus
    from transport.cluster.nats_orders import OrderEdgeLink, OrderHost
    from transport.cluster.order_stream import ReplicatedJournal
    from transport.edge.outbox import SocketOutbox
    from transport.edge.ws import SocketServer
    from transport.venue.vnpy_bridge import VnpyBridge
    from transport.venue.vnpy_orders import OrderBridge

    _time_callback(VnpyBridge, "drain", "market_drain")
    _time_callback(VnpyBridge, "_next_slice", "market_drain")   # a drain's later slices: each a loop turn too
    _time_callback(ActorRuntime, "_pump", "runtime_pump")
    p = prefix
    _wrap(SocketServer, "_take", p + "ws_take")
    _wrap(SessionActor, "_on_client", p + "session_client")
    _wrap(OrderEdgeLink, "forward", p + "edge_forward")
    _wrap(OrderEdgeLink, "_answer", p + "edge_answer")
    _wrap(OrderHost, "_on_request", p + "host_request")
    _wrap(OrderActor, "_on_order_command", p + "order_command")
    _wrap(RiskGate, "check", p + "rules0", p + "rules1")
    _wrap(OrderJournal, "write_orders_now", p + "commit0", p + "commit1")
    _wrap(ReplicatedJournal, "replicate_ahead", p + "ahead0")
    _wrap(OrderActor, "wake_replicated", p + "ahead_acked")
    _wrap(WriteAhead, "replicated", p + "ahead_handled")
    _wrap(OrderBridge, "send", p + "send0", p + "send1")
    _wrap(OrderBridge, "drain", p + "drain")
    _wrap(OrderActor, "_on_vnpy_order", p + "vnpy_order")
    _wrap(OrderActor, "_reply", p + "reply0", p + "reply1")
    _wrap(OrderHostActor, "_on_outbound", p + "host_session")
    _wrap(OrderHost, "_on_reply", p + "host_reply")
    _wrap(ReplicatedJournal, "wait_stored", p + "stored_wait0", p + "stored_wait1")   # before 2026-12-05
    _wrap(ReplicatedJournal, "when_stored", p + "stored_wait0")
    _wrap(OrderHost, "_respond", p + "host_respond")
    _wrap(SessionActor, "_on_outbound", p + "session_outbound")
    _wrap(SocketOutbox, "put_nowait", p + "outbox_put")
    _wrap(SocketOutbox, "_write_direct", p + "socket_write")
    _wrap(Client, "publish", p + "nats_publish", when=lambda self, subject, *a, **k: "INBOX" in subject
          or subject.startswith("order.submit."))
    _wrap(Client, "_process_msg", p + "inbox_in", when=lambda self, sid, subject, *a, **k: b"INBOX" in subject)
    _wrap(NatsBus, "store", p + "store0", p + "store1")   # a row on the ORDERS stream, to its acknowledgement
    _wrap(NatsBus, "audit", p + "audit0", p + "audit1")   # a command on the AUDIT stream (off the reply path)
    original_handler = OrderBridge._handler

    def handler(self, kind):   # vn.py's EventEngine thread: the venue's answer leaves vn.py
        on_event = original_handler(self, kind)
        if kind != "order":
            return on_event
        clock, stamps, name = time.perf_counter_ns, STAMPS, p + "vnpy_event"

        def stamped(event):
            stamps.append((name, clock()))
            on_event(event)

        stamped.__name__ = on_event.__name__
        return stamped

    OrderBridge._handler = handler
    _serve_echo(prefix.rstrip("."))


ECHO_SUBJECT = "bench.echo.{node}"
"""A node run with stamps answers a NATS request on this subject with its payload, from its desk's own
connection and loop (``publish_nowait``, as the order host replies): the floor of any request the node serves,
measured beside its orders (perf/bench_nats.py)."""


def _serve_echo(node: str) -> None:
    """Answer ``bench.echo.<node>`` on every NatsBus this process connects (the desk has one)."""
    from transport.cluster.nats_bus import NatsBus

    connect = NatsBus.connect

    async def connect_and_echo(self, *args, **kwargs):
        await connect(self, *args, **kwargs)
        await self.subscribe(ECHO_SUBJECT.format(node=node), lambda msg: self.publish_nowait(msg.reply, msg.data))

    NatsBus.connect = connect_and_echo


def dump(path: str | Path) -> None:
    """Write every stamp as JSON lines ``[stamp, ns]``, and the timed loop callbacks to ``<path>.loop`` as JSON
    lines ``[what, started ns, took ns]``."""
    with open(path, "w") as out:
        for stamp, ns in STAMPS:
            out.write(json.dumps([stamp, ns]) + "\n")
    with open(f"{path}.loop", "w") as out:
        for call in CALLBACKS:
            out.write(json.dumps(call) + "\n")


def loop_callbacks(path: str | Path, since_ns: int, until_ns: int) -> dict[str, dict[str, float]]:
    """Summarize one node's timed loop callbacks (``<path>.loop``) started within ``[since_ns, until_ns]``: per
    kind, the count, p50 / p99 / max µs and the share of that wall time the loop spent in them."""
    import numpy as np

    loop_file = Path(f"{path}.loop")
    if not loop_file.exists() or until_ns <= since_ns:
        return {}
    took: dict[str, list[int]] = {}
    for line in loop_file.read_text().splitlines():
        what, started, ns = json.loads(line)
        if since_ns <= started <= until_ns:
            took.setdefault(what, []).append(ns)
    return {what: {"count": len(ns), "p50_us": round(float(np.percentile(ns, 50)) / 1000, 1),
                   "p99_us": round(float(np.percentile(ns, 99)) / 1000, 1), "max_us": round(max(ns) / 1000, 1),
                   "busy_share": round(sum(ns) / (until_ns - since_ns), 3)} for what, ns in took.items()}


def read_stamps(paths: Iterable[str | Path]) -> list[tuple[str, int]]:
    """Read and merge the stamps of several nodes (missing files: none), sorted by time."""
    merged: list[tuple[str, int]] = []
    for path in paths:
        if Path(path).exists():
            merged += [tuple(json.loads(line)) for line in Path(path).read_text().splitlines() if line]
    merged.sort(key=lambda item: item[1])
    return merged


def order_timelines(stamps: Sequence[tuple[str, int]], windows: Sequence[tuple[int, int]],
                    path: Sequence[str]) -> list[dict[str, int]]:
    """Return, per order window ``(sent_ns, replied_ns)``, the time of each stamp of ``path`` inside it: walking
    ``path`` in order, the first stamp of that name at or after the previous one found (a stamp of an earlier
    order's push, say, before it is skipped), plus ``client_send`` and ``client_recv`` (the window's ends).
    ``stamps`` sorted by time; windows in order and not overlapping (one order at a time)."""
    timelines, i = [], 0
    for sent_ns, replied_ns in windows:
        while i < len(stamps) and stamps[i][1] < sent_ns:
            i += 1
        inside: dict[str, list[int]] = {}
        j = i
        while j < len(stamps) and stamps[j][1] <= replied_ns:
            inside.setdefault(stamps[j][0], []).append(stamps[j][1])
            j += 1
        inside["client_send"], inside["client_recv"] = [sent_ns], [replied_ns]
        timeline, previous = {}, sent_ns
        for name in path:
            found = next((t for t in inside.get(name, ()) if t >= previous), None)
            if found is not None:
                timeline[name] = previous = found
        timelines.append(timeline)
        i = j
    return timelines


def stage_samples(timelines: Sequence[dict[str, int]], path: Sequence[str]) -> dict[str, list[float]]:
    """Return ``"a→b"`` → µs samples between consecutive stamps of ``path`` present in each timeline (a missing
    stamp joins its neighbours' stage: ``"a→c"``); ``"total"``: first to last."""
    samples: dict[str, list[float]] = {}
    for timeline in timelines:
        present = [name for name in path if name in timeline]
        for a, b in zip(present, present[1:]):
            samples.setdefault(f"{a}→{b}", []).append((timeline[b] - timeline[a]) / 1000)
        if len(present) > 1:
            samples.setdefault("total", []).append((timeline[present[-1]] - timeline[present[0]]) / 1000)
    return samples


def main(argv: list[str]) -> int:
    """Install the stamps (and the switch interval), run ``transport.process.cli.main(argv)``, dump at exit."""
    interval = os.environ.get(SWITCH_INTERVAL_ENV)
    if interval:
        sys.setswitchinterval(float(interval))
    target = os.environ.get(STAGES_FILE_ENV)
    if target:
        install(os.environ.get(STAGES_PREFIX_ENV, ""))
        atexit.register(dump, target)
    from transport.process.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main(sys.argv[1:]))
