"""ReplyRelayActor (``sessions/session/nats-<topic>`` on a venue-host): replies to commands that came over NATS.

Commands that arrive over NATS (a watchlist edit from an edge node) reach
their actor as if from this session, so the ``ack`` / ``error`` answer comes
here (``outbound`` of kind ``control``) and goes to ``reply``, which answers
the waiting NATS request (transport/cluster/nats_watchlists.py). A contract
detail relay (``sessions/session/nats-ticks``) also takes the ``ticks``
actor's ``detail`` outbounds and hands them to ``detail``, which publishes
them on ``md.tick.<ex>.<sym>`` (transport/cluster/nats_detail.py).
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor


class ReplyRelayActor(TickstageActor):
    """Routes control replies to NATS requesters.

    Context args:
        reply (Callable[[bytes], None]): takes a ServerMessage reply (loop thread, non-blocking).
        detail (Callable[[str, bytes], None]): optional; takes (vt_symbol, ServerMessage tickDetail bytes).
        restarted (Callable[[str], None]): optional; takes the name in a ``groupRestarted`` (``"ticks"``:
            the ticks actor restarted and forgot this relay's subscriptions).
    """

    takes_crash = False   # not a crash target of the fault injector (it keeps no state of its own)

    def on_start(self, restarts: int) -> None:
        """Keep the reply port (loop thread)."""
        self._reply = self.context.args["reply"]
        self._detail = self.context.args.get("detail")
        self._restarted = self.context.args.get("restarted")
        self.replies = self.details = 0

    def _on_outbound(self, outbound, message, sender: ActorAddress) -> None:
        """An actor's answer to a command sent on behalf of a NATS client."""
        kind = str(outbound.kind)
        if kind == "control":
            self.replies += 1
            self._reply(bytes(outbound.payload))
        elif kind == "detail" and self._detail is not None:
            self.details += 1
            self._detail(outbound.group, bytes(outbound.payload))

    def _on_group_restarted(self, group: str, message, sender: ActorAddress) -> None:
        """Tell the link (a restarted ``ticks`` actor forgot what the relay followed); groups: nothing to do."""
        if self._restarted is not None:
            self._restarted(group)

    def extra_statistics(self) -> dict[str, Any]:
        """Replies and details routed."""
        return {"replies": self.replies, "details": self.details}


__all__ = ["ReplyRelayActor"]
