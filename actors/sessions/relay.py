"""ReplyRelayActor (``sessions/session/nats-<topic>`` on a venue-host): replies to commands that came over NATS.

Commands that arrive over NATS (a watchlist edit from an edge node) reach
their actor as if from this session, so the ``ack`` / ``error`` answer comes
here (``outbound`` of kind ``control``) and goes to ``reply``, which answers
the waiting NATS request (transport/cluster/nats_watchlists.py).
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor


class ReplyRelayActor(TickstageActor):
    """Routes control replies to NATS requesters.

    Context args:
        reply (Callable[[bytes], None]): takes a ServerMessage reply (loop thread, non-blocking).
    """

    takes_crash = False   # not a crash target of the fault injector (it keeps no state of its own)

    def on_start(self, restarts: int) -> None:
        """Keep the reply port (loop thread)."""
        self._reply = self.context.args["reply"]
        self.replies = 0

    def _on_outbound(self, outbound, message, sender: ActorAddress) -> None:
        """An actor's answer to a command sent on behalf of a NATS client."""
        if str(outbound.kind) == "control":
            self.replies += 1
            self._reply(bytes(outbound.payload))

    def _on_group_restarted(self, group: str, message, sender: ActorAddress) -> None:
        """Not subscribed to groups: nothing to do."""

    def extra_statistics(self) -> dict[str, Any]:
        """Replies routed."""
        return {"replies": self.replies}


__all__ = ["ReplyRelayActor"]
