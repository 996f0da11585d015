"""TickDetailActor (``ticks``): every tick of a few contracts, for the contract detail view.

A trader who opens a contract's detail panel wants each tick, not the 33 ms
conflated L1 row of its group: the page sends ``subscribeTicks{vtSymbols}``
and the session forwards a ``TickSubscription`` here. This actor asks the
vn.py bridge to copy those contracts' ticks out of each drain
(:attr:`transport.venue.vnpy_bridge.VnpyBridge.detail_symbols`), keeps the last
``HISTORY_TICKS`` of each, and sends every subscriber one ``tickDetail``
``ServerMessage`` per drain that saw the contract tick (encoded once, the
same bytes to every session; ``Outbound`` kind ``detail``, which a session
over its high-water mark drops: the chart misses a point, the socket never
backs up). A new subscriber gets the history first (``history = true``).

Contracts stay watched after their last subscriber leaves, up to
``MAX_WATCHED`` (least recently subscribed dropped first), so reopening a
detail panel shows its recent ticks. After a restart the history is gone;
the actor tells the sessions (``groupRestarted`` naming ``ticks``) and each
subscribes its contracts again.

Across NATS (transport/cluster/nats_detail.py) the venue-host's relay session
``sessions/session/nats-ticks`` follows the contracts that edge nodes' sessions
follow, on their behalf; its details go out on ``md.tick.<ex>.<sym>``. A relay
session (a path under :data:`RELAY_SESSION_PREFIX`) stands for many sessions
of other nodes, each limited there, so it may follow up to :data:`MAX_WATCHED`.

Entitlements (issue 17): a ``tickSubscription`` carries the token's ``ent``
claim; fields the user is not entitled to for the contract's exchange are sent
as NaN (``l1``: prices, volumes and depth level 1; ``oi``: open interest;
``depth``: levels 2..5), each drain's ticks encoded once per entitlement class
among the contract's subscribers. An edge node relays the venue-host's
unmasked details, so it refuses ``subscribeTicks`` from a session whose claim
limits any field (fail closed, as it does for group frames).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from typing import Any

import numpy as np
from thespian.actors import ActorAddress

import schemas
from actors._dispatch import TickstageActor
from actors._envelope import encode_actor_message, encode_outbound, encode_server_message, new_server_message
from actors.market.entitlements import Entitlements
from actors.market.ports import TickDetailSource
from schemas._columns import L1_DTYPES, fill_columns, init_columns, pointer_index

TICKS_PATH = "ticks"
"""The actor's path; also the name in ``groupRestarted`` that makes sessions subscribe again."""
HISTORY_TICKS = 600
"""Ticks kept per contract and sent to a new subscriber (5 minutes at SHFE's 2 ticks/s)."""
MAX_WATCHED = 256
"""Contracts whose ticks are copied out of the bridge at most (subscribed or recently)."""
MAX_PER_SESSION = 16
"""Contracts one session may follow at once; more is ``limitExceeded``."""
RELAY_SESSION_PREFIX = "sessions/session/nats-"
"""Session paths under this are relays for other nodes' sessions: up to MAX_WATCHED contracts, not MAX_PER_SESSION."""
TICK_FIELDS = tuple(name for name in L1_DTYPES if name != "indexes")
"""A tick row's L1 fields, in L1Columns order: prices (quote currency), volumes (lots), stamps (ns)."""
DEPTH_LEVELS = 5
"""Price levels per side in a tick's depth (vn.py TickData: bid_price_1..5 ... ask_volume_5)."""
DEPTH_FIELDS = ("bidPrices", "bidVolumesLots", "askPrices", "askVolumesLots")
"""DepthColumns lists, in the order a tick row carries them after its :data:`TICK_FIELDS`."""
ROW_WIDTH = len(TICK_FIELDS) + len(DEPTH_FIELDS) * DEPTH_LEVELS
"""Values in one tick row: the L1 fields, then levels 1..5 of each of :data:`DEPTH_FIELDS`."""
_L1_WIDTH = len(TICK_FIELDS)
_MASKED_BY_CLASS = {
    "l1": tuple(range(0, 6)) + tuple(_L1_WIDTH + side * DEPTH_LEVELS for side in range(4)),
    "oi": (TICK_FIELDS.index("openInterestsLots"),),
    "depth": tuple(_L1_WIDTH + side * DEPTH_LEVELS + level for side in range(4) for level in range(1, DEPTH_LEVELS)),
}
"""Field class → positions in a tick row blanked (NaN) for a user without it."""


