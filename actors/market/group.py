"""GroupActor (``market/group/<group>``): the 33 ms aggregator of one contract group.

It keeps each contract's latest L1 state in numpy arrays with a dirty mask
(:class:`actors.market.l1.L1Table`). Ticks arrive as TickBatch columns
(latest value wins). The first tick after a quiet spell arms a flush timer
on the loop; when it fires the actor emits one GroupFrame: a **delta** of
the changed rows or, every ``snapshot_interval_s``, a **snapshot** of all
rows. The frame is encoded once and the same bytes go to every subscribed
session, handed over in-line in one pass (actors/market/fanout.py
``SessionFanout``), not as one actor message per session. Each delta is
budgeted by rows, bytes and build time (actors/market/budget.py): over
budget it keeps the rows changed most (the rest stay dirty for the next
frame); the window widens to ``wide_window_ms``
while rows are left over, a frame took longer than its build budget or the
flush timer fired late (loop lag), and narrows back when none holds. Each
decision is counted. A cut keeps first the rows some subscriber shows: a
session forwards its client's ``viewport`` (schemas/market.capnp Viewport)
and the group keeps the latest per session (actors/market/viewports.py).

After a restart it asks ``market-source`` for the group's instruments and latest
rows, tells the sessions supervisor so subscribed sessions re-attach, and
those get a snapshot. It asks the same when a TickBatch's ``seq`` jumps (a
batch was lost on the way: its rows would otherwise stay stale until their
contracts tick again, for an illiquid option minutes) or names rows it was
never told about. A batch at or below the last ``seq`` (a duplicate, or a
resync's rows) is applied, latest value wins, and is no gap.

Liveness (actors/market/liveness.py): every ``heartbeat_interval_s`` without
a frame the actor sends an empty delta (a heartbeat: alive, nothing changed),
so a session that hears nothing knows the group is in trouble. It tells each
subscriber its state (``status`` outbound, a ServerMessage ``groupStatus``) on
attach and on every change: ``live``; ``closed`` when none of its contracts is
in one of its product's published trading sessions and ``preOpen`` when none
has opened yet this trading day (actors/market/trading_sessions.py; configured
``trading_windows`` override the products' sessions); or what the vn.py bridge
reported of the venue (``sourceDown``, ``ended``). The sessions are read at the
exchange's clock: ``exchange_clock = "wall"`` (a live venue) is the desk's wall
clock; ``"ticks"`` (a replay) is the wall clock minus the latest TickBatch's
``exchangeSkewNs`` (the replay's clock; before the first batch the group is
not judged).

Clock skew (issue 14): every frame carries ``exchangeSkewNs``, the venue
receive − exchange time the vn.py bridge measured for the group's exchange
(the latest TickBatch's), so a client can tell the exchange → venue hop
from the clocks' offset.

Integrity: every snapshot, every heartbeat and a delta at least every
``hash_interval_s`` carry ``stateCrc32``, the CRC-32 of the whole table after
the frame (schemas/state_hash.py), so a client whose state drifted asks a
snapshot. A frame is hashed only when no row is left dirty after it (the
table then equals what the client holds).

Entitlements (issue 17): a session attaches with its token's ``ent`` claim
(actors/market/entitlements.py). Sessions whose claims mask the same columns of
the group's exchanges form one *entitlement class*; each frame is encoded once
per class present (not per session), unentitled fields as NaN, with the CRC-32
of the masked state that class sees, and the same envelope id and build time
for every class. ``frame_encodes`` counts the encodes, ``entitlement_classes``
the classes of the last frame. An attach from a subscribed session replaces
its class (a refresh narrowed or widened its token) and is answered with info
(echoing ``Attach.tag``) and a snapshot of the new class.

Epoch (issue 16): over NATS, the aggregator node that holds the group's
lease attaches its publishing session with ``Attach.epoch``, the lease
revision; a higher epoch than the actor's is adopted and every later
GroupFrame, GroupInfo and GroupStatus carries it, so edge nodes and clients
drop frames of an older leader. In process the epoch stays 0.

A full list (``instrumentsAdded`` from index 0) that differs from the one it
holds (a contract removed from a watchlist group moves the rows after it)
replaces it: rows are carried over by vt_symbol, dropped rows go, and the
next frame to every subscriber is a snapshot. A group may hold no instruments.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor
from actors._envelope import encode_actor_message, encode_outbound
from actors.market.budget import (
    DEFAULT_LATE_MS,
    DEFAULT_MAX_BUILD_MS,
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_SAMPLE_ROWS,
    FrameBudget,
)
from actors.market.frames import (
    InstrumentInfo,
    encode_group_frame,
    encode_group_info,
    encode_group_status,
    instruments_of,
    tick_batch_columns,
)
from actors.market.entitlements import Entitlements, MaskKey, apply_masks, mask_key, row_masks
from actors.market.fanout import SessionFanout
from actors.market.l1 import L1Table
from actors.market.liveness import CLOSED, ENDED, LIVE, PRE_OPEN, SOURCE_DOWN, Liveness, TradingWindows
from actors.market.trading_sessions import GroupSessions
from actors.market.viewports import Viewports
from schemas.state_hash import HASHED_COLUMNS, l1_state_crc32

DEFAULT_WINDOW_MS = 33
DEFAULT_WIDE_WINDOW_MS = 50
DEFAULT_SNAPSHOT_INTERVAL_S = 3.0
RESYNC_RETRY_NS = 300_000_000
"""A resync unanswered this long (its reply lost, e.g. refused as corrupt) may be asked again, ns."""
DEFAULT_MAX_ROWS = 2000
DEFAULT_HEARTBEAT_INTERVAL_S = 0.5
"""An empty delta goes out when no frame did for this long, seconds."""
DEFAULT_HASH_INTERVAL_S = 0.25
"""A delta carries the state hash at least this often, seconds (a tampered delta heals within ~2×)."""
_SOURCE_STATES = (LIVE, SOURCE_DOWN, ENDED)


class GroupActor(TickstageActor):
    """Aggregates one contract group into 33 ms frames.

    Context args:
        group (str): group name, ``"rb"``.
        window_ms (int): conflation window, default 33.
        wide_window_ms (int): window while over the row budget, default 50.
        snapshot_interval_s (float): periodic snapshot, default 3 s (2–5 s).
        max_rows (int): row budget per frame, default 2,000.
        max_frame_bytes (int): byte budget per delta frame, default 32 KiB.
        max_build_ms (float): build-time budget per frame, ms, default 2.
        late_ms (float): flush timer lateness that widens the window, ms, default 0 (off).
        budget_sample_rows (int): fewest rows of a frame that updates the budget's per-row costs, default 32.
        market_source_path (str): where to ask for a resync, default ``"market-source"``.
        sessions_path (str): sessions supervisor, default ``"sessions"``.
        heartbeat_interval_s (float): empty delta after this long without a frame, default 0.5 s.
        hash_interval_s (float): a delta carries the state hash at least this often, default 0.25 s.
        trading_windows (list[str] | dict[str, list[str]]): ``"HH:MM-HH:MM"`` exchange local time, for
            every group or per group name (``"*"``: the others); outside them the group is ``closed``
            (they override the products' sessions).
        product_sessions (bool): judge ``closed`` / ``preOpen`` from the contracts' published trading
            sessions, default False here; the desk turns it on for a replay or a live venue, not for the
            synthetic market, which trades all day (transport/process/app.py ``DeskConfig.group_args``).
        exchange_clock (str): ``"wall"`` (a live venue, default) or ``"ticks"`` (a replay: the wall clock
            minus the latest TickBatch's ``exchangeSkewNs``).
        inline_fanout (bool): hand frames to sessions in-line (default True); False: one ``outbound`` actor
            message per session and frame (actors/market/fanout.py).
    """

    def on_start(self, restarts: int) -> None:
        """Set up state; after a restart ask for a resync (loop thread)."""
        args = self.context.args
        self.group: str = args["group"]
        self.window_ms: int = args.get("window_ms", DEFAULT_WINDOW_MS)
        self.wide_window_ms: int = args.get("wide_window_ms", DEFAULT_WIDE_WINDOW_MS)
        self.snapshot_interval_ns = int(args.get("snapshot_interval_s", DEFAULT_SNAPSHOT_INTERVAL_S) * 1e9)
        self.max_rows: int = args.get("max_rows", DEFAULT_MAX_ROWS)
        self.table = L1Table()
        self.instruments: list[InstrumentInfo] = []
        self.info_version = 0
        self.subscribers: dict[str, Entitlements] = {}
        self.fanout = SessionFanout(self.runtime, self.send, args.get("inline_fanout", True))
        self._classes: dict[str, MaskKey] = {}    # session → its entitlement class in this group
        self._by_class: dict[MaskKey, list[str]] | None = None  # class → its sessions (None: rebuild)
        self._masks: dict[MaskKey, dict[str, np.ndarray]] = {}  # class → column → rows to blank
        self._exchange_names: list[str] = []      # distinct exchanges of the instruments
        self._row_exchanges = np.zeros(0, np.int16)  # each row's exchange, an index into _exchange_names
        self.frame_encodes = self.entitlement_classes = 0
        self.seq = 0
        self.epoch = 0  # the NATS lease revision this group's frames carry (issue 16; 0: no lease)
        self.viewports = Viewports()
        self.viewport_rows_kept = 0
        self.budget = FrameBudget(self.window_ms, self.wide_window_ms, self.max_rows,
                                  args.get("max_frame_bytes", DEFAULT_MAX_FRAME_BYTES),
                                  args.get("max_build_ms", DEFAULT_MAX_BUILD_MS),
                                  args.get("late_ms", DEFAULT_LATE_MS),
                                  args.get("budget_sample_rows", DEFAULT_SAMPLE_ROWS))
        self._flush_due_ns = 0
        self._timer_armed = False
        self._timer_generation = 0
        self._last_emit_ns = 0
        self._last_snapshot_ns = time.monotonic_ns()
        self._message_id = 0
        self.frames = self.snapshots = self.rows_sent = self.bytes_built = 0
        self.rows_deferred = self.frames_over_budget = 0
        self.rows_unknown = self.resyncs_requested = 0
        self.tick_seq = self.tick_gaps = 0
        self.exchange_skew_ns = 0  # the latest TickBatch's clock skew, carried by every frame
        self._full_info: tuple[tuple[int, int], bytes] | None = None  # ((info version, epoch), bytes)
        self._snapshot_due = False  # the next flush is a snapshot (the instrument list was replaced)
        self._resync_pending = False
        self._resync_asked_ns = 0
        self.heartbeat_interval_s: float = args.get("heartbeat_interval_s", DEFAULT_HEARTBEAT_INTERVAL_S)
        self.hash_interval_ns = int(args.get("hash_interval_s", DEFAULT_HASH_INTERVAL_S) * 1e9)
        windows = args.get("trading_windows")
        if isinstance(windows, dict):  # per group, "*" for the rest
            windows = windows.get(self.group, windows.get("*"))
        self.windows = TradingWindows.parse(windows)
        self.product_sessions = bool(args.get("product_sessions", False))
        self.exchange_clock: str = "ticks" if args.get("exchange_clock") == "ticks" else "wall"
        self.sessions = GroupSessions(())
        self._clock_known = self.exchange_clock == "wall"   # "ticks": known from the first TickBatch
        self._last_hash_ns = 0
        self.heartbeats = self.hashed_frames = self.status_changes = 0
        self._source = Liveness(LIVE, "", time.time_ns())  # what the bridge said of the venue
        self.liveness = self._current_liveness()
        self._arm_heartbeat()
        if restarts:
            self._request_resync()

    def _request_resync(self) -> None:
        """Ask ``market-source`` for every instrument and latest row, and the sessions to attach again.

        Sent after a restart, and when a tick batch names rows this
        incarnation was never told about (it was started afresh under a
        restarted supervisor, or a message was lost): state is rebuilt, not
        crashed on (found by sim/harness/scenarios: kill market, corrupt).
        """
        now = time.monotonic_ns()
        if self._resync_pending and now - self._resync_asked_ns < RESYNC_RETRY_NS:
            return
        self._resync_pending = True
        self._resync_asked_ns = now
        self.resyncs_requested += 1
        args = self.context.args
        self.send_path(args.get("market_source_path", "market-source"), encode_actor_message(
            "resyncRequest", self.group, source=self.path))
        self.send_path(args.get("sessions_path", "sessions"), encode_actor_message(
            "groupRestarted", self.group, source=self.path))

    # -- inputs ----------------------------------------------------------

    def _on_instruments_added(self, info, message, sender: ActorAddress) -> None:
        """Append (or, from index 0, replace) the group's instruments; tell subscribers."""
        first = info.firstIndex
        if first == 0:
            self._resync_pending = False
        added = instruments_of(info)
        replaced = (first == 0 and bool(self.instruments)
                    and [i.vt_symbol for i in added] != [i.vt_symbol for i in self.instruments])
        if replaced:
            self._carry_rows(added)
        self.instruments[first:] = added
        self.table.resize(len(self.instruments))
        self.info_version += 1
        self._reclassify()
        self.sessions = GroupSessions(info.product for info in self.instruments)
        self._update_liveness()
        payload = self._info_bytes(first)
        self._broadcast(encode_outbound(group=self.group, seq=self.seq, kind="info",
                                        payload=payload, source=self.path))
        if replaced:
            self._snapshot_due = True
            self._arm_timer()

    def _carry_rows(self, instruments: list[InstrumentInfo]) -> None:
        """Rebuild the table for a new instrument list, keeping each remaining contract's row."""
        old = {info.vt_symbol: index for index, info in enumerate(self.instruments)}
        pairs = [(new, old[info.vt_symbol]) for new, info in enumerate(instruments) if info.vt_symbol in old]
        rows = self.table.peek_all()
        table = L1Table()
        table.resize(len(instruments))
        if pairs:
            targets, sources = (np.asarray(side, dtype=np.int64) for side in zip(*pairs, strict=True))
            columns = {name: column[sources] for name, column in rows.items() if name != "indexes"}
            columns["indexes"] = targets.astype(np.uint32)
            table.apply(columns)
        self.table = table

    def _on_tick_batch(self, batch, message, sender: ActorAddress) -> None:
        """Apply conflated ticks (latest value wins) and arm the flush timer; resync on a seq gap."""
        seq = batch.seq
        if seq > self.tick_seq:
            if self.tick_seq and seq != self.tick_seq + 1:
                self.tick_gaps += 1
                self._request_resync()
            self.tick_seq = seq
        if batch.exchangeSkewNs:
            self.exchange_skew_ns = batch.exchangeSkewNs
            if not self._clock_known:   # a replay's clock is known from its first batch: judge at once
                self._clock_known = True
                self._update_liveness()
        columns = tick_batch_columns(self.current_bytes)
        indexes = columns["indexes"]
        if len(indexes) == 0:
            return
        if int(indexes.max()) >= self.table.size:
            known = indexes < self.table.size
            self.rows_unknown += int(len(indexes) - known.sum())
            self._request_resync()
            if not known.any():
                return
            columns = {name: column[known] for name, column in columns.items()}
        self.table.apply(columns)
        self._arm_timer()

    def _on_attach(self, attach, message, sender: ActorAddress) -> None:
        """Subscribe a session (or replace its entitlements): send it GroupInfo and a snapshot of its class.

        ``attach.epoch`` above the actor's (a NATS publisher that just took the
        group's lease) is adopted first, so that snapshot starts the new epoch.
        """
        session = attach.sessionPath
        if attach.epoch > self.epoch:
            self.epoch = attach.epoch
        entitlements = Entitlements.from_message(attach)
        self.subscribers[session] = entitlements
        self._classes[session] = mask_key(entitlements, self._exchange_names)
        self._by_class = None
        self.fanout.send_message(session, encode_outbound(group=self.group, seq=self.seq, kind="info",
                                                          payload=self._info_bytes(0), source=self.path,
                                                          tag=attach.tag))
        self._send_snapshot_to(session)
        self.fanout.send_message(session, self._status_outbound())

    def _on_detach(self, attach, message, sender: ActorAddress) -> None:
        """Unsubscribe a session."""
        self._drop_subscriber(attach.sessionPath)

    # -- entitlements ------------------------------------------------------

    def _reclassify(self) -> None:
        """After the instrument list changed: each row's exchange, and every subscriber's class again."""
        names: dict[str, int] = {}
        self._row_exchanges = np.fromiter((names.setdefault(info.exchange, len(names)) for info in self.instruments),
                                          dtype=np.int16, count=len(self.instruments))
        self._exchange_names = list(names)
        self._masks.clear()
        self._classes = {session: mask_key(entitlements, self._exchange_names)
                         for session, entitlements in self.subscribers.items()}
        self._by_class = None

    def _masks_of(self, key: MaskKey) -> dict[str, np.ndarray]:
        masks = self._masks.get(key)
        if masks is None:
            masks = self._masks[key] = row_masks(key, self._row_exchanges, self._exchange_names)
        return masks

    # -- viewports ---------------------------------------------------------

    def _on_viewport(self, viewport, message, sender: ActorAddress) -> None:
        """A subscriber's client shows rows ``firstRow`` .. ``firstRow + rowCount - 1``, or the rows
        ``rowIndexes`` when given (a sorted view); indexes past the group's end are ignored (loop thread)."""
        session = message.source
        if session in self.subscribers:
            self.viewports.show(session, viewport.firstRow, viewport.rowCount, viewport.rowIndexes)

    def _on_snapshot_request(self, attach, message, sender: ActorAddress) -> None:
        """Send one session a snapshot now (after a gap or when it drained)."""
        self._send_snapshot_to(attach.sessionPath)

    def _on_timer(self, timer, message, sender: ActorAddress) -> None:
        """Close the window (``flush``: a delta or a due snapshot), or a ``heartbeat`` tick."""
        if timer.name == "heartbeat":
            self._heartbeat()
            return
        if timer.generation != self._timer_generation:
            return
        self._timer_armed = False
        self.budget.observe_lateness(time.monotonic_ns() - self._flush_due_ns)
        self._flush()

    def _on_group_status(self, status, message, sender: ActorAddress) -> None:
        """The vn.py bridge's word on the venue: ``sourceDown``, ``ended`` or ``live`` again."""
        state = str(status.state)
        if state not in _SOURCE_STATES:
            return
        self._source = Liveness(state, status.reason, status.sinceTsNs or time.time_ns())
        self._update_liveness()

    # -- liveness --------------------------------------------------------

    def _current_liveness(self) -> Liveness:
        if self._source.state != LIVE:
            return self._source
        now = time.time_ns()
        if self.windows.windows:
            if not self.windows.is_open(now):
                return Liveness(CLOSED, f"outside trading windows {self.windows.describe()} (exchange time)", now)
        elif self.product_sessions and self._clock_known:
            exchange_now = now - self.exchange_skew_ns if self.exchange_clock == "ticks" else now
            verdict = self.sessions.verdict(exchange_now)
            if verdict is not None:
                return Liveness(PRE_OPEN if verdict.pre_open else CLOSED, verdict.reason(), now)
        return Liveness(LIVE, "", now)

    def _update_liveness(self) -> None:
        """Recompute the state; on a change tell every subscriber."""
        current = self._current_liveness()
        if (current.state, current.reason) == (self.liveness.state, self.liveness.reason):
            return
        self.liveness = current
        self.status_changes += 1
        self._broadcast(self._status_outbound())

    def _status_outbound(self) -> bytes:
        self._message_id += 1
        live = self.liveness
        payload = encode_group_status(group=self.group, state=live.state, reason=live.reason,
                                      since_ts_ns=live.since_ts_ns, data_ts_ns=time.time_ns(), source=self.path,
                                      message_id=self._message_id, epoch=self.epoch)
        return encode_outbound(group=self.group, seq=self.seq, kind="status", payload=payload, source=self.path)

    def _arm_heartbeat(self) -> None:
        self.runtime.call_later(self.heartbeat_interval_s, self.myAddress, encode_actor_message(
            "timer", {"name": "heartbeat", "generation": 0}, source=self.path))

    def _heartbeat(self) -> None:
        """Re-arm; recheck the trading windows or sessions; send an empty hashed delta if the group was quiet."""
        self._arm_heartbeat()
        self._update_liveness()
        now = time.monotonic_ns()
        quiet = now - self._last_emit_ns >= self.heartbeat_interval_s * 1e9 * 0.9
        if not quiet or not self.subscribers or self._timer_armed or self.table.dirty_count:
            return
        self._last_emit_ns = now
        self.seq += 1
        self.heartbeats += 1
        rows = self.table.take_dirty(0)
        self._broadcast_frame(rows, snapshot=False, hashed=True)

    # -- frames ----------------------------------------------------------

    def _arm_timer(self) -> None:
        if self._timer_armed:
            return
        self._timer_armed = True
        self._timer_generation += 1
        now = time.monotonic_ns()
        due = self._last_emit_ns + self.budget.current_window_ms * 1_000_000
        self._flush_due_ns = max(due, now)
        delay_s = max(0.0, (due - now) / 1e9)
        self.runtime.call_later(delay_s, self.myAddress, encode_actor_message(
            "timer", {"name": "flush", "generation": self._timer_generation}, source=self.path))

    def _flush(self) -> None:
        now = time.monotonic_ns()
        self._last_emit_ns = now
        if not self.subscribers:
            self.table.take_dirty()
            return
        snapshot = self._snapshot_due or now - self._last_snapshot_ns >= self.snapshot_interval_ns
        if snapshot:
            rows = self.table.snapshot()
            self._last_snapshot_ns = now
            self._snapshot_due = False
        else:
            cap, cut = self.budget.row_cap(self.table.dirty_count)
            visible = self.viewports.visible(self.table.size) if cut else None
            rows = self.table.take_dirty(cap, first=visible)
            if visible is not None:
                self.viewport_rows_kept += int(visible[rows["indexes"]].sum())
            if len(rows["indexes"]) == 0:
                return
        self.seq += 1
        hashed = self.table.dirty_count == 0 and (snapshot or now - self._last_hash_ns >= self.hash_interval_ns)
        payload_bytes = self._broadcast_frame(rows, snapshot, hashed=hashed)
        self.budget.observe_frame(len(rows["indexes"]), payload_bytes, time.monotonic_ns() - now)
        backlog = self.table.dirty_count
        self.budget.next_window_ms(backlog)
        if backlog:
            self.rows_deferred += backlog
            self.frames_over_budget += 1
            self._arm_timer()

    def _broadcast_frame(self, rows: dict[str, np.ndarray], snapshot: bool, hashed: bool) -> int:
        """Send one frame to every subscriber, encoded once per entitlement class present; return the bytes of
        the largest encode (what the frame budget measures)."""
        if self._by_class is None:   # sessions grouped by class once per attach/detach, not per frame
            self._by_class = {}
            for session in self.subscribers:
                self._by_class.setdefault(self._classes.get(session, ()), []).append(session)
        by_class = self._by_class
        self._count_frame(rows, snapshot, hashed)
        self.entitlement_classes = len(by_class)
        built_ts_ns = time.time_ns()
        kind = "snapshot" if snapshot else "delta"
        largest = 0
        for key, sessions in list(by_class.items()):
            payload = self._frame_bytes(rows, snapshot, hashed, key, built_ts_ns)
            largest = max(largest, len(payload))
            gone = self.fanout.deliver(sessions, self.group, self.seq, kind, payload, time.time_ns(),
                                       lambda p=payload: encode_outbound(group=self.group, seq=self.seq, kind=kind,
                                                                         source=self.path, payload=p))
            for session in gone:
                self._drop_subscriber(session)
        return largest

    def _count_frame(self, rows: dict[str, np.ndarray], snapshot: bool, hashed: bool) -> None:
        """Count one frame (however many classes it is encoded for); the envelope id all its encodes share."""
        self._message_id += 1
        self.frames += 1
        self.snapshots += snapshot
        self.rows_sent += len(rows["indexes"])
        if hashed:
            self._last_hash_ns = time.monotonic_ns()
            self.hashed_frames += 1

    def _frame_bytes(self, rows: dict[str, np.ndarray], snapshot: bool, hashed: bool, key: MaskKey = (),
                     built_ts_ns: int | None = None) -> bytes:
        """Encode a frame for one entitlement class ``key`` (``()``: unmasked), its fields masked as NaN.

        ``hashed``: carry the CRC-32 of the whole table as that class sees it (which must equal the client's).
        """
        masks = self._masks_of(key) if key else {}
        crc = None
        if hashed:
            state = self.table.columns(HASHED_COLUMNS)
            crc = l1_state_crc32(apply_masks(state, masks) if masks else state, self.table.size)
        if masks:
            rows = apply_masks(rows, masks, rows["indexes"])
        payload = encode_group_frame(group=self.group, seq=self.seq, snapshot=snapshot,
                                     window_ms=self.budget.current_window_ms,
                                     info_version=self.info_version, rows=rows,
                                     source=self.path, message_id=self._message_id, state_crc32=crc,
                                     exchange_skew_ns=self.exchange_skew_ns, built_ts_ns=built_ts_ns,
                                     epoch=self.epoch)
        self.frame_encodes += 1
        self.bytes_built += len(payload)
        return payload

    def _info_bytes(self, first_index: int) -> bytes:
        """GroupInfo from ``first_index``; the full list is encoded once per version and reused.

        Encoding costs ~55 µs per instrument (41 ms for a 748-option chain), and
        every attach sends the full list: without the cache a sessions restart
        re-encoded it per session and group (found by sim/harness/scenarios/kill.toml).
        """
        key = (self.info_version, self.epoch)
        if first_index == 0 and self._full_info is not None and self._full_info[0] == key:
            return self._full_info[1]
        payload = encode_group_info(group=self.group, version=self.info_version, first_index=first_index,
                                    instruments=self.instruments[first_index:], source=self.path, epoch=self.epoch)
        if first_index == 0:
            self._full_info = (key, payload)
        return payload

    def _send_snapshot_to(self, session: str) -> None:
        rows = self.table.peek_all()
        self._count_frame(rows, snapshot=True, hashed=True)
        payload = self._frame_bytes(rows, True, True, self._classes.get(session, ()))
        self.fanout.send_message(session, encode_outbound(group=self.group, seq=self.seq, kind="snapshot",
                                                          payload=payload, source=self.path))

    def _broadcast(self, outbound: bytes) -> None:
        for session in list(self.subscribers):
            if not self.fanout.send_message(session, outbound):
                self._drop_subscriber(session)

    def _drop_subscriber(self, session: str) -> None:
        """Forget a session that detached or whose mailbox is gone (its class, its viewport, its fan-out mark)."""
        self.subscribers.pop(session, None)
        self._classes.pop(session, None)
        self._by_class = None
        self.fanout.forget(session)
        self.viewports.forget(session)

    def extra_statistics(self) -> dict[str, Any]:
        """Frames, encodes (one per entitlement class per frame), snapshots, rows, bytes, budget decisions,
        subscribers, seq."""
        return {
            "group": self.group,
            "instruments": len(self.instruments),
            "subscribers": len(self.subscribers),
            "seq": self.seq,
            "epoch": self.epoch,
            "frames": self.frames,
            "snapshots": self.snapshots,
            "rows_sent": self.rows_sent,
            "bytes_built": self.bytes_built,
            "frame_encodes": self.frame_encodes,
            "frames_inline": self.fanout.frames_inline,
            "frames_by_message": self.fanout.frames_by_message,
            "entitlement_classes": self.entitlement_classes,
            "rows_deferred": self.rows_deferred,
            "frames_over_budget": self.frames_over_budget,
            "rows_unknown": self.rows_unknown,
            "resyncs_requested": self.resyncs_requested,
            "tick_seq": self.tick_seq,
            "tick_gaps": self.tick_gaps,
            "exchange_skew_ns": self.exchange_skew_ns,
            "window_ms": self.budget.current_window_ms,
            **self.viewports.statistics(self.table.size),
            "viewport_rows_kept": self.viewport_rows_kept,
            **{f"budget_{name}": value for name, value in dataclasses.asdict(self.budget.statistics()).items()
               if name != "window_ms"},
            "heartbeats": self.heartbeats,
            "hashed_frames": self.hashed_frames,
            "liveness": self.liveness.state,
            "liveness_reason": self.liveness.reason,
            "liveness_since_ts_ns": self.liveness.since_ts_ns,
        }


__all__ = ["GroupActor"]
