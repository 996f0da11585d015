"""ui/capnp.js under hostile input: only CapnpError, no hang, no unbounded allocation."""

from __future__ import annotations

import struct

import pytest
from tests.ui.ui_frames import group_frame_bytes, group_info_bytes, random_columns, run_node, simple_bytes, with_far_root

FUZZ_RUNS = 40_000


def _corpus(tmp_path) -> list[str]:
    messages = {
        "empty_frame": group_frame_bytes(random_columns(0, 0)),
        "one_row_delta": group_frame_bytes(random_columns(1, 1), kind="delta"),
        "small_frame": group_frame_bytes(random_columns(20, 2)),
        "frame_130": group_frame_bytes(random_columns(130, 3)),
        "frame_5000": group_frame_bytes(random_columns(5000, 4)),
        "info": group_info_bytes("rb", ["rb1801", "rb1805", "rb1810"]),
        "far_root": with_far_root(group_frame_bytes(random_columns(20, 5)), double=False),
        "double_far_root": with_far_root(group_info_bytes("rb", ["rb1801"]), double=True),
        "error": simple_bytes("error", code="unknownGroup", message="no group zz"),
        "pong": simple_bytes("pong", clientTsNs=5),
    }
    paths = []
    for name, buf in messages.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(buf)
        paths.append(str(path))
    return paths


@pytest.mark.slow
def test_reader_when_fed_random_truncated_and_bit_flipped_frames_then_only_raises_capnp_error(tmp_path):
    """40,000 mutated frames (truncations, bit flips, forged pointers and segment tables) in one node run."""
    summary = run_node("fuzz", "20171113", str(FUZZ_RUNS), *_corpus(tmp_path))

    assert summary["failures"] == []
    assert summary["runs"] == FUZZ_RUNS
    assert summary["capnpErrors"] > 0 and summary["decoded"] > 0


def _message(*segments: bytes) -> bytes:
    table = struct.pack(f"<I{len(segments)}I", len(segments) - 1, *(len(s) // 8 for s in segments))
    return table + b"\0" * (-len(table) % 8) + b"".join(segments)


def _struct_pointer(offset: int, data_words: int, pointer_words: int) -> bytes:
    return struct.pack("<iHH", offset << 2, data_words, pointer_words)


def _list_pointer(offset: int, size_code: int, count: int) -> bytes:
    return struct.pack("<iI", (offset << 2) | 1, size_code | (count << 3))


def _amplifying_subscribe(n_pointers: int) -> bytes:
    """ClientMessage.subscribe whose n group-name pointers all point at one 1 KiB text."""
    text_words = 128
    words = [
        _struct_pointer(0, 1, 2),  # root ClientMessage: data 1, pointers 2
        struct.pack("<HHI", 1, 0, 0),  # discriminant 1 = subscribe
        _struct_pointer(1, 0, 1),  # union pointer → Subscribe (after envelope slot)
        b"\0" * 8,  # envelope: null
        _list_pointer(0, 6, n_pointers),  # Subscribe.groups
    ]
    first_element = len(words)
    text_at = first_element + n_pointers
    for index in range(n_pointers):
        words.append(_list_pointer(text_at - (first_element + index) - 1, 2, text_words * 8))
    words.append(b"a" * (text_words * 8 - 1) + b"\0")
    return _message(b"".join(words))


HOSTILE = {
    "huge_segment_count": struct.pack("<II", 0xFFFFFFFF, 0) + b"\0" * 8,
    "segment_larger_than_input": struct.pack("<II", 0, 0xFFFFFFFF) + b"\0" * 8,
    "zero_sized_struct_list_of_2_30": _message(
        _struct_pointer(0, 1, 2)
        + struct.pack("<HHI", 1, 0, 0)  # groupInfo
        + _struct_pointer(1, 1, 2)  # → GroupInfo
        + b"\0" * 8
        + b"\0" * 8  # GroupInfo data
        + b"\0" * 8  # GroupInfo.group
        + _list_pointer(0, 7, 0)  # GroupInfo.instruments: inline composite, 0 words
        + struct.pack("<II", ((1 << 30) - 1) << 2, 0)  # tag: 2^30-1 elements of size 0
    ),
    "far_pointer_to_missing_segment": _message(struct.pack("<II", 2, 7)),
    "pointer_list_amplifying_one_text": _amplifying_subscribe(2000),
    "root_pointing_before_segment": _message(_struct_pointer(-5, 1, 0)),
    "capability_pointer": _message(struct.pack("<II", 3, 0)),
}


HOSTILE_REASONS = {
    "huge_segment_count": "segments, limit 512",
    "segment_larger_than_input": "past the end of the message",
    "zero_sized_struct_list_of_2_30": "traversal limit exceeded",
    "far_pointer_to_missing_segment": "missing segment",
    "pointer_list_amplifying_one_text": "traversal limit exceeded",
    "root_pointing_before_segment": "outside segment 0",
    "capability_pointer": "capability",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_reader_when_given_a_crafted_hostile_message_then_raises_capnp_error(tmp_path, name):
    """Segment-table bombs, zero-size element floods and pointer amplification end in CapnpError."""
    path = tmp_path / f"{name}.bin"
    path.write_bytes(HOSTILE[name])
    root = "ClientMessage" if name.startswith("pointer_list") else "ServerMessage"

    (result,) = run_node("decode", root, str(path))

    assert (result["ok"], result.get("error")) == (False, "CapnpError"), result
    assert HOSTILE_REASONS[name] in result["message"]


def test_amplifying_message_when_small_then_decodes(tmp_path):
    """The hand-built pointer-list message is well formed: with 2 pointers it decodes fully."""
    path = tmp_path / "two.bin"
    path.write_bytes(_amplifying_subscribe(2))

    (result,) = run_node("decode", "ClientMessage", str(path))

    assert result["ok"], result
    assert result["value"]["subscribe"]["groups"] == ["a" * 1023] * 2
