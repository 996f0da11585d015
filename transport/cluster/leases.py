"""Group leases: one leading aggregator per group, elected through a NATS JetStream key-value bucket (issue 16).

Any number of aggregator nodes may serve the same groups; for each group one
of them leads, and only the leader's frames reach ``md.agg.33ms.<group>``.
The election is the pattern NATS documents for leader election with KV
(Source: NATS docs, "Key/Value Store", optimistic concurrency; Synadia,
"Leader election with NATS KV"): one key per group in the bucket
:data:`LEASE_BUCKET`, whose max age is the lease's TTL.

* **take**: ``create(group)`` succeeds only if the key does not exist; the
  revision it returns is the lease's **epoch**, a fencing token: bucket
  revisions only grow, so a later leader's epoch is always higher.
* **renew**: ``update(group, last=revision)`` every ``ttl_s / 4``; it
  succeeds only if nobody wrote the key since, and restarts its age.
* **expire**: a leader that stops renewing (killed, paused, cut off) loses the
  key ``ttl_s`` after its last write; a follower's next ``create`` takes it.
* **fence**: a node believes it leads only while ``ttl_s`` has not passed
  since it *sent* its last successful write (its own monotonic clock; the
  server started the key's age later than that), so it stops publishing
  before anyone else can take the key, even if its renewal is late. A
  paused leader that wakes up sees its lease expired, tries one renewal,
  sees it refused (the key is gone or someone else's) and steps down.

The key's value is a ``LeaseRecord`` (schemas/actor.capnp): the node, the
epoch, when it was taken and renewed. Every frame the leader's GroupActor
encodes carries the epoch (``GroupFrame.epoch``), and edge nodes drop frames
of any older epoch (transport/cluster/nats_market.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import nats.errors
import nats.js.errors
import structlog

import schemas

_log = structlog.get_logger("transport.cluster.leases")

LEASE_BUCKET = "tickstage_leases"
"""The JetStream KV bucket of group leases: key = group, value = ``LeaseRecord``."""
DEFAULT_LEASE_TTL_S = 1.2
"""A lease not renewed for this long expires, seconds (renewed every quarter of it).

A follower takes over between ``0.75 × ttl`` and ``ttl`` after the leader's
death, plus the server's expiry granularity (~0.25 s measured, nats-server
2.15): 1.15–1.45 s, inside the 2 s budget of issue 16 (perf/bench_nats.py
measures it) and after an edge node's sourceDown (actors/market/remote_group.py,
0.8 s of silence), so clients are told the source is down before the new
leader's snapshot arrives."""
TICK_S = 0.05
"""The keeper's loop period, seconds: how late past its due time a renewal or a take may be."""
GROUP_HOLD_UNANSWERED_S = 12.0
"""How long an aggregator keeps a group lease whose renewals go unanswered, seconds: longer than JetStream's
raft election after a server's death (4–9 s), so a killed nats-server that led the bucket costs no frames."""
_REFUSED = (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError,
            nats.js.errors.KeyDeletedError)
"""The KV's answers that mean "the key is not as you think": someone else holds it, or it expired."""
_UNREACHABLE = (nats.errors.Error, asyncio.TimeoutError, OSError)
"""No answer from JetStream: keep the state; the fence (time) decides."""


@dataclass(frozen=True)
class LeaseView:
    """One group's lease as read from the bucket.

    Attributes:
        group: the group (the key).
        node: the leading node's name.
        epoch: the lease's fencing token (the revision its ``create`` got).
        revision: the key's current revision (grows with every renewal).
        taken_ts_ns: when the lease was taken, ns since UNIX epoch.
        renewed_ts_ns: when it was last renewed, ns since UNIX epoch.
    """

    group: str
    node: str
    epoch: int
    revision: int
    taken_ts_ns: int
    renewed_ts_ns: int


def encode_lease_record(node: str, epoch: int, taken_ts_ns: int, renewed_ts_ns: int) -> bytes:
    """Return a ``LeaseRecord`` (the value of a lease key)."""
    record = schemas.actor.LeaseRecord.new_message()
    record.node = node
    record.epoch = epoch
    record.takenTsNs = taken_ts_ns
    record.renewedTsNs = renewed_ts_ns
    return record.to_bytes()


