"""GatewayActor (``gateway``): the actor face of the vn.py bridge.

The bridge itself (transport/vnpy_bridge.py) runs as loop callbacks fed by
vn.py's EventEngine thread; this actor answers what actors ask of it: a
restarted aggregator's ``resyncRequest`` gets the group's instruments and
latest rows back, from which it rebuilds its state and sends snapshots.
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor


class GatewayActor(TickstageActor):
    """Serves resync requests from the bridge's latest-rows cache.

    Context args:
        bridge: the :class:`transport.vnpy_bridge.VnpyBridge` (in process).
    """

    def on_start(self, restarts: int) -> None:
        """Keep the bridge handle (loop thread)."""
        self.bridge = self.context.args["bridge"]
        self.resyncs = 0

    def _on_resync_request(self, group: str, message, sender: ActorAddress) -> None:
        """Send the group's full instrument list and latest rows back to it."""
        self.resyncs += 1
        for payload in self.bridge.resync_messages(group):
            self.send(sender, payload)

    def extra_statistics(self) -> dict[str, Any]:
        """Resyncs served and the bridge's counters."""
        return {"resyncs": self.resyncs, **self.bridge.statistics_dict()}


__all__ = ["GatewayActor"]
