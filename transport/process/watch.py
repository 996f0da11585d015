"""``tickstage watch``: a terminal client of one group's frame stream.

It authenticates, subscribes to a group and prints, every second, frames,
rows, bytes, seq gaps and tick→client latency (client receive time minus
the newest ``gatewayRecvTsNs`` in the frame; same machine, same clock). At
the end it prints one JSON line with ``frames``, ``rows``, ``bytes``,
``seq_gaps``, ``latency_p50_ms``, ``latency_p99_ms`` (and more).
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


@dataclass
class StreamStats:
    """What a watcher counts. Latencies in ms."""

    frames: int = 0
    snapshots: int = 0
    rows: int = 0
    bytes: int = 0
    seq_gaps: int = 0
    seq_not_increasing: int = 0
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    last_seq: int | None = None

    def observe_frame(self, data: bytes, received_ns: int) -> None:
        """Account one ServerMessage groupFrame (raw bytes) received at ``received_ns``."""
        with schemas.stream.ServerMessage.from_bytes(data) as message:
            frame = message.groupFrame
            seq, kind = frame.seq, str(frame.kind)
        columns = frame_columns(data)
        self.frames += 1
        self.bytes += len(data)
        self.rows += len(columns["indexes"])
        if kind == "snapshot":
            self.snapshots += 1
        elif self.last_seq is not None and seq != self.last_seq + 1:
            self.seq_gaps += 1
        if self.last_seq is not None and seq <= self.last_seq and kind == "delta":
            self.seq_not_increasing += 1
        self.last_seq = seq
        if kind == "delta" and len(columns["gatewayRecvTsNs"]):
            self.latencies_ms.append((received_ns - int(columns["gatewayRecvTsNs"].max())) / 1e6)

    def summary(self) -> dict:
        """Return the totals and latency percentiles."""
        lat = np.array(self.latencies_ms) if self.latencies_ms else np.array([np.nan])
        return {"frames": self.frames, "snapshots": self.snapshots, "rows": self.rows,
                "bytes": self.bytes, "seq_gaps": self.seq_gaps,
                "seq_not_increasing": self.seq_not_increasing,
                "latency_p50_ms": round(float(np.nanpercentile(lat, 50)), 3),
                "latency_p99_ms": round(float(np.nanpercentile(lat, 99)), 3),
                "errors": self.errors}


async def watch(url: str, token: str, group: str, seconds: float, out=sys.stdout) -> dict:
    """Watch ``group`` for ``seconds`` and return the summary.

    Raises:
        ConnectionError: the server refused the token or the group.
    """
    stats = StreamStats()
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=MAX_MESSAGE_BYTES) as ws:
        await ws.send_bytes(client_message(1, auth={"token": token}))
        await ws.send_bytes(client_message(2, subscribe={"groups": [group]}))
        deadline = time.monotonic() + seconds
        next_report = time.monotonic() + 1.0
        last = StreamStats()
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
            if time.monotonic() >= next_report:
                next_report += 1.0
                window = stats.latencies_ms[len(last.latencies_ms):]
                p99 = float(np.percentile(window, 99)) if window else float("nan")
                print(f"{group}: {stats.frames - last.frames} frames/s, {stats.rows - last.rows} rows, "
                      f"{stats.bytes - last.bytes} B, gaps {stats.seq_gaps}, latency p99 {p99:.1f} ms",
                      file=out, flush=True)
                last = StreamStats(frames=stats.frames, rows=stats.rows, bytes=stats.bytes,
                                   latencies_ms=list(stats.latencies_ms))
    summary = {"group": group, **stats.summary()}
    print(json.dumps(summary), file=out, flush=True)
    return summary


__all__ = ["StreamStats", "client_message", "watch"]
