"""Group leases (issue 16): the lease state machine against a small model, and against a real nats-server KV.

The stateful test drives several :class:`LeaseKeeper` nodes on one in-memory
key-value store with NATS KV's semantics (``create`` only if absent,
``update`` only on the last revision, a key gone ``ttl`` after its last
write, revisions growing over the whole bucket) and a shared fake clock;
the model is who wrote each key last and when. Rules: a node steps
(take / renew), time passes (expire), a node pauses and wakes past its TTL
while another steals the lease, an operator purges a key.
"""

from __future__ import annotations

import asyncio

import nats.js.errors
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from transport.cluster.leases import LEASE_BUCKET, LeaseKeeper, LeaseState, decode_lease, read_leases
from transport.cluster.nats_bus import NatsBus

TTL_S = 1.0
GROUPS = ("rb", "cu")
NODES = ("agg-a", "agg-b", "agg-c")


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


class _Entry:
    def __init__(self, value: bytes, revision: int) -> None:
        self.value, self.revision = value, revision


class ModelKv:
    """NATS KV semantics for leases: create-if-absent, update-on-last-revision, expiry by max age."""

    def __init__(self, clock: FakeClock, ttl_s: float) -> None:
        self.clock, self.ttl_s = clock, ttl_s
        self.revision = 0
        self.keys: dict[str, tuple[bytes, int, float]] = {}  # key → (value, revision, written at)
        self.lose_acks = 0   # the next updates are applied but answered by a timeout (a server dying mid-request)

    def _expire(self) -> None:
        for key, (_, _, written) in list(self.keys.items()):
            if self.clock() - written >= self.ttl_s:
                del self.keys[key]

    def _write(self, key: str, value: bytes) -> int:
        self.revision += 1
        self.keys[key] = (value, self.revision, self.clock())
        return self.revision

    async def create(self, key: str, value: bytes) -> int:
        self._expire()
        if key in self.keys:
            raise nats.js.errors.KeyWrongLastSequenceError(description="wrong last sequence")
        return self._write(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        self._expire()
        if key not in self.keys or self.keys[key][1] != last:
            raise nats.js.errors.KeyWrongLastSequenceError(description="wrong last sequence")
        revision = self._write(key, value)
        if self.lose_acks:
            self.lose_acks -= 1
            raise asyncio.TimeoutError()
        return revision

    async def get(self, key: str) -> _Entry:
        self._expire()
        if key not in self.keys:
            raise nats.js.errors.KeyNotFoundError()
        value, revision, _ = self.keys[key]
        return _Entry(value, revision)

    def holder(self, key: str) -> tuple[str, int] | None:
        self._expire()
        if key not in self.keys:
            return None
        value, revision, _ = self.keys[key]
        lease = decode_lease(key, value, revision)
        return lease.node, lease.epoch


class LeaseMachine(RuleBasedStateMachine):
    """Several keepers on one KV: at most one holds a group at any time, epochs only grow, the holder is the
    key's writer, and a keeper whose lease was taken steps down on its next renewal."""

    @initialize()
    def setup(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.kv = ModelKv(self.clock, TTL_S)
        self.gained: list[tuple[str, str, int]] = []
        self.lost: list[tuple[str, str, int]] = []
        self.keepers = {node: LeaseKeeper(self.kv, node, lambda: GROUPS, ttl_s=TTL_S, clock=self.clock,
                                          wall_clock=lambda: int(self.clock() * 1e9),
                                          on_gained=lambda g, e, n=node: self.gained.append((n, g, e)),
                                          on_lost=lambda g, e, r, n=node: self.lost.append((n, g, e)))
                        for node in NODES}
        self.paused: set[str] = set()
        self.purged: dict[str, dict[str, int]] = {group: {} for group in GROUPS}  # holder → epoch, key purged
        self.epochs: dict[str, int] = {}  # group → the newest epoch any keeper took

    def teardown(self) -> None:
        self.loop.close()

    def _step(self, node: str, force: bool = True) -> None:
        before = len(self.gained)
        self.loop.run_until_complete(self.keepers[node].step(force))
        for _, group, epoch in self.gained[before:]:
            assert epoch > self.epochs.get(group, 0), "a new lease must carry a higher epoch (fencing)"
            self.epochs[group] = epoch
        for group, holders in self.purged.items():  # a purged holder's renewal was refused: it stepped down
            if node in holders and self.keepers[node].states[group].epoch != holders[node]:
                del holders[node]

    @rule(node=st.sampled_from(NODES), force=st.booleans())
    def step(self, node: str, force: bool) -> None:
        """take or renew, now or when due (a paused node does nothing)."""
        if node not in self.paused:
            self._step(node, force)

    @rule(dt_s=st.sampled_from((0.05, 0.1, TTL_S / 4, TTL_S / 2, TTL_S, 2 * TTL_S)))
    def advance(self, dt_s: float) -> None:
        """time passes (a lease not renewed within its TTL expires)."""
        self.clock.now_s += dt_s

    @rule(node=st.sampled_from(NODES))
    def pause(self, node: str) -> None:
        """SIGSTOP: the node stops stepping."""
        self.paused.add(node)

    @precondition(lambda self: bool(self.paused))
    @rule(data=st.data())
    def resume(self, data) -> None:
        """SIGCONT: the node steps again; a lease it lost meanwhile is refused on renewal."""
        node = data.draw(st.sampled_from(sorted(self.paused)))
        self.paused.discard(node)
        keeper = self.keepers[node]
        stale = {group: state.epoch for group, state in keeper.states.items() if state.epoch}
        self._step(node)
        for group, epoch in stale.items():
            holder = self.kv.holder(group)
            if holder is not None and holder[0] != node:
                assert keeper.states[group].epoch == 0, "a leader whose lease was stolen must step down"
                assert (node, group, epoch) in self.lost

    @rule(count=st.integers(1, 2))
    def lose_acks(self, count: int) -> None:
        """the next renewals are applied but their answers lost (a nats-server dies, a stream leader moves)."""
        self.kv.lose_acks = count

    @rule(group=st.sampled_from(GROUPS))
    def purge(self, group: str) -> None:
        """an operator deletes the key: its holder believes it leads until its next renewal is refused, while
        another may take the key at once with a higher epoch (edges then drop the purged holder's frames)."""
        self.kv.keys.pop(group, None)
        self.purged[group].update({node: keeper.states[group].epoch for node, keeper in self.keepers.items()
                                   if keeper.epoch_of(group)})

    @invariant()
    def at_most_one_holder_and_it_is_the_writer(self) -> None:
        if not hasattr(self, "keepers"):
            return
        for group in GROUPS:
            every = {node: keeper.epoch_of(group) for node, keeper in self.keepers.items() if keeper.epoch_of(group)}
            assert len(set(every.values())) == len(every), "holders after a purge are told apart by epoch"
            holders = [node for node in every if node not in self.purged[group]]
            assert len(holders) <= 1, (group, holders)
            if holders:
                (node,) = holders
                epoch = self.keepers[node].epoch_of(group)
                assert epoch == self.epochs[group], "only the newest epoch may be held"
                found = self.kv.holder(group)
                assert found is not None and found[0] == node, (group, node, found)


LeaseMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_lease_state_machine = LeaseMachine.TestCase


def test_lease_state_when_written_then_held_until_ttl_after_send_time():
    """The fence: held from the take until ttl after the last successful write's send time, not after."""
    state = LeaseState(1.0)
    assert not state.holds(0.0)
    state.taken(7, 10.0)
    assert state.holds(10.999) and not state.holds(11.0)
    state.renewed(9, 10.5)
    assert state.holds(11.4) and state.epoch == 7
    assert state.lost() == 7 and not state.holds(10.6)


def test_keeper_when_a_renewal_was_applied_but_its_answer_lost_then_keeps_the_lease():
    """A renewal applied by the server whose answer is lost (timeout) makes the next renewal's ``last`` revision
    stale: the refusal is not a lost lease when the key still holds our record of our epoch. Before, the holder
    stepped down and re-took the lease with a new epoch on every nats-server failover (a venue-host then
    restarted its order actors and refused orders meanwhile)."""
    clock = FakeClock()
    kv = ModelKv(clock, TTL_S)
    lost = []
    keeper = LeaseKeeper(kv, "host-a", lambda: ["venue-host"], ttl_s=TTL_S, clock=clock,
                         wall_clock=lambda: int(clock() * 1e9), on_lost=lambda g, e, r: lost.append((g, e, r)))
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(keeper.step(force=True))
        epoch = keeper.epoch_of("venue-host")
        kv.lose_acks = 1
        clock.now_s += 0.3
        loop.run_until_complete(keeper.step(force=True))   # applied, answer lost
        clock.now_s += 0.3
        loop.run_until_complete(keeper.step(force=True))   # refused (stale last revision): our record is there
        assert lost == [] and keeper.epoch_of("venue-host") == epoch and keeper.recovered == 1
        clock.now_s += 0.3
        loop.run_until_complete(keeper.step(force=True))   # renews on the recovered revision
        assert keeper.renewals == 1 and keeper.epoch_of("venue-host") == epoch
        clock.now_s += 2 * TTL_S                           # now it really expires: another takes it
        other = LeaseKeeper(kv, "host-b", lambda: ["venue-host"], ttl_s=TTL_S, clock=clock,
                            wall_clock=lambda: int(clock() * 1e9))
        loop.run_until_complete(other.step(force=True))
        kv.lose_acks = 0
        keeper.states["venue-host"].unanswered(clock())    # even with an unanswered renewal pending
        loop.run_until_complete(keeper.step(force=True))
        assert [(g, e) for g, e, _ in lost] == [("venue-host", epoch)] and other.epoch_of("venue-host") > epoch
    finally:
        loop.close()


class _LeaderlessKv(ModelKv):
    """The model KV while its raft group has no leader: every request goes unanswered (a timeout)."""

    def __init__(self, clock: FakeClock, ttl_s: float) -> None:
        super().__init__(clock, ttl_s)
        self.leaderless = False

    async def create(self, key: str, value: bytes) -> int:
        if self.leaderless:
            raise asyncio.TimeoutError()
        return await super().create(key, value)

    async def update(self, key: str, value: bytes, last: int) -> int:
        if self.leaderless:
            raise asyncio.TimeoutError()
        return await super().update(key, value, last)

    async def get(self, key: str) -> _Entry:
        if self.leaderless:
            raise asyncio.TimeoutError()
        return await super().get(key)


def test_keeper_when_the_bucket_has_no_leader_for_seconds_then_a_group_lease_holds_and_a_venue_lease_fences():
    """A killed nats-server that led the bucket leaves it leaderless for JetStream's 4-9 s election: nobody can
    write, so a group lease (hold_unanswered_s) keeps publishing instead of stopping every group's frames; the
    venue-host lease (no hold) fences at its TTL. When the bucket answers again the key has expired: a follower
    takes it with a higher epoch and the old holder's renewal is refused (it steps down)."""
    clock = FakeClock()
    kv = _LeaderlessKv(clock, TTL_S)
    loop = asyncio.new_event_loop()
    try:
        group = LeaseKeeper(kv, "agg-a", lambda: ["rb"], ttl_s=TTL_S, clock=clock,
                            wall_clock=lambda: int(clock() * 1e9), hold_unanswered_s=12.0)
        venue = LeaseKeeper(kv, "host-a", lambda: ["venue-host"], ttl_s=TTL_S, clock=clock,
                            wall_clock=lambda: int(clock() * 1e9))
        loop.run_until_complete(group.step(force=True))
        loop.run_until_complete(venue.step(force=True))
        epoch = group.epoch_of("rb")
        assert epoch and venue.epoch_of("venue-host")
        kv.leaderless = True
        for _ in range(14):   # 7 s without a leader, a renewal try every 0.5 s
            clock.now_s += 0.5
            loop.run_until_complete(group.step(force=True))
            loop.run_until_complete(venue.step(force=True))
            assert group.epoch_of("rb") == epoch
        assert venue.epoch_of("venue-host") == 0   # orders stay fenced by the TTL
        kv.leaderless = False   # elected: the key is past its max age
        follower = LeaseKeeper(kv, "agg-b", lambda: ["rb"], ttl_s=TTL_S, clock=clock,
                               wall_clock=lambda: int(clock() * 1e9), hold_unanswered_s=12.0)
        loop.run_until_complete(follower.step(force=True))
        assert follower.epoch_of("rb") > epoch
        loop.run_until_complete(group.step(force=True))
        assert group.epoch_of("rb") == 0 and group.lost == 1
        clock.now_s += 13.0   # and a hold never outlives hold_unanswered_s
        kv.leaderless = True
        loop.run_until_complete(follower.step(force=True))
        clock.now_s += 0.1
        assert follower.epoch_of("rb") == 0
    finally:
        loop.close()


@pytest.mark.nats
async def test_leases_when_leader_stops_renewing_then_follower_takes_higher_epoch_and_old_one_steps_down(nats_url):
    """On a real nats-server KV: one of two keepers takes the lease; when it stops renewing the key expires,
    the other takes it with a higher epoch, and the old one's renewal is refused (it steps down)."""
    bus = NatsBus([nats_url], name="lease-test")
    await bus.connect()
    try:
        # a TTL of 3 s: long enough that a loaded CI machine still reads the held lease before it expires
        kv = await bus.key_value(LEASE_BUCKET, 3.0)
        lost = []
        first = LeaseKeeper(kv, "agg-a", lambda: ["rb"], ttl_s=3.0, on_lost=lambda g, e, r: lost.append((g, e)))
        second = LeaseKeeper(kv, "agg-b", lambda: ["rb"], ttl_s=3.0)
        await first.step(force=True)
        await second.step(force=True)
        epoch = first.epoch_of("rb")
        assert epoch and not second.epoch_of("rb")
        await first.step(force=True)  # renewed: still the same epoch
        assert first.epoch_of("rb") == epoch and first.renewals == 1
        assert [(lease.node, lease.epoch) for lease in await read_leases(kv)] == [("agg-a", epoch)]
        async with asyncio.timeout(20):  # first is "paused": the key expires, second takes it
            while not second.epoch_of("rb"):
                await second.step()
                await asyncio.sleep(0.05)
        assert second.epoch_of("rb") > epoch
        assert not first.epoch_of("rb")  # fenced by its own clock already
        await first.step()  # wakes up: its renewal (due) is refused
        assert lost == [("rb", epoch)] and first.states["rb"].epoch == 0
        assert [lease.node for lease in await read_leases(kv)] == ["agg-b"]
    finally:
        await bus.close()


@pytest.mark.nats
async def test_leases_when_leader_closes_then_follower_takes_over_without_waiting_for_the_ttl(nats_url):
    """A stopping node gives its leases up: the follower's next take succeeds at once, with a higher epoch."""
    bus = NatsBus([nats_url], name="lease-close-test")
    await bus.connect()
    try:
        kv = await bus.key_value(LEASE_BUCKET, 60.0)
        first = LeaseKeeper(kv, "agg-a", lambda: ["rb"], ttl_s=60.0)
        second = LeaseKeeper(kv, "agg-b", lambda: ["rb"], ttl_s=60.0)
        await first.step(force=True)
        epoch = first.epoch_of("rb")
        await second.step(force=True)
        assert not second.epoch_of("rb")
        await first.close()
        assert not first.epoch_of("rb")
        await second.step(force=True)
        assert second.epoch_of("rb") > epoch
    finally:
        await bus.close()
