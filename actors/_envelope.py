"""Build envelopes: an ``ActorMessage`` (source, send time, correlation id) and a ``ServerMessage`` (envelope id,
correlation id, send time, schema version, source).

The kernel's one home for both envelopes (schemas/actor.capnp ``ActorMessage``, schemas/stream.capnp
``ServerMessage``): every actor, of any domain, builds its control and data messages and its answers to
clients here, and the kernel's own timers (the supervisor's shutdown and restart ticks) use it without
importing a domain.

Every builder returns immutable ``bytes``.
"""

from __future__ import annotations

import time
from typing import Any

import schemas

_ActorMessage = schemas.actor.ActorMessage
_ServerMessage = schemas.stream.ServerMessage


def encode_outbound(*, group: str, seq: int, kind: str, payload: bytes, source: str,
                    correlation_id: int = 0, tag: int = 0) -> bytes:
    """Return an ``ActorMessage{outbound}`` wrapping ServerMessage bytes for sessions.

    Args:
        kind: ``"info"``, ``"snapshot"``, ``"delta"`` or ``"control"``.
        correlation_id: the command a ``control`` reply answers (UInt64, 0: none).
        tag: the ``Attach.tag`` an ``info`` answers (UInt32, 0: none).
    """
    message = _ActorMessage.new_message(num_first_segment_words=32 + len(payload) // 8)
    outbound = message.init("outbound")
    outbound.group = group
    outbound.seq = seq
    outbound.kind = kind
    outbound.payload = payload
    message.source = source
    message.sentTsNs = time.time_ns()
    message.correlationId = correlation_id
    if tag:
        outbound.tag = tag
    return message.to_bytes()


def encode_actor_message(member: str, value=None, *, source: str = "", correlation_id: int = 0) -> bytes:
    """Return an ``ActorMessage`` with union ``member`` set to ``value``.

    ``value`` is a dict for struct members, ``str``/``bytes`` for Text/Data
    members and ``None`` for Void members. Fields are set one by one: pycapnp's
    ``new_message(**fields)`` is ~10× slower (perf/bench_codec.py).
    """
    message = _ActorMessage.new_message()
    if isinstance(value, dict):
        body = message.init(member)
        for field_name, field_value in value.items():
            setattr(body, field_name, field_value)
    else:
        setattr(message, member, value)
    message.source = source
    message.sentTsNs = time.time_ns()
    message.correlationId = correlation_id
    return message.to_bytes()



def new_server_message(member: str, correlation_id: int, source: str, envelope_id: int = 0):
    """Return ``(message, body)``: a ServerMessage with ``member`` initialised and its envelope set."""
    message = _ServerMessage.new_message()
    body = message.init(member)
    envelope = message.init("envelope")
    envelope.id = envelope_id
    envelope.correlationId = correlation_id
    envelope.sentTsNs = time.time_ns()
    envelope.schemaVersion = schemas.SCHEMA_VERSION
    envelope.source = source
    return message, body


def encode_server_message(member: str, correlation_id: int, source: str, envelope_id: int = 0,
                          **fields: Any) -> bytes:
    """Return a ServerMessage ``member`` with scalar/Text ``fields`` (``ack``, ``error``, ``pong`` ...) as bytes.

    ``error``'s ``code`` is an ``ErrorCode`` name (``"malformed"``).
    """
    message, body = new_server_message(member, correlation_id, source, envelope_id)
    for name, value in fields.items():
        setattr(body, name, value)
    return message.to_bytes()


def encode_error(code: str, text: str, correlation_id: int, source: str, envelope_id: int = 0) -> bytes:
    """Return a ServerMessage ``error`` as bytes: the one builder of the refusal a client reads.

    Args:
        code: a stream.capnp ``ErrorCode`` name (``"malformed"``, ``"forbidden"``, ``"internal"`` ...).
        text: the reason, for people.
        correlation_id: the client message's envelope id it answers (UInt64, 0: none).
        source: who refuses (an actor path, ``"ws"``, ``"nats-orders"``).
        envelope_id: the sender's own message id (0: none).
    """
    return encode_server_message("error", correlation_id, source, envelope_id, code=code, message=text)


__all__ = ["encode_actor_message", "encode_error", "encode_outbound", "encode_server_message", "new_server_message"]
