"""One session's account pushes and their conflation for a slow socket (:class:`AccountPushes`).

Order events (``orderAccepted``, ``orderFilled`` ...), ``riskEvent``, ``accountStatus`` and
``riskSummary`` of the accounts a session may see reach it through the sessions supervisor's
fan-out (``accountPush``: a whole ServerMessage, encoded once for every session of the account).
While the socket keeps up each is queued as it comes. Past the socket's high-water mark they are
conflated as a group's deltas are, so a socket that does not read (an admin's: every account)
cannot grow the queue:

* ``accountStatus`` and ``riskSummary`` are each a whole state: only the latest per account is
  kept (``CONFLATED_PUSHES``);
* anything else is an event the client cannot rebuild from a later one: it is dropped and its
  account marked stale;
* once the socket drains under the low-water mark the kept statuses are pushed and every stale
  account gets an ``orderStatusReply`` (an ``orderStatusRequest`` sent to ``orders/<account>`` on the
  client's behalf: a snapshot of its orders, as a group's snapshot follows conflated deltas).

While anything is kept or stale, later pushes are conflated too (even under the high-water mark),
so the socket never sees a newer event before the snapshot that covers the dropped ones. Loop
thread only, like the session that owns it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemas
from actors.orders.codec import encode_order_command
from actors.paths import orders_path
from actors.sessions.state import SessionState

CONFLATED_PUSHES = frozenset({"accountStatus", "riskSummary"})
"""Account pushes of which a slow socket gets only the latest per account (each is a whole state)."""


class AccountPushes:
    """Pushes one session's account events to its socket, conflating them while the socket is behind.

    Args:
        session_path: the session's actor path (the order actor answers the snapshot request to it).
        state: the session's :class:`SessionState` (``may_trade``, user and token grants; read per push).
        outbox: the socket's outbox: ``put_nowait(bytes)`` queues a frame, ``queued_bytes`` (int) is what
            is queued and not yet written.
        high_water_bytes: past this many queued bytes pushes are conflated.
        low_water_bytes: at or under this many queued bytes the conflated pushes go out.
        send_path: ``send_path(path, bytes) -> bool``: tell an actor (the order snapshot request).

    Attributes:
        pushes_sent: pushes queued to the socket.
        pushes_conflated: pushes kept back or dropped while the socket was behind.
    """

    def __init__(self, session_path: str, state: SessionState, outbox: Any, high_water_bytes: int,
                 low_water_bytes: int, send_path: Callable[[str, bytes], bool]) -> None:
        self._path = session_path
        self._state = state
        self._outbox = outbox
        self._high_water = high_water_bytes
        self._low_water = low_water_bytes
        self._send_path = send_path
        self._pending: dict[tuple[str, str], bytes] = {}  # (account, member) → latest payload
        self._stale: set[str] = set()
        self.pushes_sent = self.pushes_conflated = 0

    def push(self, account: str, payload: bytes) -> int:
        """Queue one push of ``account`` to the socket, or conflate it; return the bytes queued now.

        A push of an account the token does not grant (``SessionState.may_trade``) is ignored.

        Args:
            account: the strategy account the push is about.
            payload: one ServerMessage (``accountStatus``, ``riskSummary``, an order or risk event).

        Returns:
            Bytes queued to the socket by this call (0: ignored, or conflated and not flushed).
        """
        if not self._state.may_trade(account):
            return 0
        if self._outbox.queued_bytes > self._high_water or self._pending or self._stale:
            return self._conflate(account, payload)
        self._outbox.put_nowait(payload)
        self.pushes_sent += 1
        return len(payload)

    def drained(self) -> int:
        """The socket caught up: push the kept statuses, ask for the stale accounts' orders; return bytes queued."""
        if self._pending or self._stale:
            return self._flush()
        return 0

    def _conflate(self, account: str, payload: bytes) -> int:
        """Keep the latest ``accountStatus`` / ``riskSummary`` of ``account``, or mark it stale; flush at once
        when the socket is already under the low-water mark."""
        self.pushes_conflated += 1
        with schemas.stream.ServerMessage.from_bytes(
            payload, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS, nesting_limit=schemas.NESTING_LIMIT,
        ) as server:
            member = server.which()
        if member in CONFLATED_PUSHES:
            self._pending[(account, member)] = payload
        else:
            self._stale.add(account)
        if self._outbox.queued_bytes <= self._low_water:
            return self._flush()
        return 0

    def _flush(self) -> int:
        """Push the kept statuses and ask for an order snapshot of every stale account; return bytes queued."""
        queued = 0
        pending, self._pending = self._pending, {}
        for payload in pending.values():
            self._outbox.put_nowait(payload)
            self.pushes_sent += 1
            queued += len(payload)
        stale, self._stale = self._stale, set()
        for account in sorted(stale):
            request = schemas.stream.ClientMessage.new_message()
            request.init("orderStatusRequest").account = account
            self._send_path(orders_path(account), encode_order_command(
                self._path, self._state.user, request.to_bytes(), self._path, 0, *self._state.grants()))
        return queued


__all__ = ["CONFLATED_PUSHES", "AccountPushes"]
