"""The one ``/ws`` client: the terminal watcher, the simulator's clients, perf and tests speak through it.

It builds ``ClientMessage`` frames (:func:`client_message`), reads ``ServerMessage`` frames as plain dicts
(:func:`read_server_message`) and wraps an aiohttp socket with typed sends and bounded receives
(:class:`DeskSocket`). The wire format is schemas/stream.capnp: binary Cap'n Proto frames, ``ClientMessage``
up, ``ServerMessage`` down; the first message must be ``auth{token}``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

import schemas
from actors.market.frames import frame_columns

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Largest server message a client accepts, bytes (a 20,000-contract snapshot fits)."""


def client_message(message_id: int, *, source: str = "tickstage-watch", **member) -> bytes:
    """Return a ClientMessage with ``member`` set and its envelope filled (``source`` names the sender).

    Args:
        message_id: the envelope id (replies carry it back).
        source: the envelope's sender name (at most ``[limits] max_text_chars`` characters).
        **member: exactly one union member and its fields, e.g. ``subscribe={"groups": ["rb"]}``.

    Returns:
        The encoded message; ``envelope.sentTsNs`` is UNIX time in nanoseconds.
    """
    message = schemas.stream.ClientMessage.new_message(**member)
    envelope = message.init("envelope")
    envelope.id = message_id
    envelope.sentTsNs = time.time_ns()
    envelope.schemaVersion = schemas.SCHEMA_VERSION
    envelope.source = source
    return message.to_bytes()


def read_server_message(data: bytes) -> dict[str, Any]:
    """Return a ServerMessage as a plain dict: ``which``, the member's fields and ``envelope``.

    A ``groupFrame`` also gets ``columns`` (numpy copies of its L1 columns, prices in quote currency).

    Raises:
        capnp.KjException: ``data`` is not a ServerMessage.
    """
    with schemas.stream.ServerMessage.from_bytes(data) as message:
        member = message.which()
        body = getattr(message, member).to_dict()
        body["which"] = member
        body["envelope"] = message.envelope.to_dict()
    if member == "groupFrame":
        body["columns"] = {k: v.copy() for k, v in frame_columns(data).items()}
    return body


class DeskSocket:
    """A client of ``/ws``: typed sends, bounded receives.

    Args:
        ws: an open aiohttp client WebSocket.
        source: the envelope ``source`` of every message sent.
    """

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, *, source: str = "tickstage-watch") -> None:
        self.ws = ws
        self.source = source
        self._next_id = 0

    @classmethod
    async def connect(cls, http: aiohttp.ClientSession, url: str, *, token: str | None = None,
                      groups: list[str] | None = None, source: str = "tickstage-watch") -> DeskSocket:
        """Open ``url`` (``ws://host:port/ws``), send ``auth{token}`` and ``subscribe{groups}`` when given.

        Raises:
            aiohttp.ClientError: the desk did not accept the connection.
        """
        client = cls(await http.ws_connect(url, max_msg_size=MAX_MESSAGE_BYTES), source=source)
        if token is not None:
            await client.send(auth={"token": token})
        if groups:
            await client.send(subscribe={"groups": list(groups)})
        return client

    async def send(self, **member) -> int:
        """Send a ClientMessage with ``member`` set; return its envelope id."""
        self._next_id += 1
        await self.ws.send_bytes(client_message(self._next_id, source=self.source, **member))
        return self._next_id

    async def recv_bytes(self, timeout_s: float = 5.0) -> bytes | None:
        """Return the next binary message, or None once the socket is closed.

        Raises:
            TimeoutError: nothing arrived within ``timeout_s`` seconds.
        """
        msg = await asyncio.wait_for(self.ws.receive(), timeout_s)
        if msg.type != aiohttp.WSMsgType.BINARY:
            return None
        return msg.data

    async def recv(self, timeout_s: float = 5.0) -> dict[str, Any]:
        """Return the next ServerMessage as a dict; ``{"which": "closed", "code": ...}`` when closed.

        Raises:
            TimeoutError: nothing arrived within ``timeout_s`` seconds.
        """
        data = await self.recv_bytes(timeout_s)
        if data is None:
            return {"which": "closed", "code": self.ws.close_code}
        return read_server_message(data)

    async def recv_until(self, predicate, timeout_s: float = 5.0, limit: int = 10_000) -> dict[str, Any]:
        """Return the first message for which ``predicate(message)`` holds (bounded by time and count).

        Raises:
            AssertionError: the socket closed, or ``limit`` messages went by without a match.
            TimeoutError: ``timeout_s`` seconds passed.
        """
        async with asyncio.timeout(timeout_s):
            for _ in range(limit):
                message = await self.recv(timeout_s)
                if predicate(message):
                    return message
                if message["which"] == "closed":
                    raise AssertionError(f"socket closed while waiting: {message}")
        raise AssertionError("no matching message")

    async def close(self) -> None:
        """Close the socket (normal closure)."""
        await self.ws.close()


__all__ = ["MAX_MESSAGE_BYTES", "DeskSocket", "client_message", "read_server_message"]
