"""Hand one group frame to every subscribed session in one pass (issue 18, fan-out).

A GroupActor builds a frame once per entitlement class; sending it to each
subscriber as an actor message cost, per session and frame, an envelope
(``ActorMessage{outbound}``), a pump turn, the dispatcher's Cap'n Proto open
and a copy of the payload out of the envelope: at 1,000 sessions most of the
desk's CPU (perf/bench_sessions.py, perf/README.md "Where the time goes").
:class:`SessionFanout` instead calls each session's
:meth:`~actors.market.ports.FrameSink.take_frame_nowait` in-line, inside the
group's handler on the loop thread, with the same ``bytes`` for every session
of the class; the session still decides per frame (conflation for a slow
socket, entitlement narrowing, liveness, counters).

In-line delivery must not overtake what the group queued to that session as a
message earlier (its ``info`` and first snapshot after an attach, a status):
the fan-out keeps, per session, the runtime's mark of the last message it
queued there and calls in-line only once the pump has delivered through that
mark (:meth:`actors._runtime.ActorRuntime.delivered_through`, valid while the
pump is FIFO). Otherwise, and for a session that is starting, has no
``take_frame_nowait`` or while a fault interceptor reorders the pump
(``runtime.fifo`` False: sim/harness/faults.py drops, delays and corrupts
messages on a route), the frame goes as the ``outbound`` message it always was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from actors._registry import DOWN_STATES, ActorState


class SessionFanout:
    """One group's deliveries to its sessions: in-line when ordered, else by message (loop thread only).

    Args:
        runtime: the actor runtime (its registry, ``fifo``, ``queued_mark``, ``delivered_through``).
        send: the group's ``send(address, msg)`` (Thespian's, so the sender is the group).
        inline: False: every frame goes by message (perf/bench_sessions.py's ``baseline_messages``).
    """

    def __init__(self, runtime: Any, send: Callable[[Any, Any], None], inline: bool = True) -> None:
        self._runtime = runtime
        self._send = send
        self.inline_enabled = inline
        self._marks: dict[str, int] = {}   # session → mark of the last message queued to it
        self.frames_inline = 0
        """Frames handed to a session in-line (``take_frame_nowait``)."""
        self.frames_by_message = 0
        """Frames sent to a session as an ``outbound`` actor message."""

    def send_message(self, session: str, msg: bytes) -> bool:
        """Queue ``msg`` for ``session`` as an actor message; later frames wait until it is delivered.

        Returns:
            False if the session is down or unknown (counted by the runtime as ``dropped_dead``).
        """
        runtime = self._runtime
        entry = runtime.registry.get(session)
        if entry is None or entry.state in DOWN_STATES:
            runtime.count_dropped()
            return False
        self._send(entry.address, msg)
        self._marks[session] = runtime.queued_mark()
        return True

    def forget(self, session: str) -> None:
        """Drop what is kept of a session that detached or is gone."""
        self._marks.pop(session, None)

    def deliver(self, sessions: Iterable[str], group: str, seq: int, kind: str, payload: bytes, sent_ts_ns: int,
                outbound: Callable[[], bytes]) -> list[str]:
        """Hand one frame to every session of ``sessions``.

        Args:
            sessions: subscriber paths.
            group: the group's name, ``"rb"``.
            seq: the frame's sequence number.
            kind: ``"delta"`` or ``"snapshot"``.
            payload: the ServerMessage bytes (shared, never copied).
            sent_ts_ns: the hand-off time, ns since UNIX epoch (desk clock), as ``ActorMessage.sentTsNs``.
            outbound: returns the ``ActorMessage{outbound}`` bytes, built at most once, for the sessions
                served by message.

        Returns:
            The sessions that are down or unknown (the group forgets them, as after a failed send).
        """
        runtime = self._runtime
        registry = runtime.registry
        marks = self._marks
        ordered = self.inline_enabled and runtime.fifo
        gone: list[str] = []
        message = None
        inline = by_message = 0
        for session in sessions:
            entry = registry.get(session)
            if entry is None or entry.state in DOWN_STATES:
                runtime.count_dropped()
                gone.append(session)
                continue
            if ordered and entry.state is ActorState.RUNNING:
                take = getattr(entry.instance, "take_frame_nowait", None)
                mark = marks.get(session)
                if take is not None and (mark is None or runtime.delivered_through(mark)):
                    if mark is not None:
                        del marks[session]
                    take(group, seq, kind, payload, sent_ts_ns)
                    inline += 1
                    continue
            if message is None:
                message = outbound()
            self._send(entry.address, message)
            marks[session] = runtime.queued_mark()
            by_message += 1
        self.frames_inline += inline
        self.frames_by_message += by_message
        return gone


__all__ = ["SessionFanout"]
