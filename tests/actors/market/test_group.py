"""GroupActor: coalescing, snapshot/delta/seq, row budget, restart with snapshot."""

from __future__ import annotations

import asyncio

import numpy as np

import schemas
from actors import ActorRuntime, ChildSpec, Supervisor, TickstageActor, start_root
from actors._envelope import encode_actor_message
from actors.market.frames import (
    InstrumentInfo,
    encode_instruments_added,
    encode_tick_batch,
    frame_columns,
)
from actors.market.group import GroupActor
from actors.market.supervisor import MarketSupervisor

INSTRUMENTS = [InstrumentInfo(f"rb18{m:02d}.SHFE", f"rb18{m:02d}", "SHFE", "rb", "F", 1.0, 10.0)
               for m in range(1, 6)]


class Probe(TickstageActor):
    """Stands in for a session: records every outbound (kind, seq, payload)."""

    def _on_outbound(self, outbound, message, sender):
        kind = str(outbound.kind)
        if kind == "status":  # liveness: kept apart so frame tests see frames only
            self.context.args.setdefault("statuses", []).append(bytes(outbound.payload))
            return
        self.context.args["received"].append((kind, outbound.seq, bytes(outbound.payload)))


def _rows(indexes, last):
    n = len(indexes)
    return {"indexes": np.array(indexes, np.uint32), "lastPrices": np.array(last, float),
            "bidPrices": np.array(last, float) - 1, "askPrices": np.array(last, float) + 1,
            "bidVolumesLots": np.ones(n), "askVolumesLots": np.ones(n), "volumesLots": np.arange(n, dtype=float),
            "openInterestsLots": np.full(n, 100.0), "exchangeTsNs": np.full(n, 1, np.int64),
            "gatewayRecvTsNs": np.full(n, 2, np.int64)}


async def _start(**group_args):
    runtime = ActorRuntime()
    received = []
    args = {"group": "rb", "window_ms": 5, "heartbeat_interval_s": 60.0, **group_args}
    market = ChildSpec("market", MarketSupervisor, {"children": [ChildSpec("group/rb", GroupActor, args)]})
    probe = ChildSpec("probe", Probe, {"received": received})
    start_root(runtime, Supervisor, {"children": [probe, market]})
    await runtime.wait_idle()
    runtime.tell_path("market/group/rb", encode_instruments_added(
        group="rb", version=1, first_index=0, instruments=INSTRUMENTS, source="test"))
    runtime.tell_path("market/group/rb", encode_actor_message("attach", {"sessionPath": "probe", "group": "rb"}))
    await runtime.wait_idle()
    return runtime, received


async def _wait_for(received, count, timeout_s=5.0):
    async with asyncio.timeout(timeout_s):
        while len(received) < count:
            await asyncio.sleep(0.001)


def _frame(payload):
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        frame = message.groupFrame
        head = (frame.seq, str(frame.kind))
    return head, frame_columns(payload)


async def test_attach_when_subscribed_then_info_and_snapshot_at_current_seq():
    """A new subscriber gets GroupInfo then a snapshot of every row, at the current seq."""
    runtime, received = await _start()
    try:
        await _wait_for(received, 2)
        assert [k for k, _, _ in received[:2]] == ["info", "snapshot"]
        (seq, kind), columns = _frame(received[1][2])
        assert (seq, kind) == (0, "snapshot")
        assert list(columns["indexes"]) == [0, 1, 2, 3, 4]
        assert np.isnan(columns["lastPrices"]).all()
    finally:
        runtime.shutdown()


async def test_ticks_when_same_row_twice_in_a_window_then_one_delta_latest_wins():
    """Two batches for a row inside one window coalesce into one delta with the latest value."""
    runtime, received = await _start()
    try:
        await _wait_for(received, 2)
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([1, 3], [100.0, 300.0])))
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([1], [101.0])))
        await _wait_for(received, 3)
        (seq, kind), columns = _frame(received[2][2])
        assert (seq, kind) == (1, "delta")
        assert list(columns["indexes"]) == [1, 3]
        assert list(columns["lastPrices"]) == [101.0, 300.0]
    finally:
        runtime.shutdown()


