"""The socket server's counters (:meth:`transport.edge.ws.SocketServer.statistics`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SocketStatistics:
    """Counters of the socket server (``SocketServer.statistics()``).

    Every data frame read is exactly one of forwarded, handled or refused:
    ``frames_received == frames_forwarded + frames_handled + frames_refused``.

    Attributes:
        sockets_open: authenticated sockets now.
        sockets_opened: authenticated sockets since start.
        users_connected: distinct users with an open socket now.
        frames_received: client data frames read (binary or text, auth included).
        frames_forwarded: frames handed to session actors.
        frames_handled: frames answered by the socket server itself (``auth``, ``refresh``).
        frames_refused: frames answered with ``error``.
        refused: every refusal by ``ErrorCode`` name: frames, auth timeouts,
            wrong origins (``forbidden``), expiries (``tokenExpired``).
        origins_refused: upgrade requests refused with 403.
        tokens_refreshed: accepted ``refresh`` messages.
        tokens_expired: sockets closed because their token expired.
        closed_bad_input: sockets closed with 1008 for repeated refusals.
    """

    sockets_open: int
    sockets_opened: int
    users_connected: int
    frames_received: int
    frames_forwarded: int
    frames_handled: int
    frames_refused: int
    refused: Mapping[str, int]
    origins_refused: int
    tokens_refreshed: int
    tokens_expired: int
    closed_bad_input: int


__all__ = ["SocketStatistics"]
