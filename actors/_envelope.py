"""Build the envelope of an actor message: ``ActorMessage`` with its source, send time and correlation id.

The kernel's one home for the actor-message envelope (schemas/actor.capnp ``ActorMessage``): every actor,
of any domain, builds its control and data messages here, and the kernel's own timers (the supervisor's
shutdown and restart ticks) use it without importing a domain.

Every builder returns immutable ``bytes``.
"""

from __future__ import annotations

import time

import schemas

_ActorMessage = schemas.actor.ActorMessage


def encode_outbound(*, group: str, seq: int, kind: str, payload: bytes, source: str,
                    correlation_id: int = 0) -> bytes:
    """Return an ``ActorMessage{outbound}`` wrapping ServerMessage bytes for sessions.

    Args:
        kind: ``"info"``, ``"snapshot"``, ``"delta"`` or ``"control"``.
        correlation_id: the command a ``control`` reply answers (UInt64, 0: none).
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


__all__ = ["encode_actor_message", "encode_outbound"]
