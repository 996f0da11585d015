"""PrefsStore: one atomic file per user, names and users that cannot escape, a torn file read as empty."""

from __future__ import annotations

import pytest

from transport.errors import PrefsError
from transport.process.prefs_store import PrefsStore


def test_put_when_written_then_no_temporary_left_and_file_per_user(tmp_path):
    """A put leaves one file per user in the folder and no temporary file."""
    store = PrefsStore(tmp_path / "prefs")
    store.put("trader1", "watchlists", "spreads", {"symbols": ["rb1801.SHFE"]})
    store.put("a/../b", "layouts", "x", {})
    names = sorted(p.name for p in (tmp_path / "prefs").iterdir())
    assert len(names) == 2 and all(n.endswith(".json") and "/" not in n for n in names)
    assert store.get("trader1", "watchlists", "spreads") == {"symbols": ["rb1801.SHFE"]}


def test_document_when_file_torn_then_empty_and_next_put_replaces_it(tmp_path):
    """A file that is not JSON reads as no preferences; the next put writes a whole document."""
    store = PrefsStore(tmp_path)
    store.put("trader1", "layouts", "x", {"a": 1})
    next(tmp_path.glob("*.json")).write_text('{"layouts": {"x": ')
    assert store.document("trader1")["layouts"] == {}
    store.put("trader1", "layouts", "y", {"b": 2})
    assert store.document("trader1")["layouts"] == {"y": {"b": 2}}


def test_put_when_user_document_past_bound_then_refused_and_kept(tmp_path):
    """Items each within bounds but together past the user's bound are refused with 413; earlier ones stay."""
    store = PrefsStore(tmp_path)
    blob = {"b": "x" * (30 * 1024)}
    stored = 0
    with pytest.raises(PrefsError) as refused:
        for index in range(20):
            store.put("trader1", "layouts", f"l{index}", blob)
            stored += 1
    assert refused.value.status == 413 and stored >= 7
    assert len(store.document("trader1")["layouts"]) == stored
