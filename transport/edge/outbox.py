"""The outgoing queue of one WebSocket, fed by its session actor without locks.

The session actor (loop thread) calls :meth:`SocketOutbox.put_nowait`; a
writer coroutine sends queued frames in order and awaits aiohttp's flow
control, so a slow client backs frames up here, where the session sees
:attr:`SocketOutbox.queued_bytes` and conflates. When the queue empties
after having passed the low-water mark, ``on_drained`` runs (the socket
handler tells the session ``socketDrained``).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable


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
        self._queue: collections.deque[bytes] = collections.deque()
        self._ready = asyncio.Event()
        self._backlogged = False
        self._closed = False
        self.queued_bytes = 0
        self.frames_sent = 0
        self.bytes_sent = 0
        self.max_queued_bytes = 0
        self.recorder = None
        """A :class:`transport.admin.flight.FlightRecorder` while an admin records this socket, else None."""

    def put_nowait(self, frame: bytes) -> None:
        """Queue one frame (loop thread, never blocks). Dropped once closed."""
        if self._closed:
            return
        if self.recorder is not None:
            self.recorder.record_down(frame)
        self._queue.append(frame)
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
                frame = self._queue.popleft()
                self.queued_bytes -= len(frame)
                await self._send(frame)
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
