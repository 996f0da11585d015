"""A user's own watchlist group (issue 8): its name and its limits.

Each user may keep one watchlist group, ``watch-<user>``, edited from the
page with ``watchlistUpdate`` (schemas/stream.capnp @12): the session checks
the request, the ``market-source`` actor has the vn.py bridge apply it
(transport/venue/watchlists.py) and the group then runs like any other, a
GroupActor at ``market/group/watch-<user>``. The ``watch-`` prefix is
reserved: a group with it is seen only by its owner and by admins
(``transport.signin.auth.Principal.may_see_group``).
"""

from __future__ import annotations

import hashlib
import re

WATCHLIST_PREFIX = "watch-"
"""Name prefix of every user's watchlist group; groups of other kinds never carry it."""
MAX_WATCHLIST = 200
"""Most contracts in one user's watchlist group; an edit going past it is refused whole (limitExceeded)."""
MAX_VT_SYMBOL_BYTES = 64
"""Longest vt_symbol a client may send (watchlistUpdate, subscribeTicks, orders), UTF-8 bytes (``malformed`` past it)."""
MAX_GROUP_NAME_CHARS = 64
"""Longest group name a client may send (transport.edge.limits ``max_name_chars`` default)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_DIGEST_CHARS = 12


def vt_symbol_fits(vt_symbol: str) -> bool:
    """Return whether a vt_symbol (``"rb1801.SHFE"``) is 1..:data:`MAX_VT_SYMBOL_BYTES` (64) UTF-8 bytes.

    The one bound every door checks: the socket gateway, the session and the order actor's validity rule.
    """
    return 1 <= len(vt_symbol.encode()) <= MAX_VT_SYMBOL_BYTES


def watchlist_group(user: str) -> str:
    """Return the name of ``user``'s watchlist group, ``"watch-<user>"``, one per user.

    A ``sub`` of ``A-Z a-z 0-9 _ -`` that fits is kept as it is
    (``"trader1"`` → ``"watch-trader1"``). Any other is made safe (other
    characters become ``_``), cut to fit :data:`MAX_GROUP_NAME_CHARS`, and
    ends with 12 hex digits of the SHA-256 of ``user``
    (``"desk.ops@bank"`` → ``"watch-desk_ops_bank-<12 hex>"``), so ``"a.b"``
    and ``"a_b"`` get different groups: two users never share one (short of
    a SHA-256 collision, or an issuer handing out a ``sub`` that ends in
    another's digest). The name is one NATS subject token and a valid group name.

    Args:
        user: the JWT ``sub`` (1–128 characters, transport.signin.auth checks it).

    Returns:
        7–64 characters of ``A-Z a-z 0-9 _ -``.
    """
    name = WATCHLIST_PREFIX + user
    if not _UNSAFE.search(user) and len(name) <= MAX_GROUP_NAME_CHARS:
        return name
    digest = hashlib.sha256(user.encode()).hexdigest()[:_DIGEST_CHARS]
    safe = WATCHLIST_PREFIX + _UNSAFE.sub("_", user)
    return safe[: MAX_GROUP_NAME_CHARS - _DIGEST_CHARS - 1] + "-" + digest


def is_watchlist_group(group: str) -> bool:
    """Return whether ``group`` names a user's watchlist group (the ``watch-`` prefix)."""
    return group.startswith(WATCHLIST_PREFIX)


__all__ = ["MAX_VT_SYMBOL_BYTES", "MAX_WATCHLIST", "WATCHLIST_PREFIX", "is_watchlist_group", "vt_symbol_fits",
           "watchlist_group"]
