"""What a session keeps across restarts of its actor (:class:`SessionState`), group paths, correlation ids.

Correlation ids: a client's command (any ``ClientMessage`` past ``auth``)
gets a desk correlation id at the socket server (transport/edge/ws.py), derived
from the socket's session number and the command's envelope id:
``session_number << 32 | (envelope id & 0xFFFFFFFF)`` (UInt64). It is set
in ``ActorMessage.correlationId`` of every actor message the command causes
and bound as ``correlation_id`` in every log line about it. A reply on the
socket keeps ``envelope.correlationId`` = the command's envelope id (the
browser matches replies by it), so a reply on ``sessions/session/<n>``
relates to the log lines by :func:`command_correlation_id` ``(n,
envelope.correlationId)``. Unique per desk process while clients number
their envelopes below 2**32 (the page counts from 1); nodes of a NATS desk
number their sockets independently, so the logs also name the session path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from actors.paths import group_path


@dataclass
class SessionState:
    """What survives a restart of the session actor (owned by the socket handler).

    Attributes:
        user: JWT ``sub``.
        role: ``"trader"`` or ``"admin"``.
        groups: subscribed group names, in order.
        ticks: contracts whose every tick the socket follows (``subscribeTicks``: detail panels).
        closed: the socket is gone; stopping must detach from groups.
        principal: the socket's verified token (``transport.signin.auth.Principal``:
            ``accounts``, ``groups``, ``may_trade``); replaced by the socket
            handler on ``refresh``. ``None`` only for states built in tests.
    """

    user: str
    role: str
    groups: dict[str, None] = field(default_factory=dict)
    ticks: dict[str, None] = field(default_factory=dict)
    closed: bool = False
    principal: Any = None

    @property
    def accounts(self) -> tuple[str, ...]:
        """Account ids of the token's ``accounts`` claim (empty without a principal)."""
        return tuple(self.principal.accounts) if self.principal is not None else ()

    def may_trade(self, account: str) -> bool:
        """Return whether this socket's user may submit, cancel or see orders of ``account``.

        Admins may trade every account; a trader only those in the token's
        ``accounts`` claim (issue 6). Read it per message: a refresh may change it.
        """
        if self.principal is not None:
            return bool(self.principal.may_trade(account))
        return self.role == "admin"

    def grants(self) -> tuple[tuple[str, ...], bool]:
        """Return (the token's ``accounts`` claim, whether it grants every account: an admin's).

        Carried in every ``orderCommand`` (schemas/actor.capnp ``accounts``, ``allAccounts``) so an
        order host across NATS checks the account against the verified token, not the request.
        """
        is_admin = bool(self.principal.is_admin) if self.principal is not None else self.role == "admin"
        return self.accounts, is_admin


_LOW_32 = 0xFFFFFFFF


def command_correlation_id(session_number: int, envelope_id: int) -> int:
    """Return the desk correlation id of a command (UInt64; see the module docstring).

    Args:
        session_number: the socket's number, ``7`` for ``sessions/session/7`` (low 32 bits used).
        envelope_id: the ClientMessage's ``envelope.id`` (low 32 bits used).
    """
    return (session_number & _LOW_32) << 32 | (envelope_id & _LOW_32)


def split_correlation_id(correlation_id: int) -> tuple[int, int]:
    """Return ``(session number, envelope id)`` of a desk correlation id (both low 32 bits)."""
    return correlation_id >> 32 & _LOW_32, correlation_id & _LOW_32


__all__ = ["SessionState", "command_correlation_id", "group_path", "split_correlation_id"]
