"""NATS on the desk's loop: publish, subscribe, request-reply, JetStream audit (nats-py).

Named ``nats_bus`` (never ``nats``: it would shadow the package). The same
Cap'n Proto bytes the in-process actors exchange are the payloads; subjects
come only from :mod:`transport.cluster.subjects`.

* Actors never await: :meth:`NatsBus.publish_nowait` queues a message that
  one writer task publishes in order; past ``max_queued`` messages new ones
  are dropped and counted (a slow NATS connection never grows memory).
* The connection is cluster-aware (several seed URLs), reconnects forever
  with a short wait, and counts disconnects, reconnects and slow-consumer
  errors; :meth:`close` drains.
* Requests map nats-py's errors to tickstage's: no responders is
  :class:`NoRespondersError`, not a timeout; a timeout is
  :class:`RequestTimeoutError` (also ``TimeoutError``).
* The ``AUDIT`` JetStream stream (file storage) records commands with a
  ``Nats-Msg-Id`` header: the client order id, so a retried command is
  stored once within the dedup window (a second guard; the order journal is
  the source of truth).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client as NATS
from nats.js.api import DeliverPolicy, KeyValueConfig, StorageType, StreamConfig

from transport.errors import TransportError

_log = structlog.get_logger("transport.cluster.nats_bus")
AUDIT_STREAM = "AUDIT"
STORE_RETRY_S = 0.1
"""Pause between two attempts of :meth:`NatsBus.store` while a stream has no leader or no server answers, s."""


class NoRespondersError(TransportError, ConnectionError):
    """Nobody serves this subject (NATS "no responders"), as opposed to a slow server.

    Attributes:
        subject: the request subject.
    """

    def __init__(self, subject: str) -> None:
        super().__init__(f"no responders on {subject}")
        self.subject = subject


class RequestTimeoutError(TransportError, TimeoutError):
    """A NATS request got no reply in time.

    Attributes:
        subject: the request subject.
        timeout_s: the timeout, seconds.
    """

    def __init__(self, subject: str, timeout_s: float) -> None:
        super().__init__(f"no reply on {subject} within {timeout_s} s")
        self.subject = subject
        self.timeout_s = timeout_s


@dataclass(frozen=True)
class BusStatistics:
    """Counters of one NATS connection.

    Attributes:
        connected: connected now.
        server: URL of the server in use.
        published: messages published.
        received: messages delivered to subscription handlers.
        dropped: ``publish_nowait`` messages dropped over ``max_queued``.
        queued: messages waiting for the writer task.
        disconnects: disconnections seen.
        reconnects: reconnections made.
        slow_consumers: slow-consumer errors reported by nats-py.
        errors: other asynchronous errors.
        store_retries: stream publishes tried again (no stream leader or no server for a moment).
    """

    connected: bool
    server: str
    published: int
    received: int
    dropped: int
    queued: int
    disconnects: int
    reconnects: int
    slow_consumers: int
    errors: int
    store_retries: int = 0



class ServedSubject:
    """A queue-group subscription switched on and off: a venue-host serves ``order.submit.*``,
    ``ops.watchlist`` and ``algo.command.*`` only while it is the active one (loop thread).

    Args:
        bus: a connected :class:`NatsBus`.
        subject: the subject (wildcards allowed).
        handler: ``handler(msg)`` as for :meth:`NatsBus.subscribe`.
        queue: the queue group.
        name: for the log line of a failed unsubscribe.
    """

    def __init__(self, bus: NatsBus, subject: str, handler: Callable[[Any], Any], queue: str, name: str) -> None:
        self.bus, self.subject, self.handler, self.queue, self.name = bus, subject, handler, queue, name
        self._subscription: Any = None

    @property
    def serving(self) -> bool:
        """Whether the subscription is on."""
        return self._subscription is not None

    async def activate(self) -> None:
        """Subscribe (idempotent)."""
        if self._subscription is None:
            self._subscription = await self.bus.subscribe(self.subject, self.handler, queue=self.queue)

    async def deactivate(self) -> None:
        """Unsubscribe (idempotent); a failure is logged, the subscription is forgotten either way."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            try:
                await subscription.unsubscribe()
            except (nats.errors.Error, OSError) as exc:
                _log.info("served_subject_unsubscribe_failed", name=self.name, error_type=type(exc).__name__)