def mask_rows(rows: list[tuple], granted: frozenset[str]) -> list[tuple]:
    """Return tick rows with the fields of every class not in ``granted`` set to NaN (``rows`` when nothing is)."""
    blanked = sorted({i for field_class, positions in _MASKED_BY_CLASS.items() if field_class not in granted
                      for i in positions})
    if not blanked:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i in blanked:
            values[i] = math.nan
        out.append(tuple(values))
    return out


def exchange_of(vt_symbol: str) -> str:
    """Return the exchange of a vn.py vt_symbol (``"IF1609.CFFEX"`` → ``"CFFEX"``)."""
    return vt_symbol.rpartition(".")[2]

_ServerMessage = schemas.stream.ServerMessage
_SERVER_TICKS = (pointer_index(_ServerMessage, "tickDetail"), pointer_index(schemas.market.TickDetail, "ticks"))
_ACTOR_TICKS = (pointer_index(schemas.actor.ActorMessage, "tickDetail"),
                pointer_index(schemas.market.TickDetail, "ticks"))


def tick_row(l1: tuple, depth: tuple | None = None) -> tuple:
    """Return one tick row: ``l1`` (:data:`TICK_FIELDS` order) then its five-level depth.

    Args:
        l1: last, bid, ask (quote currency); bid/ask/traded volume and open interest
            (lots); exchange and gateway receive time (ns since epoch).
        depth: 20 values, levels 1..5 of bid prices, bid volumes, ask prices, ask
            volumes (vn.py's 0 where the venue has no such level); ``None``: not
            known (level 1 is taken from ``l1``, levels 2..5 are NaN).
    """
    if depth is None:
        unknown = (math.nan,) * (DEPTH_LEVELS - 1)
        depth = ((l1[1],) + unknown + (l1[3],) + unknown + (l1[2],) + unknown + (l1[4],) + unknown)
    return tuple(l1) + tuple(depth)


def _columns_of(rows: list[tuple]) -> dict[str, np.ndarray]:
    columns = {"indexes": np.zeros(len(rows), np.uint32)}
    for i, name in enumerate(TICK_FIELDS):
        columns[name] = np.array([row[i] for row in rows], dtype=L1_DTYPES[name])
    return columns


def _set_depth(detail, rows: list[tuple]) -> None:
    """Fill ``detail.depth`` with the rows' levels, tick-major (pycapnp's list API: few rows per drain)."""
    depth = detail.init("depth")
    if not rows:
        return
    width = len(DEPTH_FIELDS) * DEPTH_LEVELS  # a row without levels (L1 only) gets NaN levels
    values = np.array([tuple(row[_L1_WIDTH:_L1_WIDTH + width]) + (math.nan,) * (width - len(row[_L1_WIDTH:]))
                       for row in rows], dtype=np.float64).reshape(len(rows), len(DEPTH_FIELDS), DEPTH_LEVELS)
    for i, name in enumerate(DEPTH_FIELDS):
        setattr(depth, name, values[:, i, :].ravel().tolist())


def depth_rows(detail) -> list[tuple]:
    """Return a TickDetail's depth as one 20-tuple per tick (NaN-filled when the lists are empty or short).

    Raises:
        nothing: a depth list of the wrong length is read as unknown (NaN), never trusted.
    """
    n = len(detail.ticks.lastPrices)
    depth = detail.depth
    lists = [getattr(depth, name) for name in DEPTH_FIELDS]
    if any(len(values) != n * DEPTH_LEVELS for values in lists):
        return [(math.nan,) * (len(DEPTH_FIELDS) * DEPTH_LEVELS)] * n
    levels = np.array([list(values) for values in lists], dtype=np.float64).reshape(
        len(DEPTH_FIELDS), n, DEPTH_LEVELS).transpose(1, 0, 2).reshape(n, -1)
    return [tuple(row) for row in levels.tolist()]


