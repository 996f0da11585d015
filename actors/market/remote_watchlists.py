"""RemoteWatchlistActor (``market-source`` on an edge node): watchlist edits applied where vn.py runs.

A user's watchlist group (``watch-<user>``) is built by the vn.py bridge, which
runs on the venue-host. On an ``edge`` node this actor takes the
MarketSourceActor's place for the local sessions: a session's
``watchlistMembership`` (already checked and naming the user's own group) is
handed unchanged to ``forward``, which sends it to the venue-host over NATS
(transport/cluster/nats_watchlists.py) and answers the session with the
venue-host's ``ack`` or ``error`` as it comes. The group itself then reaches
the edge like any other (aggregated elsewhere, ``md.agg.33ms.<group>``).
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor


class RemoteWatchlistActor(TickstageActor):
    """Forwards watchlist edits to the venue-host.

    Context args:
        forward (Callable[[bytes], None]): takes the ActorMessage ``watchlistMembership`` bytes
            (loop thread, non-blocking); the answer goes to the membership's ``sessionPath``.
    """

    takes_crash = False   # not a crash target of the fault injector (it keeps no state of its own)

    def on_start(self, restarts: int) -> None:
        """Keep the forward port (loop thread)."""
        self._forward = self.context.args["forward"]
        self.forwarded = self.resyncs_ignored = 0

    def _on_watchlist_membership(self, membership, message, sender: ActorAddress) -> None:
        """Hand a session's watchlist edit to the venue-host link (loop thread)."""
        self.forwarded += 1
        self._forward(self.current_bytes)

    def _on_resync_request(self, group: str, message, sender: ActorAddress) -> None:
        """Groups here are aggregated elsewhere and resync themselves over NATS: nothing to send."""
        self.resyncs_ignored += 1

    def extra_statistics(self) -> dict[str, Any]:
        """Watchlist edits forwarded."""
        return {"watchlist_edits_forwarded": self.forwarded, "resyncs_ignored": self.resyncs_ignored}


__all__ = ["RemoteWatchlistActor"]
