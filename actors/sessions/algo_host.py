"""AlgoHostActor (``algos``): the session of the desk's algo engine.

Two directions: the algo commands a trader's session forwards (``startAlgo``, ``pauseAlgo``, ``resumeAlgo``,
``stopAlgo``, already checked against the trader's token) go to ``command``; the algos' child orders are sent to
``orders/<account>`` as if from this session (transport/venue/vnpy_algos.py), so the order actors' replies
(``orderReply``: accepted, or rejected by a risk rule) come here and go to ``reply``. The engine itself lives in
vn.py's MainEngine; this actor keeps no state.
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor


class AlgoHostActor(TickstageActor):
    """Routes algo commands to the algo engine and child-order replies back to it.

    Context args:
        command (Callable[[str, str, bytes, int], None]): takes (session path, user, ClientMessage bytes,
            desk correlation id) of an algo command (loop thread, non-blocking).
        reply (Callable[[bytes], None]): takes a ServerMessage an order actor answered a child order with.
    """

    takes_crash = False   # keeps no state of its own

    def on_start(self, restarts: int) -> None:
        """Keep the callbacks (loop thread)."""
        self._command = self.context.args["command"]
        self._reply = self.context.args["reply"]
        self.commands = self.replies = 0

    def _on_order_command(self, command, message, sender: ActorAddress) -> None:
        """An algo command a session forwarded."""
        self.commands += 1
        self._command(str(command.sessionPath), str(command.user), bytes(command.client), self.correlation_id)

    def _on_outbound(self, outbound, message, sender: ActorAddress) -> None:
        """An order actor's reply to a child order."""
        if str(outbound.kind) == "control":
            self.replies += 1
            self._reply(bytes(outbound.payload))

    def _on_account_push(self, push, message, sender: ActorAddress) -> None:
        """Not registered for pushes: nothing to do."""

    def _on_group_restarted(self, group: str, message, sender: ActorAddress) -> None:
        """Not subscribed to groups: nothing to do."""

    def extra_statistics(self) -> dict[str, Any]:
        """Commands and replies routed."""
        return {"commands": self.commands, "replies": self.replies}


__all__ = ["AlgoHostActor"]
