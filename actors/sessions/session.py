"""SessionActor (``sessions/session/<id>``): one browser WebSocket connection.

The socket itself stays in transport/edge/ws.py, which authenticates the client,
validates every inbound frame and hands the session only well-formed
``ClientMessage`` bytes (``ActorMessage.client``). The session subscribes
its groups, and pushes the frames its groups send (``outbound``, or in-line through
:meth:`SessionActor.take_frame_nowait` from the group's ``SessionFanout``) into the
socket's :class:`~transport.edge.outbox.SocketOutbox` without locks (same thread).

Slow consumer (conflation): when the outbox holds more than
``high_water_bytes``, deltas for a group are dropped and the group is marked
stale; once the socket drains below ``low_water_bytes`` the session asks the
group for a fresh snapshot. Memory never grows with a slow client.
A restarted session re-attaches the groups in its :class:`SessionState`.
An attach the group never answered is sent again, backing off; while the desk
warms up a group not created yet is held and attached once it appears, or
refused ``unknownGroup`` once the desk is warm: the bookkeeping is
:class:`actors.sessions.attachments.GroupAttachments`.

Liveness (issue 14): the session tells its socket each subscribed group's
state (``groupStatus``) once known and on every change: the worst of what the
group said of itself (a ``status`` outbound), what the market supervisor said
of its actor (``groupStatus``: ``stopped``, ``restarting``) and the session's
own watchdog (``stale`` after ``stale_after_s`` without a frame or heartbeat);
the bookkeeping is :class:`actors.sessions.liveness.LivenessBook`.

Orders (issue 3): ``submitOrder``, ``cancelOrder`` and ``orderStatusRequest``
for an account the token grants (``SessionState.may_trade``) go to
``orders/<account>`` (``orderCommand``); others get ``error(forbidden)``;
algo commands go to the algo host. The checks and the forwarding are
:class:`actors.sessions.commands.CommandForwarder`. Replies come back as ``outbound`` of kind ``control``, pushed unconditionally;
order events, AccountStatus and RiskSummary arrive through the sessions
supervisor's fan-out (``accountPush``), for which the session registers its
accounts (``sessionAccounts``) at start. Past the high-water mark they are
conflated like frames: the latest AccountStatus and RiskSummary per account
wins, and an account whose events were dropped gets an ``orderStatusReply``
(asked for on the client's behalf) once the socket drains; an admin socket
that does not read (every account) cannot grow the queue with pushes
(:class:`actors.sessions.account_pushes.AccountPushes`).

Entitlements (issue 17): every ``attach`` carries the token's ``ent`` claim
(actors/market/entitlements.py); the group sends this session the frames of
its entitlement class. A refresh that changes the claim reaches the session
as ``entitlementsChanged``: it attaches every group again and, until each
group's answer (the ``info`` echoing that attach's tag), drops the group's
frames, so no frame of the old class reaches the socket after the refresh's
ack, which the session sends. Its contract detail streams are subscribed
again with the new claim, each contract's ticks dropped until its new history
(echoing that subscription's tag).

Watchlist (issue 8): ``watchlistUpdate`` is checked here (1 or more
vt_symbols of 1..64 bytes, none both added and removed: ``malformed``
otherwise) and sent to the ``market-source`` actor as ``watchlistMembership`` for
the user's own group (``watch-<user>``), which answers this session; the
page then subscribes that group like any other.
"""

from __future__ import annotations

import time
from typing import Any

from thespian.actors import ActorAddress

import schemas
from actors._dispatch import TickstageActor
from actors._envelope import encode_actor_message
from actors._registry import ActorState
from actors.market.entitlements import EVERYTHING, Entitlements
from actors.market.frames import encode_group_status
from actors.market.liveness import RESTARTING, SOURCE_DOWN, STOPPED, Liveness
from actors.market.ticks import MAX_PER_SESSION, TICKS_PATH
from actors.market.watchlists import MAX_VT_SYMBOL_BYTES, vt_symbol_fits, watchlist_group
from actors.market_source import MARKET_SOURCE_PATH
from actors._envelope import encode_server_message, new_server_message
from actors.orders.config import ALGO_MEMBERS, ORDER_MEMBERS
from actors.paths import group_path
from actors.sessions.account_pushes import AccountPushes
from actors.sessions.attachments import GroupAttachments, LateRefusal
from actors.sessions.commands import CommandForwarder, Refusal
from actors.sessions.liveness import LivenessBook, StatusChange
from actors.sessions.state import SessionState

