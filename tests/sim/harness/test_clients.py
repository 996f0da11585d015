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


def test_client_when_a_fault_is_watched_then_its_recovery_survives_frames_dropped_for_an_hour():
    """The harness judges faults at the end of a run: a fault watched when it ended still finds its first
    healthy frame after an hour of frames, while the client keeps only HEALTHY_KEPT_NS of them (ten minutes
    of frames were ~50 MB of an hour's soak; judged at the end, a fault older than the window found no frame
    of its own and took the first one kept instead)."""
    client = SimClient("c1", "ws://127.0.0.1:1/ws", "token", ["rb", "m_o"])
    step_ns = 10_000_000   # 100 frames a second, alternating groups
    start_ns = 1_000_000_000_000_000_000
    ready_ns = start_ns + 50 * step_ns
    client._frame(start_ns, "rb", 0, "snapshot", start_ns)
    client._frame(start_ns, "m_o", 0, "snapshot", start_ns)
    client.watch(ready_ns, ["m_o"])   # registered before its frame came
    client.watch(start_ns, ())        # the frames it wants are already kept
    count = int(3600e9 / step_ns)
    for i in range(2, count):
        now_ns = start_ns + i * step_ns
        client._frame(now_ns, ("rb", "m_o")[i % 2], i // 2, "delta", now_ns - 5_000_000)
    assert len(client.healthy) <= HEALTHY_KEPT_NS // step_ns + 1
    assert client.healthy[0][0] > ready_ns + HEALTHY_KEPT_NS
    assert client.recovery(ready_ns, ready_ns, ["m_o"]) == (ready_ns + step_ns, ready_ns)   # the next m_o frame
    assert client.recovery(start_ns, start_ns) == (start_ns, start_ns)
    unwatched = client.recovery(ready_ns, ready_ns, ["rb"])   # not watched: only the kept frames answer
    assert unwatched is not None and unwatched[0] >= client.healthy[0][0]


def test_client_when_a_minute_of_frames_kept_then_no_python_objects_per_frame():
    """The kept minute is numeric columns, not a tuple and its ints per frame: at ~450 frames a second over
    three probes those were ~81,000 pymalloc blocks whose number followed the frame rate, and an hour's
    soak read the day session's higher rate (+93,000 blocks, +2.8 MB in the minute after 09:00) as the
    desk's growth."""
    import sys

    client = SimClient("c1", "ws://127.0.0.1:1/ws", "token", ["rb", "m_o", "SR"])
    step_ns = 2_222_222   # 450 frames a second
    start_ns = 1_000_000_000_000_000_000
    for group in ("rb", "m_o", "SR"):
        client._frame(start_ns, group, 0, "snapshot", start_ns)
    before = sys.getallocatedblocks()
    for i in range(1, 27_001):
        now_ns = start_ns + i * step_ns
        client._frame(now_ns, ("rb", "m_o", "SR")[i % 3], i // 3 + (i % 3 != 0), "delta", now_ns - 5_000_000)
    assert len(client.healthy) > 26_000
    assert sys.getallocatedblocks() - before < 1_000