async def test_frames_when_windows_pass_then_seq_rises_by_one_and_snapshots_come_due():
    """Each broadcast frame takes seq + 1; a due periodic snapshot carries every row."""
    runtime, received = await _start(snapshot_interval_s=0.0)
    try:
        await _wait_for(received, 2)
        for i in range(3):
            runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([i], [float(i)])))
            await _wait_for(received, 3 + i)
        frames = [_frame(p) for _, _, p in received[2:5]]
        assert [head for head, _ in frames] == [(1, "snapshot"), (2, "snapshot"), (3, "snapshot")]
        assert all(len(cols["indexes"]) == 5 for _, cols in frames)
    finally:
        runtime.shutdown()


async def test_frame_when_over_row_budget_then_top_rows_sent_and_rest_deferred():
    """Over max_rows the frame keeps the most-changed rows, the rest follow, and it is counted."""
    runtime, received = await _start(max_rows=2)
    try:
        await _wait_for(received, 2)
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0, 1, 2, 3], [1.0, 2, 3, 4])))
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([2, 3], [30.0, 40])))
        await _wait_for(received, 4)
        (_, _), first = _frame(received[2][2])
        (_, _), second = _frame(received[3][2])
        assert list(first["indexes"]) == [2, 3]
        assert list(second["indexes"]) == [0, 1]
        stats = runtime.registry.entry("market/group/rb").instance.statistics().extra
        assert stats["frames_over_budget"] == 1 and stats["rows_deferred"] == 2
    finally:
        runtime.shutdown()


async def test_tick_batch_when_subscribers_none_then_no_frame_and_state_kept():
    """Without subscribers no frame is built, but a later subscriber's snapshot has the rows."""
    runtime, received = await _start()
    try:
        await _wait_for(received, 2)
        runtime.tell_path("market/group/rb", encode_actor_message("detach", {"sessionPath": "probe", "group": "rb"}))
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([4], [44.0])))
        await runtime.wait_idle()
        await asyncio.sleep(0.02)
        assert len(received) == 2
        runtime.tell_path("market/group/rb", encode_actor_message("attach", {"sessionPath": "probe", "group": "rb"}))
        await _wait_for(received, 4)
        (_, kind), columns = _frame(received[3][2])
        assert kind == "snapshot" and columns["lastPrices"][4] == 44.0
    finally:
        runtime.shutdown()


class MarketSourceProbe(TickstageActor):
    """Stands in for the MarketSourceActor: records the groups whose resync was asked."""

    def _on_resync_request(self, group, message, sender):
        self.context.args["asked"].append(group)


async def test_tick_batch_when_seq_jumps_then_gap_counted_and_resync_asked_duplicates_not():
    """A lost TickBatch (seq 2 → 4) makes the group ask the market source for its rows; a repeat (seq 4 again) is
    applied (latest value wins) and is no gap. Without the seq, the lost batch's rows stayed stale until
    their contracts ticked again."""
    runtime = ActorRuntime()
    asked = []
    market = ChildSpec("market", MarketSupervisor, {"children": [
        ChildSpec("group/rb", GroupActor, {"group": "rb", "window_ms": 5})]})
    start_root(runtime, Supervisor, {"children": [ChildSpec("market-source", MarketSourceProbe, {"asked": asked}), market]})
    try:
        await runtime.wait_idle()
        runtime.tell_path("market/group/rb", encode_instruments_added(
            group="rb", version=1, first_index=0, instruments=INSTRUMENTS, source="test"))
        for seq in (1, 2, 4, 4, 5):
            runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([seq % 5], [100.0 + seq]), seq=seq))
        await runtime.wait_idle()
        stats = runtime.registry.entry("market/group/rb").instance.statistics().extra
        assert (stats["tick_seq"], stats["tick_gaps"], stats["resyncs_requested"]) == (5, 1, 1)
        assert asked == ["rb"]
    finally:
        runtime.shutdown()


async def test_instruments_when_full_list_drops_a_contract_then_rows_follow_their_contracts_in_a_snapshot():
    """A full list without rb1802 (a watchlist edit) moves the later rows up with their values; subscribers
    get the new info, then a snapshot of exactly the remaining rows."""
    runtime, received = await _start()
    try:
        await _wait_for(received, 2)
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0, 1, 2], [10.0, 20.0, 30.0])))
        await _wait_for(received, 3)
        kept = [INSTRUMENTS[0], *INSTRUMENTS[2:]]
        runtime.tell_path("market/group/rb", encode_instruments_added(
            group="rb", version=2, first_index=0, instruments=kept, source="test"))
        await _wait_for(received, 5)
        assert [kind for kind, _, _ in received[3:5]] == ["info", "snapshot"]
        (_, kind), columns = _frame(received[4][2])
        assert list(columns["indexes"]) == [0, 1, 2, 3]
        assert list(columns["lastPrices"][:2]) == [10.0, 30.0] and np.isnan(columns["lastPrices"][2:]).all()
    finally:
        runtime.shutdown()


