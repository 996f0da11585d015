"""``tickstage watch``: a terminal client of one group's frame stream.

It authenticates, subscribes to a group, pings once a second and prints,
every second, frames, rows, bytes, seq gaps, tick→client latency (venue
receive of a frame's newest tick → received here) and the latency of each
hop up to receipt, as p50/p95/p99 in ms over that second's delta frames:

==========================  =========================================================================
``exchange→venue*``         newest tick's ``gatewayRecvTsNs − exchangeTsNs − exchangeSkewNs``: two
                            clocks (the exchange's and the desk's), corrected by the frame's skew
``venue→built``             ``builtTsNs −`` newest ``gatewayRecvTsNs`` (desk clock: the 33 ms window)
``built→sent (server)``     frame built → written to this socket, the session's figures sent in each
                            pong (desk clock)
``built→received†``         received here ``+ offset − builtTsNs``: two clocks (the desk's and this
                            machine's), corrected by the ping/pong offset (± half its round trip)
==========================  =========================================================================

It also prints the exchange's clock skew (venue receive − exchange time, as the
desk measured it: a replay's recorded stamps are years old) and this
machine's clock offset to the desk. At the end it prints one JSON line with
``frames``, ``rows``, ``bytes``, ``seq_gaps``, ``latency_p50_ms``,
``latency_p99_ms``, ``hops`` (hop → ``{p50_ms, p95_ms, p99_ms, samples,
clocks}``), ``exchange_skew_ms``, ``clock_offset_ms``, ``round_trip_ms``
(and more).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field

import aiohttp
import numpy as np

import schemas
from actors.market.frames import frame_columns
from transport.edge.client import MAX_MESSAGE_BYTES, client_message
from transport.latency import ClockOffset, HopPercentiles, percentiles_of

HOPS = {
    "exchange_venue": ("exchange→venue*", "exchange → desk, corrected by the exchange's clock skew"),
    "venue_built": ("venue→built", "desk"),
    "built_sent": ("built→sent (server)", "desk"),
    "built_received": ("built→received†", "desk → this machine, corrected by the ping/pong offset"),
}
"""Hop key → (printed name, the clocks it spans)."""


@dataclass
class StreamStats:
    """What a watcher counts. Latencies in ms; hop samples in ns."""

    frames: int = 0
    snapshots: int = 0
    rows: int = 0
    bytes: int = 0
    seq_gaps: int = 0
    seq_not_increasing: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    last_seq: int | None = None
    hops_ns: dict[str, list[int]] = field(default_factory=lambda: {key: [] for key in HOPS if key != "built_sent"})
    exchange_skew_ns: int = 0
    clock: ClockOffset = field(default_factory=ClockOffset)
    socket_send: HopPercentiles | None = None

    def observe_frame(self, data: bytes, received_ns: int) -> None:
        """Account one ServerMessage groupFrame (raw bytes) received at ``received_ns`` (this machine's clock).

        A delta with rows adds one sample per hop, from its newest tick (see the module's table).
        """
        with schemas.stream.ServerMessage.from_bytes(data) as message:
            frame = message.groupFrame
            seq, kind, built_ns, skew_ns = frame.seq, str(frame.kind), frame.builtTsNs, frame.exchangeSkewNs
        columns = frame_columns(data)
        self.frames += 1
        self.bytes += len(data)
        self.rows += len(columns["indexes"])
        if skew_ns:
            self.exchange_skew_ns = skew_ns
        if kind == "snapshot":
            self.snapshots += 1
        elif self.last_seq is not None and seq != self.last_seq + 1:
            self.seq_gaps += 1
        if self.last_seq is not None and seq <= self.last_seq and kind == "delta":
            self.seq_not_increasing += 1
        self.last_seq = seq
        if kind == "delta" and len(columns["gatewayRecvTsNs"]):
            newest = int(columns["gatewayRecvTsNs"].argmax())
            venue_ns = int(columns["gatewayRecvTsNs"][newest])
            desk_received_ns = received_ns + self.clock.offset_ns
            self.latencies_ms.append((desk_received_ns - venue_ns) / 1e6)
            if skew_ns:
                self.hops_ns["exchange_venue"].append(venue_ns - int(columns["exchangeTsNs"][newest]) - skew_ns)
            self.hops_ns["venue_built"].append(built_ns - venue_ns)
            self.hops_ns["built_received"].append(desk_received_ns - built_ns)

    def observe_pong(self, data: bytes, received_ns: int) -> None:
        """Take a pong: the clock offset sample and the server's built → socket write figures."""
        with schemas.stream.ServerMessage.from_bytes(data) as message:
            pong = message.pong
            self.clock.observe(pong.clientTsNs, message.envelope.sentTsNs, received_ns)
            send = pong.socketSend
            self.socket_send = HopPercentiles(send.p50Ns, send.p95Ns, send.p99Ns, send.samples)

    def hop_figures(self, since: dict[str, int] | None = None) -> dict[str, HopPercentiles]:
        """Return hop → percentiles over the samples after ``since`` (hop → sample count; None: all)."""
        figures = {key: percentiles_of(values[(since or {}).get(key, 0):]) for key, values in self.hops_ns.items()}
        if self.socket_send is not None:
            figures["built_sent"] = self.socket_send
        return {key: figures[key] for key in HOPS if key in figures}

    def summary(self) -> dict:
        """Return the totals, latency percentiles, hops, skew and clock offset."""
        lat = np.array(self.latencies_ms) if self.latencies_ms else np.array([np.nan])
        hops = {key: {**figures.as_ms(), "clocks": HOPS[key][1]} for key, figures in self.hop_figures().items()}
        return {"frames": self.frames, "snapshots": self.snapshots, "rows": self.rows,
                "bytes": self.bytes, "seq_gaps": self.seq_gaps,
                "seq_not_increasing": self.seq_not_increasing,
                "latency_p50_ms": round(float(np.nanpercentile(lat, 50)), 3),
                "latency_p99_ms": round(float(np.nanpercentile(lat, 99)), 3),
                "hops": hops,
                "exchange_skew_ms": round(self.exchange_skew_ns / 1e6, 3) if self.exchange_skew_ns else None,
                "clock_offset_ms": round(self.clock.offset_ns / 1e6, 3) if self.clock.known else None,
                "round_trip_ms": round(self.clock.round_trip_ns / 1e6, 3) if self.clock.known else None,
                "errors": self.errors}


def format_skew(skew_ns: int) -> str:
    """Return a clock skew for people: ``+3279 d 01:02:03.456`` past a day, else ``+1.234 s`` / ``+12.3 ms``."""
    sign = "-" if skew_ns < 0 else "+"
    magnitude = abs(skew_ns)
    if magnitude >= 86_400 * 10**9:
        days, rest = divmod(magnitude, 86_400 * 10**9)
        hours, rest = divmod(rest, 3_600 * 10**9)
        minutes, rest = divmod(rest, 60 * 10**9)
        return f"{sign}{days} d {hours:02d}:{minutes:02d}:{rest / 1e9:06.3f}"
    if magnitude >= 10**9:
        return f"{sign}{magnitude / 1e9:.3f} s"
    return f"{sign}{magnitude / 1e6:.1f} ms"


def report_line(group: str, stats: StreamStats, last: StreamStats, since: dict[str, int]) -> str:
    """Return one second's line: counts, tick→client p99, each hop's p50/p95/p99 (ms), skew and clock offset.

    Args:
        last: the counts at the previous line (frames, rows, bytes, latencies).
        since: hop → samples at the previous line.
    """
    window = stats.latencies_ms[len(last.latencies_ms):]
    p99 = float(np.percentile(window, 99)) if window else float("nan")
    hops = []
    for key, figures in stats.hop_figures(since).items():
        name = HOPS[key][0]
        if figures.samples:
            hops.append(f"{name} {figures.p50_ns / 1e6:.1f}/{figures.p95_ns / 1e6:.1f}/{figures.p99_ns / 1e6:.1f}")
        else:
            hops.append(f"{name} –")
    skew = format_skew(stats.exchange_skew_ns) if stats.exchange_skew_ns else "–"
    offset = (f"{stats.clock.offset_ns / 1e6:+.2f} ms ±{stats.clock.round_trip_ns / 2e6:.2f}" if stats.clock.known
              else "–")
    return (f"{group}: {stats.frames - last.frames} frames/s, {stats.rows - last.rows} rows, "
            f"{stats.bytes - last.bytes} B, gaps {stats.seq_gaps}, latency p99 {p99:.1f} ms | "
            f"hops p50/p95/p99 ms: {', '.join(hops)} | exchange skew {skew} | clock offset {offset} "
            "(* exchange clock, skew-corrected; † this machine's clock, offset-corrected)")


async def watch(url: str, token: str, group: str, seconds: float, out=sys.stdout) -> dict:
    """Watch ``group`` for ``seconds`` and return the summary.

    Raises:
        ConnectionError: the server refused the token or the group.
    """
    stats = StreamStats()
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=MAX_MESSAGE_BYTES) as ws:
        await ws.send_bytes(client_message(1, auth={"token": token}))
        await ws.send_bytes(client_message(2, subscribe={"groups": [group]}))
        message_id = 2
        await ws.send_bytes(client_message(message_id := message_id + 1, ping={"clientTsNs": time.time_ns()}))
        deadline = time.monotonic() + seconds
        next_report = time.monotonic() + 1.0
        last = StreamStats()
        since: dict[str, int] = {}
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = await asyncio.wait_for(ws.receive(), min(remaining, 1.0))
            except TimeoutError:
                msg = None
            if msg is not None:
                if msg.type != aiohttp.WSMsgType.BINARY:
                    raise ConnectionError(f"socket closed: {ws.close_code} {msg.extra or ''}")
                received_ns = time.time_ns()
                with schemas.stream.ServerMessage.from_bytes(msg.data) as message:
                    member = message.which()
                    if member == "error":
                        text = f"{message.error.code}: {message.error.message}"
                        stats.errors.append(text)
                        if str(message.error.code) in ("unauthenticated", "tokenExpired", "unknownGroup"):
                            raise ConnectionError(text)
                if member == "groupFrame":
                    stats.observe_frame(msg.data, received_ns)
                elif member == "pong":
                    stats.observe_pong(msg.data, received_ns)
            if time.monotonic() >= next_report:
                next_report += 1.0
                print(report_line(group, stats, last, since), file=out, flush=True)
                last = StreamStats(frames=stats.frames, rows=stats.rows, bytes=stats.bytes,
                                   latencies_ms=list(stats.latencies_ms))
                since = {key: len(values) for key, values in stats.hops_ns.items()}
                await ws.send_bytes(client_message(message_id := message_id + 1,
                                                   ping={"clientTsNs": time.time_ns()}))
    summary = {"group": group, **stats.summary()}
    print(json.dumps(summary), file=out, flush=True)
    return summary


__all__ = ["HOPS", "StreamStats", "format_skew", "report_line", "watch"]