def encode_tick_detail(vt_symbol: str, rows: list[tuple], source: str = "gateway") -> bytes:
    """Return an ``ActorMessage{tickDetail}`` (bridge → ticks).

    Args:
        vt_symbol: the contract, ``"rb1801.SHFE"``.
        rows: ticks, oldest first, each a :func:`tick_row` (:data:`ROW_WIDTH` values).
    """
    message = schemas.actor.ActorMessage.new_message()
    message.source = source
    message.sentTsNs = time.time_ns()
    detail = message.init("tickDetail")
    detail.vtSymbol = vt_symbol
    init_columns(detail.init("ticks"), len(rows))
    _set_depth(detail, rows)
    return fill_columns(message, _ACTOR_TICKS, _columns_of(rows))


def encode_server_tick_detail(vt_symbol: str, rows: list[tuple], history: bool, source: str) -> bytes:
    """Return a ``ServerMessage{tickDetail}`` for sockets (same rows as :func:`encode_tick_detail`)."""
    message, detail = new_server_message("tickDetail", 0, source)
    detail.vtSymbol = vt_symbol
    detail.history = history
    init_columns(detail.init("ticks"), len(rows))
    _set_depth(detail, rows)
    return fill_columns(message, _SERVER_TICKS, _columns_of(rows))


def split_symbols(bridge: Any, symbols: list[str], allowed: frozenset[str] | None) -> tuple[list, list, list]:
    """Return (wanted, unknown, forbidden) of a subscription's contracts, each in the order given.

    Args:
        bridge: ``knows(vt_symbol)`` and ``group_of(vt_symbol)`` (the vn.py bridge).
        symbols: vt_symbols asked for, without repeats.
        allowed: the market groups the token may see, or None: every group.
    """
    unknown = [vt for vt in symbols if not bridge.knows(vt)]
    forbidden = [vt for vt in symbols if vt not in unknown and allowed is not None
                 and bridge.group_of(vt) not in allowed]
    wanted = [vt for vt in symbols if vt not in unknown and vt not in forbidden]
    return wanted, unknown, forbidden