async def test_instruments_when_last_one_removed_then_group_runs_and_emits_an_empty_snapshot():
    """An emptied group (a watchlist's last contract removed) stays up: its subscribers get the empty info
    and an empty snapshot, and a new attach still gets both, without a crash."""
    runtime, received = await _start()
    try:
        await _wait_for(received, 2)
        runtime.tell_path("market/group/rb", encode_instruments_added(
            group="rb", version=2, first_index=0, instruments=[], source="test"))
        await _wait_for(received, 4)
        assert [kind for kind, _, _ in received[2:4]] == ["info", "snapshot"]
        (_, kind), columns = _frame(received[3][2])
        assert kind == "snapshot" and len(columns["indexes"]) == 0
        runtime.tell_path("market/group/rb", encode_actor_message("attach", {"sessionPath": "probe", "group": "rb"}))
        await _wait_for(received, 6)
        entry = runtime.registry.entry("market/group/rb")
        stats = entry.instance.statistics()
        assert (entry.state.value, entry.restarts, stats.last_error) == ("running", 0, None)
        assert stats.extra["instruments"] == 0
    finally:
        runtime.shutdown()


def _status_of(payload):
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        status = message.groupStatus
        return str(status.state), status.reason


def _hash_of(payload):
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        frame = message.groupFrame
        return frame.stateHashed, frame.stateCrc32


async def test_quiet_group_when_heartbeat_due_then_empty_hashed_delta_with_next_seq():
    """Nothing changed for heartbeat_interval_s: an empty delta (seq + 1) whose hash is the whole state's."""
    from schemas.state_hash import l1_state_crc32

    runtime, received = await _start(heartbeat_interval_s=0.05)
    try:
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0, 2], [3500.0, 3520.0])))
        await _wait_for(received, 4)
        kinds = [(kind, seq) for kind, seq, _ in received[:4]]
        assert kinds[:3] == [("info", 0), ("snapshot", 0), ("delta", 1)]
        kind, seq, payload = received[3]
        assert (kind, seq) == ("delta", 2) and len(_frame(payload)[1]["indexes"]) == 0
        sent = _rows([0, 2], [3500.0, 3520.0])
        rows = {name: np.full(5, np.nan) for name, column in sent.items() if column.dtype.kind == "f"}
        for name in rows:
            rows[name][[0, 2]] = sent[name]
        assert _hash_of(payload) == (True, l1_state_crc32(rows, 5))
    finally:
        runtime.shutdown()


async def test_frame_when_rows_left_dirty_by_row_budget_then_not_hashed():
    """A delta that leaves rows for the next frame is not hashed (the client cannot have them yet); the
    frame that clears the backlog is."""
    runtime, received = await _start(max_rows=2, hash_interval_s=0.0)
    try:
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0])))
        await _wait_for(received, 4)
        deltas = [payload for kind, _, payload in received if kind == "delta"]
        assert [_hash_of(p)[0] for p in deltas[:2]] == [False, True]
        assert _hash_of(received[1][2])[0] is True  # the attach snapshot
    finally:
        runtime.shutdown()


async def test_attach_when_outside_trading_windows_then_status_closed_and_venue_words_override():
    """A group outside its windows tells subscribers closed; the bridge's sourceDown and ended win over it."""
    runtime, received = await _start(trading_windows={"rb": ["00:00-00:00"], "*": []})
    probe = runtime.registry.get("probe").instance
    try:
        await _wait_for(received, 2)
        async with asyncio.timeout(5):
            while not probe.context.args.get("statuses"):
                await asyncio.sleep(0.001)
        statuses = probe.context.args["statuses"]
        assert _status_of(statuses[0])[0] == "closed" and "trading windows" in _status_of(statuses[0])[1]
        for state in ("sourceDown", "ended"):
            runtime.tell_path("market/group/rb", encode_actor_message("groupStatus", {
                "group": "", "state": state, "reason": f"venue {state}", "sinceTsNs": 1}))
        await runtime.wait_idle()
        assert [_status_of(p) for p in statuses[1:]] == [("sourceDown", "venue sourceDown"), ("ended", "venue ended")]
    finally:
        runtime.shutdown()


