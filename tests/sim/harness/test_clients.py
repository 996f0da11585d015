"""The harness's simulated browser client (sim/harness/clients.py): what it keeps of the frames it receives."""

from __future__ import annotations

from sim.harness.clients import HEALTHY_KEPT_NS, SimClient


def test_client_when_frames_arrive_for_longer_than_kept_then_only_the_recent_ones_stay_and_recovery_reads_them():
    """Healthy frames are kept for HEALTHY_KEPT_NS only (an hour's soak appended every frame for ever and its RSS
    grew with them); a recovery measured after a fault still finds the first healthy frame built after it."""
    client = SimClient("c1", "ws://127.0.0.1:1/ws", "token", ["rb"])
    step_ns = 100_000_000   # 10 frames a second
    start_ns = 1_000_000_000_000_000_000
    count = int(2 * HEALTHY_KEPT_NS / step_ns)
    for i in range(count):
        now_ns = start_ns + i * step_ns
        client._frame(now_ns, "rb", i, "snapshot" if i == 0 else "delta", now_ns - 5_000_000)
    assert client.stats.frames == count
    assert len(client.healthy) <= HEALTHY_KEPT_NS // step_ns + 1
    fault_end_ns = start_ns + (count - 20) * step_ns
    arrival, clock_ns = client.recovery(fault_end_ns, fault_end_ns)
    assert arrival == fault_end_ns + step_ns and clock_ns == fault_end_ns   # built 5 ms before it arrived