class TickDetailActor(TickstageActor):
    """Fans single-contract ticks out to the sessions that follow them.

    Context args:
        bridge (TickDetailSource): the vn.py bridge (transport/venue/vnpy_bridge.py, in process):
            ``detail_symbols`` (a set this actor fills), ``knows(vt_symbol)``,
            ``group_of(vt_symbol)``, ``latest_row(vt_symbol)``.
        sessions_path (str): the sessions supervisor, default ``"sessions"``.
    """

    def on_start(self, restarts: int) -> None:
        """Set up state; after a restart clear the watch list and have sessions subscribe again."""
        self.bridge: TickDetailSource = self.context.args["bridge"]
        self.subscribers: dict[str, dict[str, frozenset[str]]] = {}  # vt_symbol → session path → classes granted
        self.history: OrderedDict[str, deque] = OrderedDict()  # watched contracts, least recently subscribed first
        self.ticks_in = self.details_sent = self.subscriptions = self.refused = self.detail_encodes = 0
        self.bridge.detail_symbols.clear()
        if restarts:
            self.send_path(self.context.args.get("sessions_path", "sessions"), encode_actor_message(
                "groupRestarted", TICKS_PATH, source=self.path))

    def on_stop(self) -> None:
        """Stop copying ticks out of the bridge."""
        self.bridge.detail_symbols.clear()

    # -- from sessions -----------------------------------------------------

    def _on_tick_subscription(self, sub, message, sender: ActorAddress) -> None:
        """Start (history first) or stop a session's detail stream of some contracts."""
        session, symbols = sub.sessionPath, list(dict.fromkeys(sub.vtSymbols))
        if not sub.subscribe:
            for vt_symbol in symbols:
                self.subscribers.get(vt_symbol, {}).pop(session, None)
            return
        allowed = None if sub.allGroups else frozenset(sub.groups)
        wanted, unknown, forbidden = split_symbols(self.bridge, symbols, allowed)
        following = sum(1 for sessions in self.subscribers.values() if session in sessions)
        fresh = [vt for vt in wanted if session not in self.subscribers.get(vt, {})]
        limit = MAX_WATCHED if session.startswith(RELAY_SESSION_PREFIX) else MAX_PER_SESSION
        if following + len(fresh) > limit:
            self.refused += 1
            self._reply(sub, "error", code="limitExceeded", message=(
                f"{following + len(fresh)} contracts followed, over {limit} per session"))
            return
        entitlements = Entitlements.from_message(sub)
        for vt_symbol in wanted:
            self.subscribers.setdefault(vt_symbol, {})[session] = entitlements.classes(exchange_of(vt_symbol))
            self._watch(vt_symbol)
            self.subscriptions += 1
        if unknown or forbidden:
            self.refused += 1
            code, names = ("unknownContract", unknown) if unknown else ("forbidden", forbidden)
            self._reply(sub, "error", code=code, message=(
                f"{'no such contract' if unknown else 'not allowed by your token'}: {', '.join(names)}"))
        else:
            self._reply(sub, "ack", of="subscribeTicks", detail=",".join(wanted))
        for vt_symbol in wanted:  # after the answer: the page knows the subscription before its history
            rows = mask_rows(list(self.history[vt_symbol]), self.subscribers[vt_symbol][session])
            self.detail_encodes += 1
            self.send_path(session, encode_outbound(
                group=vt_symbol, seq=0, kind="detail", source=self.path, tag=sub.tag,
                payload=encode_server_tick_detail(vt_symbol, rows, True, self.path)))

    def _watch(self, vt_symbol: str) -> None:
        if vt_symbol not in self.history:
            history = self.history[vt_symbol] = deque(maxlen=HISTORY_TICKS)
            latest = self.bridge.latest_row(vt_symbol)
            if latest is not None:
                history.append(tick_row(latest) if len(latest) == _L1_WIDTH else latest)
            self.bridge.detail_symbols.add(vt_symbol)
        self.history.move_to_end(vt_symbol)
        for old in list(self.history):
            if len(self.history) <= MAX_WATCHED:
                break
            if not self.subscribers.get(old):
                del self.history[old]
                self.subscribers.pop(old, None)
                self.bridge.detail_symbols.discard(old)

    def _reply(self, sub, member: str, **fields: Any) -> None:
        if sub.correlationId:
            self.send_path(sub.sessionPath, encode_outbound(
                group="", seq=0, kind="control", source=self.path,
                payload=encode_server_message(member, sub.correlationId, self.path, **fields)))

    # -- from the bridge -------------------------------------------------------

    def _on_tick_detail(self, detail, message, sender: ActorAddress) -> None:
        """Keep a drain's ticks of one contract and pass them to its subscribers."""
        vt_symbol = detail.vtSymbol
        history = self.history.get(vt_symbol)
        if history is None:
            return
        ticks = detail.ticks
        columns = [getattr(ticks, name) for name in TICK_FIELDS]
        rows = [l1 + depth for l1, depth in zip(zip(*columns), depth_rows(detail))]
        self.ticks_in += len(rows)
        history.extend(rows)
        sessions = self.subscribers.get(vt_symbol)
        if not sessions:
            return
        payloads: dict[frozenset[str], bytes] = {}  # one encode per entitlement class
        for session, granted in sessions.items():
            payload = payloads.get(granted)
            if payload is None:
                self.detail_encodes += 1
                payload = payloads[granted] = encode_outbound(
                    group=vt_symbol, seq=0, kind="detail", source=self.path,
                    payload=encode_server_tick_detail(vt_symbol, mask_rows(rows, granted), False, self.path))
            self.send_path(session, payload)
            self.details_sent += 1

    def extra_statistics(self) -> dict[str, Any]:
        """Contracts watched and followed, ticks in, details sent, subscriptions refused."""
        return {"watched": len(self.history), "followed": sum(1 for s in self.subscribers.values() if s),
                "ticks_in": self.ticks_in, "details_sent": self.details_sent, "detail_encodes": self.detail_encodes,
                "subscriptions": self.subscriptions, "refused": self.refused}


__all__ = ["DEPTH_FIELDS", "DEPTH_LEVELS", "HISTORY_TICKS", "MAX_PER_SESSION", "MAX_WATCHED", "RELAY_SESSION_PREFIX",
           "ROW_WIDTH", "TICKS_PATH", "TickDetailActor", "depth_rows", "encode_server_tick_detail", "encode_tick_detail",
           "exchange_of", "mask_rows", "split_symbols", "tick_row"]
