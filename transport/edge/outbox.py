"""The outgoing queue of one WebSocket, fed by its session actor without locks.

The session actor (loop thread) calls :meth:`SocketOutbox.put_nowait`; a
writer coroutine sends queued frames in order and awaits aiohttp's flow
control, so a slow client backs frames up here, where the session sees
:attr:`SocketOutbox.queued_bytes` and conflates. When the queue empties
after having passed the low-water mark, ``on_drained`` runs (the socket
handler tells the session ``socketDrained``).

Latency (issue 14): a frame queued with its ``built_ts_ns`` adds, once
aiohttp has written it, ``now − built_ts_ns`` to :attr:`SocketOutbox.send_latency`
(the frame built → socket write hop of this socket, desk clock). A frame is
encoded once for every session, so this per-socket time is measured here
rather than written into the shared bytes.

Direct writes (issue 18): given the socket's transport (no permessage-deflate:
a compressed frame needs aiohttp's per-socket deflate context), frames queued
in one loop turn are written at its end as WebSocket frames (RFC 6455 §5.2:
FIN, binary opcode, unmasked server frames) in one ``transport.writelines``
(one writev under uvloop, no header + payload copy), from one ``call_soon``
instead of a writer task's wake-up and one aiohttp ``send_bytes`` per frame.
When the transport's unsent bytes plus the queued frames would pass
``direct_limit_bytes``, frames wait here and the writer task sends them through aiohttp, which awaits the
transport's flow control; the direct path resumes once the queue is empty.
perf/bench_sessions.py shows the difference (send p99 at 200 sessions).

One pass per loop turn (issue 18): outboxes given a shared :class:`WriteBatch`
(the socket server has one) are written from a single ``call_soon`` per loop
turn for every socket that got frames in it, not one callback per socket; a
frame's WebSocket header is built once per payload length
(:func:`websocket_header` is cached), so the sockets of one group frame share it. A reply to the client's own
command is written at once (:meth:`SocketOutbox.send_nowait`), not at the end of the loop turn.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import struct
import time
from collections.abc import Awaitable, Callable

import structlog

from transport.latency import LatencyRing

_log = structlog.get_logger("transport.edge.outbox")

DIRECT_LIMIT_BYTES = 256 * 1024
"""Unsent transport bytes plus queued bytes above which frames go through aiohttp's flow control (the
sessions' low-water mark). At 64 KiB (uvloop's high water) a client a little behind sent every frame through
the writer task and aiohttp, one send per frame: perf/bench_sessions.py at 1,000 sessions, three alternating
pairs on 2026-12-05 (load 2.5-4.9), 256 KiB against 64 KiB: server CPU per delivered frame 34 / 42 µs against
45 / 52 µs, 18.5 / 13.1 frames/s per session against 13.2 / 10.9. A stalled socket holds at most this much in
its transport besides the session's 1 MiB high-water mark in the outbox."""
_BINARY_FIN = 0x82
"""First byte of an unfragmented binary WebSocket frame (FIN | opcode 2), RFC 6455 §5.2."""


@functools.lru_cache(maxsize=4096)
def websocket_header(payload_bytes: int) -> bytes:
    """Return the header of one unmasked binary WebSocket frame of ``payload_bytes`` (RFC 6455 §5.2)."""
    if payload_bytes < 126:
        return struct.pack("!BB", _BINARY_FIN, payload_bytes)
    if payload_bytes < 1 << 16:
        return struct.pack("!BBH", _BINARY_FIN, 126, payload_bytes)
    return struct.pack("!BBQ", _BINARY_FIN, 127, payload_bytes)


class WriteBatch:
    """The outboxes with frames queued in this loop turn, written from one ``call_soon`` (loop thread only).

    Each outbox is written with its own ``writelines``; one raising write (its callback, ``on_drained``)
    is logged and does not keep the others' frames back.
    """

    def __init__(self) -> None:
        self._pending: list[SocketOutbox] = []
        self._scheduled = False
        self.turns = 0
        """Loop turns that wrote at least one outbox."""

    def add(self, outbox: SocketOutbox) -> None:
        """Write ``outbox``'s queued frames at the end of this loop turn."""
        self._pending.append(outbox)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._write_all)

    def _write_all(self) -> None:
        self._scheduled = False
        self.turns += 1
        pending, self._pending = self._pending, []
        for outbox in pending:
            try:
                outbox._write_direct()
            except Exception as exc:  # noqa: BLE001 - as the loop would log one callback's failure
                _log.error("socket_write_failed", error_type=type(exc).__name__, exc_info=exc)