def _skew_to(hhmm: str) -> int:
    """The TickBatch skew that puts the exchange clock at 2017-11-13 ``hhmm`` Asia/Shanghai now (a fake clock)."""
    import datetime as dt
    import time

    from actors.market.liveness import EXCHANGE_TZ

    hour, minute = (int(part) for part in hhmm.split(":"))
    exchange = int(dt.datetime(2017, 11, 13, hour, minute, 30, tzinfo=EXCHANGE_TZ).timestamp() * 1e9)
    return time.time_ns() - exchange


async def _statuses(probe, count: int) -> list[tuple[str, str]]:
    async with asyncio.timeout(5):
        while len(probe.context.args.get("statuses", [])) < count:
            await asyncio.sleep(0.001)
    return [_status_of(payload) for payload in probe.context.args["statuses"]]


async def test_status_when_replay_clock_outside_rb_sessions_then_closed_or_pre_open_and_live_inside():
    """Issue 14: with the replay's clock (``exchange_clock = "ticks"``) the group judges rb's published
    sessions: unjudged (live) before the first batch, closed at 12:00 (lunch) with the next opening, preOpen at
    16:00 (rb's trading day has not opened), live again at 13:31; configured windows would override it."""
    runtime, received = await _start(exchange_clock="ticks", product_sessions=True, heartbeat_interval_s=0.02)
    probe = runtime.registry.get("probe").instance
    try:
        assert (await _statuses(probe, 1))[0] == ("live", "")
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0], [1.0]), exchange_skew_ns=_skew_to("12:00")))
        state, reason = (await _statuses(probe, 2))[1]
        assert state == "closed" and "rb" in reason and "next opens at 13:30" in reason
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([1], [1.0]), exchange_skew_ns=_skew_to("16:00")))
        state, reason = (await _statuses(probe, 3))[2]
        assert state == "preOpen" and reason.startswith("pre-open:") and "20:55" in reason
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([2], [1.0]), exchange_skew_ns=_skew_to("13:31")))
        assert (await _statuses(probe, 4))[3] == ("live", "")
        stats = runtime.registry.get("market/group/rb").instance.statistics().extra
        assert stats["liveness"] == "live"
    finally:
        runtime.shutdown()


async def test_status_when_wall_clock_and_product_sessions_off_then_live_at_any_hour():
    """``product_sessions = false`` (the synthetic market) never judges sessions: live whatever the clock says."""
    runtime, received = await _start(exchange_clock="ticks", product_sessions=False, heartbeat_interval_s=0.02)
    probe = runtime.registry.get("probe").instance
    try:
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0], [1.0]), exchange_skew_ns=_skew_to("12:00")))
        group = runtime.registry.get("market/group/rb").instance
        async with asyncio.timeout(5):   # a few heartbeats, each rechecks the sessions
            while group.heartbeats < 3:
                await asyncio.sleep(0.005)
        assert {state for state, _ in await _statuses(probe, 1)} == {"live"}
    finally:
        runtime.shutdown()


def _epoch_of(payload):
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        return getattr(message, message.which()).epoch


async def test_attach_when_higher_epoch_then_info_snapshot_status_and_later_frames_carry_it_lower_ignored():
    """Issue 16: an attach with a higher lease epoch is adopted before its info, snapshot and status, so the new
    epoch starts with a snapshot and every later frame carries it; a lower epoch does not take it back."""
    runtime, received = await _start()
    statuses = runtime.registry.get("probe").instance.context.args.setdefault("statuses", [])
    try:
        await _wait_for(received, 2)
        assert [_epoch_of(p) for _, _, p in received[:2]] == [0, 0]
        runtime.tell_path("market/group/rb", encode_actor_message(
            "attach", {"sessionPath": "probe", "group": "rb", "epoch": 7}))
        await _wait_for(received, 4)
        assert [(k, _epoch_of(p)) for k, _, p in received[2:4]] == [("info", 7), ("snapshot", 7)]
        assert _epoch_of(statuses[-1]) == 7
        runtime.tell_path("market/group/rb", encode_actor_message(
            "attach", {"sessionPath": "probe", "group": "rb", "epoch": 3}))
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([1], [101.0])))
        await _wait_for(received, 7)
        assert [_epoch_of(p) for _, _, p in received[4:7]] == [7, 7, 7]
        assert received[6][0] == "delta"
    finally:
        runtime.shutdown()


