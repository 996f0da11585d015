"""The venue-host lease's state machine (issue 16) against a model: standby, takingOver, active, fenced.

Several venue-hosts elect on a model of the NATS KV (tests/transport/cluster/test_leases.py) with one shared
fake clock; hosts step, pause (SIGSTOP), resume and try to send. At any instant at most one host's send fence is
open, a host sends only under the newest epoch, epochs seen by the venue never go back, a host serves
``order.submit.*`` only once it took over, and a paused host that wakes to a lease taken by another is a
standby that serves nothing.
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from tests.transport.cluster.test_leases import FakeClock, ModelKv
from transport.cluster.order_stream import ReplicatedJournal
from transport.cluster.venue_standby import VENUE_LEASE_KEY, VenueHostLease

TTL_S = 1.0
NODES = ("host-a", "host-b", "host-c")


class _Bus:
    async def stream_last_seq(self, name: str) -> int:
        return 0

    async def store(self, subject, data, msg_id, timeout_s=2.0) -> bool:
        return True


class _Journal:
    def write_order_nowait(self, row, on_commit=None, *, soon=False) -> None:
        pass

    def flush(self) -> None:
        pass


class _Host:
    """An OrderHost's serving switch."""

    def __init__(self) -> None:
        self.serving = False

    async def activate(self) -> None:
        self.serving = True

    async def deactivate(self) -> None:
        self.serving = False


class _Runtime:
    async def ask(self, path, message, timeout_s=5.0):
        return None


class VenueHostMachine(RuleBasedStateMachine):
    """Venue-hosts electing one active host on a model KV."""

    @initialize()
    def setup(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.kv = ModelKv(self.clock, TTL_S)
        self.hosts: dict[str, _Host] = {}
        self.leases: dict[str, VenueHostLease] = {}
        for node in NODES:
            host = self.hosts[node] = _Host()
            lease: list[VenueHostLease] = []
            journal = ReplicatedJournal(_Journal(), _Bus(), node, lambda lease=lease: lease[0].epoch())
            journal.ready.set()
            lease.append(VenueHostLease(_Runtime(), journal, host, node, ("acct-01",), ttl_s=TTL_S, clock=self.clock,
                                        wall_clock=lambda: int(self.clock() * 1e9)))
            lease[0].keeper.kv = self.kv
            self.leases[node] = lease[0]
        self.paused: set[str] = set()
        self.sent: list[tuple[str, int]] = []   # what the venue received: (host, epoch)
        self.newest = 0

    def teardown(self) -> None:
        self.loop.close()

    def _step(self, node: str, force: bool) -> None:
        async def step() -> None:
            await self.leases[node].keeper.step(force)
            for _ in range(5):   # the takeover and step-down tasks run to their end (nothing blocks them)
                await asyncio.sleep(0)

        self.loop.run_until_complete(step())
        epoch = self.leases[node].epoch()
        if epoch:
            assert epoch >= self.newest, "a host holds only the newest epoch"
            self.newest = epoch

    @rule(node=st.sampled_from(NODES), force=st.booleans())
    def step(self, node: str, force: bool) -> None:
        """take or renew the lease, now or when due (a paused host does nothing)."""
        if node not in self.paused:
            self._step(node, force)

    @rule(dt_s=st.sampled_from((0.05, TTL_S / 4, TTL_S / 2, TTL_S, 2 * TTL_S)))
    def advance(self, dt_s: float) -> None:
        """time passes."""
        self.clock.now_s += dt_s

    @rule(node=st.sampled_from(NODES))
    def pause(self, node: str) -> None:
        """SIGSTOP."""
        self.paused.add(node)

    @precondition(lambda self: bool(self.paused))
    @rule(data=st.data())
    def resume(self, data) -> None:
        """SIGCONT: the host steps; if another took the lease meanwhile it is a standby serving nothing."""
        node = data.draw(st.sampled_from(sorted(self.paused)))
        self.paused.discard(node)
        self._step(node, True)
        holder = self.kv.holder(VENUE_LEASE_KEY)
        if holder is not None and holder[0] != node:
            lease = self.leases[node]
            assert lease.state == "standby" and not self.hosts[node].serving and lease.journal.following
            assert lease.journal.epoch() == 0

    @rule(node=st.sampled_from(NODES))
    def send(self, node: str) -> None:
        """the host's order actor tries to send: only through an open fence (paused hosts run nothing)."""
        if node in self.paused:
            return
        epoch = self.leases[node].journal.epoch()
        if epoch:
            self.sent.append((node, epoch))

    @invariant()
    def one_fence_open_and_the_venue_sees_epochs_grow(self) -> None:
        if not hasattr(self, "leases"):
            return
        open_fences = {node: lease.journal.epoch() for node, lease in self.leases.items() if lease.journal.epoch()}
        assert len(open_fences) <= 1, open_fences
        for node, epoch in open_fences.items():
            assert self.leases[node].state in ("takingOver", "active") and epoch == self.newest
            holder = self.kv.holder(VENUE_LEASE_KEY)
            assert holder is not None and holder[0] == node, (node, holder)
        epochs = [epoch for _, epoch in self.sent]
        assert epochs == sorted(epochs), "the venue never gets an order of an older epoch after a newer one"
        for node, lease in self.leases.items():
            if self.hosts[node].serving and node not in self.paused:
                assert lease.state == "active" or lease.keeper.epoch_of(VENUE_LEASE_KEY) == 0


VenueHostMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_venue_host_lease_state_machine = VenueHostMachine.TestCase


class _Algos:
    """The engine side AlgoHost needs before a command: a list of progress listeners."""

    def __init__(self) -> None:
        self.progress_listeners: list = []


@pytest.mark.nats
async def test_active_services_when_standby_then_no_watchlist_or_algo_request_reaches_it(nats_url):
    """A standby venue-host must not be in the ``algo.command.*`` (nor ``ops.watchlist``) queue group: a command
    it took would run an algo whose child orders go to its fenced order actors (an edit: change groups nobody
    receives). Served only between activate and deactivate, and a service added while active serves at once."""
    from transport.cluster import subjects
    from transport.cluster.nats_algos import AlgoHost
    from transport.cluster.nats_bus import NatsBus, NoRespondersError
    from transport.cluster.venue_standby import ActiveServices

    bus = NatsBus([nats_url], name="standby-services")
    await bus.connect()
    try:
        host = AlgoHost(bus, _Algos())
        await host.start(serve=False)
        served = ActiveServices()
        await served.add(host)
        with pytest.raises(NoRespondersError):
            await bus.request(subjects.algo_command("acct-01"), b"not a command", timeout_s=1.0)
        await served.activate()
        answer = await bus.request(subjects.algo_command("acct-01"), b"not a command", timeout_s=2.0)
        assert b"bad algo request" in answer
        await served.deactivate()
        with pytest.raises(NoRespondersError):
            await bus.request(subjects.algo_command("acct-01"), b"not a command", timeout_s=1.0)
        late = AlgoHost(bus, _Algos())
        await late.start(serve=False)
        await served.activate()
        await served.add(late)   # added while active: serves at once
        assert host.requests == 1 and late.requests == 0
        for _ in range(4):
            await bus.request(subjects.algo_command("acct-01"), b"not a command", timeout_s=2.0)
        assert host.requests + late.requests == 5
    finally:
        await bus.close()
