"""Errors of the market groups, under the project's root :class:`~actors.errors.TickstageError`."""

from __future__ import annotations

from schemas.errors import TickstageError


class MarketError(TickstageError):
    """Root of the market groups' errors."""


class WatchlistLimitError(MarketError, ValueError):
    """A watchlist edit would leave the group with too many contracts; nothing was applied.

    Attributes:
        group: the watchlist group, ``"watch-trader1"``.
        size: contracts the group would hold after the edit.
        limit: the most allowed (:data:`actors.market.watchlists.MAX_WATCHLIST`).
    """

    def __init__(self, group: str, size: int, limit: int) -> None:
        super().__init__(f"{group} would hold {size} contracts, over the limit of {limit}")
        self.group = group
        self.size = size
        self.limit = limit


class EntitlementError(MarketError, ValueError):
    """An ``ent`` claim of the wrong shape (not an object of exchange → list of field classes).

    Attributes:
        reason: what is wrong, without echoing the claim.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid ent claim: {reason}")
        self.reason = reason


__all__ = ["EntitlementError", "MarketError", "WatchlistLimitError"]
