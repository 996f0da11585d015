"""RemoteGroupActor (``market/group/<group>`` on an edge node): a group aggregated elsewhere.

On a ``edge`` node the aggregators run in other processes and publish
``md.agg.33ms.<group>`` on NATS (transport/cluster/nats_market.py). This actor takes
the GroupActor's place for the local sessions: same path, same messages in
(``attach``, ``detach``, ``snapshotRequest``) and out (``outbound``), so a
session does not know where its group runs. Frames arrive already encoded
and are forwarded unchanged; the latest GroupInfo is kept for new
subscribers, and a snapshot is asked of the aggregator (``md.snap.<group>``,
which re-broadcasts one) whenever a session attaches or saw a gap.

Liveness: the aggregator's own word on the group (``groupStatus``, published
on the same subject) is kept and forwarded like a frame. The aggregator sends
a frame or a heartbeat at least every 0.5 s; when nothing came for
``source_timeout_s`` the aggregator node is presumed gone and every local
subscriber is told ``sourceDown``; the next message from the stream brings
the group back (its last word, or ``live``).

Entitlements (issue 17): frames arrive encoded for the unmasked class only, so
a session whose ``ent`` claim masks a field of this group's exchanges is not
served here (fail closed: it gets the group's info and a ``sourceDown`` status
naming the reason, never an unentitled field); masking per class on edge nodes
is not built yet. The info answering an attach echoes its ``Attach.tag`` (to
that session alone, at once or with the next info when none is known yet).

Deltas and snapshots reach the local sessions in-line in one pass, as a
GroupActor's do (actors/market/fanout.py ``SessionFanout``).
"""

from __future__ import annotations

import time
from typing import Any

from thespian.actors import ActorAddress

import schemas
from actors._dispatch import TickstageActor
from actors._envelope import encode_actor_message, encode_outbound
from actors.market.entitlements import ANY_EXCHANGE, Entitlements, mask_key
from actors.market.fanout import SessionFanout
from actors.market.frames import encode_group_status, instruments_of
from actors.market.liveness import SOURCE_DOWN

DEFAULT_SOURCE_TIMEOUT_S = 0.8
"""The aggregator's stream silent this long (frames and heartbeats) means its node is gone, seconds.

The aggregator sends a frame or a heartbeat at least every 0.5 s; 0.8 s (checked every 0.1 s) tells
clients ``sourceDown`` before a standby aggregator can take the group's lease over (0.75 × the lease
TTL of 1.2 s plus the server's expiry granularity at the earliest: transport/cluster/leases.py), issue 16."""
WATCHDOG_PERIOD_S = 0.1
"""How often the silence is checked, seconds."""