DEFAULT_HIGH_WATER_BYTES = 1024 * 1024
DEFAULT_LOW_WATER_BYTES = 256 * 1024
DEFAULT_STALE_AFTER_S = 1.5
"""A group silent this long (no frame, no heartbeat: 3 heartbeat intervals) is ``stale``, seconds."""
_DOWN_STATES = {ActorState.STOPPING: STOPPED, ActorState.STOPPED: STOPPED, ActorState.RESTARTING: RESTARTING,
                ActorState.STARTING: RESTARTING, ActorState.ESCALATED: RESTARTING}



class SessionActor(TickstageActor):
    """Pushes group frames to one socket, conflating for a slow client.

    Context args:
        outbox: the socket's SocketOutbox (``put_nowait(bytes)``; ``send_nowait(bytes)``, which writes at once:
            replies to the client's own commands; ``queued_bytes``).
        state: :class:`SessionState`.
        high_water_bytes (int): default 1 MiB.
        low_water_bytes (int): default 256 KiB.
        stale_after_s (float): a group silent this long is ``stale``, default 1.5 s.
        groups_warming (callable): ``groups_warming()`` is True while the desk may still create groups (its
            venue's contracts are arriving: after a start, or a gateway not yet ready). A subscribe to a group
            not there yet is then held (``sourceDown``, "waiting for ...") and attached when the group
            appears, instead of refused ``unknownGroup``: a browser reconnecting to a restarted desk, or to
            one whose venue is still logging in, keeps its panels. Once warm, a group still absent is
            refused ``unknownGroup`` as at once on a warm desk. Default: never warming.
    """

    def on_start(self, restarts: int) -> None:
        """Bind the outbox and (re-)attach every subscribed group (loop thread)."""
        args = self.context.args
        self.outbox = args["outbox"]
        self.state: SessionState = args["state"]
        self.high_water = args.get("high_water_bytes", DEFAULT_HIGH_WATER_BYTES)
        self.low_water = args.get("low_water_bytes", DEFAULT_LOW_WATER_BYTES)
        self.stale: dict[str, bool] = {}  # group → snapshot already requested
        self._message_id = 0
        self.frames_sent = self.bytes_sent = self.conflated = 0
        self.snapshots_requested = 0
        self._narrowing: dict[str, int] = {}  # group → least attach tag answering the new entitlements
        self._narrowing_ticks: dict[str, int] = {}  # vt_symbol → least history tag of the new entitlements
        self._tick_tag = 0
        self.frames_dropped_entitlements = 0
        self.stale_after_s: float = args.get("stale_after_s", DEFAULT_STALE_AFTER_S)
        self.liveness = LivenessBook(self.stale_after_s, self._actor_down)
        self._watchdog_message: bytes | None = None
        self._arm_watchdog()
        self.attachments = GroupAttachments(self.state.groups, self.runtime.registry,
                                            args.get("groups_warming") or (lambda: False),
                                            self._send_attach, self._arm_attach_retry)
        self.attachments.restore()
        self.commands = CommandForwarder(self.path, self.state, self.runtime.registry, self.send_path)
        self.account_pushes = AccountPushes(self.path, self.state, self.outbox, self.high_water, self.low_water,
                                            self.send_path)
        self.watchlist_updates = 0
        self.details_sent = self.details_dropped = 0
        self._register_accounts(attached=True)
        if self.state.ticks:
            self._tick_subscription(list(self.state.ticks), True)

    def on_stop(self) -> None:
        """Detach from every group once the socket is gone (loop thread)."""
        if self.state.closed:
            for group in self.state.groups:
                self.send_path(group_path(group), self._attach_message("detach", group))
            self._register_accounts(attached=False)
            if self.state.ticks:
                self._tick_subscription(list(self.state.ticks), False)

    def _register_accounts(self, attached: bool) -> None:
        """Tell the sessions supervisor which accounts' pushes this session takes."""
        if self.context is None or not self.context.parent:
            return
        self.send_path(self.context.parent, encode_actor_message("sessionAccounts", {
            "sessionPath": self.path, "accounts": list(self.state.accounts), "all": self.state.role == "admin",
            "attached": attached}, source=self.path))

    # -- from the socket ------------------------------------------------

    def _on_client(self, data: bytes, message, sender: ActorAddress) -> None:
        """Handle one validated ClientMessage (subscribe, unsubscribe, snapshotRequest, ping)."""
        with schemas.stream.ClientMessage.from_bytes(
            data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
            nesting_limit=schemas.NESTING_LIMIT,
        ) as client:
            member = client.which()
            correlation = client.envelope.id
            self.log.debug("command_received", member=member, envelope_id=correlation)
            if member == "subscribe":
                self._subscribe(list(client.subscribe.groups), correlation)
            elif member == "unsubscribe":
                for group in client.unsubscribe.groups:
                    if self.attachments.unsubscribe(group):
                        self.send_path(group_path(group), self._attach_message("detach", group))
                    self._forget(group)
                self._control(ack={"of": "unsubscribe"}, correlation=correlation)
            elif member == "snapshotRequest":
                group = client.snapshotRequest.group
                if group in self.state.groups:
                    self.send_path(group_path(group), self._attach_message("snapshotRequest", group))
                else:
                    self._control(error={"code": "unknownGroup", "message": f"not subscribed to {group!r}"},
                                  correlation=correlation)
            elif member == "viewport":
                self._viewport(client.viewport, correlation)
            elif member == "ping":
                self._pong(client.ping.clientTsNs, correlation)
            elif member in ORDER_MEMBERS:
                body = getattr(client, member)
                refusal = self.commands.order(body, member, data, self.correlation_id)
                if refusal is None:
                    self.log.debug("order_command_forwarded", member=member, account=body.account)
                self._forward(refusal, correlation)
            elif member in ALGO_MEMBERS:
                self._forward(self.commands.algo(getattr(client, member), data, self.correlation_id), correlation)
            elif member in ("subscribeTicks", "unsubscribeTicks"):
                self._follow_ticks(list(getattr(client, member).vtSymbols), member == "subscribeTicks", correlation)
            elif member == "watchlistUpdate":
                self._watchlist_update(list(client.watchlistUpdate.add), list(client.watchlistUpdate.remove),
                                       correlation)
            else:
                self._control(error={"code": "unknownMessage", "message": f"{member} is not taken here"},
                              correlation=correlation)

    def _viewport(self, viewport, correlation: int) -> None:
        """Tell a subscribed group which of its rows this client shows (no ack: it follows every scroll)."""
        group = viewport.group
        if group not in self.state.groups:
            self._control(error={"code": "unknownGroup", "message": f"not subscribed to {group!r}"},
                          correlation=correlation)
            return
        self.send_path(group_path(group), encode_actor_message("viewport", {
            "group": group, "firstRow": viewport.firstRow, "rowCount": viewport.rowCount,
            "rowIndexes": list(viewport.rowIndexes)}, source=self.path))

    def _forward(self, refusal: Refusal | None, correlation: int) -> None:
        """Tell the socket why an order or algo command was not forwarded (nothing when it was)."""
        if refusal is not None:
            self._control(error=refusal.as_error(), correlation=correlation)

    def _watchlist_update(self, add: list[str], remove: list[str], correlation: int) -> None:
        """Check a watchlistUpdate and send it to the ``market-source`` actor for the user's own group."""
        symbols = add + remove
        if (not symbols or set(add) & set(remove)
                or not all(vt_symbol_fits(s) for s in symbols)):
            self._control(error={"code": "malformed", "message": (
                f"watchlistUpdate: 1 or more vt_symbols of 1..{MAX_VT_SYMBOL_BYTES} bytes, none both added and "
                "removed")}, correlation=correlation)
            return
        if MARKET_SOURCE_PATH not in self.runtime.registry:
            self._control(error={"code": "internal", "message": "watchlists are edited on the venue-host"},
                          correlation=correlation)
            return
        self.watchlist_updates += 1
        if not self.send_path(MARKET_SOURCE_PATH, encode_actor_message("watchlistMembership", {
                "group": watchlist_group(self.state.user), "add": add, "remove": remove, "sessionPath": self.path,
                "correlationId": correlation}, source=self.path, correlation_id=self.correlation_id)):
            self._control(error={"code": "internal", "message": "the market-source actor is restarting; retry"},
                          correlation=correlation)

    def _on_account_push(self, push, message, sender: ActorAddress) -> None:
        """An order event or account status of an account this session may see: push it, or conflate it
        when the socket is past the high-water mark (:class:`AccountPushes`)."""
        self.bytes_sent += self.account_pushes.push(push.account, push.payload)

    def _subscribe(self, groups: list[str], correlation: int) -> None:
        """Attach the groups (held while the desk warms up), refuse the unknown ones, ack the rest."""
        unknown = self.attachments.subscribe(groups, correlation)
        if unknown:
            self._control(error={"code": "unknownGroup", "message": f"no such group: {', '.join(unknown)}"},
                          correlation=correlation)
        self._control(ack={"of": "subscribe", "detail": ",".join(g for g in groups if g not in unknown)},
                      correlation=correlation)

    # -- from the groups --------------------------------------------------

    def _on_outbound(self, outbound, message, sender: ActorAddress) -> None:
        """Push a group's frame to the socket, or conflate it when the socket is behind."""
        group, kind = outbound.group, outbound.kind
        if kind == "control":  # an order reply addressed to this session: written now, not at the turn's end
            payload = outbound.payload
            self.outbox.send_nowait(payload)
            self.bytes_sent += len(payload)
            return
        if kind == "detail":  # a contract's ticks: best effort
            if group not in self.state.ticks:
                return
            if self._narrowing_ticks and group in self._narrowing_ticks:
                if not outbound.tag or outbound.tag < self._narrowing_ticks[group]:
                    self.frames_dropped_entitlements += 1  # encoded for the old entitlement class
                    return
                del self._narrowing_ticks[group]  # the history of the subscription with the new entitlements
            if self.outbox.queued_bytes > self.high_water:
                self.details_dropped += 1
                return
            payload = outbound.payload
            self.outbox.put_nowait(payload)
            self.details_sent += 1
            self.bytes_sent += len(payload)
            return
        self._group_outbound(group, kind, outbound.tag, message.sentTsNs, outbound)

    def take_frame_nowait(self, group: str, seq: int, kind: str, payload: bytes, sent_ts_ns: int) -> None:
        """Take a group's frame in-line, as an ``outbound`` message of that kind would be taken (loop thread).

        Called by the group's :class:`actors.market.fanout.SessionFanout` inside the group's handler, once
        every message the group queued to this session before was handled; ``payload`` is the same
        ``bytes`` for every session of the frame's entitlement class (never copied here). A raising step
        is this actor's crash (its supervisor restarts it), never the group's.

        Args:
            group: the group's name, ``"rb"``.
            seq: the frame's sequence number (the ServerMessage carries it too).
            kind: ``"delta"`` or ``"snapshot"``.
            payload: one ServerMessage ``groupFrame``.
            sent_ts_ns: the group's hand-off, ns since UNIX epoch (desk clock).
        """
        if self._crashed:
            return
        try:
            self._group_outbound(group, kind, 0, sent_ts_ns, _Frame(payload))
        except Exception as exc:  # noqa: BLE001 - a crash of this session, reported to its supervisor
            self.msg_type = "outbound"
            self._crash(exc)
            self.msg_type = ""

    def _group_outbound(self, group: str, kind: str, tag: int, sent_ts_ns: int, outbound) -> None:
        """Push a group's info, status, snapshot or delta, or conflate it (``outbound.payload``: read once,
        only when pushed)."""
        if group not in self.state.groups:
            return
        if self._narrowing and group in self._narrowing:
            if kind == "info" and tag and tag >= self._narrowing[group]:
                del self._narrowing[group]  # the answer to an attach with the new entitlements
            elif kind in ("delta", "snapshot"):
                self.frames_dropped_entitlements += 1  # encoded for the old entitlement class
                return
        self.attachments.answered(group)  # any frame from the group: it has us as a subscriber
        if kind == "status":
            self._push_status(self.liveness.group_said(group, self._status_of(outbound.payload)))
            return
        if kind != "info":
            self._push_status(self.liveness.heard(group, sent_ts_ns))   # no clock read per session
        if kind == "delta":
            if group in self.stale or self.outbox.queued_bytes > self.high_water:
                self._conflate(group)
                return
        elif kind == "snapshot":
            if self.outbox.queued_bytes > self.high_water:
                self.stale[group] = False  # dropped: ask again once the socket drains, or the group stays stale
                self._conflate(group)
                return
            self.stale.pop(group, None)
        payload = outbound.payload
        self.outbox.put_nowait(payload, sent_ts_ns)  # the group's hand-off, µs after builtTsNs
        self.frames_sent += 1
        self.bytes_sent += len(payload)

    def _on_socket_drained(self, _body, message, sender: ActorAddress) -> None:
        """The socket caught up: ask every stale group for a fresh snapshot, push the conflated statuses."""
        self._request_stale_snapshots()
        self.bytes_sent += self.account_pushes.drained()

    def _on_entitlements_changed(self, changed, message, sender: ActorAddress) -> None:
        """A refresh changed the token's ``ent`` claim: attach every group and follow the contracts again, then ack.

        Frames already encoded for the old class (in flight now) are dropped until each
        group answers the new attach, so none reaches the socket after the ack.
        """
        for group in self.state.groups:
            self.attachments.attach(group)
            self._narrowing[group] = self.attachments.generation  # the answer to this attach (or a later retry)
        if self.state.ticks:
            self._tick_subscription(list(self.state.ticks), True)
            self._narrowing_ticks.update(dict.fromkeys(self.state.ticks, self._tick_tag))
        self._control(ack={"of": "refresh", "detail": str(changed.expiresTs)}, correlation=changed.correlationId)

    def _on_group_restarted(self, group: str, message, sender: ActorAddress) -> None:
        """A group's aggregator restarted: attach again to get its info and a snapshot.

        ``ticks`` (the contract detail actor) restarted: follow the contracts again.
        """
        if group == TICKS_PATH and self.state.ticks:
            self._tick_subscription(list(self.state.ticks), True)
        elif group in self.state.groups:
            self.attachments.attach(group)

    def _on_group_status(self, status, message, sender: ActorAddress) -> None:
        """The market supervisor says a group's actor is ``stopped`` or ``restarting``."""
        if status.group in self.state.groups:
            self._push_status(self.liveness.actor_said(status.group, Liveness(
                str(status.state), status.reason, status.sinceTsNs or time.time_ns())))

    def _on_timer(self, timer, message, sender: ActorAddress) -> None:
        """An attach retry is due (attach again if the group has not answered), or the liveness watchdog."""
        name = timer.name
        if name == "liveness":
            self._watchdog()
            return
        if name.startswith("attach:"):
            refusal = self.attachments.retry(name[len("attach:"):], timer.generation)
            if refusal is not None:
                self._refuse_late(refusal)

    # -- liveness ---------------------------------------------------------

    def _arm_watchdog(self) -> None:
        if self._watchdog_message is None:   # encoded once: every session re-arms it 2×/s (1,000 sessions: 2,000/s)
            self._watchdog_message = encode_actor_message("timer", {"name": "liveness", "generation": 0},
                                                          source=self.path)
        self.runtime.call_later(max(0.05, self.stale_after_s / 3), self.myAddress, self._watchdog_message)

    def _watchdog(self) -> None:
        """Re-arm; tell the socket of groups gone silent (stale, or down per the registry)."""
        self._arm_watchdog()
        for change in self.liveness.sweep():
            self._push_status(change)

    def _refuse_late(self, refusal: LateRefusal) -> None:
        """A group held while the desk warmed up does not exist once it is warm: show it ``stopped`` (the panel
        says why), drop it, and answer its subscribe ``unknownGroup``."""
        group = refusal.group
        self._push_status(self.liveness.actor_said(group, Liveness(STOPPED, refusal.reason, time.time_ns())))
        self._forget(group)
        self._control(error={"code": "unknownGroup", "message": refusal.reason}, correlation=refusal.correlation)

    def _forget(self, group: str) -> None:
        """Drop what the session keeps of a group it no longer follows (unsubscribed, or refused late)."""
        self.stale.pop(group, None)
        self.liveness.forget(group)

    def _actor_down(self, group: str) -> str | None:
        """``stopped``/``restarting`` when the registry says the group's actor is down, ``sourceDown`` for a
        group held while the desk warms up, else None."""
        entry = self.runtime.registry.get(group_path(group))
        if entry is not None:
            return _DOWN_STATES.get(entry.state)
        return SOURCE_DOWN if self.attachments.held(group) else STOPPED

    @staticmethod
    def _status_of(payload: bytes) -> Liveness:
        with schemas.stream.ServerMessage.from_bytes(
                payload, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                nesting_limit=schemas.NESTING_LIMIT) as message:
            status = message.groupStatus
            return Liveness(str(status.state), status.reason, status.sinceTsNs)

    def _push_status(self, change: StatusChange | None) -> None:
        """Push a group's new liveness to the socket (``groupStatus``)."""
        if change is None:
            return
        self._message_id += 1
        live = change.liveness
        self.outbox.put_nowait(encode_group_status(
            group=change.group, state=live.state, reason=live.reason, since_ts_ns=live.since_ts_ns,
            data_ts_ns=change.data_ts_ns, source=self.path, message_id=self._message_id))

    # -- helpers ----------------------------------------------------------

    def _conflate(self, group: str) -> None:
        self.conflated += 1
        if group not in self.stale:
            self.stale[group] = False
        if self.outbox.queued_bytes <= self.low_water:
            self._request_stale_snapshots()

    def _request_stale_snapshots(self) -> None:
        if self.outbox.queued_bytes > self.low_water:
            return
        for group, requested in list(self.stale.items()):
            if not requested:
                self.stale[group] = True
                self.snapshots_requested += 1
                self.send_path(group_path(group), self._attach_message("snapshotRequest", group))

    def _send_attach(self, group: str, tag: int) -> None:
        """Send a group ``attach`` carrying ``tag`` (:class:`GroupAttachments`); a group whose actor is down
        now, or not created yet, is shown ``stopped``/``restarting``/``sourceDown`` at once."""
        self.liveness.track(group)
        if not self.send_path(group_path(group), self._attach_message("attach", group, tag)):
            down = self._actor_down(group) or STOPPED
            reason = (f"waiting for the venue's contracts: {group} is not on the desk yet" if down == SOURCE_DOWN
                      else f"{group_path(group)} is {down}")
            self._push_status(self.liveness.actor_said(group, Liveness(down, reason, time.time_ns())))

    def _arm_attach_retry(self, group: str, generation: int, wait_s: float) -> None:
        """Tell this actor ``timer("attach:<group>", generation)`` in ``wait_s`` seconds."""
        self.runtime.call_later(wait_s, self.myAddress, encode_actor_message(
            "timer", {"name": f"attach:{group}", "generation": generation}, source=self.path))

    def _follow_ticks(self, symbols: list[str], subscribe: bool, correlation: int) -> None:
        """subscribeTicks / unsubscribeTicks: checked here, answered by the ``ticks`` actor (or here)."""
        if not 1 <= len(symbols) <= MAX_PER_SESSION or not all(vt_symbol_fits(s) for s in symbols):
            self._control(error={"code": "malformed", "message": (
                f"1..{MAX_PER_SESSION} vtSymbols of 1..{MAX_VT_SYMBOL_BYTES} bytes each")}, correlation=correlation)
            return
        if TICKS_PATH not in self.runtime.registry:
            self._control(error={"code": "internal", "message": "contract detail is served where the vn.py "
                                 "gateway runs, not on this node"}, correlation=correlation)
            return
        if subscribe:
            self.state.ticks.update(dict.fromkeys(symbols))
            self._tick_subscription(symbols, True, correlation)
            return
        for vt_symbol in symbols:
            self.state.ticks.pop(vt_symbol, None)
        self._tick_subscription(symbols, False)
        self._control(ack={"of": "unsubscribeTicks", "detail": ",".join(symbols)}, correlation=correlation)

    def _tick_subscription(self, symbols: list[str], subscribe: bool, correlation: int = 0) -> None:
        principal = self.state.principal
        groups = None if principal is None or principal.is_admin else principal.groups
        self.send_path(TICKS_PATH, encode_actor_message("tickSubscription", {
            "sessionPath": self.path, "vtSymbols": symbols, "subscribe": subscribe, "correlationId": correlation,
            "allGroups": groups is None, "groups": sorted(groups or ()), **self._entitlement_fields(),
            "tag": self._next_tick_tag() if subscribe else 0},
            source=self.path, correlation_id=self.correlation_id))

    def _next_tick_tag(self) -> int:
        self._tick_tag = self._tick_tag % 0xFFFFFFFF + 1
        return self._tick_tag

    def _entitlement_fields(self) -> dict[str, Any]:
        """``limited`` and ``entitlements`` of an Attach or TickSubscription, from the token's ``ent`` claim."""
        entitlements: Entitlements = getattr(self.state.principal, "entitlements", None) or EVERYTHING
        grants = entitlements.as_dict()
        if grants is None:
            return {"limited": False}
        return {"limited": True, "entitlements": [{"exchange": exchange, "fieldClasses": classes}
                                                  for exchange, classes in grants.items()]}

    def _attach_message(self, member: str, group: str, tag: int = 0) -> bytes:
        fields: dict[str, Any] = {"sessionPath": self.path, "group": group}
        if member == "attach":
            fields.update(self._entitlement_fields(), tag=tag)
        return encode_actor_message(member, fields, source=self.path, correlation_id=self.correlation_id)

    def _pong(self, client_ts_ns: int, correlation: int) -> None:
        """Answer a ping: its clientTsNs, and this socket's frame built → socket write percentiles.

        The envelope's sentTsNs (desk clock) with the client's send and receive times gives
        the client its clock offset (transport/latency.py ClockOffset).
        """
        self._message_id += 1
        message, pong = new_server_message("pong", correlation, self.path, self._message_id)
        pong.clientTsNs = client_ts_ns
        figures = self.outbox.send_latency.percentiles()
        send = pong.init("socketSend")
        send.p50Ns, send.p95Ns, send.p99Ns, send.samples = (figures.p50_ns, figures.p95_ns, figures.p99_ns,
                                                             min(figures.samples, 0xFFFFFFFF))
        self.outbox.send_nowait(message.to_bytes())

    def _control(self, correlation: int = 0, **member: Any) -> None:
        """Push the session's own answer (``ack``/``error``/``pong``) to the socket: ``error={...}``."""
        self._message_id += 1
        ((name, fields),) = member.items()
        self.outbox.send_nowait(encode_server_message(name, correlation, self.path, self._message_id, **fields))

    def extra_statistics(self) -> dict[str, Any]:
        """Frames and bytes pushed, conflations, queued bytes, stale groups."""
        return {
            "user": self.state.user,
            "groups": list(self.state.groups),
            "frames_sent": self.frames_sent,
            "bytes_sent": self.bytes_sent,
            "conflated": self.conflated,
            "snapshots_requested": self.snapshots_requested,
            "attach_retries": self.attachments.retries,
            "frames_dropped_entitlements": self.frames_dropped_entitlements,
            "ticks_followed": list(self.state.ticks),
            "details_sent": self.details_sent,
            "details_dropped": self.details_dropped,
            "attaching": self.attachments.attaching(),
            "queued_bytes": self.outbox.queued_bytes,
            "stale_groups": list(self.stale),
            "liveness": self.liveness.shown(),
            "statuses_sent": self.liveness.changes,
            "order_commands": self.commands.order_commands,
            "algo_commands": self.commands.algo_commands,
            "watchlist_updates": self.watchlist_updates,
            "pushes_sent": self.account_pushes.pushes_sent,
            "pushes_conflated": self.account_pushes.pushes_conflated,
            **_send_latency_statistics(self.outbox),
        }


class _Frame:
    """A frame handed over in-line, read as an ``outbound`` reader is (``.payload``)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


def _send_latency_statistics(outbox) -> dict[str, int]:
    """``send_latency_p50_ns`` / ``_p95_ns`` / ``_p99_ns`` / ``send_latency_samples``: the socket's frame
    built → socket write hop (:class:`transport.outbox.SocketOutbox`), ns."""
    figures = outbox.send_latency.percentiles()
    return {"send_latency_p50_ns": figures.p50_ns, "send_latency_p95_ns": figures.p95_ns,
            "send_latency_p99_ns": figures.p99_ns, "send_latency_samples": figures.samples}


__all__ = ["SessionActor", "SessionState", "group_path"]
