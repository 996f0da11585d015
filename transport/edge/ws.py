"""The browser WebSocket at ``/ws`` (aiohttp): origin, auth, limits, validation, one session per socket.

Protocol (schemas/stream.capnp): one unpacked Cap'n Proto message per binary
frame. Before the upgrade, a request whose ``Origin`` is not allowed gets
HTTP 403 (``forbidden`` counted; no socket). The first ``ClientMessage``
must be ``auth`` with a valid JWT within ``auth_timeout_s``; otherwise the
socket gets ``error`` and closes with 1008, as does the user's socket past
``max_sockets_per_user`` (``limitExceeded``). Every later frame is checked
here, at the boundary, before any actor sees it, in this order: token
bucket (``rateLimited``, not decoded), text frame (``malformed``), size
(``tooLarge``), decoding and contents (:mod:`transport.edge.inbound`), rights
(``forbidden``: a group the token does not allow), subscriptions per socket
(``limitExceeded``). ``refresh`` is answered here: a valid token for the
same user and role replaces the socket's token (``ack{of="refresh"}``) and
re-arms the expiry timer (another user or role: ``forbidden``, the socket
keeps its token: a role decides the session's account fan-out at start); a token whose
``ent`` claim differs is acked by the session once it has attached its groups with it
(``entitlementsChanged``: no frame of the old entitlement class follows the ack); at ``exp`` a socket gets ``error(tokenExpired)`` and is
closed with 1008. Every refusal counts towards ``max_bad_frames`` within
``bad_window_s``; one more closes the socket with 1008, as does a frame
from a client that does not read its replies (``max_queued_bytes``).
Only well-formed, allowed messages reach the :class:`SessionActor`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from actors import (
    ChildSpec,
    Restart,
    StopChild,
    encode_actor_message,
    encode_error,
    encode_server_message,
    spawn,
)
from actors.orders.config import ALGO_MEMBERS, MAX_CLIENT_ORDER_ID_BYTES, ORDER_KEYS, ORDER_MEMBERS, client_order_id_fits
from actors.paths import group_path, is_token, orders_path, session_child, session_path
from actors.sessions.session import SessionActor, SessionState
from actors.sessions.state import command_correlation_id
from transport.signin.auth import AuthConfig, Principal, TokenVerifier
from transport.errors import AuthError, FrameRefusedError, LedgerUnavailableError
from transport.edge.inbound import ClientFrame, read_client_frame
from transport.edge.limits import SocketLimits, TokenBucket, origin_allowed
from transport.edge.outbox import SocketOutbox, WriteBatch
from transport.edge.client import client_message

_log = structlog.get_logger("transport.edge.ws")
_SESSION_MEMBERS = frozenset({"subscribe", "unsubscribe", "snapshotRequest", "ping", "subscribeTicks",
                              "unsubscribeTicks", "watchlistUpdate", "viewport"}) | ORDER_MEMBERS | ALGO_MEMBERS
_POLICY_VIOLATION = WSCloseCode.POLICY_VIOLATION  # 1008
SOURCE = "ws"
"""``Envelope.source`` of the ServerMessages the socket server answers with itself (``ack``, ``error``)."""


class _Connection:
    """One authenticated socket, as the socket server sees it (loop thread only)."""

    __slots__ = ("ws", "outbox", "path", "number", "state", "bucket", "subscriptions", "bad", "expiry", "expired",
                 "going_away", "task", "log")

    def __init__(self, ws, outbox: SocketOutbox, path: str, state: SessionState, bucket: TokenBucket,
                 log, number: int = 0) -> None:
        self.ws = ws
        self.outbox = outbox
        self.path = path
        self.number = number
        self.state = state
        self.bucket = bucket
        self.subscriptions: set[str] = set()
        self.bad: deque[float] = deque()
        self.expiry: asyncio.TimerHandle | None = None
        self.expired = False
        self.going_away = False
        self.task = asyncio.current_task()
        self.log = log


@dataclass(frozen=True)
class SocketStatistics:
    """Counters of the socket server (``SocketServer.statistics()``).

    Every data frame read is exactly one of forwarded, handled or refused:
    ``frames_received == frames_forwarded + frames_handled + frames_refused``.

    Attributes:
        sockets_open: authenticated sockets now.
        sockets_opened: authenticated sockets since start.
        users_connected: distinct users with an open socket now.
        frames_received: client data frames read (binary or text, auth included).
        frames_forwarded: frames handed to session actors.
        frames_handled: frames answered by the socket server itself (``auth``, ``refresh``).
        frames_refused: frames answered with ``error``.
        refused: every refusal by ``ErrorCode`` name: frames, auth timeouts,
            wrong origins (``forbidden``), expiries (``tokenExpired``).
        origins_refused: upgrade requests refused with 403.
        tokens_refreshed: accepted ``refresh`` messages.
        tokens_expired: sockets closed because their token expired.
        closed_bad_input: sockets closed with 1008 for repeated refusals.
    """

    sockets_open: int
    sockets_opened: int
    users_connected: int
    frames_received: int
    frames_forwarded: int
    frames_handled: int
    frames_refused: int
    refused: Mapping[str, int]
    origins_refused: int
    tokens_refreshed: int
    tokens_expired: int
    closed_bad_input: int


class SocketServer:
    """Serves ``/ws``: checks origin, authenticates, enforces limits, validates, starts a session per socket.

    Args:
        runtime: the actor runtime.
        verifier: the desk's :class:`TokenVerifier` (or an HS256 secret, for tests and tools).
        limits: per-user and per-connection limits.

    Attributes:
        clock: monotonic clock in seconds for the rate and bad-input windows
            (tests may replace it to step time).
    """

    def __init__(self, runtime, verifier: TokenVerifier | str, limits: SocketLimits | None = None,
                 ledger: Any = None, groups_warming: Any = None) -> None:
        self.runtime = runtime
        self.groups_warming = groups_warming
        """``groups_warming()``: True while the desk may still create groups; each session holds a subscribe
        to a group not there yet until then (actors/sessions/session.py). None: never."""
        self.ledger = ledger
        """The cluster-wide count of a user's sockets (``ClusterSocketLedger``: ``acquire``,
        ``release_nowait``, ``note_local_only``), or None: this process's count only."""
        self.verifier = verifier if isinstance(verifier, TokenVerifier) else TokenVerifier(AuthConfig(), verifier)
        self.limits = limits or SocketLimits()
        self.clock = time.monotonic
        self._ids = itertools.count(1)
        self._user_sockets: dict[str, int] = {}
        self._write_batch = WriteBatch()  # every socket's frames of one loop turn, written from one callback
        self.connections: dict[str, _Connection] = {}
        """Open sockets by session path (the flight recorder attaches to their outboxes)."""
        self.sockets_open = self.sockets_opened = 0
        self.frames_received = self.frames_forwarded = self.frames_handled = self.frames_refused = 0
        self.origins_refused = self.tokens_refreshed = self.tokens_expired = self.closed_bad_input = 0
        self.refused: dict[str, int] = {}

    def statistics(self) -> SocketStatistics:
        """Return the socket server's counters now (loop thread)."""
        return SocketStatistics(
            self.sockets_open, self.sockets_opened, len(self._user_sockets), self.frames_received,
            self.frames_forwarded, self.frames_handled, self.frames_refused, dict(self.refused),
            self.origins_refused, self.tokens_refreshed, self.tokens_expired, self.closed_bad_input)

    def _count(self, code: str) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for ``GET /ws``."""
        limits = self.limits
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, request.host, limits.allowed_origins):
            self._count("forbidden")
            self.origins_refused += 1
            _log.warning("socket_refused", code="forbidden", reason="origin not allowed", origin=origin[:200])
            return web.Response(status=403, text="forbidden: origin not allowed")
        ws = web.WebSocketResponse(max_msg_size=limits.hard_frame_bytes, compress=limits.compress,
                                   heartbeat=30.0)
        await ws.prepare(request)
        principal = await self._authenticate(ws)
        if principal is None:
            return ws
        user = principal.user
        if self._user_sockets.get(user, 0) >= limits.max_sockets_per_user:
            self.frames_refused += 1
            await self._refuse(ws, "limitExceeded", f"more than {limits.max_sockets_per_user} sockets for one user")
            return ws
        ticket = await self._acquire_cluster_slot(user)
        if ticket is None:
            self.frames_refused += 1
            await self._refuse(ws, "limitExceeded", f"more than {limits.max_sockets_per_user} sockets for one user "
                                                    "across the desk's edge nodes (a cluster-wide limit)")
            return ws
        self.frames_handled += 1
        self._user_sockets[user] = self._user_sockets.get(user, 0) + 1
        session_id = next(self._ids)
        name = session_child(session_id)
        path = session_path(session_id)
        outbox = SocketOutbox(ws.send_bytes, lambda: self.runtime.tell_path(
            path, encode_actor_message("socketDrained", None, source="ws")), limits.low_water_bytes,
            transport=None if limits.compress else request.transport, is_closed=lambda: ws.closed,
            batch=self._write_batch)
        writer = asyncio.create_task(outbox.run(), name=f"ws-writer-{session_id}")
        state = SessionState(user, principal.role, principal=principal)
        spawn(self.runtime, "sessions", ChildSpec(name, SessionActor, {
            "outbox": outbox, "state": state, "high_water_bytes": limits.high_water_bytes,
            "low_water_bytes": limits.low_water_bytes,
            "stale_after_s": limits.stale_after_s, "groups_warming": self.groups_warming}, restart=Restart.TRANSIENT))
        self.sockets_open += 1
        self.sockets_opened += 1
        conn = _Connection(ws, outbox, path, state, TokenBucket(limits.messages_per_s, limits.message_burst,
                                                                self.clock()),
                           _log.bind(session_path=path, user=user), session_id)
        self.connections[path] = conn
        conn.log.info("session_opened", role=principal.role)
        outbox.put_nowait(encode_server_message("ack", 0, SOURCE, of="auth", detail=path))
        self._arm_expiry(conn)
        try:
            try:
                await self._read_loop(conn)
            except asyncio.CancelledError:
                # _expire and close_all cancel this task (the reader) so that the close handshake runs here:
                # a close from another task while receive() waits makes aiohttp drop the TCP at once.
                if not (conn.expired or conn.going_away) or asyncio.current_task().uncancel() > 0:
                    raise
                if conn.expired:
                    await _send_and_close(ws, encode_error("tokenExpired", "token expired; refresh before exp", 0,
                                                           SOURCE), b"tokenExpired")
                else:
                    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"goingAway: the desk is stopping")
        finally:
            if conn.expiry is not None:
                conn.expiry.cancel()
            state.closed = True
            self.connections.pop(path, None)
            if outbox.recorder is not None:
                outbox.recorder.stop()
            outbox.close()
            writer.cancel()
            self.sockets_open -= 1
            left = self._user_sockets.pop(user) - 1
            if left:
                self._user_sockets[user] = left
            if ticket:
                self.ledger.release_nowait(ticket)
            sessions = self.runtime.registry.get("sessions")
            if sessions is not None:
                self.runtime.tell(sessions.address, StopChild(name))
            conn.log.info("session_closed", close_code=ws.close_code)
        return ws

    async def _acquire_cluster_slot(self, user: str) -> str | None:
        """Take a slot of ``user`` in the cluster-wide count: its key, ``""`` (no count kept or it is
        unavailable: this process's count held), or None (the user is at the limit across nodes)."""
        if self.ledger is None:
            return ""
        try:
            return await self.ledger.acquire(user, self.limits.max_sockets_per_user)
        except LedgerUnavailableError as exc:
            self.ledger.note_local_only(exc.reason)
            return ""

    # -- authentication ----------------------------------------------------

    async def _authenticate(self, ws: web.WebSocketResponse) -> Principal | None:
        try:
            async with asyncio.timeout(self.limits.auth_timeout_s):
                msg = await ws.receive()
        except TimeoutError:
            return await self._refuse(ws, "unauthenticated", "no auth message in time")
        if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            return await self._refuse(ws, "unauthenticated", "closed before auth")
        self.frames_received += 1
        self.frames_refused += 1  # undone below when the token is taken
        if msg.type != WSMsgType.BINARY:
            return await self._refuse(ws, "unauthenticated", "first message must be a binary auth")
        if len(msg.data) > self.limits.max_frame_bytes:
            return await self._refuse(ws, "tooLarge", "auth frame too large")
        try:
            frame = read_client_frame(msg.data, self.limits)
        except FrameRefusedError as exc:
            return await self._refuse(ws, exc.code, str(exc), exc.correlation)
        if frame.member != "auth":
            return await self._refuse(ws, "unauthenticated", f"first message must be auth, not {frame.member}",
                                      frame.correlation)
        try:
            principal = await self.verifier.verify_async(frame.token)
        except AuthError as exc:
            return await self._refuse(ws, exc.code, str(exc), frame.correlation)
        self.frames_refused -= 1
        return principal

    async def _refuse(self, ws: web.WebSocketResponse, code: str, text: str, correlation: int = 0) -> None:
        self._count(code)
        _log.info("socket_refused", code=code, reason=text)
        await _send_and_close(ws, encode_error(code, text, correlation, SOURCE), code.encode())
        return None

    # -- token expiry and refresh -----------------------------------------

    def _arm_expiry(self, conn: _Connection) -> None:
        if conn.expiry is not None:
            conn.expiry.cancel()
        delay_s = conn.state.principal.expires_ts + self.verifier.config.leeway_s - time.time()
        conn.expiry = asyncio.get_running_loop().call_later(max(0.0, delay_s), self._expire, conn)

    def _expire(self, conn: _Connection) -> None:
        conn.expiry = None
        if conn.ws.closed or conn.expired or conn.task is None or conn.task.done():
            return
        conn.expired = True
        self._count("tokenExpired")
        self.tokens_expired += 1
        conn.log.info("token_expired_socket_closed")
        conn.task.cancel()

    def close_all(self) -> int:
        """Close every open socket with 1001 (going away): the desk is stopping, and its clients reconnect
        (to this desk restarted, or another edge node). Returns how many were asked to close (loop thread).

        Without it, aiohttp's shutdown waits up to its ``shutdown_timeout`` (60 s) for each socket's handler
        to end on its own (aiohttp docs, "Graceful shutdown": close the websockets in ``on_shutdown``).
        """
        closing = 0
        for conn in list(self.connections.values()):
            if conn.ws.closed or conn.task is None or conn.task.done() or conn.expired or conn.going_away:
                continue
            conn.going_away = True
            conn.task.cancel()
            closing += 1
        if closing:
            _log.info("sockets_closing", count=closing, reason="the desk is stopping")
        return closing

    def _refresh(self, conn: _Connection, frame: ClientFrame) -> None:
        try:
            principal = self.verifier.verify(frame.token)
        except AuthError as exc:
            raise FrameRefusedError(exc.code, str(exc), frame.correlation) from None
        if principal.user != conn.state.user or principal.role != conn.state.role:
            raise FrameRefusedError("forbidden", "refresh must carry a token for the same user and role; "
                                    "open a new socket for another role", frame.correlation)
        previous, conn.state.principal = conn.state.principal, principal
        revoked = sorted(g for g in conn.subscriptions if not principal.may_see_group(g))
        if revoked:
            conn.subscriptions.difference_update(revoked)
            self.runtime.tell_path(conn.path, encode_actor_message(
                "client", client_message(0, unsubscribe={"groups": revoked}, source="ws"), source="ws"))
        self._arm_expiry(conn)
        self.tokens_refreshed += 1
        self.frames_handled += 1
        conn.log.info("token_refreshed", revoked_groups=revoked)
        if previous is not None and previous.entitlements != principal.entitlements:
            # the session attaches again with the new claim and acks once no frame of the old class can follow
            self.runtime.tell_path(conn.path, encode_actor_message("entitlementsChanged", {
                "correlationId": frame.correlation, "expiresTs": int(principal.expires_ts)}, source="ws"))
            return
        conn.outbox.put_nowait(encode_server_message("ack", frame.correlation, SOURCE, of="refresh",
                                                     detail=str(int(principal.expires_ts))))

    # -- frames ---------------------------------------------------------------

    async def _read_loop(self, conn: _Connection) -> None:
        ws = conn.ws
        async for msg in ws:
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                break
            self.frames_received += 1
            if conn.outbox.recorder is not None:
                conn.outbox.recorder.record_up(msg.data if msg.type == WSMsgType.BINARY else msg.data.encode())
            if conn.outbox.queued_bytes > self.limits.max_queued_bytes:
                self.frames_refused += 1
                self._count("limitExceeded")
                conn.log.info("socket_closed_not_reading", queued_bytes=conn.outbox.queued_bytes)
                await ws.close(code=_POLICY_VIOLATION, message=b"limitExceeded: client does not read")
                break
            try:
                self._take(conn, msg)
            except FrameRefusedError as exc:
                self.frames_refused += 1
                self._count(exc.code)
                conn.log.debug("frame_refused", code=exc.code, reason=str(exc), correlation_id=command_correlation_id(
                    conn.number, exc.correlation) if exc.correlation else None)
                error = encode_error(exc.code, str(exc), exc.correlation, SOURCE)
                if not self._too_much_bad_input(conn):
                    conn.outbox.put_nowait(error)
                    continue
                self.closed_bad_input += 1
                conn.log.info("socket_closed_bad_input", last_code=exc.code)
                await _send_and_close(ws, error, b"too much bad input")  # not the outbox: dropped at close
                break

    def _too_much_bad_input(self, conn: _Connection) -> bool:
        now = self.clock()
        bad = conn.bad
        bad.append(now)
        while bad and now - bad[0] > self.limits.bad_window_s:
            bad.popleft()
        return len(bad) > self.limits.max_bad_frames

    def _take(self, conn: _Connection, msg) -> None:
        """Check one frame and forward it to the session, or raise FrameRefusedError."""
        limits = self.limits
        if not conn.bucket.take_nowait(self.clock()):
            raise FrameRefusedError("rateLimited", f"over {limits.messages_per_s:g} messages/s")
        if msg.type != WSMsgType.BINARY:
            raise FrameRefusedError("malformed", "text frames are not taken; send binary")
        data = msg.data
        if len(data) > limits.max_frame_bytes:
            raise FrameRefusedError("tooLarge", f"frame of {len(data)} bytes over {limits.max_frame_bytes}")
        frame = read_client_frame(data, limits)
        member = frame.member
        if member == "refresh":
            self._refresh(conn, frame)
            return
        if member == "auth":
            raise FrameRefusedError("unknownMessage", "already authenticated; send refresh", frame.correlation)
        if member not in _SESSION_MEMBERS:
            raise FrameRefusedError("unknownMessage", f"{member} is not taken", frame.correlation)
        if member == "subscribe":
            self._check_subscribe(conn, frame)
        elif member == "unsubscribe":
            conn.subscriptions.difference_update(frame.groups)
        elif member == "snapshotRequest" and not conn.state.principal.may_see_group(frame.groups[0]):
            raise FrameRefusedError("forbidden", "group not allowed by your token", frame.correlation)
        elif member in ORDER_MEMBERS or member in ALGO_MEMBERS:
            self._check_order(conn, data, frame)
        self._tell_session(conn, data, command_correlation_id(conn.number, frame.correlation))

    def _check_order(self, conn: _Connection, data: bytes, frame: ClientFrame) -> None:
        """Refuse an order message for an account the token does not grant, or a bad client order id."""
        from transport.edge.inbound import order_target

        account, client_order_id = order_target(data, frame, self.limits)
        if client_order_id is not None and not client_order_id_fits(client_order_id):
            raise FrameRefusedError("malformed", f"{ORDER_KEYS.get(frame.member, 'jobId')} must be 1..{MAX_CLIENT_ORDER_ID_BYTES} "
                                    "bytes", frame.correlation)
        if not (conn.state.may_trade(account) and is_token(account) and orders_path(account) in self.runtime.registry):
            raise FrameRefusedError("forbidden", f"account {account[:64]!r} is not granted by your token",
                                    frame.correlation)

    def _check_subscribe(self, conn: _Connection, frame: ClientFrame) -> None:
        principal = conn.state.principal
        denied = [g for g in frame.groups if not principal.may_see_group(g)]
        if denied:
            raise FrameRefusedError("forbidden", f"groups not allowed by your token: {', '.join(denied)}",
                                    frame.correlation)
        registry = self.runtime.registry
        new = [g for g in dict.fromkeys(frame.groups)
               if g not in conn.subscriptions and is_token(g) and group_path(g) in registry]
        limit = self.limits.max_subscriptions
        if len(conn.subscriptions) + len(new) > limit:
            raise FrameRefusedError("limitExceeded", f"more than {limit} subscriptions on one socket",
                                    frame.correlation)
        conn.subscriptions.update(new)

    def _tell_session(self, conn: _Connection, data: bytes, correlation_id: int) -> None:
        """Hand a checked ClientMessage to the session with its desk correlation id (actors/sessions/state.py)."""
        self.runtime.tell_path(conn.path, encode_actor_message("client", data, source="ws",
                                                               correlation_id=correlation_id))
        self.frames_forwarded += 1


async def _send_and_close(ws: web.WebSocketResponse, error: bytes, reason: bytes) -> None:
    """Send a last ``error`` and close with 1008; a client already gone is not an error."""
    if ws.closed:
        return
    try:
        await ws.send_bytes(error)
    except ConnectionError:
        pass
    await ws.close(code=_POLICY_VIOLATION, message=reason)


__all__ = ["SOURCE", "SocketLimits", "SocketServer", "SocketStatistics"]
