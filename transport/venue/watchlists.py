"""Watchlist groups edited at run time: the vn.py bridge's side of ``watchlistMembership`` (issue 8).

A user's watchlist group (``watch-<user>``, actors/market/watchlists.py) is a
bridge group like the configured watchlists: each member contract's ticks are
routed to it as well as to its product group. The bridge owns one
:class:`WatchlistGroups`, handing it its group and route tables and the three
ways it reaches a group (create, send a message, send rows). An edit runs on
the loop thread, between two drains (the ``market-source`` actor calls
``VnpyBridge.update_watchlist``, which calls :meth:`WatchlistGroups.update`),
and reaches the GroupActor at once:

* adding appends the contracts, announces them (``instrumentsAdded`` from the
  first new index) and sends their latest rows, copied from their product
  groups, as a TickBatch (the group's next ``seq``), so a new row is not empty
  until its contract ticks again;
* removing changes the row indexes of the contracts after it (an index is a
  position in GroupInfo), so the whole list is announced again from index 0
  (the GroupActor replaces its list, tells its subscribers and sends them a
  snapshot) and then every remaining row.

A group whose last contract is removed stays, empty. Groups live as long as
the process: after a restart a user's watchlist group is gone until edited
again (not persisted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from actors.market.errors import WatchlistLimitError
from actors.market.frames import InstrumentInfo, encode_instruments_added
from actors.market.l1 import L1Table
from actors.market.watchlists import MAX_WATCHLIST


@dataclass(frozen=True)
class WatchlistEdit:
    """What one :meth:`WatchlistGroups.update` did.

    Attributes:
        group: the watchlist group, ``"watch-trader1"``.
        added: vt_symbols appended, in request order (members already are left out).
        removed: vt_symbols taken out (non-members are left out).
        unknown: vt_symbols asked to be added that the gateway has never seen (not applied).
        size: contracts in the group after the edit.
    """

    group: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    unknown: tuple[str, ...]
    size: int


class BridgeGroup(Protocol):
    """A bridge group as the watchlists edit it (``transport.venue.vnpy_bridge`` keeps them).

    Attributes:
        name: group name.
        instruments: its contracts in row order (a row index is a position here).
        table: its latest L1 rows.
        version: InstrumentsAdded version last sent.
        announced: instruments already sent to the group actor.
    """

    name: str
    instruments: list[InstrumentInfo]
    table: L1Table
    version: int
    announced: int


Routes = dict[str, list[tuple[BridgeGroup, int]]]
"""vt_symbol → (group, row index) of every group its ticks go to; the first is its product group."""


class WatchlistGroups:
    """Run-time membership of watchlist groups, over the bridge's group and route tables.

    Args:
        groups: group name → group, the bridge's table (shared: a new group is added to it).
        routes: the bridge's routes (shared: an edit changes the routes into the group).
        new_group: ``new_group(name)`` creates a group and its GroupActor.
        route: ``route(group, payload)`` sends a message to a group.
        send_rows: ``send_rows(group, columns)`` sends L1 rows as the group's next TickBatch.

    Every method runs on the loop thread; vn.py's thread never touches these tables, so no lock is taken.
    """

    def __init__(self, groups: dict[str, BridgeGroup], routes: Routes, *,
                 new_group: Callable[[str], BridgeGroup], route: Callable[[BridgeGroup, bytes], None],
                 send_rows: Callable[[BridgeGroup, Mapping[str, np.ndarray]], None]) -> None:
        self._groups = groups
        self._routes = routes
        self._new_group = new_group
        self._route = route
        self._send_rows = send_rows

    def update(self, group_name: str, add: Iterable[str], remove: Iterable[str]) -> WatchlistEdit:
        """Add and remove contracts of a watchlist group; create it on its first addition (loop thread).

        Args:
            group_name: the user's watchlist group, ``"watch-trader1"``.
            add: vt_symbols to append; members already, and contracts never
                seen (reported in ``unknown``), are skipped.
            remove: vt_symbols to take out; non-members are skipped.

        Returns:
            What was applied.

        Raises:
            WatchlistLimitError: the group would hold more than
                :data:`~actors.market.watchlists.MAX_WATCHLIST` contracts; nothing applied.
            actors.errors.ActorDeadError: a new group's GroupActor cannot be
                started (the ``market`` supervisor is restarting); nothing applied.
        """
        group = self._groups.get(group_name)
        members = {info.vt_symbol for info in group.instruments} if group is not None else set()
        wanted = list(dict.fromkeys(add))
        unknown = tuple(s for s in wanted if s not in self._routes)
        adding = [s for s in wanted if s in self._routes and s not in members]
        removing = set(remove) & members
        size = len(members) - len(removing) + len(adding)
        if size > MAX_WATCHLIST:
            raise WatchlistLimitError(group_name, size, MAX_WATCHLIST)
        if not adding and not removing:
            return WatchlistEdit(group_name, (), (), unknown, len(members))
        if group is None:
            try:
                group = self._new_group(group_name)
            except Exception:
                self._groups.pop(group_name, None)
                raise
        first_new = 0 if removing else len(group.instruments)
        removed = tuple(info.vt_symbol for info in group.instruments if info.vt_symbol in removing)
        if removing:
            self._drop_members(group, removing)
        self._append_members(group, adding)
        group.version += 1
        self._route(group, encode_instruments_added(
            group=group.name, version=group.version, first_index=first_new,
            instruments=group.instruments[first_new:], source="gateway"))
        group.announced = len(group.instruments)
        rows = group.table.peek_all()
        sent = (rows["gatewayRecvTsNs"] != 0) & (rows["indexes"] >= first_new)
        if sent.any():
            self._send_rows(group, {k: v[sent] for k, v in rows.items()})
        return WatchlistEdit(group_name, tuple(adding), removed, unknown, len(group.instruments))

    def members(self, group_name: str) -> list[str]:
        """Return a group's vt_symbols in row order (``[]`` for an unknown group)."""
        group = self._groups.get(group_name)
        return [info.vt_symbol for info in group.instruments] if group is not None else []

    def _drop_members(self, group: BridgeGroup, removing: set[str]) -> None:
        """Take ``removing`` out of ``group``: its instruments, its rows and every route into it."""
        kept = [i for i, info in enumerate(group.instruments) if info.vt_symbol not in removing]
        rows = group.table.peek_all()
        old = np.asarray(kept, dtype=np.int64)
        seen = rows["gatewayRecvTsNs"][old] != 0
        columns = {name: column[old][seen] for name, column in rows.items() if name != "indexes"}
        columns["indexes"] = np.flatnonzero(seen).astype(np.uint32)
        group.instruments = [group.instruments[i] for i in kept]
        group.table = L1Table()
        group.table.resize(len(group.instruments))
        group.table.apply(columns)
        for vt_symbol in removing:
            self._routes[vt_symbol] = [(g, i) for g, i in self._routes[vt_symbol] if g is not group]
        for index, info in enumerate(group.instruments):
            routes = self._routes[info.vt_symbol]
            self._routes[info.vt_symbol] = [(g, index if g is group else i) for g, i in routes]

    def _append_members(self, group: BridgeGroup, adding: list[str]) -> None:
        """Append ``adding`` (known contracts) to ``group`` with their latest rows from their product groups."""
        first = len(group.instruments)
        for vt_symbol in adding:
            product, index = self._routes[vt_symbol][0]
            group.instruments.append(product.instruments[index])
            self._routes[vt_symbol].append((group, len(group.instruments) - 1))
        group.table.resize(len(group.instruments))
        by_product: dict[int, tuple[BridgeGroup, list[int], list[int]]] = {}
        for offset, vt_symbol in enumerate(adding):
            product, index = self._routes[vt_symbol][0]
            _, sources, targets = by_product.setdefault(id(product), (product, [], []))
            sources.append(index)
            targets.append(first + offset)
        for product, sources, targets in by_product.values():
            rows = product.table.peek_all()
            picked = np.asarray(sources, dtype=np.int64)
            columns = {name: column[picked] for name, column in rows.items() if name != "indexes"}
            columns["indexes"] = np.asarray(targets, dtype=np.uint32)
            group.table.apply(columns)


__all__ = ["BridgeGroup", "Routes", "WatchlistEdit", "WatchlistGroups"]
