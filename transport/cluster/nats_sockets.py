"""The per-user socket limit across edge nodes: a JetStream key-value bucket of open sockets.

``[limits] max_sockets_per_user`` (transport/edge/limits.py) holds per user
across every edge node of a desk, not per process. Each open socket is one
entry in the bucket :data:`BUCKET`, key ``<user key>.<node>.<socket>`` (the
user key is 24 hex digits of the SHA-256 of the JWT ``sub``, so any ``sub``
makes a valid key; the node is a random id per process). A user's count is
the number of their entries.

* **No leaks when a node dies.** The bucket's entries expire ``ttl_s`` after
  their last put (JetStream ``max_age``); a live node puts its sockets' entries
  again every third of it, and deletes an entry when its socket closes. The
  sockets of a node that died stop counting within ``ttl_s``.
* **No overshoot in a race.** A node counts, puts its entry, then counts
  again: past the limit it deletes its entry and refuses. Two nodes admitting
  the user's last slot at once may both refuse (the client retries), never
  both admit.
* **NATS down.** When the bucket cannot be read (no JetStream yet, the
  connection reconnecting) within :data:`KV_TIMEOUT_S`, the node's own count
  still holds the limit and ``socket_limit_local_only`` is logged.

Refusals say it is a cluster-wide limit (transport/edge/ws.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
from typing import Any

import nats.errors
import structlog

from transport.cluster.nats_bus import NatsBus
from transport.errors import LedgerUnavailableError

_log = structlog.get_logger("transport.cluster.nats_sockets")

BUCKET = "TICKSTAGE_SOCKETS"
"""The key-value bucket of open sockets."""
KV_TIMEOUT_S = 2.0
"""Longest wait for one bucket operation while a socket opens, seconds."""


def user_key(user: str) -> str:
    """Return the bucket key token of a JWT ``sub``: 24 hex digits of its SHA-256."""
    return hashlib.sha256(user.encode("utf-8")).hexdigest()[:24]


class ClusterSocketLedger:
    """Open sockets per user across edge nodes (loop thread).

    Args:
        bus: a connected :class:`NatsBus`.
        ttl_s: an entry not put again within this lives no longer, seconds
            (``[limits] socket_lease_ttl_s``).
        replicas: copies of the bucket (3 on a 3-server cluster).
    """

    def __init__(self, bus: NatsBus, ttl_s: float = 10.0, replicas: int = 1) -> None:
        self.bus = bus
        self.ttl_s = ttl_s
        self.replicas = replicas
        self.node = secrets.token_hex(6)
        self._ids = itertools.count(1)
        self._kv: Any = None
        self._live: set[str] = set()
        self._tasks: set[asyncio.Task] = set()
        self._releases: set[asyncio.Task] = set()
        self.admitted = self.refused = self.backed_off = self.local_only = 0

    @property
    def ready(self) -> bool:
        """True once the bucket is bound."""
        return self._kv is not None

    async def start(self) -> None:
        """Bind the bucket (retrying in the background while JetStream elects) and refresh entries."""
        self._spawn(self._bind())
        self._spawn(self._refresh())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bind(self, attempts: int = 120) -> None:
        for _ in range(attempts):
            try:
                self._kv = await asyncio.wait_for(self.bus.key_value(BUCKET, self.ttl_s, self.replicas), KV_TIMEOUT_S)
                _log.info("socket_ledger_bound", bucket=BUCKET, ttl_s=self.ttl_s, node=self.node)
                return
            except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
                _log.info("socket_ledger_waiting", error_type=type(exc).__name__)
                await asyncio.sleep(0.5)
        _log.error("socket_ledger_unavailable", bucket=BUCKET)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            if self._kv is None:
                continue
            for key in list(self._live):
                try:
                    await asyncio.wait_for(self._kv.put(key, b"1"), KV_TIMEOUT_S)
                except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
                    _log.warning("socket_ledger_refresh_failed", error_type=type(exc).__name__)
                    break

    async def count(self, user: str) -> int:
        """Return how many sockets ``user`` has open on every edge node.

        Raises:
            LedgerUnavailableError: the bucket is not bound or did not answer within :data:`KV_TIMEOUT_S`.
        """
        if self._kv is None:
            raise LedgerUnavailableError("bucket not bound yet")
        try:
            return await asyncio.wait_for(self._count(user_key(user)), KV_TIMEOUT_S)
        except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
            raise LedgerUnavailableError(type(exc).__name__) from None

    async def _count(self, key: str) -> int:
        watcher = await self._kv.watch(f"{key}.>", ignore_deletes=True, meta_only=True)
        found = 0
        try:
            async for entry in watcher:
                if entry is None:
                    break
                found += 1
        finally:
            await watcher.stop()
        return found

    async def acquire(self, user: str, limit: int) -> str | None:
        """Take one of ``user``'s ``limit`` sockets; return its entry's key, or None when all are taken.

        Raises:
            LedgerUnavailableError: the bucket cannot be read or written now (the caller falls back
                on its own count).
        """
        if await self.count(user) >= limit:
            self.refused += 1
            return None
        key = f"{user_key(user)}.{self.node}.{next(self._ids)}"
        try:
            await asyncio.wait_for(self._kv.put(key, b"1"), KV_TIMEOUT_S)
        except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
            raise LedgerUnavailableError(type(exc).__name__) from None
        self._live.add(key)
        if await self.count(user) > limit:  # another node took the last slot at the same time
            self.backed_off += 1
            self.refused += 1
            await self.release(key)
            return None
        self.admitted += 1
        return key

    async def release(self, key: str) -> None:
        """Forget one socket's entry (its socket closed); a failure leaves it to expire within ``ttl_s``."""
        self._live.discard(key)
        try:
            await asyncio.wait_for(self._kv.delete(key), KV_TIMEOUT_S)
        except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
            _log.info("socket_ledger_release_failed", error_type=type(exc).__name__)

    def release_nowait(self, key: str) -> None:
        """Schedule :meth:`release` (from a ``finally`` that must not wait)."""
        self._live.discard(key)
        task = asyncio.get_running_loop().create_task(self.release(key))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    def note_local_only(self, reason: str) -> None:
        """Count and log a socket admitted on this node's own count (the bucket was unavailable)."""
        self.local_only += 1
        _log.warning("socket_limit_local_only", reason=reason)

    def statistics_dict(self) -> dict[str, Any]:
        """Sockets admitted, refused, backed off after a race, admitted on the local count only, live here."""
        return {"socket_ledger_ready": self.ready, "sockets_admitted": self.admitted,
                "sockets_refused_cluster": self.refused, "sockets_backed_off": self.backed_off,
                "sockets_local_only": self.local_only, "socket_entries_live": len(self._live)}

    async def close(self) -> None:
        """Delete this node's entries (a graceful stop frees its users' slots at once), stop refreshing."""
        for task in list(self._tasks):
            task.cancel()
        if self._kv is not None:
            for key in list(self._live):
                await self.release(key)
        if self._releases:  # sockets that closed as the HTTP server stopped
            await asyncio.wait(list(self._releases), timeout=KV_TIMEOUT_S)


__all__ = ["BUCKET", "KV_TIMEOUT_S", "ClusterSocketLedger", "user_key"]
