"""Admin reads that cannot take the loop from the market path: cached bodies and a bounded number in flight.

``GET /admin/tree`` walks every actor's statistics and ``GET /metrics`` every
family: 1,000 tree reads at 50 concurrent held the loop for 31 s and a
socket watching ``rb`` got 0–1 frames/s. Two bounds fix the class:

* :class:`CachedBody`: a read's body is built at most once per
  :data:`READ_CACHE_S` (250 ms); concurrent readers in that window share the
  same bytes, and while one build runs the others wait for it rather than
  start their own. The JSON encoding runs in a worker thread
  (``asyncio.to_thread``), so the loop interleaves with it.
* :class:`ReadSlots`: at most :data:`MAX_CONCURRENT_READS` admin reads are
  served at once; the others wait in line, and one that has waited
  :data:`READ_WAIT_S` gets ``503 {"error": "busy"}`` with ``Retry-After: 1``.
  Waiting rather than refusing at once: the ops console and scrapers poll,
  and a short queue is cheaper for them than a retry.

Everything runs on the loop thread except the JSON encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

READ_CACHE_S = 0.25
"""Longest a built admin read body is served again, seconds."""
MAX_CONCURRENT_READS = 4
"""Admin reads served at once; more wait."""
READ_WAIT_S = 5.0
"""Longest an admin read waits for a slot before 503, seconds."""


@dataclass(frozen=True)
class ReadStatistics:
    """Counters of the admin reads.

    Attributes:
        builds: bodies built.
        cache_hits: reads answered with a body built earlier (or by a build in flight).
        waited: reads that waited for a slot.
        refused_busy: reads answered 503 after :data:`READ_WAIT_S`.
    """

    builds: int
    cache_hits: int
    waited: int
    refused_busy: int


class CachedBody:
    """One read's body, rebuilt at most every ``ttl_s`` by one builder at a time (loop thread).

    Args:
        build: coroutine function returning the body's bytes.
        ttl_s: see :data:`READ_CACHE_S`.
    """

    def __init__(self, build: Callable[[], Awaitable[bytes]], ttl_s: float = READ_CACHE_S) -> None:
        self._build = build
        self.ttl_s = ttl_s
        self._body: bytes | None = None
        self._built_at = 0.0
        self._building: asyncio.Future[bytes] | None = None
        self.builds = self.hits = 0

    async def get(self) -> bytes:
        """Return the body: the cached one while fresh, else the one being built, else a new build."""
        if self._body is not None and time.monotonic() - self._built_at < self.ttl_s:
            self.hits += 1
            return self._body
        if self._building is None:
            self._building = asyncio.ensure_future(self._rebuild())
        else:
            self.hits += 1
        return await asyncio.shield(self._building)

    def invalidate(self) -> None:
        """Forget the cached body (a build in flight still answers its waiters)."""
        self._body = None

    async def _rebuild(self) -> bytes:
        try:
            body = await self._build()
            self._body, self._built_at = body, time.monotonic()
            self.builds += 1
            return body
        finally:
            self._building = None


class ReadSlots:
    """At most ``slots`` admin reads at once; the rest wait up to ``wait_s`` (loop thread)."""

    def __init__(self, slots: int = MAX_CONCURRENT_READS, wait_s: float = READ_WAIT_S) -> None:
        self._semaphore = asyncio.Semaphore(slots)
        self.wait_s = wait_s
        self.waited = self.refused_busy = 0

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block.

        Raises:
            web.HTTPServiceUnavailable: no slot within ``wait_s`` (503, ``Retry-After: 1``).
        """
        if self._semaphore.locked():
            self.waited += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await self._semaphore.acquire()
        except TimeoutError:
            self.refused_busy += 1
            raise web.HTTPServiceUnavailable(
                text='{"error": "busy", "message": "too many admin reads at once; retry"}',
                content_type="application/json", headers={"Retry-After": "1"}) from None
        try:
            yield
        finally:
            self._semaphore.release()


__all__ = ["MAX_CONCURRENT_READS", "READ_CACHE_S", "READ_WAIT_S", "CachedBody", "ReadSlots", "ReadStatistics"]
