"""The ServerMessages the socket gateway answers with itself: ``ack``, ``error``, ``pong``.

Everything else a socket receives is built by actors (frames by GroupActors,
order replies by order actors); these come from transport/ws.py at the
boundary, before any actor sees the frame.
"""

from __future__ import annotations

import time

import schemas


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


__all__ = ["error_message", "server_message"]
