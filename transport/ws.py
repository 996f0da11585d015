"""The browser WebSocket at ``/ws`` (aiohttp): auth, validation, one session actor per socket.

Protocol (schemas/stream.capnp): one unpacked Cap'n Proto message per binary
frame. The first ``ClientMessage`` must be ``auth`` with a valid JWT within
``auth_timeout_s``; otherwise the socket gets ``error`` and closes with 1008.
Every later frame is checked here, at the boundary, before any actor sees
it: over ``max_frame_bytes`` → ``error(tooLarge)``; undecodable →
``error(malformed)``; an unknown union member → ``error(unknownMessage)``.
``max_bad_frames`` such errors within ``bad_window_s`` close the socket with
1008. Only well-formed messages reach the :class:`SessionActor`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass

import capnp
import structlog
from aiohttp import WSCloseCode, WSMsgType, web

import schemas
from actors._supervisor import ChildSpec, Restart, StopChild, spawn
from actors.market.frames import encode_actor_message
from actors.sessions.session import SessionActor, SessionState
from transport.auth import verify_token
from transport.errors import AuthError
from transport.outbox import SocketOutbox

_log = structlog.get_logger("transport.ws")
_SESSION_MEMBERS = frozenset({"subscribe", "unsubscribe", "snapshotRequest", "ping"})
_POLICY_VIOLATION = WSCloseCode.POLICY_VIOLATION  # 1008


@dataclass(frozen=True)
class SocketLimits:
    """Per-connection limits (DESIGN §6).

    Attributes:
        max_frame_bytes: largest client frame answered (64 KiB); bigger gets ``tooLarge``.
        hard_frame_bytes: larger frames close the socket (aiohttp ``max_msg_size``).
        auth_timeout_s: time allowed for the first ``auth``.
        max_bad_frames: refused frames tolerated within ``bad_window_s`` before 1008.
        bad_window_s: window for ``max_bad_frames``.
        high_water_bytes: queued bytes over which deltas are conflated.
        low_water_bytes: queued bytes under which stale groups get snapshots.
        compress: permessage-deflate.
    """

    max_frame_bytes: int = 64 * 1024
    hard_frame_bytes: int = 1024 * 1024
    auth_timeout_s: float = 5.0
    max_bad_frames: int = 20
    bad_window_s: float = 10.0
    high_water_bytes: int = 1024 * 1024
    low_water_bytes: int = 256 * 1024
    compress: bool = False


def server_message(correlation_id: int = 0, **member) -> bytes:
    """Return a ServerMessage (``ack``/``error``/``pong``) with its envelope, as bytes."""
    message = schemas.stream.ServerMessage.new_message(**member)
    envelope = message.init("envelope")
    envelope.correlationId = correlation_id
    envelope.sentTsNs = time.time_ns()
    envelope.schemaVersion = schemas.SCHEMA_VERSION
    envelope.source = "ws"
    return message.to_bytes()


def error_message(code: str, text: str, correlation_id: int = 0) -> bytes:
    """Return a ServerMessage ``error`` with a stream ``ErrorCode`` name."""
    return server_message(correlation_id, error={"code": code, "message": text})


def open_client_message(data: bytes) -> tuple[str, int, str]:
    """Decode a client frame with the reader limits.

    Returns:
        (union member, envelope id, auth token or ``""``).

    Raises:
        ValueError: undecodable (every pycapnp failure is mapped here).
    """
    try:
        with schemas.stream.ClientMessage.from_bytes(
            data, traversal_limit_in_words=64 * 1024, nesting_limit=schemas.NESTING_LIMIT
        ) as message:
            member = message.which()
            token = message.auth.token if member == "auth" else ""
            return member, message.envelope.id, token
    except (capnp.KjException, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"malformed ClientMessage: {type(exc).__name__}") from None


class SocketGateway:
    """Serves ``/ws``: authenticates, validates and starts a session actor per socket.

    Args:
        runtime: the actor runtime.
        jwt_secret: HS256 secret.
        limits: per-connection limits.
    """

    def __init__(self, runtime, jwt_secret: str, limits: SocketLimits | None = None) -> None:
        self.runtime = runtime
        self._secret = jwt_secret
        self.limits = limits or SocketLimits()
        self._ids = itertools.count(1)
        self.sockets_open = 0
        self.refused: dict[str, int] = {}

    def _count(self, code: str) -> None:
        self.refused[code] = self.refused.get(code, 0) + 1

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp handler for ``GET /ws``."""
        limits = self.limits
        ws = web.WebSocketResponse(max_msg_size=limits.hard_frame_bytes, compress=limits.compress,
                                   heartbeat=30.0)
        await ws.prepare(request)
        principal = await self._authenticate(ws)
        if principal is None:
            return ws
        session_id = next(self._ids)
        name = f"session/{session_id}"
        path = f"sessions/{name}"
        outbox = SocketOutbox(ws.send_bytes, lambda: self.runtime.tell_path(
            path, encode_actor_message("socketDrained", None, source="ws")), limits.low_water_bytes)
        writer = asyncio.create_task(outbox.run(), name=f"ws-writer-{session_id}")
        state = SessionState(principal.user, principal.role)
        spawn(self.runtime, "sessions", ChildSpec(name, SessionActor, {
            "outbox": outbox, "state": state, "high_water_bytes": limits.high_water_bytes,
            "low_water_bytes": limits.low_water_bytes}, restart=Restart.TRANSIENT))
        self.sockets_open += 1
        log = _log.bind(session_path=path, user=principal.user)
        log.info("session_opened")
        outbox.put_nowait(server_message(0, ack={"of": "auth", "detail": path}))
        try:
            await self._read_loop(ws, path, outbox)
        finally:
            state.closed = True
            outbox.close()
            writer.cancel()
            self.sockets_open -= 1
            sessions = self.runtime.registry.get("sessions")
            if sessions is not None:
                self.runtime.tell(sessions.address, StopChild(name))
            log.info("session_closed", close_code=ws.close_code)
        return ws

    async def _authenticate(self, ws: web.WebSocketResponse):
        try:
            async with asyncio.timeout(self.limits.auth_timeout_s):
                msg = await ws.receive()
        except TimeoutError:
            return await self._refuse(ws, "unauthenticated", "no auth message in time")
        if msg.type != WSMsgType.BINARY:
            return await self._refuse(ws, "unauthenticated", "first message must be a binary auth")
        if len(msg.data) > self.limits.max_frame_bytes:
            return await self._refuse(ws, "tooLarge", "auth frame too large")
        try:
            member, correlation, token = open_client_message(msg.data)
        except ValueError as exc:
            return await self._refuse(ws, "malformed", str(exc))
        if member != "auth":
            return await self._refuse(ws, "unauthenticated", f"first message must be auth, not {member}",
                                      correlation)
        try:
            return verify_token(self._secret, token)
        except AuthError as exc:
            return await self._refuse(ws, exc.code, str(exc), correlation)

    async def _refuse(self, ws: web.WebSocketResponse, code: str, text: str, correlation: int = 0) -> None:
        self._count(code)
        if not ws.closed:
            await ws.send_bytes(error_message(code, text, correlation))
            await ws.close(code=_POLICY_VIOLATION, message=code.encode())
        return None

    async def _read_loop(self, ws: web.WebSocketResponse, path: str, outbox: SocketOutbox) -> None:
        limits = self.limits
        bad: deque[float] = deque()
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                code, text, correlation = self._check(msg.data)
                if code is None:
                    self.runtime.tell_path(path, encode_actor_message("client", msg.data, source="ws"))
                    continue
            elif msg.type == WSMsgType.TEXT:
                code, text, correlation = "malformed", "text frames are not taken; send binary", 0
            else:
                break
            self._count(code)
            outbox.put_nowait(error_message(code, text, correlation))
            now = time.monotonic()
            bad.append(now)
            while bad and now - bad[0] > limits.bad_window_s:
                bad.popleft()
            if len(bad) > limits.max_bad_frames:
                await ws.close(code=_POLICY_VIOLATION, message=b"too much bad input")
                break

    def _check(self, data: bytes) -> tuple[str | None, str, int]:
        if len(data) > self.limits.max_frame_bytes:
            return "tooLarge", f"frame of {len(data)} bytes over {self.limits.max_frame_bytes}", 0
        try:
            member, correlation, _ = open_client_message(data)
        except ValueError as exc:
            return "malformed", str(exc), 0
        if member == "auth":
            return "unknownMessage", "already authenticated", correlation
        if member not in _SESSION_MEMBERS:
            return "unknownMessage", f"{member} is not taken", correlation
        return None, "", correlation


__all__ = ["SocketGateway", "SocketLimits", "error_message", "open_client_message", "server_message"]