def decode_lease(group: str, value: bytes, revision: int) -> LeaseView:
    """Read a lease key's value; a value that is not a ``LeaseRecord`` reads as an unnamed lease.

    Args:
        group: the key.
        value: the key's bytes.
        revision: the key's revision (the epoch, if the record has none yet).
    """
    try:
        with schemas.actor.LeaseRecord.from_bytes(value, traversal_limit_in_words=1024,
                                                  nesting_limit=schemas.NESTING_LIMIT) as record:
            return LeaseView(group, record.node, record.epoch or revision, revision, record.takenTsNs,
                             record.renewedTsNs)
    except Exception:  # noqa: BLE001 - any bytes on the bucket: shown, never crashed on
        return LeaseView(group, "", revision, revision, 0, 0)


class LeaseState:
    """One node's view of its lease on one group: the state machine the keeper drives.

    Times are seconds of the node's monotonic clock. The lease is *held*
    from a successful take until ``ttl_s`` after the send time of the last
    successful write (take or renew), or until a write is refused.

    Args:
        ttl_s: the bucket's max age, seconds.
    """

    def __init__(self, ttl_s: float, hold_unanswered_s: float = 0.0) -> None:
        self.ttl_s = ttl_s
        self.hold_unanswered_s = hold_unanswered_s
        self.epoch = 0          # the fencing token while the lease is ours; 0: not ours
        self.revision = 0       # the key's revision our last write got
        self.written_at_s = 0.0  # send time of our last successful write
        self.unacked_since_s: float | None = None  # send time of the first renewal unanswered since the last ack

    def holds(self, now_s: float) -> bool:
        """True while the lease is ours and not past its TTL at ``now_s``; with ``hold_unanswered_s``, also
        while every renewal since the last answer went unanswered (the bucket has no raft leader: nobody can
        take the lease either), up to that long after the last successful write."""
        if self.epoch <= 0:
            return False
        age_s = now_s - self.written_at_s
        return age_s < self.ttl_s or (self.unacked_since_s is not None and age_s < self.hold_unanswered_s)

    def taken(self, revision: int, sent_at_s: float) -> None:
        """Our ``create`` succeeded with ``revision``: it is the new epoch."""
        self.epoch = self.revision = revision
        self.written_at_s = sent_at_s

    def renewed(self, revision: int, sent_at_s: float) -> None:
        """Our ``update`` on the last revision succeeded."""
        self.revision = revision
        self.written_at_s = sent_at_s
        self.unacked_since_s = None

    def unanswered(self, sent_at_s: float) -> None:
        """A renewal sent at ``sent_at_s`` got no answer: it may have been applied (its acknowledgement lost)."""
        if self.unacked_since_s is None:
            self.unacked_since_s = sent_at_s

    def lost(self) -> int:
        """The lease is no longer ours (refused write); return the epoch it had."""
        epoch, self.epoch, self.revision = self.epoch, 0, 0
        self.unacked_since_s = None
        return epoch