async def test_frame_when_over_byte_budget_then_rows_deferred_and_window_widens():
    """Under the row budget but over the byte budget the delta is cut, the rest follow, and it is counted."""
    runtime, received = await _start(max_frame_bytes=1, max_build_ms=1e6, budget_sample_rows=1,
                                     snapshot_interval_s=60.0)
    try:
        await _wait_for(received, 2)
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0], [1.0])))
        await _wait_for(received, 3)
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0, 1, 2], [1.0, 2, 3])))
        await _wait_for(received, 6)
        sizes = [len(_frame(p)[1]["indexes"]) for _, _, p in received[3:6]]
        assert sizes == [1, 1, 1]
        stats = runtime.registry.entry("market/group/rb").instance.statistics().extra
        assert stats["budget_frames_cut_bytes"] == 2 and stats["budget_widened_backlog"] == 2
        assert stats["frames_over_budget"] == 2
    finally:
        runtime.shutdown()


async def test_flush_when_timer_fires_late_then_window_widens_and_lag_counted():
    """A flush timer later than late_ms (loop lag) widens the next window; the decision is counted."""
    runtime, received = await _start(late_ms=1e-6, wide_window_ms=7)
    try:
        await _wait_for(received, 2)
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0], [1.0])))
        await _wait_for(received, 3)
        await runtime.wait_idle()
        stats = runtime.registry.entry("market/group/rb").instance.statistics().extra
        assert stats["budget_widened_loop_lag"] == 1 and stats["window_ms"] == 7
    finally:
        runtime.shutdown()


async def test_frame_when_cut_and_a_sorted_view_shows_scattered_rows_then_those_rows_go_first():
    """Issue 18: a sorted watchlist shows rows that are not one run (``rowIndexes``); a cut delta keeps those,
    rows past the group's end are ignored, and the statistics count the rows shown."""
    runtime, received = await _start(max_rows=2, snapshot_interval_s=60.0)
    try:
        await _wait_for(received, 2)
        runtime.tell_path("market/group/rb", encode_actor_message(
            "viewport", {"group": "rb", "firstRow": 0, "rowCount": 0, "rowIndexes": [4, 1, 99]}, source="probe"))
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0, 1, 2, 3, 4], [1.0, 2, 3, 4, 5])))
        await _wait_for(received, 3)
        (_, _), first = _frame(received[2][2])
        assert sorted(first["indexes"]) == [1, 4]
        stats = runtime.registry.entry("market/group/rb").instance.statistics().extra
        assert stats["viewports"] == 1 and stats["viewport_rows"] == 2
    finally:
        runtime.shutdown()


async def test_frame_when_cut_and_a_subscriber_shows_rows_then_shown_rows_go_first():
    """A cut delta keeps the rows a subscriber's viewport shows, though others changed more; it is counted."""
    runtime, received = await _start(max_rows=2, snapshot_interval_s=60.0)
    try:
        await _wait_for(received, 2)
        runtime.tell_path("market/group/rb", encode_actor_message(
            "viewport", {"group": "rb", "firstRow": 0, "rowCount": 2}, source="probe"))
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([0, 1, 2, 3], [1.0, 2, 3, 4])))
        runtime.tell_path("market/group/rb", encode_tick_batch("rb", _rows([2, 3], [30.0, 40])))
        await _wait_for(received, 4)
        (_, _), first = _frame(received[2][2])
        (_, _), second = _frame(received[3][2])
        assert list(first["indexes"]) == [0, 1] and list(second["indexes"]) == [2, 3]
        stats = runtime.registry.entry("market/group/rb").instance.statistics().extra
        assert stats["viewports"] == 1 and stats["viewport_rows_kept"] == 2
        runtime.tell_path("market/group/rb", encode_actor_message(
            "detach", {"sessionPath": "probe", "group": "rb"}))
        await runtime.wait_idle()
        assert runtime.registry.entry("market/group/rb").instance.statistics().extra["viewports"] == 0
    finally:
        runtime.shutdown()
