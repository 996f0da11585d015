"""Active and standby venue-hosts: one lease, one host serving orders, the other ready (issue 16).

Two (or more) ``venue-host`` nodes run vn.py connected to the same venue
accounts; one is **active**, the others **standby**. The active one holds the
venue-host lease, the key :data:`VENUE_LEASE_KEY` of the JetStream KV bucket
:data:`VENUE_LEASE_BUCKET` (taken, renewed and lost as a group lease is:
transport/cluster/leases.py, TTL ``[orders] venue_lease_ttl_s``, 1.2 s by
default). Only the active host serves ``order.submit.*`` and sends to the
venue; a standby's vn.py stays connected (market data flows, its venue can
be asked) and it follows the replicated order journal
(transport/cluster/order_stream.py), so it knows every client order id.

States (:attr:`VenueHostLease.state`):

* ``standby``: no lease; no ``order.submit.*`` subscription; the stream's
  rows go into the local SQLite journal; order actors refuse to send.
* ``takingOver``: the lease is taken (its revision is the new **epoch**); the
  host takes every row stored so far from the stream, writes each order's
  latest row into its journal, restarts the order actors of the accounts the
  stream has orders of (they rebuild from the journal: in-flight orders
  become ``outcomeUnknown`` and are resolved by venue queries, as after a
  restart), then subscribes.
* ``active``: serves ``order.submit.*``; each order is sent only after its
  write-ahead row is acknowledged by the stream and only while the lease of
  that epoch is held by the host's own clock (``SendFence``); a host past
  its TTL without a renewal refuses to send (rule ``lease``).
* A refused renewal (a paused host that wakes up to find its lease taken or
  expired) makes it ``standby`` again: it unsubscribes, follows the stream
  again and its order actors stay fenced.
* A lease that lapsed and comes back to the same host with no row of another
  host on the stream meanwhile (JetStream unavailable for longer than the TTL,
  e.g. a nats-server failover moving the bucket's leader) is **resumed**: no
  other host was active, so the order actors keep their state (no restart).

SIGTERM: the stopping host stops serving, lets its rows reach the stream and
deletes the key; the standby watches the key and takes it at once. SIGKILL:
the key expires after the TTL and the standby takes it on its schedule.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import nats.errors
import structlog

from actors import ActorRuntime, RestartChild
from actors.errors import ActorDeadError, AskTimeoutError
from transport.cluster.leases import DEFAULT_LEASE_TTL_S, LeaseKeeper, LeaseView, read_leases
from transport.cluster.order_stream import ReplicatedJournal

_log = structlog.get_logger("transport.cluster.venue_standby")

VENUE_LEASE_BUCKET = "tickstage_venue_lease"
"""The JetStream KV bucket of the venue-host lease (its own bucket: its TTL is its max age)."""
VENUE_LEASE_KEY = "venue-host"
"""The one key of :data:`VENUE_LEASE_BUCKET`: held by the active venue-host."""
CATCH_UP_TIMEOUT_S = 1.0
"""Longest a host taking over waits to have taken every row stored on the stream before it, seconds."""
RESTART_TIMEOUT_S = 2.0
"""Longest a host taking over waits for each order actor's restart, seconds."""


class ActiveServices:
    """What only the active venue-host serves: ``order.submit.*``, ``ops.watchlist``, ``algo.command.*`` and
    contract detail (``ops.ticksubscribe``, ``ops.tickinterest``)
    (queue groups: a standby in the group would take its share of them, and an edit or an algo taken there
    would change a host that sends nothing). Each service has ``activate()`` / ``deactivate()`` (coroutines,
    idempotent); one added while active is activated at once (loop thread)."""

    def __init__(self, *services: Any) -> None:
        self.services: list[Any] = list(services)
        self.active = False

    async def add(self, service: Any) -> None:
        """Serve ``service`` with the others (activated now if this host is active)."""
        self.services.append(service)
        if self.active:
            await service.activate()

    async def activate(self) -> None:
        """This host became the active one: every service serves."""
        self.active = True
        for service in list(self.services):
            await service.activate()

    async def deactivate(self) -> None:
        """This host stands by: no service serves."""
        self.active = False
        for service in list(self.services):
            await service.deactivate()


