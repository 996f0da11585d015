"""A user's named watchlists in the browser's code (ui/named_lists.js), run in node."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ui.ui_frames import run_node_script

HARNESS = Path(__file__).resolve().parent / "named_lists_harness.mjs"


def _run(tmp_path: Path, *steps) -> dict:
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"steps": [list(step) for step in steps]}), encoding="utf-8")
    return run_node_script(HARNESS, str(path))


def test_named_lists_when_a_star_adds_to_the_active_list_then_the_group_holds_it_and_the_list_is_saved(tmp_path):
    """With a list chosen a star adds to it (and to the group); the list is saved with its symbols."""
    result = _run(tmp_path, ("create", "spreads"), ("toggle", "rb1805.SHFE"))
    assert result["lists"] == {"spreads": ["rb1805.SHFE"]} and result["active"] == "spreads"
    assert result["group"] == ["rb1805.SHFE"]
    assert result["puts"][-1] == ["watchlists", "spreads", ["rb1805.SHFE"]]


def test_named_lists_when_the_saved_document_arrives_after_local_edits_then_the_edits_are_kept(tmp_path):
    """The prefs document read before the page's own edits landed (a sign-in's read answered late, or read
    again) must not undo them: a list made, changed or deleted here keeps this page's version; lists the page
    never touched come from the document. Before the fix a late document emptied "spreads" (the symptom of
    one CI failure of the named watchlists browser test)."""
    result = _run(tmp_path, ("create", "spreads"), ("toggle", "rb1805.SHFE"), ("create", "old"), ("remove", "old"),
                  ("use", "spreads"), ("load", {"spreads": {"symbols": []}, "old": {"symbols": ["cu1801.SHFE"]},
                                                "night": {"symbols": ["m1801.DCE"]}}))
    assert result["lists"] == {"night": ["m1801.DCE"], "spreads": ["rb1805.SHFE"]}
    assert result["active"] == "spreads"


def test_named_lists_when_signed_out_then_a_new_sign_in_takes_the_document_as_it_is(tmp_path):
    """reset() (log-out) forgets the page's edits: the next user's document is taken whole."""
    result = _run(tmp_path, ("create", "spreads"), ("toggle", "rb1805.SHFE"), ("reset",),
                  ("load", {"spreads": {"symbols": []}}))
    assert result["lists"] == {"spreads": []} and result["active"] is None
