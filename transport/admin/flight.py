"""Per-session flight recorder: the frames a socket was sent and the commands it sent, on request.

A :class:`FlightRecorder` is attached to one socket by the socket server when an
admin asks (``POST /admin/recordings``, :mod:`transport.admin.flight_api`). While
it records, the socket's outbox hands it every ``ServerMessage`` queued for
the browser (``down``) and the read loop every frame received (``up``,
before validation, so refused input shows too). Memory is bounded: a ring of
at most ``max_records`` entries and ``max_bytes`` of payload; the oldest go
first and are counted. Tokens never enter a recording: ``auth`` and
``refresh`` payloads are replaced by the same message with the token
``"[redacted]"``.

:meth:`FlightRecorder.export` writes the file format of
``schemas/flight.capnp``: ``b"tkflight"``, then length-prefixed
``FlightRecord`` messages, the header first. ui/recorder.html replays it.
"""

from __future__ import annotations

import collections
import struct
import time
from dataclasses import dataclass

import schemas

MAGIC = b"tkflight"
"""First 8 bytes of a recording file."""
FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
"""Payload bytes a recording keeps by default (the oldest are dropped past it)."""
DEFAULT_MAX_RECORDS = 50_000
"""Entries a recording keeps by default."""
REDACTED = "[redacted]"
_DOWN, _UP = 0, 1
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class FlightStatistics:
    """What a recording holds (``FlightRecorder.statistics()``).

    Attributes:
        session_path: the recorded session, ``"sessions/session/7"``.
        user: its user.
        recording: still capturing.
        records: entries kept now.
        payload_bytes: their payload size, bytes.
        records_dropped: entries the ring let go.
        bytes_dropped: their payload size, bytes.
        started_ts_ns: start, UNIX timestamp (nanoseconds).
        ended_ts_ns: stop, UNIX timestamp (nanoseconds); 0 while recording.
        started_by: the admin who asked.
    """

    session_path: str
    user: str
    recording: bool
    records: int
    payload_bytes: int
    records_dropped: int
    bytes_dropped: int
    started_ts_ns: int
    ended_ts_ns: int
    started_by: str