class VenueHostLease:
    """The venue-host lease of one venue-host node and what follows from it (loop thread).

    Args:
        runtime: the actor runtime (with ``orders/<account>``).
        journal: the node's :class:`ReplicatedJournal` (the order actors' journal and fence).
        host: the node's :class:`~transport.cluster.nats_orders.OrderHost` (``activate`` / ``deactivate``).
        node: this node's name (written in the lease).
        accounts: the accounts whose order actors rebuild on takeover.
        ttl_s: the lease's TTL, seconds.
        clock: monotonic clock, seconds (the fence's); wall_clock: UNIX time, ns (lease records).
    """

    def __init__(self, runtime: ActorRuntime, journal: ReplicatedJournal, host: Any, node: str,
                 accounts: tuple[str, ...], ttl_s: float = DEFAULT_LEASE_TTL_S,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], int] = time.time_ns) -> None:
        self.runtime = runtime
        self.journal = journal
        self.host = host
        self.node = node
        self.accounts = accounts
        self.keeper = LeaseKeeper(None, node, lambda: [VENUE_LEASE_KEY], on_gained=self._gained,
                                  on_lost=self._lost, ttl_s=ttl_s, clock=clock, wall_clock=wall_clock)
        self.state = "standby"
        self.takeovers = 0
        self.last_takeover_ms = 0.0
        self._generation = 0
        self.releases_seen = 0
        self._task: asyncio.Task | None = None
        self._watch_task: asyncio.Task | None = None
        self._foreign_at_loss: int | None = None   # the journal's foreign rows when this host last lost the lease
        self.resumes = 0

    def epoch(self) -> int:
        """Return the lease's epoch if this host holds it now (its own clock), else 0 (never blocks)."""
        return self.keeper.epoch_of(VENUE_LEASE_KEY)

    def start(self, kv: Any) -> None:
        """Start electing on the bound lease bucket, and watching it for a lease given up (loop thread)."""
        self.keeper.kv = kv
        self.keeper.start()
        self._watch_task = asyncio.get_running_loop().create_task(self._watch_releases(kv), name="venue-lease-watch")

    async def _watch_releases(self, kv: Any) -> None:
        """Try to take the lease as soon as its holder deletes it (a SIGTERM'd active host), instead of at the
        holder's last renewal + TTL; a lease that expires is taken on the keeper's schedule."""
        while True:
            try:
                watcher = await kv.watch(VENUE_LEASE_KEY)
                async for entry in watcher:
                    if entry is not None and entry.operation in ("DEL", "PURGE") and not self.epoch():
                        self.releases_seen += 1
                        await self.keeper.step_group(VENUE_LEASE_KEY, force=True)
            except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
                _log.info("venue_lease_watch_retried", error_type=type(exc).__name__)
                await asyncio.sleep(self.keeper.ttl_s)

    def _gained(self, _key: str, epoch: int) -> None:
        self._generation += 1
        self.state = "takingOver"
        self._task = asyncio.get_running_loop().create_task(self._take_over(epoch, self._generation),
                                                            name="venue-host-takeover")

    async def _take_over(self, epoch: int, generation: int) -> None:
        started = time.perf_counter()
        caught_up = await self.journal.wait_caught_up(CATCH_UP_TIMEOUT_S)
        if generation != self._generation:
            return
        adopted = self.journal.adopt()
        rows = sum(adopted.values())
        # the lease lapsed and came back to this host with no row of another host on the stream meanwhile (a
        # nats-server failover longer than the TTL): nobody else was active, its order actors' state is current
        resumed = self._foreign_at_loss is not None and self.journal.foreign_rows == self._foreign_at_loss
        self.resumes += resumed
        for account in (account for account in self.accounts if account in adopted and not resumed):
            # the stream knows orders of this account: its order actor rebuilds from the journal, as after a restart
            try:
                await self.runtime.ask("orders", RestartChild(account), timeout_s=RESTART_TIMEOUT_S)
            except (ActorDeadError, AskTimeoutError) as exc:
                _log.error("venue_host_restart_failed", account=account, error_type=type(exc).__name__)
        if generation != self._generation or not self.epoch():
            return
        await self.host.activate()
        self.state = "active"
        self.takeovers += 1
        self.last_takeover_ms = round((time.perf_counter() - started) * 1000, 1)
        _log.warning("venue_host_active", node=self.node, epoch=epoch, rows=rows, caught_up=caught_up,
                     takeover_ms=self.last_takeover_ms, resumed=resumed)

    def _lost(self, _key: str, epoch: int, reason: str) -> None:
        self._generation += 1
        self._foreign_at_loss = self.journal.foreign_rows
        self.state = "standby"
        self.journal.follow()
        asyncio.get_running_loop().create_task(self.host.deactivate(), name="venue-host-standby")
        _log.warning("venue_host_standby", node=self.node, epoch=epoch, reason=reason)

    def statistics_dict(self) -> dict[str, Any]:
        """The host's venue-host state, epoch, takeovers and the last takeover's time (ms, lease taken →
        serving)."""
        return {"venue_host_state": self.state, "venue_host_epoch": self.epoch(),
                "venue_host_takeovers": self.takeovers, "venue_host_takeover_ms": self.last_takeover_ms,
                "venue_lease_releases_seen": self.releases_seen, "venue_host_resumes": self.resumes,
                **self.journal.statistics_dict()}

    async def close(self) -> None:
        """Stop serving and sending, let the rows already written reach the stream (bounded), then give the
        lease up at once (a delete), so the standby takes over without waiting for the TTL and knows every
        row this host wrote. Idempotent."""
        self._generation += 1
        for task in (self._task, self._watch_task):
            if task is not None:
                task.cancel()
        await self.host.deactivate()
        self.journal.follow()   # the fence closes: nothing more is sent or stored
        await self.journal.wait_all_stored()
        await self.keeper.close()
        await self.journal.close()


async def read_venue_lease(kv: Any) -> LeaseView | None:
    """Return the venue-host lease (who is active, its epoch), or ``None`` when nobody holds it (coroutine)."""
    return next((lease for lease in await read_leases(kv) if lease.group == VENUE_LEASE_KEY), None)


__all__ = ["ActiveServices", "CATCH_UP_TIMEOUT_S", "VENUE_LEASE_BUCKET", "VENUE_LEASE_KEY", "VenueHostLease",
           "read_venue_lease"]
