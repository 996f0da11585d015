"""RemoteTickDetailActor (``ticks`` on an edge node): contract detail served from the venue-host.

Every tick of a contract is seen only where vn.py runs. On an ``edge`` node
this actor takes the TickDetailActor's place for the local sessions: each
``tickSubscription`` (subscribe or unsubscribe, checked by the session) is
handed unchanged to ``forward`` (transport/cluster/nats_detail.py), which
asks the venue-host, follows ``md.tick.<ex>.<sym>`` once per contract for
the whole node, and passes each detail to the sessions that follow it.

The venue-host relays details unmasked, so a subscribe from a session whose
``ent`` claim withholds a field of a contract's exchange is refused here
(``forbidden``, nothing forwarded): fail closed, as the edge does for group
frames, rather than show a field the user is not licensed for.
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor
from actors._envelope import encode_outbound, encode_server_message
from actors.market.entitlements import FIELD_CLASSES, Entitlements
from actors.market.ticks import exchange_of


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
        self.forwarded = self.refused_entitlement = 0

    def _on_tick_subscription(self, sub, message, sender: ActorAddress) -> None:
        """Hand a session's subscribe or unsubscribe to the link (loop thread); refuse a limited one."""
        if sub.subscribe and sub.limited:
            granted = Entitlements.from_message(sub)
            withheld = sorted({vt for vt in sub.vtSymbols
                               if granted.classes(exchange_of(vt)) != frozenset(FIELD_CLASSES)})
            if withheld:
                self.refused_entitlement += 1
                if sub.correlationId:
                    self.send_path(sub.sessionPath, encode_outbound(
                        group="", seq=0, kind="control", source=self.path,
                        payload=encode_server_message(
                            "error", sub.correlationId, self.path, code="forbidden",
                            message=(f"contract detail of {', '.join(withheld[:5])} is not served on this edge node "
                                     "to a token whose entitlements withhold fields (the relay is unmasked)"))))
                return
        self.forwarded += 1
        self._forward(self.current_bytes)

    def extra_statistics(self) -> dict[str, Any]:
        """Subscriptions forwarded."""
        return {"subscriptions_forwarded": self.forwarded, "refused_entitlement": self.refused_entitlement}


__all__ = ["RemoteTickDetailActor"]
