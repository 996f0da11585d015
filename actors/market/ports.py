"""What the market actors need from outside the actors: the venue's tick source.

In process, transport/venue/vnpy_bridge.py's ``VnpyBridge`` (fed by vn.py's
EventEngine) implements all three; on an aggregator node
transport/cluster/nats_ticks.py's ``TickSubscriber`` stands in for it as a
:class:`MarketSource` only (resyncs over NATS; watchlists are edited on the
venue-host). Every method is called on the loop thread and never blocks, as
actors/orders/ports.py's ports for the order path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable


class MarketSource(Protocol):
    """What ``MarketSourceActor`` answers from: the groups' latest instruments and rows."""

    def resync_messages(self, group: str) -> list[bytes]:
        """Return the actor.capnp messages that rebuild a restarted group (``instrumentsAdded``, then a
        ``tickBatch`` of every row); ``[]`` for an unknown group."""

    def statistics_dict(self) -> dict[str, int]:
        """Return the source's counters (ticks in, batches sent ...)."""


class WatchlistEdit(Protocol):
    """What one watchlist edit did (``transport.venue.watchlists.WatchlistEdit``)."""

    group: str
    added: Sequence[str]
    removed: Sequence[str]
    unknown: Sequence[str]   # vt_symbols asked to be added that the gateway has never seen (not applied)
    size: int


@runtime_checkable
class WatchlistEditor(Protocol):
    """A market source that edits users' watchlist groups (the venue-host's vn.py bridge only)."""

    def update_watchlist(self, group_name: str, add: Iterable[str], remove: Iterable[str]) -> WatchlistEdit:
        """Add and remove contracts of a watchlist group.

        Raises:
            actors.market.errors.WatchlistLimitError: past ``MAX_WATCHLIST`` contracts; nothing applied.
            actors.errors.ActorDeadError: a new group's GroupActor cannot be started; nothing applied.
        """


class TickDetailSource(Protocol):
    """What ``TickDetailActor`` needs of the bridge: every tick of a few contracts, copied out per drain."""

    detail_symbols: set[str]
    """vt_symbols whose every tick goes to the ``ticks`` actor (that actor fills the set)."""

    def knows(self, vt_symbol: str) -> bool:
        """Return whether the gateway has seen this contract."""

    def group_of(self, vt_symbol: str) -> str | None:
        """Return the contract's product group (``"rb"``), ``None`` for an unknown contract."""

    def latest_row(self, vt_symbol: str) -> tuple | None:
        """Return the contract's latest tick as a ``TICK_FIELDS`` tuple, ``None`` before its first tick."""


__all__ = ["MarketSource", "TickDetailSource", "WatchlistEdit", "WatchlistEditor"]
