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
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable

from transport.latency import LatencyRing


class SocketOutbox:
    """Frames waiting for one socket, in order.

    Args:
        send: coroutine function sending one binary frame (``ws.send_bytes``).
        on_drained: called (loop thread) when the queue empties after a backlog.
        low_water_bytes: backlog size that arms ``on_drained``.
    """

    def __init__(self, send: Callable[[bytes], Awaitable[None]], on_drained: Callable[[], None],
                 low_water_bytes: int = 256 * 1024) -> None:
        self._send = send
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
        self._ready.set()

    async def run(self) -> None:
        """Send queued frames until :meth:`close` (the socket's writer task)."""
        while not self._closed:
            await self._ready.wait()
            self._ready.clear()
            while self._queue and not self._closed:
                frame, built_ts_ns = self._queue.popleft()
                self.queued_bytes -= len(frame)
                await self._send(frame)
                if built_ts_ns:
                    self.send_latency.add(time.time_ns() - built_ts_ns)
                self.frames_sent += 1
                self.bytes_sent += len(frame)
            if self._backlogged and not self._queue:
                self._backlogged = False
                self._on_drained()

    def close(self) -> None:
        """Stop sending and drop what is queued."""
        self._closed = True
        self._queue.clear()
        self.queued_bytes = 0
        self._ready.set()


__all__ = ["SocketOutbox"]