class FlightRecorder:
    """A bounded ring of one session's messages (loop thread only).

    Args:
        session_path: the session's actor path.
        user: the socket's user.
        role: the socket's role.
        started_by: the admin who asked for the recording.
        max_bytes: payload bytes kept, at most.
        max_records: entries kept, at most.
    """

    def __init__(self, session_path: str, user: str, role: str, started_by: str,
                 max_bytes: int = DEFAULT_MAX_BYTES, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        if max_bytes <= 0 or max_records <= 0:
            raise ValueError("max_bytes and max_records must be positive")
        self.session_path = session_path
        self.user = user
        self.role = role
        self.started_by = started_by
        self.max_bytes = max_bytes
        self.max_records = max_records
        self._entries: collections.deque[tuple[int, int, bytes]] = collections.deque()
        self.payload_bytes = 0
        self.records_dropped = self.bytes_dropped = 0
        self.started_ts_ns = time.time_ns()
        self.ended_ts_ns = 0

    @property
    def recording(self) -> bool:
        """Whether the recorder still captures."""
        return self.ended_ts_ns == 0

    def record_down(self, payload: bytes) -> None:
        """Keep one ServerMessage queued for the browser."""
        if self.ended_ts_ns == 0:
            self._keep(_DOWN, payload)

    def record_up(self, payload: bytes) -> None:
        """Keep one frame read from the browser (a token in it is redacted)."""
        if self.ended_ts_ns == 0:
            self._keep(_UP, redact(payload))

    def stop(self) -> None:
        """Stop capturing; what was kept stays for :meth:`export`. Idempotent."""
        if self.ended_ts_ns == 0:
            self.ended_ts_ns = time.time_ns()

    def _keep(self, direction: int, payload: bytes) -> None:
        self._entries.append((time.time_ns(), direction, payload))
        self.payload_bytes += len(payload)
        while self._entries and (len(self._entries) > self.max_records or self.payload_bytes > self.max_bytes):
            _, _, dropped = self._entries.popleft()
            self.payload_bytes -= len(dropped)
            self.records_dropped += 1
            self.bytes_dropped += len(dropped)

    def statistics(self) -> FlightStatistics:
        """Return what the recording holds now."""
        return FlightStatistics(self.session_path, self.user, self.recording, len(self._entries),
                                self.payload_bytes, self.records_dropped, self.bytes_dropped,
                                self.started_ts_ns, self.ended_ts_ns, self.started_by)

    def snapshot(self) -> tuple[bytes, list[tuple[int, int, bytes]]]:
        """Return (header record bytes, entries) as of now, for :func:`encode_recording` off the loop."""
        header = schemas.flight.FlightRecord.new_message()
        body = header.init("header")
        body.formatVersion = FORMAT_VERSION
        body.sessionPath = self.session_path
        body.user = self.user
        body.role = self.role
        body.startedTsNs = self.started_ts_ns
        body.endedTsNs = self.ended_ts_ns
        body.recordsDropped = self.records_dropped
        body.bytesDropped = self.bytes_dropped
        body.startedBy = self.started_by
        return header.to_bytes(), list(self._entries)

    def export(self) -> bytes:
        """Return the recording as a file (see the module docstring)."""
        return encode_recording(*self.snapshot())


def encode_recording(header: bytes, entries: list[tuple[int, int, bytes]]) -> bytes:
    """Return ``MAGIC`` + the length-prefixed header and one FlightRecord per entry (any thread).

    Args:
        header: a FlightRecord ``header`` message.
        entries: (ts_ns, direction 0 down / 1 up, payload) in order.
    """
    parts = [MAGIC, _LENGTH.pack(len(header)), header]
    for ts_ns, direction, payload in entries:
        record = schemas.flight.FlightRecord.new_message()
        entry = record.init("entry")
        entry.tsNs = ts_ns
        entry.direction = "up" if direction == _UP else "down"
        entry.payload = payload
        data = record.to_bytes()
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def read_recording(data: bytes) -> tuple[dict, list[tuple[int, str, bytes]]]:
    """Parse a recording file: (header as a dict, [(ts_ns, "down"|"up", payload)]).

    Raises:
        ValueError: not a recording, or a truncated or undecodable record.
    """
    if not data.startswith(MAGIC):
        raise ValueError("not a tickstage flight recording (magic)")
    offset, header, entries = len(MAGIC), None, []
    while offset < len(data):
        if offset + 4 > len(data):
            raise ValueError(f"truncated length at byte {offset}")
        (size,) = _LENGTH.unpack_from(data, offset)
        offset += 4
        if offset + size > len(data):
            raise ValueError(f"truncated record at byte {offset}")
        chunk = data[offset:offset + size]
        offset += size
        with schemas.flight.FlightRecord.from_bytes(
                chunk, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                nesting_limit=schemas.NESTING_LIMIT) as record:
            if record.which() == "header":
                header = record.header.to_dict()
            else:
                entries.append((record.entry.tsNs, str(record.entry.direction), bytes(record.entry.payload)))
    if header is None:
        raise ValueError("recording without a header")
    return header, entries


def redact(payload: bytes) -> bytes:
    """Return ``payload`` with an ``auth`` or ``refresh`` token replaced by ``"[redacted]"``.

    Anything else, undecodable bytes included, is returned unchanged.
    """
    try:
        with schemas.stream.ClientMessage.from_bytes(
                payload, traversal_limit_in_words=len(payload) // 8 + 64, nesting_limit=8) as message:
            member = message.which()
            if member not in ("auth", "refresh"):
                return payload
            builder = message.as_builder()
    except Exception:  # noqa: BLE001 - hostile bytes: keep them as they came, they hold no parsed token
        return payload
    getattr(builder, member).token = REDACTED
    return builder.to_bytes()


__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_RECORDS", "MAGIC", "FlightRecorder", "FlightStatistics",
           "encode_recording", "read_recording", "redact"]