class RemoteGroupActor(TickstageActor):
    """Fans a NATS-delivered group stream out to local sessions.

    Context args:
        group (str): group name.
        request_snapshot (Callable[[str], None]): asks the aggregator to
            re-broadcast the group's info and snapshot (loop thread, non-blocking).
        source_timeout_s (float): silence after which the group is ``sourceDown``, default 0.8 s.
        inline_fanout (bool): hand deltas and snapshots to local sessions in-line (default True); False: one
            actor message per session and frame (actors/market/fanout.py).
    """

    def on_start(self, restarts: int) -> None:
        """Set up state; ask for a snapshot at once (loop thread)."""
        self.group: str = self.context.args["group"]
        self._request_snapshot = self.context.args["request_snapshot"]
        self.subscribers: dict[str, None] = {}
        self.fanout = SessionFanout(self.runtime, self.send, self.context.args.get("inline_fanout", True))
        self._tags: dict[str, int] = {}  # session → Attach.tag its next info answers
        self.exchanges: set[str] = set()  # of the instruments in the infos
        self.refused_entitlements = 0
        self.viewports_ignored = 0
        self.infos: list[bytes] = []   # the last full GroupInfo, then appends
        self.instruments = 0
        self.seq = 0
        self.frames = self.snapshot_requests = 0
        self.source_timeout_s: float = self.context.args.get("source_timeout_s", DEFAULT_SOURCE_TIMEOUT_S)
        self._heard_ns = time.monotonic_ns()
        self._status: bytes | None = None  # the aggregator's last groupStatus (ServerMessage bytes)
        self.source_down = False
        self.source_down_events = 0
        self._down_reason = ""
        self._down_since_ns = 0
        self._message_id = 0
        self._arm_watchdog()
        if restarts:
            self._request_snapshot(self.group)

    def _on_outbound(self, outbound, message, sender: ActorAddress) -> None:
        """Forward one frame from NATS to every local subscriber; keep GroupInfo."""
        kind = str(outbound.kind)
        self._heard_ns = time.monotonic_ns()
        if self.source_down:
            self.source_down = False
            self._broadcast(self._status_outbound())
        if kind == "status":
            self._status = bytes(outbound.payload)
        elif kind == "info":
            payload = bytes(outbound.payload)
            with schemas.stream.ServerMessage.from_bytes(payload) as server_message:
                info = server_message.groupInfo
                first, count = info.firstIndex, len(info.instruments)
                exchanges = {instrument.exchange for instrument in instruments_of(info)}
            self.infos = [payload] if first == 0 else [*self.infos, payload]
            self.exchanges = exchanges if first == 0 else self.exchanges | exchanges
            self.instruments = first + count
            for session, tag in list(self._tags.items()):
                if session in self.subscribers:
                    self.fanout.send_message(session, encode_outbound(
                        group=self.group, seq=self.seq, kind="info", payload=payload, source=self.path, tag=tag))
            tagged, self._tags = set(self._tags), {}
            for session in list(self.subscribers):
                if session not in tagged and not self.fanout.send_message(session, self.current_bytes):
                    self._forget(session)
            return
        elif kind in ("delta", "snapshot"):
            self.seq = outbound.seq
            self.frames += 1
            data = self.current_bytes
            for session in self.fanout.deliver(list(self.subscribers), self.group, self.seq, kind,
                                               bytes(outbound.payload), message.sentTsNs, lambda: data):
                self._forget(session)
            return
        else:
            self.seq = outbound.seq
            self.frames += 1
        self._broadcast(self.current_bytes)

    def _broadcast(self, data: bytes) -> None:
        for session in list(self.subscribers):
            if not self.fanout.send_message(session, data):
                self._forget(session)

    def _forget(self, session: str) -> None:
        self.subscribers.pop(session, None)
        self.fanout.forget(session)

    def _on_attach(self, attach, message, sender: ActorAddress) -> None:
        """Subscribe a local session: known GroupInfo and liveness now, a snapshot from the aggregator soon.

        A session whose entitlements mask a field here is answered with the info and
        ``sourceDown`` (fail closed), and not subscribed.
        """
        session = attach.sessionPath
        for i, info in enumerate(self.infos):
            self.fanout.send_message(session, encode_outbound(group=self.group, seq=self.seq, kind="info",
                                                              payload=info, source=self.path,
                                                              tag=attach.tag if i == len(self.infos) - 1 else 0))
        entitlements = Entitlements.from_message(attach)
        if self._masks_anything(entitlements):
            self._forget(session)
            self.refused_entitlements += 1
            self._message_id += 1
            self.fanout.send_message(session, encode_outbound(
                group=self.group, seq=self.seq, kind="status", source=self.path, payload=encode_group_status(
                group=self.group, state=SOURCE_DOWN, source=self.path, since_ts_ns=time.time_ns(), data_ts_ns=0,
                reason="frames masked by field-level entitlements are served only where the group is aggregated",
                message_id=self._message_id)))
            return
        self.subscribers[session] = None
        if not self.infos and attach.tag:
            self._tags[session] = attach.tag
        if self.source_down or self._status is not None:
            self.fanout.send_message(attach.sessionPath, self._status_outbound())
        self._ask_snapshot()

    def _masks_anything(self, entitlements: Entitlements) -> bool:
        """Whether ``entitlements`` mask a field of this group (its exchanges unknown yet: of any exchange)."""
        if not entitlements.limited:
            return False
        if self.exchanges:
            return bool(mask_key(entitlements, self.exchanges))
        named = dict(entitlements.grants or ())
        return ANY_EXCHANGE not in named or any(entitlements.masked_columns(exchange) for exchange in named)

    def _on_timer(self, timer, message, sender: ActorAddress) -> None:
        """The watchdog: no frame, heartbeat or status for ``source_timeout_s`` → ``sourceDown``."""
        if timer.name != "liveness":
            return
        self._arm_watchdog()
        silent_s = (time.monotonic_ns() - self._heard_ns) / 1e9
        if self.source_down or silent_s < self.source_timeout_s:
            return
        self.source_down = True
        self.source_down_events += 1
        self._down_reason = f"the aggregator of {self.group} is silent (no frame or heartbeat for {silent_s:.1f} s)"
        self._down_since_ns = time.time_ns()
        self._broadcast(self._status_outbound())
        self._ask_snapshot()  # a standby aggregator, or the restarted one, answers with info and a snapshot

    def _arm_watchdog(self) -> None:
        period_s = min(WATCHDOG_PERIOD_S, max(0.02, self.source_timeout_s / 4))
        self.runtime.call_later(period_s, self.myAddress, encode_actor_message(
            "timer", {"name": "liveness", "generation": 0}, source=self.path))

    def _status_outbound(self) -> bytes:
        """The group's liveness for a local session: ``sourceDown``, else the aggregator's last word."""
        if self.source_down or self._status is None:
            self._message_id += 1
            payload = encode_group_status(
                group=self.group, state=SOURCE_DOWN if self.source_down else "live",
                reason=self._down_reason if self.source_down else "", source=self.path,
                since_ts_ns=self._down_since_ns if self.source_down else time.time_ns(),
                data_ts_ns=0, message_id=self._message_id)
        else:
            payload = self._status
        return encode_outbound(group=self.group, seq=self.seq, kind="status", payload=payload, source=self.path)

    def _on_detach(self, attach, message, sender: ActorAddress) -> None:
        """Unsubscribe a local session."""
        self._forget(attach.sessionPath)
        self._tags.pop(attach.sessionPath, None)

    def _on_snapshot_request(self, attach, message, sender: ActorAddress) -> None:
        """A local session saw a gap: ask the aggregator to re-broadcast a snapshot."""
        self._ask_snapshot()

    def _on_viewport(self, viewport, message, sender: ActorAddress) -> None:
        """A local client's visible rows: counted, not forwarded. The aggregator's frames are encoded once for
        every edge node, so one page's viewport cannot choose their rows (and refusing it made the session and
        this actor trade ``failure`` replies)."""
        self.viewports_ignored += 1

    def _ask_snapshot(self) -> None:
        self.snapshot_requests += 1
        self._request_snapshot(self.group)

    def extra_statistics(self) -> dict[str, Any]:
        """Subscribers, frames forwarded, last seq, snapshot requests."""
        return {"group": self.group, "subscribers": len(self.subscribers), "seq": self.seq,
                "frames": self.frames, "snapshot_requests": self.snapshot_requests, "remote": True,
                "liveness": SOURCE_DOWN if self.source_down else self._aggregator_state(),
                "source_down_events": self.source_down_events, "refused_entitlements": self.refused_entitlements,
                "viewports_ignored": self.viewports_ignored, "frames_inline": self.fanout.frames_inline,
                "frames_by_message": self.fanout.frames_by_message}

    def _aggregator_state(self) -> str:
        if self._status is None:
            return "live"
        with schemas.stream.ServerMessage.from_bytes(self._status) as message:
            return str(message.groupStatus.state)


__all__ = ["RemoteGroupActor"]
