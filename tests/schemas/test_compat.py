"""The schema compatibility gate: the current schemas read every kept release, and the gate catches breaks."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

import schemas
from schemas import compat


@pytest.fixture(scope="module")
def current_layout() -> dict:
    return compat.layout_of(schemas.SCHEMA_DIR)


def _mutated(tmp_path: Path, file: str, *edits: str) -> Path:
    """A copy of the schema folder with ``file`` edited by (pattern, replacement) pairs."""
    folder = tmp_path / "schemas"
    shutil.copytree(schemas.SCHEMA_DIR, folder, ignore=shutil.ignore_patterns("*.py", "compat", "__pycache__"))
    text = (folder / file).read_text()
    for old, new in zip(edits[::2], edits[1::2]):
        assert re.search(old, text), f"{old!r} not in {file}"
        text = re.sub(old, new, text, count=1)
    (folder / file).write_text(text)
    return folder


def test_current_schemas_when_checked_against_every_kept_release_then_compatible():
    """Every kept release's layout is a prefix of today's, and its fixture messages read back unchanged."""
    assert compat.releases(), "no release kept in schemas/compat/"
    assert compat.check() == []


def test_fixtures_when_read_then_cover_every_union_member_of_the_release():
    """The newest release keeps a message per union member of ServerMessage, ClientMessage and ActorMessage."""
    newest = compat.releases()[-1]
    messages = json.loads((newest / "messages.json").read_text())
    members = {(m["struct"], m["member"]) for m in messages}
    layout = json.loads((newest / "layout.json").read_text())
    for node in layout.values():
        if node["name"] in ("stream.capnp:ServerMessage", "stream.capnp:ClientMessage", "actor.capnp:ActorMessage"):
            union = {f["name"] for f in node["fields"] if f["discriminant"] != 65535}
            assert union and union <= {member for struct, member in members if struct == node["name"]}


def test_gate_when_a_field_is_renumbered_then_fails_naming_the_field(tmp_path, current_layout):
    """Swapping two fields' ordinals is reported with the struct, field name and ordinal."""
    folder = _mutated(tmp_path, "orders.capnp", r"price @6 :Float64;(.*)\n(\s*)volumeLots @7",
                      r"price @7 :Float64;\1\n\2volumeLots @6")
    problems = compat.compare_layouts(current_layout, compat.layout_of(folder))
    assert any(p.startswith("orders.capnp:SubmitOrder.price @6: renamed to 'volumeLots'") for p in problems), problems


def test_gate_when_a_field_is_retyped_then_fails_naming_both_types(tmp_path, current_layout):
    """Float64 → Float32 is reported as a retype of that field."""
    folder = _mutated(tmp_path, "orders.capnp", r"price @6 :Float64;", "price @6 :Float32;")
    problems = compat.compare_layouts(current_layout, compat.layout_of(folder))
    assert "orders.capnp:SubmitOrder.price @6: retyped from float64 to float32" in problems


def test_gate_when_the_last_field_is_removed_then_fails(tmp_path, current_layout):
    """Dropping SubmitOrder.reference (its last field) is reported as removed."""
    folder = _mutated(tmp_path, "orders.capnp", r"\n\s*reference @8 :Text;[^\n]*", "")
    problems = compat.compare_layouts(current_layout, compat.layout_of(folder))
    assert "orders.capnp:SubmitOrder.reference @8: removed" in problems


def test_gate_when_enumerants_are_swapped_then_fails(tmp_path, current_layout):
    """Two enumerants trading numbers is reported for each."""
    folder = _mutated(tmp_path, "orders.capnp", r"filled @3;(.*)\n(\s*)cancelled @4;", r"filled @4;\1\n\2cancelled @3;")
    problems = compat.compare_layouts(current_layout, compat.layout_of(folder))
    assert "orders.capnp:OrderState.filled = 3: now 'cancelled' has that number" in problems


def test_gate_when_fields_are_appended_then_passes(tmp_path, current_layout):
    """A new field with the next ordinal and a new enumerant at the end are compatible."""
    folder = _mutated(tmp_path, "orders.capnp", r"reference @8 :Text;", "reference @8 :Text;\n  extra @9 :UInt32;",
                      r"outcomeUnknown @6;", "outcomeUnknown @6;\n  later @7;")
    assert compat.compare_layouts(current_layout, compat.layout_of(folder)) == []


def test_read_problems_when_a_value_reads_differently_then_names_the_field():
    """A fixture whose recorded value differs from what the bytes decode to is reported at that field."""
    message = json.loads((compat.releases()[-1] / "messages.json").read_text())[0]
    message = json.loads(json.dumps(message))
    key = next(k for k, v in message["expected"][message["member"]].items() if isinstance(v, str)) \
        if isinstance(message["expected"].get(message["member"]), dict) else None
    if key is None:
        message["expected"]["envelope"]["source"] = "not what was written"
        where = ".envelope.source"
    else:
        message["expected"][message["member"]][key] = "not what was written"
        where = f".{message['member']}.{key}"
    problems = compat.read_problems([message])
    assert len(problems) == 1 and where in problems[0]


def test_layout_of_when_schemas_do_not_compile_then_raises(tmp_path):
    """A broken schema folder is an error carrying the compiler's message, not an empty layout."""
    folder = _mutated(tmp_path, "orders.capnp", r"price @6 :Float64;", "price @6 :NoSuchType;")
    with pytest.raises(RuntimeError, match="NoSuchType"):
        compat.layout_of(folder)
