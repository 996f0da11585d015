"""RemoteGroupActor (``market/group/<group>`` on a gateway node): a group aggregated elsewhere.

On a ``gateway`` node the aggregators run in other processes and publish
``md.agg.33ms.<group>`` on NATS (transport/nats_market.py). This actor takes
the GroupActor's place for the local sessions: same path, same messages in
(``attach``, ``detach``, ``snapshotRequest``) and out (``outbound``), so a
session does not know where its group runs. Frames arrive already encoded
and are forwarded unchanged; the latest GroupInfo is kept for new
subscribers, and a snapshot is asked of the aggregator (``md.snap.<group>``,
which re-broadcasts one) whenever a session attaches or saw a gap.
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

import schemas
from actors._dispatch import TickstageActor
from actors.market.frames import encode_outbound


class RemoteGroupActor(TickstageActor):
    """Fans a NATS-delivered group stream out to local sessions.

    Context args:
        group (str): group name.
        request_snapshot (Callable[[str], None]): asks the aggregator to
            re-broadcast the group's info and snapshot (loop thread, non-blocking).
    """

    def on_start(self, restarts: int) -> None:
        """Set up state; ask for a snapshot at once (loop thread)."""
        self.group: str = self.context.args["group"]
        self._request_snapshot = self.context.args["request_snapshot"]
        self.subscribers: dict[str, None] = {}
        self.infos: list[bytes] = []   # the last full GroupInfo, then appends
        self.instruments = 0
        self.seq = 0
        self.frames = self.snapshot_requests = 0
        if restarts:
            self._request_snapshot(self.group)

    def _on_outbound(self, outbound, message, sender: ActorAddress) -> None:
        """Forward one frame from NATS to every local subscriber; keep GroupInfo."""
        kind = str(outbound.kind)
        if kind == "info":
            payload = bytes(outbound.payload)
            with schemas.stream.ServerMessage.from_bytes(payload) as server_message:
                info = server_message.groupInfo
                first, count = info.firstIndex, len(info.instruments)
            self.infos = [payload] if first == 0 else [*self.infos, payload]
            self.instruments = first + count
        else:
            self.seq = outbound.seq
            self.frames += 1
        for session in list(self.subscribers):
            if not self.send_path(session, self.current_bytes):
                self.subscribers.pop(session, None)

    def _on_attach(self, attach, message, sender: ActorAddress) -> None:
        """Subscribe a local session: known GroupInfo now, a snapshot from the aggregator soon."""
        self.subscribers[attach.sessionPath] = None
        for info in self.infos:
            self.send_path(attach.sessionPath, encode_outbound(group=self.group, seq=self.seq, kind="info",
                                                               payload=info, source=self.path))
        self._ask_snapshot()

    def _on_detach(self, attach, message, sender: ActorAddress) -> None:
        """Unsubscribe a local session."""
        self.subscribers.pop(attach.sessionPath, None)

    def _on_snapshot_request(self, attach, message, sender: ActorAddress) -> None:
        """A local session saw a gap: ask the aggregator to re-broadcast a snapshot."""
        self._ask_snapshot()

    def _on_crash(self, text: str, message, sender: ActorAddress) -> None:
        """Fault injection: raise inside the handler."""
        raise RuntimeError(f"injected crash: {text}")

    def _ask_snapshot(self) -> None:
        self.snapshot_requests += 1
        self._request_snapshot(self.group)

    def extra_statistics(self) -> dict[str, Any]:
        """Subscribers, frames forwarded, last seq, snapshot requests."""
        return {"group": self.group, "subscribers": len(self.subscribers), "seq": self.seq,
                "frames": self.frames, "snapshot_requests": self.snapshot_requests, "remote": True}


__all__ = ["RemoteGroupActor"]
