"""transport/edge/inbound.py: every client frame is decoded and checked once, hostile bytes become refusals."""

from __future__ import annotations

import pytest

from transport.edge.client import client_message
from transport.edge.inbound import check_group_name, order_target, read_client_frame
from transport.edge.limits import SocketLimits
from transport.errors import FrameRefusedError

LIMITS = SocketLimits()


def _refusal(data: bytes) -> tuple[str, int]:
    with pytest.raises(FrameRefusedError) as caught:
        read_client_frame(data, LIMITS)
    return caught.value.code, caught.value.correlation


def test_read_client_frame_when_valid_then_member_correlation_token_and_groups():
    """Valid frames keep what the socket server needs: the token of auth, the groups of subscribe."""
    auth = read_client_frame(client_message(3, auth={"token": "t.o.k"}), LIMITS)
    subscribe = read_client_frame(client_message(4, subscribe={"groups": ["rb", "m_o", "watch-t1"]}), LIMITS)
    ping = read_client_frame(client_message(5, ping={"clientTsNs": 1}), LIMITS)

    assert (auth.member, auth.correlation, auth.token) == ("auth", 3, "t.o.k")
    assert subscribe.groups == ("rb", "m_o", "watch-t1") and (ping.member, ping.groups) == ("ping", ())


@pytest.mark.parametrize(("member", "code"), [
    ({"subscribe": {"groups": ["rb", "bad group"]}}, "malformed"),
    ({"subscribe": {"groups": ["x" * 65]}}, "tooLarge"),
    ({"subscribe": {"groups": [f"g{i}" for i in range(65)]}}, "limitExceeded"),
    ({"snapshotRequest": {"group": ""}}, "malformed"),
    ({"auth": {"token": "t" * (8 * 1024 + 1)}}, "tooLarge"),
    ({"subscribeTicks": {"vtSymbols": []}}, "malformed"),
    ({"watchlistUpdate": {"add": ["x" * 65], "remove": []}}, "malformed"),
    ({"watchlistUpdate": {"add": [f"c{i}.X" for i in range(40)], "remove": [f"d{i}.X" for i in range(40)]}},
     "limitExceeded"),
], ids=["charset", "name_size", "group_list", "empty_group", "token_size", "no_contract", "vt_symbol_size",
        "contract_list"])
def test_read_client_frame_when_contents_break_a_limit_then_refused_with_its_code_and_id(member, code):
    """Valid-but-wrong frames are refused with the table's code and the frame's envelope id."""
    assert _refusal(client_message(9, **member)) == (code, 9)


def test_read_client_frame_when_source_too_long_then_too_large():
    """The envelope's source is client text too: over max_text_chars is tooLarge."""
    assert _refusal(client_message(2, source="s" * 257, ping={"clientTsNs": 1})) == ("tooLarge", 2)


@pytest.mark.parametrize("data", [b"", b"\x00" * 7, b"\xff" * 64, client_message(1, ping={"clientTsNs": 1})[:-9]],
                         ids=["empty", "short", "garbage", "truncated"])
def test_read_client_frame_when_bytes_are_hostile_then_malformed_never_raised_past(data):
    """Undecodable bytes become ``malformed``; no other exception escapes."""
    assert _refusal(data)[0] == "malformed"


def test_order_target_when_order_frames_then_account_and_client_order_id():
    """An accepted order frame names its account and client order id (none for a status request)."""
    submit = client_message(7, submitOrder={"clientOrderId": "c-1", "account": "acct-01", "vtSymbol": "rb1801.SHFE",
                                            "price": 3900.0, "volumeLots": 1.0})
    status = client_message(8, orderStatusRequest={"account": "acct-02"})

    assert order_target(submit, read_client_frame(submit, LIMITS), LIMITS) == ("acct-01", "c-1")
    assert order_target(status, read_client_frame(status, LIMITS), LIMITS) == ("acct-02", None)


def test_check_group_name_when_valid_or_not_then_passes_or_refuses():
    """Group names: 1..max_name_chars of A-Z a-z 0-9 _ . -."""
    check_group_name("SHFE.rb-1_x", LIMITS)
    with pytest.raises(FrameRefusedError, match="group name"):
        check_group_name("rb/1", LIMITS, 4)
