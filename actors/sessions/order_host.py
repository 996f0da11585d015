"""OrderHostActor (``sessions/session/nats-orders`` on a venue-host): the NATS clients' session.

Order commands that arrive over NATS (``order.submit.<account>``) reach the
order actors as if from this session, so their replies come here
(``outbound`` of kind ``control``) and go to ``reply``, which answers the
waiting NATS request. It registers for every account's pushes (order
events, account status, risk events), which go to ``push`` and out on
``order.update.<account>`` (transport/cluster/nats_orders.py).
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor
from actors._envelope import encode_actor_message


class OrderHostActor(TickstageActor):
    """Routes order replies to NATS requesters and account pushes to NATS subjects.

    Context args:
        reply (Callable[[bytes, int], None]): takes a ServerMessage reply and the desk correlation id of
            the command it answers (UInt64, 0: none) (loop thread, non-blocking).
        push (Callable[[str, bytes], None]): takes (account, ActorMessage accountPush bytes).
    """

    takes_crash = False   # not a crash target of the fault injector (it keeps no state of its own)

    def on_start(self, restarts: int) -> None:
        """Register for every account's pushes with the sessions supervisor (loop thread)."""
        self._reply = self.context.args["reply"]
        self._push = self.context.args["push"]
        self.replies = self.pushes = 0
        if self.context.parent:
            self.send_path(self.context.parent, encode_actor_message("sessionAccounts", {
                "sessionPath": self.path, "accounts": [], "all": True, "attached": True}, source=self.path))

    def _on_outbound(self, outbound, message, sender: ActorAddress) -> None:
        """An order actor's reply to a command sent on behalf of a NATS client."""
        if str(outbound.kind) == "control":
            self.replies += 1
            self._reply(bytes(outbound.payload), self.correlation_id)

    def _on_account_push(self, push, message, sender: ActorAddress) -> None:
        """An account's event: publish the push unchanged."""
        self.pushes += 1
        self._push(push.account, self.current_bytes)

    def _on_group_restarted(self, group: str, message, sender: ActorAddress) -> None:
        """Not subscribed to groups: nothing to do."""

    def extra_statistics(self) -> dict[str, Any]:
        """Replies and pushes routed."""
        return {"replies": self.replies, "pushes": self.pushes}


__all__ = ["OrderHostActor"]
