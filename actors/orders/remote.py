"""RemoteOrderActor (``orders/<account>`` on an edge node): the account's orders live elsewhere.

On a ``edge`` node the order actors run on the ``venue-host`` node, next
to vn.py. This actor takes the OrderActor's place for the local sessions:
same path, same ``orderCommand`` in, so a session does not know where the
account runs. Each command's bytes go unchanged to ``forward``, which sends
them as a NATS request on ``order.submit.<account>`` and routes the reply
(or a clear failure) back to the session (transport/cluster/nats_orders.py).
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor


class RemoteOrderActor(TickstageActor):
    """Forwards one account's order commands to the order host.

    Context args:
        account (str): the strategy account.
        forward (Callable[[str, bytes], None]): ``forward(account, order_command_bytes)``,
            non-blocking (loop thread); it answers the session itself.
    """

    def on_start(self, restarts: int) -> None:
        """Keep the account and the forwarding callable (loop thread)."""
        self.account: str = self.context.args["account"]
        self._forward = self.context.args["forward"]
        self.forwarded = 0

    def _on_order_command(self, command, message, sender: ActorAddress) -> None:
        """Hand a session's submit, cancel or status request to the order host (loop thread)."""
        self.forwarded += 1
        self._forward(self.account, self.current_bytes)

    def extra_statistics(self) -> dict[str, Any]:
        """Commands forwarded."""
        return {"account": self.account, "forwarded": self.forwarded, "remote": True}


__all__ = ["RemoteOrderActor"]
