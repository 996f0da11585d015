"""Every actor path tickstage addresses by a data token, each built and parsed by one function.

The twin of ``transport/cluster/subjects.py`` for NATS subjects. Paths are ``/``-separated names under the
root (actors/root.py draws the tree); a token taken from data (an account, a group, a rule, a scope, a
session id) must not be empty, be over 128 characters, or contain ``/``, ``*`` or whitespace, or it would
change the path's shape or turn it into a glob. Each builder checks its tokens and raises
:class:`~actors.errors.PathTokenError` (a ``ValueError``) otherwise; each parser returns ``None`` for a path
of another kind.

| path | actor |
| --- | --- |
| ``orders/<account>`` | OrderActor (RemoteOrderActor on a gateway node) |
| ``accounts/<account>`` | AccountActor |
| ``market/group/<group>`` | GroupActor (RemoteGroupActor on a gateway node) |
| ``sessions/session/<id>`` | SessionActor (``nats``, ``nats-orders``: the NATS sessions) |
| ``algos`` | AlgoHostActor: the algo engine's session (child of the root) |
| ``risk/<rule>/<scope>`` | one risk rule (``scope``: an account, or ``global``) |
"""

from __future__ import annotations

import re

from actors.errors import PathTokenError

_BAD_TOKEN = re.compile(r"[/*\s]")
MAX_TOKEN_LENGTH = 128
"""Longest token, characters (as a NATS subject token, transport/cluster/subjects.py)."""

ORDERS = "orders"
ACCOUNTS = "accounts"
MARKET = "market"
SESSIONS = "sessions"
RISK = "risk"
GROUP_CHILD = "group"
"""Prefix of a group's name under ``market`` (``group/<group>``)."""
SESSION_CHILD = "session"
"""Prefix of a session's name under ``sessions`` (``session/<id>``)."""


def is_token(value: str) -> bool:
    """Return whether ``value`` is a valid single path token (see :func:`token`)."""
    return bool(value) and len(value) <= MAX_TOKEN_LENGTH and not _BAD_TOKEN.search(value)


def token(value: str) -> str:
    """Return ``value`` if it is a valid single path token.

    Raises:
        PathTokenError: empty, over 128 characters, or containing ``/``, ``*`` or whitespace.
    """
    if not is_token(value):
        raise PathTokenError(value)
    return value


def _one_after(path: str, prefix: str) -> str | None:
    rest = path[len(prefix):] if path.startswith(prefix) else ""
    return rest if is_token(rest) else None


# -- orders/<account>, accounts/<account>

def orders_path(account: str) -> str:
    """``orders/<account>``: the order actor of one account."""
    return f"{ORDERS}/{token(account)}"


def orders_account(path: str) -> str | None:
    """Return the account of an ``orders/<account>`` path, else None."""
    return _one_after(path, ORDERS + "/")


def accounts_path(account: str) -> str:
    """``accounts/<account>``: the account actor (positions, P&L) of one account."""
    return f"{ACCOUNTS}/{token(account)}"


def accounts_account(path: str) -> str | None:
    """Return the account of an ``accounts/<account>`` path, else None."""
    return _one_after(path, ACCOUNTS + "/")


# -- market/group/<group>

def group_child(group: str) -> str:
    """``group/<group>``: a group's name under the market supervisor."""
    return f"{GROUP_CHILD}/{token(group)}"


def group_path(group: str) -> str:
    """``market/group/<group>``: the aggregator of one group, ``market/group/rb``."""
    return f"{MARKET}/{group_child(group)}"


def group_of_child(name: str) -> str | None:
    """Return the group of a market child's name (``group/rb`` → ``rb``), else None."""
    return _one_after(name, GROUP_CHILD + "/")


def group_of(path: str) -> str | None:
    """Return the group of an aggregator's path (``market/group/rb`` → ``rb``), else None (globs too)."""
    return _one_after(path, f"{MARKET}/{GROUP_CHILD}/")


# -- sessions/session/<id>

def session_child(session_id: int | str) -> str:
    """``session/<id>``: a session's name under the sessions supervisor."""
    return f"{SESSION_CHILD}/{token(str(session_id))}"


def session_path(session_id: int | str) -> str:
    """``sessions/session/<id>``: one socket's session actor, ``sessions/session/7``."""
    return f"{SESSIONS}/{session_child(session_id)}"


def session_of(path: str) -> str | None:
    """Return the id of a session's path (``sessions/session/7`` → ``"7"``), else None (globs too)."""
    return _one_after(path, f"{SESSIONS}/{SESSION_CHILD}/")


ALGO_HOST_CHILD = "algos"
"""The algo engine's session, a child of the root (actors/sessions/algo_host.py)."""
ALGO_HOST_PATH = ALGO_HOST_CHILD
"""``algos``: where sessions forward algo commands, and whose replies the algos' child orders get."""


# -- risk/<rule>/<scope>

def rule_child(rule: str, scope: str) -> str:
    """``<rule>/<scope>``: a rule instance's name under the risk supervisor."""
    return f"{token(rule)}/{token(scope)}"


def rule_path(rule: str, scope: str) -> str:
    """``risk/<rule>/<scope>``: one rule instance, ``risk/order_flow/acct-01``."""
    return f"{RISK}/{rule_child(rule, scope)}"


def rule_of(path: str) -> tuple[str, str] | None:
    """Return ``(rule, scope)`` of a rule instance's path, else None."""
    parts = path.split("/")
    if len(parts) != 3 or parts[0] != RISK or not (is_token(parts[1]) and is_token(parts[2])):
        return None
    return parts[1], parts[2]


__all__ = [
    "ALGO_HOST_CHILD",
    "ALGO_HOST_PATH",
    "MAX_TOKEN_LENGTH",
    "PathTokenError",
    "accounts_account",
    "accounts_path",
    "group_child",
    "group_of",
    "group_of_child",
    "group_path",
    "is_token",
    "orders_account",
    "orders_path",
    "rule_child",
    "rule_of",
    "rule_path",
    "session_child",
    "session_of",
    "session_path",
    "token",
]
