"""The runtime's two helper actors: the proxy that resolves a coroutine ask, the sink of plain tells.

Both run on the loop thread, inside :class:`actors._runtime.ActorRuntime`'s pump.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from thespian.actors import Actor, ActorAddress, PoisonMessage

if TYPE_CHECKING:
    from actors._runtime import ActorRuntime


class AskProxy(Actor):
    """Receives the reply of one coroutine ask and resolves its future."""

    future: asyncio.Future | None = None

    runtime: ActorRuntime | None = None

    def receiveMessage(self, msg: Any, sender: ActorAddress) -> None:
        """Resolve the pending future (loop thread)."""
        if isinstance(msg, PoisonMessage) and self.runtime is not None:
            self.runtime.report_poison(sender, msg)
        future, self.future = self.future, None
        if future is not None and not future.done():
            future.set_result(msg)


class TellSink(Actor):
    """Sender of the runtime's tells: drops replies, reports poison."""

    runtime: ActorRuntime | None = None

    def receiveMessage(self, msg: Any, sender: ActorAddress) -> None:
        """Count a reply nobody waits for; report a PoisonMessage as a crash (loop thread)."""
        if self.runtime is None:
            return
        if isinstance(msg, PoisonMessage):
            self.runtime.report_poison(sender, msg)
        else:
            self.runtime.count_reply_dropped()


__all__ = ["AskProxy", "TellSink"]
