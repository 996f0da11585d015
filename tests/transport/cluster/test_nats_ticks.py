"""Ticks across NATS: an aggregator tells a quiet market from a dead venue-host (transport/cluster/nats_ticks.py)."""

from __future__ import annotations

import schemas
from transport.cluster.nats_ticks import TickSubscriber


class _Runtime:
    """What TickSubscriber's liveness asks of a runtime: tell a group's actor."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str, str]] = []

    def tell_path(self, path: str, payload: bytes) -> bool:
        with schemas.actor.ActorMessage.from_bytes(payload) as message:
            status = message.groupStatus
            self.told.append((path, str(status.state), status.reason))
        return True


def test_subscriber_when_venue_host_silent_past_timeout_then_groups_source_down_and_live_when_heard():
    """No batch and no heartbeat for ``source_timeout_s``: every group is told sourceDown once, with a reason a
    trader reads; the next heartbeat makes them live again. Heartbeats inside the timeout change nothing (a
    quiet market is not a dead source)."""
    now = [10.0]
    runtime = _Runtime()
    subscriber = TickSubscriber(runtime, bus=None, source_timeout_s=0.8, clock=lambda: now[0])
    subscriber._known = {"rb": True, "m_o": True}
    for _ in range(5):   # a quiet market: heartbeats every 0.25 s
        now[0] += 0.25
        subscriber.heard()
        subscriber.check_source()
    assert runtime.told == []
    now[0] += 0.5
    subscriber.check_source()
    assert runtime.told == []
    now[0] += 0.4   # 0.9 s silent
    subscriber.check_source()
    subscriber.check_source()
    assert [(path, state) for path, state, _ in runtime.told] == [("market/group/rb", "sourceDown"),
                                                                  ("market/group/m_o", "sourceDown")]
    assert "venue-host silent" in runtime.told[0][2] and subscriber.statistics_dict()["venue_host_silent"]
    subscriber.heard()
    subscriber.heard()
    assert [state for _, state, _ in runtime.told[2:]] == ["live", "live"]
    assert subscriber.statistics_dict()["venue_host_silences"] == 1