class LeaseKeeper:
    """Takes, renews and gives up this node's group leases on a NATS KV bucket (loop thread).

    Args:
        kv: nats-py ``KeyValue`` (:meth:`~transport.cluster.nats_bus.NatsBus.key_value`), or anything with
            its ``create``/``update``/``get``/``keys`` coroutines.
        node: this node's name (written in each lease).
        groups: returns the groups this node may lead now (a follower tries to take each).
        on_gained: ``(group, epoch)`` after a lease is taken.
        on_lost: ``(group, epoch, reason)`` after a held lease is refused on renewal.
        ttl_s: lease TTL, seconds (the bucket's max age).
        clock: monotonic clock, seconds.
        wall_clock: UNIX time, ns (lease records; a follower's schedule reads the leader's renewal time).
        hold_unanswered_s: keep holding a lease whose renewals go unanswered up to this long after its last
            write, seconds (0: the TTL, by the holder's own clock). For group leases only, whose second
            leader the edges keep apart by epoch: when the killed nats-server led the bucket's raft group,
            JetStream elects a new leader after 4–9 s (``minElectionTimeoutDefault`` ..
            ``maxElectionTimeoutDefault`` in nats-server's ``server/raft.go``), nobody can write meanwhile,
            and fencing at the TTL stopped every group's frames for that long. Never for the venue-host
            lease: orders stay fenced by the TTL.
    """

    def __init__(self, kv: Any, node: str, groups: Callable[[], Iterable[str]], *,
                 on_gained: Callable[[str, int], None] = lambda group, epoch: None,
                 on_lost: Callable[[str, int, str], None] = lambda group, epoch, reason: None,
                 ttl_s: float = DEFAULT_LEASE_TTL_S, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], int] = time.time_ns, hold_unanswered_s: float = 0.0) -> None:
        self.kv = kv
        self.hold_unanswered_s = hold_unanswered_s
        self.node = node
        self.ttl_s = ttl_s
        self._groups = groups
        self._on_gained = on_gained
        self._on_lost = on_lost
        self._clock = clock
        self._wall_clock = wall_clock
        self._next_try_s: dict[str, float] = {}  # group → when a follower tries to take it next (monotonic s)
        self._seen_renewal_ns: dict[str, int] = {}  # group → the leader's last renewal it read
        self.states: dict[str, LeaseState] = {}
        self._taken_ts_ns: dict[str, int] = {}
        self._task: asyncio.Task | None = None
        self.taken = self.renewals = self.lost = self.unreachable = self.recovered = 0

    # -- reads -------------------------------------------------------------------

    def epoch_of(self, group: str) -> int:
        """Return the epoch of this node's lease on ``group`` if held now, else 0 (never blocks)."""
        state = self.states.get(group)
        return state.epoch if state is not None and state.holds(self._clock()) else 0

    def led(self) -> list[str]:
        """Return the groups this node leads now, sorted."""
        now = self._clock()
        return sorted(group for group, state in self.states.items() if state.holds(now))

    def followed(self) -> list[str]:
        """Return the groups this node may lead but does not, sorted."""
        led = set(self.led())
        return sorted(set(self._groups()) - led)

    def statistics_dict(self) -> dict[str, Any]:
        """Counters and the groups led, for ``/admin`` and ``/metrics``."""
        return {"leases_taken": self.taken, "lease_renewals": self.renewals, "leases_lost": self.lost,
                "lease_unreachable": self.unreachable, "lease_renewals_recovered": self.recovered,
                "groups_led": self.led()}

    # -- the loop ------------------------------------------------------------------

    def start(self) -> None:
        """Start the keeper's loop: renew every ``ttl_s / 4``, try to take a lease when it is due (loop thread)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"leases-{self.node}")

    async def _run(self) -> None:
        while True:
            started = self._clock()
            await self.step()
            await asyncio.sleep(max(0.0, TICK_S - (self._clock() - started)))

    async def step(self, force: bool = False) -> None:
        """Renew every held lease due for renewal and try to take every group whose lease may have expired
        (coroutine); ``force``: renew and try every group now."""
        groups = list(dict.fromkeys([*self.states, *self._groups()]))
        await asyncio.gather(*(self.step_group(group, force) for group in groups))

    async def step_group(self, group: str, force: bool = True) -> None:
        """Renew ``group``'s lease if ours (even past its TTL: a refusal is how a paused leader learns it lost
        the lease), else try to take it; without ``force`` only when due.

        A follower whose ``create`` is refused reads the lease and tries again
        when that renewal expires (``renewedTsNs + ttl_s``, then every
        :data:`TICK_S` until the server has dropped the key), so it takes over
        at most ``ttl_s`` plus the server's expiry granularity after the
        leader's last renewal, at two KV requests per group per renewal.
        """
        state = self.states.setdefault(group, LeaseState(self.ttl_s, self.hold_unanswered_s))
        sent_at_s = self._clock()
        now_ns = self._wall_clock()
        if state.epoch:
            if not force and sent_at_s - state.written_at_s < self.ttl_s / 4:
                return
            value = encode_lease_record(self.node, state.epoch, self._taken_ts_ns.get(group, now_ns), now_ns)
            try:
                revision = await asyncio.wait_for(self.kv.update(group, value, last=state.revision), self.ttl_s)
            except _REFUSED:
                if not await self._applied_unanswered(group, state):
                    self._lose(group, state, "refused on renewal: the lease expired or another node took it")
                return
            except _UNREACHABLE:
                self.unreachable += 1
                state.unanswered(sent_at_s)
                return
            state.renewed(revision, sent_at_s)
            self.renewals += 1
            return
        if group not in set(self._groups()) or (not force and sent_at_s < self._next_try_s.get(group, 0.0)):
            return
        try:
            revision = await asyncio.wait_for(
                self.kv.create(group, encode_lease_record(self.node, 0, now_ns, now_ns)), self.ttl_s)
        except _REFUSED:
            await self._follow(group, sent_at_s, now_ns)
            return
        except _UNREACHABLE:
            self.unreachable += 1
            return
        state.taken(revision, sent_at_s)
        self._taken_ts_ns[group] = now_ns
        self.taken += 1
        _log.info("lease_taken", group=group, node=self.node, epoch=revision)
        self._on_gained(group, revision)

    async def _applied_unanswered(self, group: str, state: LeaseState) -> bool:
        """After a refused renewal: True if the refusal only means an earlier renewal was applied and its
        acknowledgement lost (a nats-server dying or a stream leader changing mid-request), so the key still
        holds our record of our epoch at a newer revision; the lease is then still ours, kept from the send
        time of the first unanswered renewal (no later than the applied one's: the fence stays safe).

        Only the holder writes its record: another node's ``create`` needs the key absent, so a key holding
        our node and epoch was written by us and has not expired since."""
        if state.unacked_since_s is None:
            return False
        try:
            entry = await asyncio.wait_for(self.kv.get(group), self.ttl_s)
        except _REFUSED:
            return False
        except _UNREACHABLE:
            self.unreachable += 1
            return True   # no answer either way: keep the state, the fence (time) decides
        lease = decode_lease(group, entry.value or b"", entry.revision)
        if lease.node != self.node or lease.epoch != state.epoch or entry.revision <= state.revision:
            return False
        state.renewed(entry.revision, state.unacked_since_s)
        self.recovered += 1
        _log.info("lease_renewal_recovered", group=group, node=self.node, epoch=state.epoch,
                  revision=entry.revision)
        return True

    async def _follow(self, group: str, now_s: float, now_ns: int) -> None:
        """Another node leads ``group``: schedule the next take when its last renewal expires."""
        retry_s = now_s + TICK_S
        try:
            entry = await asyncio.wait_for(self.kv.get(group), self.ttl_s)
        except (*_REFUSED, *_UNREACHABLE):
            self._next_try_s[group] = retry_s
            return
        lease = decode_lease(group, entry.value or b"", entry.revision)
        if lease.renewed_ts_ns == self._seen_renewal_ns.get(group):
            self._next_try_s[group] = retry_s  # unchanged since we last looked: due, the server has not dropped it
            return
        self._seen_renewal_ns[group] = lease.renewed_ts_ns
        expires_in_s = (lease.renewed_ts_ns - now_ns) / 1e9 + self.ttl_s
        self._next_try_s[group] = max(retry_s, now_s + min(expires_in_s, self.ttl_s))

    def _lose(self, group: str, state: LeaseState, reason: str) -> None:
        epoch = state.lost()
        self.lost += 1
        _log.warning("lease_lost", group=group, node=self.node, epoch=epoch, reason=reason)
        self._on_lost(group, epoch, reason)

    async def close(self) -> None:
        """Stop renewing and give up every lease held (a delete on its last revision), so a follower takes
        over at once rather than after ``ttl_s``; a lease that cannot be given up expires."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for group, state in list(self.states.items()):
            if not state.epoch:
                continue
            try:
                await asyncio.wait_for(self.kv.delete(group, last=state.revision), self.ttl_s / 4)
            except (*_REFUSED, *_UNREACHABLE):
                pass
            self._lose(group, state, "given up: the node is stopping")


async def read_leases(kv: Any) -> list[LeaseView]:
    """Return every lease in the bucket, sorted by group (coroutine; an empty bucket gives ``[]``)."""
    try:
        keys = await kv.keys()
    except nats.js.errors.NoKeysError:
        return []
    found = []
    for key in keys:
        try:
            entry = await kv.get(key)
        except _REFUSED:
            continue  # expired meanwhile
        found.append(decode_lease(key, entry.value or b"", entry.revision))
    return sorted(found, key=lambda lease: lease.group)


__all__ = ["DEFAULT_LEASE_TTL_S", "GROUP_HOLD_UNANSWERED_S", "LEASE_BUCKET", "TICK_S", "LeaseKeeper", "LeaseState", "LeaseView", "decode_lease",
           "encode_lease_record", "read_leases"]
