"""schemas/jslayout.py: the browser's schema layout is generated and up to date."""

from __future__ import annotations

import subprocess
import sys

import schemas
from schemas import jslayout
from tests.ui.ui_frames import REPO


def test_committed_layout_when_checked_then_matches_the_schemas():
    """`python -m schemas.jslayout --check` exits 0: ui/schema_layout.js is current."""
    completed = subprocess.run(
        [sys.executable, "-m", "schemas.jslayout", "--check"], cwd=REPO, capture_output=True, text=True, timeout=60
    )

    assert completed.returncode == 0, completed.stderr


def test_layout_when_stale_then_check_exits_1(tmp_path):
    """--check fails on a file that differs from what the schemas generate."""
    stale = tmp_path / "schema_layout.js"
    stale.write_text(jslayout.render_layout().replace('"dataWords": 1', '"dataWords": 9', 1), encoding="utf-8")

    assert jslayout.main(["--check", "--output", str(stale)]) == 1
    assert jslayout.main(["--check", "--output", str(tmp_path / "missing.js")]) == 1


def test_layout_when_built_then_offsets_agree_with_pycapnp():
    """Union discriminants, pointer slots and byte offsets come from pycapnp's schema nodes."""
    structs = jslayout.build_layout()["structs"]

    server = structs["ServerMessage"]
    assert server["union"][:5] == ["groupFrame", "groupInfo", "ack", "error", "pong"]  # append-only
    assert server["fields"]["envelope"] == {"kind": "struct", "struct": "Envelope", "pointer": 1}
    frame = structs["GroupFrame"]
    assert frame["fields"]["seq"] == {"kind": "uint64", "byteOffset": 0}
    assert frame["fields"]["kind"]["enum"] == "FrameKind"
    proto = schemas.market.GroupFrame.schema.fields["windowMs"].proto
    assert frame["fields"]["windowMs"]["byteOffset"] == proto.slot.offset * 2
    assert jslayout.render_layout() == jslayout.render_layout()
