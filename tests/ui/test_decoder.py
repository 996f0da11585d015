"""ui/capnp.js against pycapnp: frames written in Python decode in node, and back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.ui.ui_frames import (
    canonical,
    group_frame_bytes,
    group_info_bytes,
    pycapnp_dict,
    random_columns,
    run_node,
    segment_count,
    simple_bytes,
    with_far_root,
)

import schemas

ServerMessage = schemas.stream.ServerMessage
ClientMessage = schemas.stream.ClientMessage


def _decode_in_node(tmp_path, messages: dict[str, bytes], root: str = "ServerMessage") -> dict[str, dict]:
    files = []
    for name, buf in messages.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(buf)
        files.append(str(path))
    results = run_node("decode", root, *files)
    return {name: result for name, result in zip(messages, results, strict=True)}


@pytest.mark.parametrize("n_rows", [0, 1, 130, 5000])
@pytest.mark.parametrize("kind", ["snapshot", "delta"])
def test_group_frame_when_decoded_in_node_then_matches_pycapnp_field_by_field(tmp_path, n_rows, kind):
    """A groupFrame of 0–5,000 rows decodes in JS to the same fields and columns pycapnp reads."""
    columns = random_columns(n_rows, seed=n_rows)
    buf = group_frame_bytes(columns, kind=kind, seq=2**63 + 7)
    decoded = _decode_in_node(tmp_path, {"frame": buf})["frame"]

    assert decoded["ok"], decoded
    value = canonical(decoded["value"])
    assert value == pycapnp_dict(buf, ServerMessage)
    frame = value["groupFrame"]
    assert (frame["kind"], frame["seq"], frame["group"]) == (kind, 2**63 + 7, "rb")
    for name, expected in columns.items():
        got = np.array([np.nan if item == "NaN" else item for item in frame["rows"][name]], dtype=expected.dtype)
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_group_frame_of_5000_rows_when_written_then_spans_segments_with_far_pointers():
    """The 5,000-row frame used above is multi-segment, so far pointers are exercised."""
    buf = group_frame_bytes(random_columns(5000, seed=1))

    assert segment_count(buf) > 1


@pytest.mark.parametrize("double", [False, True], ids=["far", "double_far"])
def test_message_when_root_is_behind_a_far_pointer_then_decodes_like_pycapnp(tmp_path, double):
    """Single- and double-far root pointers (hand-built) decode identically in JS and pycapnp."""
    plain = group_frame_bytes(random_columns(20, seed=3))
    buf = with_far_root(plain, double=double)
    decoded = _decode_in_node(tmp_path, {"frame": buf})["frame"]

    assert decoded["ok"], decoded
    assert canonical(decoded["value"]) == pycapnp_dict(buf, ServerMessage) == pycapnp_dict(plain, ServerMessage)


def test_group_info_error_pong_ack_when_decoded_in_node_then_match_pycapnp(tmp_path):
    """groupInfo (with non-ASCII names), error, pong and ack decode to pycapnp's values."""
    messages = {
        "info": group_info_bytes("rb", [f"rb{1801 + i}" for i in range(11)], version=3, first_index=0),
        "append": group_info_bytes("rb", ["rb1901"], version=4, first_index=11),
        "error": simple_bytes("error", correlation_id=5, code="unknownGroup", message="no group zz"),
        "pong": simple_bytes("pong", clientTsNs=-(2**62)),
        "ack": simple_bytes("ack", correlation_id=1, of="auth", detail=""),
    }
    decoded = _decode_in_node(tmp_path, messages)

    for name, buf in messages.items():
        assert decoded[name]["ok"], decoded[name]
        assert canonical(decoded[name]["value"]) == pycapnp_dict(buf, ServerMessage), name
    assert decoded["error"]["value"]["error"]["code"] == "unknownGroup"
    assert decoded["info"]["value"]["groupInfo"]["instruments"][0]["name"] == "螺纹钢1801"
    assert decoded["append"]["value"]["groupInfo"]["firstIndex"] == 11


def test_truncated_frame_when_decoded_in_node_then_raises_capnp_error(tmp_path):
    """A frame cut short is reported as CapnpError, not read past its end."""
    buf = group_frame_bytes(random_columns(130, seed=4))
    decoded = _decode_in_node(tmp_path, {"cut": buf[: len(buf) - 64], "odd": buf[:-3]})

    assert [decoded[name]["error"] for name in ("cut", "odd")] == ["CapnpError", "CapnpError"]


CLIENT_SPECS = [
    {"auth": {"token": "eyJhbGciOiJIUzI1NiJ9.e30.sig"}},
    {"subscribe": {"groups": ["rb", "m_o", "螺纹"]}},
    {"subscribe": {"groups": []}},
    {"unsubscribe": {"groups": ["rb"]}},
    {"snapshotRequest": {"group": "rb"}},
    {"ping": {"clientTsNs": "1510534800123456789n"}},
]


def test_client_messages_when_built_in_node_then_pycapnp_reads_the_same_fields(tmp_path):
    """Every ClientMessage member built by the JS builder decodes in pycapnp with the given fields."""
    specs = []
    for index, body in enumerate(CLIENT_SPECS, start=1):
        env = {
            "id": f"{2**60 + index}n",
            "correlationId": "0n",
            "sentTsNs": f"{-index}n",
            "schemaVersion": schemas.SCHEMA_VERSION,
            "source": "web/tab",
        }
        specs.append({"root": "ClientMessage", "value": {**body, "envelope": env}})
    spec_file = tmp_path / "specs.json"
    spec_file.write_text(json.dumps(specs), encoding="utf-8")

    built = run_node("build", str(spec_file))

    for index, (hex_bytes, body) in enumerate(zip(built, CLIENT_SPECS, strict=True), start=1):
        decoded = pycapnp_dict(bytes.fromhex(hex_bytes), ClientMessage)
        (member,) = body
        assert decoded[member] == canonical(body[member])
        assert decoded["envelope"] == {
            "id": 2**60 + index,
            "correlationId": 0,
            "sentTsNs": -index,
            "schemaVersion": schemas.SCHEMA_VERSION,
            "source": "web/tab",
        }
