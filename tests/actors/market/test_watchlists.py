"""The name of a user's watchlist group."""

from __future__ import annotations

import re

from actors.market.watchlists import MAX_GROUP_NAME_CHARS, is_watchlist_group, watchlist_group
from transport.cluster.subjects import token


def test_watchlist_group_when_user_is_safe_then_prefixed_as_is():
    """A sub of letters, digits, ``_`` and ``-`` is kept: ``trader1`` → ``watch-trader1``."""
    assert watchlist_group("trader1") == "watch-trader1"
    assert watchlist_group("Desk_A-2") == "watch-Desk_A-2"


def test_watchlist_group_when_user_has_other_characters_then_underscores_and_a_digest_keep_users_apart():
    """Dots, @, spaces, NATS wildcards and non-ASCII letters become ``_``: one subject token, a valid group;
    the sub's digest keeps ``a.b``, ``a_b`` and ``a@b`` in three groups (the same name would share a watchlist)."""
    name = watchlist_group("desk.ops@bank *>é")
    assert re.fullmatch(r"watch-desk_ops_bank____-[0-9a-f]{12}", name)
    assert token(name) == name and is_watchlist_group(name)
    assert len({watchlist_group(user) for user in ("a.b", "a_b", "a@b")}) == 3


def test_watchlist_group_when_user_is_long_then_cut_to_64_with_a_digest_that_tells_users_apart():
    """A 128-character sub gives 64 characters ending in 12 hex digits of its hash; two such subs differ."""
    first, second = watchlist_group("u" * 127 + "1"), watchlist_group("u" * 127 + "2")
    assert len(first) == len(second) == MAX_GROUP_NAME_CHARS
    assert re.fullmatch(r"watch-u{45}-[0-9a-f]{12}", first) and first != second
    assert watchlist_group("u" * 58) == "watch-" + "u" * 58  # exactly 64: kept whole


def test_is_watchlist_group_when_product_or_config_group_then_false():
    """Product groups (``rb``, ``m_o``) and configured watchlists without the prefix are not users' groups."""
    assert not any(is_watchlist_group(g) for g in ("rb", "m_o", "front", "watch", "watchlist"))