class SocketOutbox:
    """Frames waiting for one socket, in order.

    Args:
        send: coroutine function sending one binary frame (``ws.send_bytes``).
        on_drained: called (loop thread) when the queue empties after a backlog.
        low_water_bytes: backlog size that arms ``on_drained``.
        transport: the socket's transport for direct writes (None: every frame through ``send``). Only for
            an uncompressed socket.
        is_closed: returns True once the WebSocket is closing (no data frame may follow a close frame).
        direct_limit_bytes: unsent transport bytes plus queued bytes above which frames wait for ``send``'s
            flow control.
        batch: the :class:`WriteBatch` that writes this outbox with the others of the loop turn (None: a
            ``call_soon`` of its own).
    """

    def __init__(self, send: Callable[[bytes], Awaitable[None]], on_drained: Callable[[], None],
                 low_water_bytes: int = 256 * 1024, transport: asyncio.WriteTransport | None = None,
                 is_closed: Callable[[], bool] | None = None, direct_limit_bytes: int = DIRECT_LIMIT_BYTES,
                 batch: WriteBatch | None = None) -> None:
        self._send = send
        self._batch = batch
        self._transport = transport
        self._is_closed = is_closed or (lambda: False)
        self._direct_limit = direct_limit_bytes
        self._flush_scheduled = False
        self._task_sending = False
        self.direct_writes = 0
        """Direct ``writelines`` calls (each carries every frame queued in one loop turn)."""
        self._on_drained = on_drained
        self._low_water = low_water_bytes
        self._queue: collections.deque[tuple[bytes, int]] = collections.deque()  # (frame, built ns or 0)
        self._ready = asyncio.Event()
        self._backlogged = False
        self._closed = False
        self.queued_bytes = 0
        self.frames_sent = 0
        self.bytes_sent = 0
        self.max_queued_bytes = 0
        self.send_latency = LatencyRing()
        """Frame built → written to this socket, ns, of the recent frames queued with a build time."""
        self.recorder = None
        """A :class:`transport.admin.flight.FlightRecorder` while an admin records this socket, else None."""

    def put_nowait(self, frame: bytes, built_ts_ns: int = 0) -> None:
        """Queue one frame (loop thread, never blocks). Dropped once closed.

        Args:
            frame: one ServerMessage.
            built_ts_ns: when the frame was built, ns since UNIX epoch (desk clock); once written, the
                hop to now goes to :attr:`send_latency`. 0: not measured (controls, pushes).
        """
        if self._closed:
            return
        if self.recorder is not None:
            self.recorder.record_down(frame)
        self._queue.append((frame, built_ts_ns))
        self.queued_bytes += len(frame)
        if self.queued_bytes > self.max_queued_bytes:
            self.max_queued_bytes = self.queued_bytes
        if self.queued_bytes > self._low_water:
            self._backlogged = True
        if self._transport is None or self._task_sending:
            self._ready.set()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            if self._batch is not None:
                self._batch.add(self)
            else:
                asyncio.get_running_loop().call_soon(self._write_direct)

    def send_nowait(self, frame: bytes) -> None:
        """Queue one frame and write the queue to the socket now, in this call, when the direct path is open
        (else as :meth:`put_nowait`: the writer task sends it, after the frames before it). For a reply to the
        client's own command (an order reply, an ack, a pong): at the end of the loop turn it would wait behind
        every callback already queued (a bridge drain, a pump slice), ~100–250 µs at p50 on a desk streaming the
        market (perf/bench_nats.py stages ``outbox_put→socket_write``). Frames queued before it go first, in one
        ``writelines`` (loop thread, never blocks)."""
        self.put_nowait(frame)
        if self._transport is not None and not self._task_sending:
            self._write_direct()

    def _write_direct(self) -> None:
        """Write every queued frame in one ``writelines``, or hand them to the writer task (loop thread)."""
        self._flush_scheduled = False
        if self._closed or self._task_sending or not self._queue:
            return
        transport = self._transport
        if (transport.is_closing() or self._is_closed()
                or transport.get_write_buffer_size() + self.queued_bytes > self._direct_limit):
            self._ready.set()  # aiohttp's send awaits the flow control (or raises on a closed socket)
            return
        buffers: list[bytes] = []
        now = time.time_ns()
        sent = 0
        for frame, built_ts_ns in self._queue:
            buffers.append(websocket_header(len(frame)))
            buffers.append(frame)
            sent += len(frame)
            if built_ts_ns:
                self.send_latency.add(now - built_ts_ns)
        self.frames_sent += len(self._queue)
        self._queue.clear()
        self.queued_bytes = 0
        self.bytes_sent += sent
        self.direct_writes += 1
        transport.writelines(buffers)
        if self._backlogged:
            self._backlogged = False
            self._on_drained()

    async def run(self) -> None:
        """Send queued frames until :meth:`close` (the socket's writer task)."""
        while not self._closed:
            await self._ready.wait()
            self._ready.clear()
            self._task_sending = True
            while self._queue and not self._closed:
                frame, built_ts_ns = self._queue.popleft()
                self.queued_bytes -= len(frame)
                await self._send(frame)
                if built_ts_ns:
                    self.send_latency.add(time.time_ns() - built_ts_ns)
                self.frames_sent += 1
                self.bytes_sent += len(frame)
            self._task_sending = False
            if self._backlogged and not self._queue:
                self._backlogged = False
                self._on_drained()

    def close(self) -> None:
        """Stop sending and drop what is queued."""
        self._closed = True
        self._queue.clear()
        self.queued_bytes = 0
        self._ready.set()


__all__ = ["DIRECT_LIMIT_BYTES", "SocketOutbox", "WriteBatch", "websocket_header"]
