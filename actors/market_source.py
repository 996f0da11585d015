"""MarketSourceActor (``market-source``): the actor face of the vn.py bridge.

The bridge itself (transport/venue/vnpy_bridge.py) runs as loop callbacks fed by
vn.py's EventEngine thread; this actor answers what actors ask of it: a
restarted aggregator's ``resyncRequest`` gets the group's instruments and
latest rows back, from which it rebuilds its state and sends snapshots; a
session's ``watchlistMembership`` (a user editing their watchlist group,
issue 8) is applied by the bridge and answered to the session with ``ack`` or
``error`` (``unknownContract``, ``limitExceeded``, ``internal``).
"""

from __future__ import annotations

from typing import Any

from thespian.actors import ActorAddress

from actors._dispatch import TickstageActor
from actors._envelope import encode_error, encode_outbound, encode_server_message
from actors.errors import ActorDeadError
from actors.market.errors import WatchlistLimitError
from actors.market.ports import MarketSource, WatchlistEditor

MARKET_SOURCE_PATH = "market-source"
"""Where the MarketSourceActor runs (a root child): GroupActors ask it for resyncs, sessions send it watchlist edits."""
MAX_NAMED_CONTRACTS = 10
"""Unknown vt_symbols named in one ``unknownContract`` error message (the rest are counted)."""


class MarketSourceActor(TickstageActor):
    """Serves resync requests from the bridge's latest-rows cache.

    Context args:
        bridge (MarketSource): the vn.py bridge (transport/venue/vnpy_bridge.py), which is also a
            :class:`~actors.market.ports.WatchlistEditor`; on an aggregator node a stand-in that is not.
    """

    takes_crash = False   # not a crash target of the fault injector (it keeps no state of its own)

    def on_start(self, restarts: int) -> None:
        """Keep the bridge handle (loop thread)."""
        self.bridge: MarketSource = self.context.args["bridge"]
        self.resyncs = 0
        self.watchlist_edits = self.watchlist_refusals = 0

    def _on_resync_request(self, group: str, message, sender: ActorAddress) -> None:
        """Send the group's full instrument list and latest rows back to it."""
        self.resyncs += 1
        for payload in self.bridge.resync_messages(group):
            self.send(sender, payload)

    def _on_watchlist_membership(self, membership, message, sender: ActorAddress) -> None:
        """Have the bridge apply a user's watchlist edit; answer the session (loop thread).

        The session gets, quoting the client's envelope id: ``ack{of:
        "watchlistUpdate", detail: <group>}``; ``error(unknownContract)``
        naming contracts never seen (the others are applied);
        ``error(limitExceeded)`` past MAX_WATCHLIST contracts (nothing
        applied); ``error(internal)`` where no vn.py bridge runs or the market
        groups are restarting.
        """
        group, session, correlation = membership.group, membership.sessionPath, membership.correlationId
        self.watchlist_edits += 1
        bridge = self.bridge
        if not isinstance(bridge, WatchlistEditor):   # an aggregator node's stand-in
            self._refuse(session, correlation, "internal", "watchlists are edited on the venue-host")
            return
        try:
            edit = bridge.update_watchlist(group, list(membership.add), list(membership.remove))
        except WatchlistLimitError as exc:
            self._refuse(session, correlation, "limitExceeded", str(exc))
            return
        except ActorDeadError as exc:
            self._refuse(session, correlation, "internal", f"{group} not edited, retry: {exc}")
            return
        if edit.unknown:
            named = ", ".join(edit.unknown[:MAX_NAMED_CONTRACTS])
            more = len(edit.unknown) - MAX_NAMED_CONTRACTS
            self._refuse(session, correlation, "unknownContract", f"unknown contracts not added to {group}: "
                         f"{named}{f' and {more} more' if more > 0 else ''}; the others were applied")
            return
        self._answer(session, correlation, "ack", of="watchlistUpdate", detail=group)

    def _refuse(self, session: str, correlation: int, code: str, text: str) -> None:
        self.watchlist_refusals += 1
        self._to_session(session, encode_error(code, text, correlation, self.path))

    def _answer(self, session: str, correlation: int, member: str, **fields: Any) -> None:
        """Send a session a ServerMessage ``member`` (``ack``) as a ``control`` outbound."""
        self._to_session(session, encode_server_message(member, correlation, self.path, **fields))

    def _to_session(self, session: str, payload: bytes) -> None:
        self.send_path(session, encode_outbound(group="", seq=0, kind="control", source=self.path, payload=payload))

    def extra_statistics(self) -> dict[str, Any]:
        """Resyncs served, watchlist edits handled and refused, and the bridge's counters."""
        return {"resyncs": self.resyncs, "watchlist_edits": self.watchlist_edits,
                "watchlist_refusals": self.watchlist_refusals, **self.bridge.statistics_dict()}


__all__ = ["MARKET_SOURCE_PATH", "MarketSourceActor"]
