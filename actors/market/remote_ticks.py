"""RemoteTickDetailActor (``ticks`` on an edge node): contract detail served from the venue-host.

Every tick of a contract is seen only where vn.py runs. On an ``edge`` node
this actor takes the TickDetailActor's place for the local sessions: each
``tickSubscription`` (subscribe or unsubscribe, checked by the session) is
handed unchanged to ``forward`` (transport/cluster/nats_detail.py), which
asks the venue-host, follows ``md.tick.<ex>.<sym>`` once per contract for
the whole node, and passes each detail to the sessions that follow it.
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor


class RemoteTickDetailActor(TickstageActor):
    """Forwards contract detail subscriptions to the node's NATS link.

    Context args:
        forward (Callable[[bytes], None]): takes the ActorMessage ``tickSubscription`` bytes
            (loop thread, non-blocking); answers go to the subscription's ``sessionPath``.
    """

    takes_crash = False   # not a crash target of the fault injector (it keeps no state of its own)

    def on_start(self, restarts: int) -> None:
        """Keep the forward port (loop thread)."""
        self._forward = self.context.args["forward"]
        self.forwarded = 0

    def _on_tick_subscription(self, sub, message, sender: ActorAddress) -> None:
        """Hand a session's subscribe or unsubscribe to the link (loop thread)."""
        self.forwarded += 1
        self._forward(self.current_bytes)

    def extra_statistics(self) -> dict[str, Any]:
        """Subscriptions forwarded."""
        return {"subscriptions_forwarded": self.forwarded}


__all__ = ["RemoteTickDetailActor"]
