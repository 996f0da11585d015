"""actors/paths.py: one builder and one parser per actor path kind, tokens checked as NATS subject tokens are."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.errors import PathTokenError, TickstageError
from actors.paths import (
    accounts_account,
    accounts_path,
    group_child,
    group_of,
    group_of_child,
    group_path,
    is_token,
    orders_account,
    orders_path,
    rule_child,
    rule_of,
    rule_path,
    session_child,
    session_of,
    session_path,
    token,
)

BAD_TOKENS = ["", "a/b", "*", "a b", "a\tb", "x" * 129]
TOKENS = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/*"), min_size=1,
                 max_size=128).filter(lambda t: not any(c.isspace() for c in t))


def test_builders_when_given_tokens_then_paths_have_the_tree_shape():
    """Each builder gives the path the actor tree registers (actors/root.py, actors/orders/tree.py)."""
    assert orders_path("acct-01") == "orders/acct-01"
    assert accounts_path("acct-01") == "accounts/acct-01"
    assert group_child("rb") == "group/rb"
    assert group_path("rb") == "market/group/rb"
    assert session_child(7) == "session/7"
    assert session_path(7) == "sessions/session/7"
    assert session_path("nats-orders") == "sessions/session/nats-orders"
    assert rule_child("order_flow", "acct-01") == "order_flow/acct-01"
    assert rule_path("order_flow", "global") == "risk/order_flow/global"


@pytest.mark.parametrize("bad", BAD_TOKENS)
@pytest.mark.parametrize("builder", [orders_path, accounts_path, group_child, group_path, session_child,
                                     session_path, lambda t: rule_path(t, "global"),
                                     lambda t: rule_path("order_flow", t)])
def test_builders_when_token_is_bad_then_path_token_error_carries_it(builder, bad):
    """A token that would change the path's shape or make it a glob is refused, as a ValueError too."""
    with pytest.raises(PathTokenError) as raised:
        builder(bad)
    assert raised.value.token == bad
    assert isinstance(raised.value, TickstageError) and isinstance(raised.value, ValueError)
    assert not is_token(bad)


@given(TOKENS)
def test_parsers_when_given_a_built_path_then_return_its_token(value):
    """Every parser inverts its builder and refuses the other kinds."""
    assert token(value) == value
    assert orders_account(orders_path(value)) == value
    assert accounts_account(accounts_path(value)) == value
    assert group_of(group_path(value)) == value
    assert group_of_child(group_child(value)) == value
    assert session_of(session_path(value)) == value
    assert rule_of(rule_path(value, value)) == (value, value)
    assert orders_account(accounts_path(value)) is None
    assert group_of(orders_path(value)) is None
    assert rule_of(group_path(value)) is None


@pytest.mark.parametrize("path", ["market/group/", "market/group/*", "market/group/a/b", "market", "orders/x"])
def test_group_of_when_path_is_not_one_aggregator_then_none(path):
    """Globs, deeper paths and other kinds are no group (sim/harness/faults.py matches fault targets with it)."""
    assert group_of(path) is None
