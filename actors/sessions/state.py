"""What a session keeps across restarts of its actor (:class:`SessionState`), and group paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


def group_path(group: str) -> str:
    """Return the path of a group's aggregator, ``market/group/rb``."""
    return f"market/group/{group}"


__all__ = ["SessionState", "group_path"]
