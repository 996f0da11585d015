"""The ServerMessages the socket server answers with itself: ``ack``, ``error``, ``pong``.

Everything else a socket receives is built by actors (frames by GroupActors,
order replies by order actors); these come from transport/edge/ws.py at the
boundary, before any actor sees the frame.
"""

from __future__ import annotations

from actors.orders.codec import encode_server_message


def server_message(correlation_id: int = 0, **member) -> bytes:
    """Return a ServerMessage (``ack``/``error``/``pong``) with its envelope, as bytes.

    ``member`` is one ``name={field: value}``: ``server_message(3, ack={"of": "auth"})``.
    """
    ((name, fields),) = member.items()
    return encode_server_message(name, correlation_id, "ws", **fields)


def error_message(code: str, text: str, correlation_id: int = 0) -> bytes:
    """Return a ServerMessage ``error`` with a stream ``ErrorCode`` name."""
    return server_message(correlation_id, error={"code": code, "message": text})


__all__ = ["error_message", "server_message"]
