"""Watchlist edits across NATS: an edge node's sessions edit groups the venue-host builds.

A user's watchlist group (``watch-<user>``) is built by the vn.py bridge, so
edits are applied on the ``venue-host``. Request-reply on ``ops.watchlist``:

* Edge side (:class:`WatchlistEdgeLink`): a
  :class:`~actors.market.remote_watchlists.RemoteWatchlistActor` at
  ``market-source`` hands each session's ``watchlistMembership`` (checked by
  the session, naming the user's own group; unchanged bytes) to
  :meth:`WatchlistEdgeLink.forward`, which sends it as a request and passes
  the reply (``ack{of: "watchlistUpdate"}`` or ``error``) to the session. No
  responders (no venue-host): ``error(internal)`` saying nothing was applied;
  no reply in time: ``error(internal)`` saying the edit may have been applied
  (edits are idempotent: adding a member twice or removing an absent one
  changes nothing, so a retry is safe).
* Host side (:class:`WatchlistHost`): one queue-group subscription tells the
  local ``market-source`` actor the edit as if from the session
  ``sessions/session/nats-watchlists``
  (:class:`~actors.sessions.relay.ReplyRelayActor`) and keeps the request's
  reply inbox under the client's envelope id until the answer comes. The
  market-source actor answers every edit exactly once, in order, so FIFO per
  envelope id is exact. A request that is not a ``watchlistMembership`` of a
  ``watch-`` group is refused with ``error(malformed)``.

The edited group then reaches the edge like any other: the venue-host
publishes its ticks, an aggregator its frames (``md.agg.33ms.watch-<user>``).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import nats.errors
import structlog

import schemas
from actors import ROOT_PATH, ChildSpec, encode_actor_message, encode_outbound, encode_server_message, spawn
from actors.market.remote_watchlists import RemoteWatchlistActor
from actors.market.watchlists import is_watchlist_group
from actors.market_source import MARKET_SOURCE_PATH
from actors.paths import session_child
from actors.sessions.relay import ReplyRelayActor
from transport.cluster import subjects
from transport.cluster.nats_bus import NatsBus, NoRespondersError, RequestTimeoutError, ServedSubject

_log = structlog.get_logger("transport.cluster.nats_watchlists")
WATCHLIST_TOPIC = "watchlist"
"""``ops.watchlist``: watchlist edits, edge → venue-host (request-reply)."""
HOST_QUEUE = "watchlist-host"
RELAY_SESSION = session_child("nats-watchlists")
RELAY_PATH = f"sessions/{RELAY_SESSION}"
SOURCE = "nats-watchlists"


def read_membership(data: bytes) -> tuple[str, list[str], list[str], str, int]:
    """Return (group, add, remove, session path, correlation id) of ActorMessage ``watchlistMembership`` bytes.

    Raises:
        ValueError: another member, or a group that is not a watchlist group.
    """
    with schemas.actor.ActorMessage.from_bytes(data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                               nesting_limit=schemas.NESTING_LIMIT) as message:
        if message.which() != "watchlistMembership":
            raise ValueError(f"not a watchlistMembership: {message.which()}")
        body = message.watchlistMembership
        group = body.group
        if not is_watchlist_group(group):
            raise ValueError(f"not a watchlist group: {group[:64]!r}")
        return group, list(body.add), list(body.remove), body.sessionPath, body.correlationId


def _reply_correlation(payload: bytes) -> int:
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        return message.envelope.correlationId


class WatchlistHost:
    """Serves ``ops.watchlist`` from the local market-source actor (venue-host node).

    Args:
        runtime: the actor runtime (with ``market-source`` and ``sessions``).
        bus: a connected :class:`NatsBus`.
        pending_ttl_s: a request whose answer never came is forgotten after this long, seconds.
    """

    def __init__(self, runtime: Any, bus: NatsBus, pending_ttl_s: float = 30.0) -> None:
        self.runtime = runtime
        self.bus = bus
        self.pending_ttl_s = pending_ttl_s
        self.pending: dict[int, collections.deque] = {}
        self.requests = self.replied = self.refused = self.unmatched = 0
        self.served = ServedSubject(bus, subjects.ops(WATCHLIST_TOPIC), self._on_request, HOST_QUEUE, "watchlist-host")
        """Its queue-group subscription: on while this host serves (:meth:`activate`)."""

    async def start(self, serve: bool = True) -> None:
        """Start the relay session and serve the subject, unless ``serve`` is false (a venue-host with a standby
        serves only while it holds the venue-host lease: :meth:`activate`) (loop thread)."""
        spawn(self.runtime, "sessions", ChildSpec(RELAY_SESSION, ReplyRelayActor, {"reply": self._on_reply}))
        if serve:
            await self.activate()

    async def activate(self) -> None:
        """Serve ``ops.watchlist`` (queue ``HOST_QUEUE``) from now on; idempotent (loop thread)."""
        await self.served.activate()

    async def deactivate(self) -> None:
        """Stop serving ``ops.watchlist``: an edit taken by a standby would change only its own groups, which
        nobody receives; idempotent (loop thread)."""
        await self.served.deactivate()

    def _respond(self, inbox: str, payload: bytes) -> None:
        if inbox:
            self.bus.publish_nowait(inbox, payload)

    def _on_request(self, msg: Any) -> None:
        self.requests += 1
        try:
            group, add, remove, _, correlation = read_membership(msg.data)
        except Exception as exc:  # noqa: BLE001 - capnp errors too: a bad request never reaches an actor
            self.refused += 1
            _log.info("watchlist_request_refused", code="malformed", error_type=type(exc).__name__)
            self._respond(msg.reply, encode_server_message("error", 0, SOURCE, code="malformed",
                                                           message=f"bad watchlist request: {exc}"))
            return
        waiting = self.pending.setdefault(correlation, collections.deque())
        oldest = time.monotonic() - self.pending_ttl_s
        while waiting and waiting[0][1] < oldest:
            waiting.popleft()
        waiting.append((msg.reply, time.monotonic()))
        edit = encode_actor_message("watchlistMembership", {
            "group": group, "add": add, "remove": remove, "sessionPath": RELAY_PATH, "correlationId": correlation},
            source=SOURCE)
        if not self.runtime.tell_path(MARKET_SOURCE_PATH, edit):
            waiting.pop()
            self.refused += 1
            self._respond(msg.reply, encode_server_message(
                "error", correlation, SOURCE, code="internal",
                message=f"{group} not edited: the venue-host's market-source actor is restarting; retry"))

    def _on_reply(self, payload: bytes) -> None:
        waiting = self.pending.get(_reply_correlation(payload))
        if not waiting:
            self.unmatched += 1
            _log.info("watchlist_reply_unmatched")
            return
        inbox, _ = waiting.popleft()
        if not waiting:
            self.pending.pop(_reply_correlation(payload), None)
        self.replied += 1
        self._respond(inbox, payload)

    def statistics_dict(self) -> dict[str, int]:
        """Requests, answers, refusals, unmatched answers."""
        return {"watchlist_requests": self.requests, "watchlist_replies": self.replied,
                "watchlist_refused": self.refused, "watchlist_replies_unmatched": self.unmatched}

    async def close(self) -> None:
        """Nothing to cancel (the subscription closes with the bus)."""


class WatchlistEdgeLink:
    """Sends an edge node's watchlist edits to the venue-host and answers the sessions.

    Args:
        runtime: the actor runtime.
        bus: a connected :class:`NatsBus`.
        timeout_s: how long a request may wait for its answer, seconds.
    """

    def __init__(self, runtime: Any, bus: NatsBus, timeout_s: float = 3.0) -> None:
        self.runtime = runtime
        self.bus = bus
        self.timeout_s = timeout_s
        self._tasks: set[asyncio.Task] = set()
        self.sent = self.replies = self.failures = 0

    async def start(self) -> None:
        """Start the ``market-source`` stand-in (loop thread)."""
        spawn(self.runtime, ROOT_PATH, ChildSpec(MARKET_SOURCE_PATH, RemoteWatchlistActor, {"forward": self.forward}))

    def forward(self, data: bytes) -> None:
        """Send one watchlistMembership to the venue-host; answer its session when the reply comes."""
        task = asyncio.get_running_loop().create_task(self._request(data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, data: bytes) -> None:
        group, _, _, session, correlation = read_membership(data)
        subject = subjects.ops(WATCHLIST_TOPIC)
        self.sent += 1
        try:
            reply = await self.bus.request(subject, data, timeout_s=self.timeout_s)
        except NoRespondersError:
            self.failures += 1
            reply = encode_server_message("error", correlation, SOURCE, code="internal", message=(
                f"{group} not edited: no venue-host serves watchlist edits (no responders on {subject}); retry"))
        except (RequestTimeoutError, nats.errors.Error, OSError) as exc:
            self.failures += 1
            reply = encode_server_message("error", correlation, SOURCE, code="internal", message=(
                f"no answer from the venue-host for {group} ({type(exc).__name__}): the edit may have been "
                "applied; retry (an edit applied twice changes nothing)"))
        else:
            self.replies += 1
        self.runtime.tell_path(session, encode_outbound(group="", seq=0, kind="control", payload=reply,
                                                        source=SOURCE, correlation_id=correlation))

    def statistics_dict(self) -> dict[str, int]:
        """Edits sent, answers received, failures (no responders, timeouts)."""
        return {"watchlist_edits_sent": self.sent, "watchlist_replies": self.replies,
                "watchlist_failures": self.failures}

    async def close(self) -> None:
        """Cancel requests still waiting."""
        for task in list(self._tasks):
            task.cancel()


def watchlist_link(runtime: Any, bus: NatsBus | None, role: str) -> WatchlistHost | WatchlistEdgeLink | None:
    """Return the watchlist link of a node: the host on a venue-host, the edge link on an edge, else None."""
    if bus is None:
        return None
    if role == "venue-host":
        return WatchlistHost(runtime, bus)
    if role == "edge":
        return WatchlistEdgeLink(runtime, bus)
    return None


__all__ = ["RELAY_PATH", "WATCHLIST_TOPIC", "WatchlistEdgeLink", "WatchlistHost", "read_membership",
           "watchlist_link"]
