"""Every subject from one builder; tokens from data cannot change a subject's shape."""

from __future__ import annotations

import pytest

from transport.cluster import subjects
from transport.cluster.subjects import SubjectTokenError


def test_builders_when_tokens_valid_then_design_subjects():
    """The builders spell the subjects listed in transport/README.md."""
    assert subjects.md_tick("SHFE", "rb1801") == "md.tick.SHFE.rb1801"
    assert subjects.md_batch("SHFE", "rb") == "md.batch.SHFE.rb"
    assert subjects.md_agg("rb") == "md.agg.33ms.rb"
    assert subjects.md_snap("m_o") == "md.snap.m_o"
    assert subjects.acct_status("t1") == "acct.status.1s.t1"
    assert subjects.acct_risk("t1") == "acct.risk.1s.t1"
    assert subjects.risk_event("acct-07") == "risk.event.acct-07"
    assert subjects.order_submit("acct-07") == "order.submit.acct-07"
    assert subjects.order_update("acct-07") == "order.update.acct-07"
    assert subjects.algo_progress("job9") == "algo.progress.1s.job9"
    assert subjects.ops("shards") == "ops.shards"


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` the rest (at least one token)."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for i, part in enumerate(wanted):
        if part == ">":
            return len(tokens) > i
        if i >= len(tokens) or (part != "*" and part != tokens[i]):
            return False
    return len(tokens) == len(wanted)


@pytest.mark.parametrize("groups", [(), ("rb", "rb1801")])
def test_batch_subscriptions_when_contracts_are_followed_then_no_detail_tick_matches(groups):
    """An aggregator's batch subscriptions (every group, or named ones, even a group named like a symbol) never
    take a followed contract's detail ticks: before, both were ``md.tick.<ex>.<x>`` and an every-group
    aggregator took each detail tick as a batch of an unknown group and asked its resync."""
    patterns = subjects.md_batch_subscriptions(groups)
    assert all(_matches(p, subjects.md_batch("SHFE", g)) for p, g in zip(patterns, groups or ("rb",)))
    assert not any(_matches(p, subjects.md_tick("SHFE", "rb1801")) for p in patterns)


@pytest.mark.parametrize("bad", ["", "a.b", "*", ">", "a b", "x" * 129, "tab\t"])
def test_token_when_it_would_change_the_subject_then_refused(bad):
    """Dots, wildcards, whitespace, empty and overlong tokens are refused."""
    with pytest.raises(SubjectTokenError):
        subjects.md_agg(bad)