class NatsBus:
    """One nats-py connection used from the asyncio loop thread.

    Args:
        servers: seed URLs of the cluster, ``["nats://127.0.0.1:4222", ...]``.
        name: client name shown by the server (``tickstage-aggregator-1``).
        max_queued: most messages ``publish_nowait`` holds before dropping.
    """

    def __init__(self, servers: Sequence[str], name: str = "tickstage", max_queued: int = 100_000) -> None:
        self.servers = list(servers)
        self.name = name
        self._max_queued = max_queued
        self._nc: Any = None
        self._js: Any = None
        self._queue: collections.deque[tuple[str, bytes, dict[str, str] | None]] = collections.deque()
        self._ready = asyncio.Event()
        self._writer: asyncio.Task | None = None
        self._subscriptions: list[Any] = []
        self._published = self._received = self._dropped = 0
        self._disconnects = self._reconnects = self._slow = self._errors = self._store_retries = 0

    async def connect(self, timeout_s: float = 5.0) -> None:
        """Connect to the first reachable seed (loop thread).

        Raises:
            ConnectionError: no seed reachable within ``timeout_s``.
        """
        client = NATS()
        try:
            await asyncio.wait_for(client.connect(
                servers=self.servers, name=self.name, connect_timeout=timeout_s, allow_reconnect=True,
                max_reconnect_attempts=-1, reconnect_time_wait=0.25, dont_randomize=False,
                error_cb=self._on_error, disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected), timeout_s)
        except (nats.errors.NoServersError, OSError, asyncio.TimeoutError) as exc:
            await client.close()
            raise ConnectionError(f"no NATS server reachable at {self.servers}: {type(exc).__name__}") from None
        self._nc = client
        self._js = self._nc.jetstream()
        self._writer = asyncio.create_task(self._write(), name=f"nats-writer-{self.name}")
        _log.info("nats_connected", server=str(self._nc.connected_url.netloc), name=self.name)

    async def _on_error(self, exc: Exception) -> None:
        if self._nc is None:
            return  # still connecting: the caller gets the outcome
        if isinstance(exc, nats.errors.SlowConsumerError):
            self._slow += 1
            _log.warning("nats_slow_consumer", subject=getattr(exc, "subject", ""))
        else:
            self._errors += 1
            _log.warning("nats_error_reported", error_type=type(exc).__name__)

    async def _on_disconnected(self) -> None:
        self._disconnects += 1
        _log.warning("nats_disconnected", name=self.name)

    async def _on_reconnected(self) -> None:
        self._reconnects += 1
        _log.info("nats_reconnected", server=str(self._nc.connected_url.netloc), name=self.name)

    # -- publish ----------------------------------------------------------------

    async def publish(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        """Publish now (coroutine)."""
        await self._nc.publish(subject, data, headers=headers)
        self._published += 1

    def publish_nowait(self, subject: str, data: bytes, headers: dict[str, str] | None = None) -> bool:
        """Queue a publish (with NATS ``headers``, if any) for the writer task (actors call this; never blocks).

        Returns:
            False if the queue is full and the message was dropped (counted).
        """
        if len(self._queue) >= self._max_queued:
            self._dropped += 1
            return False
        self._queue.append((subject, data, headers))
        self._ready.set()
        return True

    async def _write(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                subject, data, headers = self._queue.popleft()
                try:
                    await self._nc.publish(subject, data, headers=headers)
                    self._published += 1
                except (nats.errors.ConnectionClosedError, nats.errors.OutboundBufferLimitError):
                    self._dropped += 1

    # -- subscribe / request ------------------------------------------------------

    async def subscribe(self, subject: str, handler: Callable[[Any], Any], queue: str = "") -> Any:
        """Deliver each message on ``subject`` to ``handler(msg)`` on the loop thread.

        ``handler`` may be a plain function or a coroutine function; ``msg``
        has ``subject``, ``data`` (bytes), ``reply`` and ``respond(bytes)``.
        """
        async def deliver(msg: Any) -> None:
            self._received += 1
            result = handler(msg)
            if asyncio.iscoroutine(result):
                await result

        subscription = await self._nc.subscribe(subject, queue=queue, cb=deliver)
        self._subscriptions.append(subscription)
        await self._nc.flush()  # the server has the interest when this returns: no "no responders" race
        return subscription

    async def request(self, subject: str, data: bytes, timeout_s: float = 1.0,
                      headers: dict[str, str] | None = None) -> bytes:
        """Send a request (with NATS ``headers``, if any) and return the reply's bytes.

        Raises:
            NoRespondersError: nobody subscribes to ``subject``.
            RequestTimeoutError: no reply within ``timeout_s``.
        """
        return (await self.request_message(subject, data, timeout_s, headers)).data

    async def request_message(self, subject: str, data: bytes, timeout_s: float = 1.0,
                              headers: dict[str, str] | None = None) -> Any:
        """Send a request and return the whole reply (``data`` bytes and ``headers``, a dict or None).

        Raises:
            NoRespondersError: nobody subscribes to ``subject``.
            RequestTimeoutError: no reply within ``timeout_s``.
        """
        try:
            return await self._nc.request(subject, data, timeout=timeout_s, headers=headers)
        except nats.errors.NoRespondersError:
            raise NoRespondersError(subject) from None
        except nats.errors.TimeoutError:
            raise RequestTimeoutError(subject, timeout_s) from None

    # -- JetStream audit ----------------------------------------------------------

    async def ensure_audit_stream(self, subjects: Sequence[str] = ("audit.>",), duplicate_window_s: float = 120.0,
                                  name: str = AUDIT_STREAM, replicas: int = 1) -> None:
        """Create (or update) the file-stored audit stream.

        Args:
            replicas: copies kept by a JetStream cluster (3 on three servers: one may die).
        """
        config = StreamConfig(name=name, subjects=list(subjects), storage=StorageType.FILE,
                              duplicate_window=duplicate_window_s, num_replicas=replicas)
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self._js.update_stream(config)

    async def audit(self, subject: str, data: bytes, msg_id: str) -> bool:
        """Store a command on the audit stream with ``Nats-Msg-Id`` = ``msg_id``.

        Returns:
            True if the stream stored it, False if it was a duplicate within the window.
        """
        ack = await self._js.publish(subject, data, headers={"Nats-Msg-Id": msg_id})
        return not ack.duplicate

    async def audit_count(self, name: str = AUDIT_STREAM) -> int:
        """Return how many messages the audit stream holds."""
        info = await self._js.stream_info(name)
        return info.state.messages

    # -- JetStream streams (the replicated order journal) --------------------------

    async def ensure_stream(self, name: str, subjects: Sequence[str], *, replicas: int = 1, max_age_s: float = 0.0,
                            duplicate_window_s: float = 120.0) -> None:
        """Create (or update) a file-stored stream keeping messages ``max_age_s`` (0: for ever).

        Raises:
            nats.errors.Error: JetStream unavailable (a fresh cluster still electing: try again).
        """
        config = StreamConfig(name=name, subjects=list(subjects), storage=StorageType.FILE,
                              duplicate_window=duplicate_window_s, num_replicas=replicas,
                              max_age=max_age_s or None)
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self._js.update_stream(config)

    async def store(self, subject: str, data: bytes, msg_id: str, timeout_s: float = 2.0) -> bool:
        """Publish on a stream with ``Nats-Msg-Id`` = ``msg_id`` and wait for its acknowledgement.

        While ``timeout_s`` lasts, "no stream response" and "no responders" (the stream's leader or this
        client's server just died: JetStream elects a new leader, nats-py reconnects) and a lost
        acknowledgement are retried every :data:`STORE_RETRY_S`: the same ``Nats-Msg-Id`` makes a retry of a
        stored message a duplicate, never a second copy (NATS JetStream message deduplication).

        Returns:
            True if the stream stored it, False if it was a duplicate within the stream's window.

        Raises:
            nats.errors.Error: no acknowledgement within ``timeout_s`` (``TimeoutError``) or JetStream refused.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            acked = None
            try:
                async with asyncio.timeout(max(left, 0.05)):
                    # publish_async: the acknowledgement resolves a future from the reply subscription's callback;
                    # JetStream's publish waits on it through asyncio.wait_for, two more loop turns per row
                    acked = await self._js.publish_async(subject, data, headers={"Nats-Msg-Id": msg_id})
                    ack = await acked
                return not ack.duplicate
            except (nats.js.errors.NoStreamResponseError, nats.errors.NoRespondersError, nats.errors.TimeoutError,
                    TimeoutError) as exc:
                if acked is not None and not acked.done():
                    acked.cancel()   # its slot in nats-py's pending acknowledgements is freed
                if deadline - time.monotonic() <= STORE_RETRY_S:
                    if isinstance(exc, nats.errors.Error):
                        raise
                    raise nats.errors.TimeoutError from None   # asyncio.timeout's: nats-py's, as publish raised
                self._store_retries += 1
                await asyncio.sleep(STORE_RETRY_S)

    async def stream_last_seq(self, name: str) -> int:
        """Return the stream's last sequence number (0: empty)."""
        info = await self._js.stream_info(name)
        return info.state.last_seq

    async def follow_stream(self, subject: str, handler: Callable[[Any], Any]) -> Any:
        """Deliver every message of ``subject``'s stream, from the first kept, then each new one, to
        ``handler(msg)`` on the loop thread (an ordered push consumer: in stream order, re-created by
        nats-py after a gap); ``msg.metadata.sequence.stream`` is its stream sequence."""
        subscription = await self._js.subscribe(subject, cb=handler, ordered_consumer=True,
                                                deliver_policy=DeliverPolicy.ALL, idle_heartbeat=1.0)
        self._subscriptions.append(subscription)
        return subscription

    # -- JetStream key-value ------------------------------------------------------

    async def key_value(self, bucket: str, ttl_s: float, replicas: int = 1) -> Any:
        """Bind (creating it if missing) a file-stored KV bucket whose keys expire ``ttl_s`` after their
        last write; return nats-py's ``KeyValue``.

        The bucket keeps one revision per key; revisions grow across the whole
        bucket, so a key's revision is a fencing token (transport/cluster/leases.py).

        Args:
            bucket: bucket name (``[A-Za-z0-9_-]``).
            ttl_s: the bucket's max age, seconds.
            replicas: copies kept by a JetStream cluster.
        """
        config = KeyValueConfig(bucket=bucket, ttl=ttl_s, history=1, storage=StorageType.FILE,
                                replicas=replicas)
        try:
            return await self._js.create_key_value(config)
        except nats.js.errors.BadRequestError:  # exists with another config: use it as it is
            return await self._js.key_value(bucket)

    # -- lifecycle ---------------------------------------------------------------

    def statistics(self) -> BusStatistics:
        """Return the connection's counters now."""
        nc = self._nc
        return BusStatistics(
            connected=bool(nc and nc.is_connected),
            server=str(nc.connected_url.netloc) if nc and nc.connected_url else "",
            published=self._published, received=self._received, dropped=self._dropped,
            queued=len(self._queue), disconnects=self._disconnects, reconnects=self._reconnects,
            slow_consumers=self._slow, errors=self._errors, store_retries=self._store_retries)

    async def close(self) -> None:
        """Flush what is queued, drain subscriptions and close. Idempotent."""
        if self._nc is None:
            return
        if self._writer is not None:
            async with asyncio.timeout(5):
                while self._queue and self._nc.is_connected:
                    await asyncio.sleep(0.001)
            self._writer.cancel()
        try:
            await asyncio.wait_for(self._nc.drain(), 5)
        except (asyncio.TimeoutError, nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError):
            await self._nc.close()  # no server to drain to (all gone, or reconnecting): close at once
        self._nc = None


__all__ = ["AUDIT_STREAM", "BusStatistics", "NatsBus", "NoRespondersError", "RequestTimeoutError", "ServedSubject"]
