"""RemoteAlgoHostActor (``algos`` on an edge node): the algo engine runs on the venue-host.

vn.py's algo engine lives beside vn.py, on the ``venue-host`` node. On an ``edge`` node this actor
takes the place of :class:`~actors.sessions.algo_host.AlgoHostActor` for the local sessions: same
path, same ``orderCommand`` in (already checked against the trader's token by the session), so a
session does not know where the engine runs. Each command's bytes go unchanged to ``forward``,
which sends them as a NATS request on ``algo.command.<account>`` and answers the session itself
(transport/cluster/nats_algos.py).
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor


class RemoteAlgoHostActor(TickstageActor):
    """Forwards the sessions' algo commands to the venue-host's algo engine.

    Context args:
        forward (Callable[[bytes], None]): takes the ActorMessage ``orderCommand`` bytes; non-blocking
            (loop thread).
    """

    takes_crash = False   # keeps no state of its own

    def on_start(self, restarts: int) -> None:
        """Keep the forwarding callable (loop thread)."""
        self._forward = self.context.args["forward"]
        self.forwarded = 0

    def _on_order_command(self, command, message, sender: ActorAddress) -> None:
        """Hand a session's start, pause, resume or stop to the venue-host (loop thread)."""
        self.forwarded += 1
        self._forward(self.current_bytes)

    def extra_statistics(self) -> dict[str, Any]:
        """Commands forwarded."""
        return {"forwarded": self.forwarded, "remote": True}


__all__ = ["RemoteAlgoHostActor"]
