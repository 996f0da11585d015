"""transport/cluster/nats_orders.py without a NATS server: the order request's reading, its correlation header,
the outcomeUnknown reply an edge gives when the venue-host does not answer."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from actors import encode_actor_message
from actors.orders.codec import encode_order_command
from transport.cluster.nats_orders import (
    CORRELATION_HEADER,
    encode_unknown_reply,
    header_correlation_id,
    read_command,
)
from transport.edge.client import client_message, read_server_message


def test_read_command_when_submit_order_then_every_routing_field():
    """An orderCommand is read once for routing: session, user, client bytes, member, account, ids."""
    client = client_message(12, submitOrder={"clientOrderId": "c-1", "account": "acct-01", "vtSymbol": "rb1801.SHFE",
                                             "price": 3900.0, "volumeLots": 1.0})
    data = encode_order_command("sessions/session/7", "trader1", client, "sessions/session/7", correlation_id=99)

    assert read_command(data)[:8] == ("sessions/session/7", "trader1", client, "submitOrder", "acct-01", "c-1", 12, 99)


def test_read_command_when_status_request_then_no_client_order_id():
    """A status request names an account and no client order id."""
    client = client_message(3, orderStatusRequest={"account": "acct-02"})
    assert read_command(encode_order_command("s", "u", client, "s"))[3:7] == ("orderStatusRequest", "acct-02", "", 3)


@pytest.mark.parametrize("data", [
    encode_actor_message("crash", "x"),
    encode_order_command("s", "u", client_message(1, ping={"clientTsNs": 1}), "s"),
], ids=["not_order_command", "not_an_order"])
def test_read_command_when_not_an_order_command_then_value_error(data):
    """Anything but an order's orderCommand is refused with ValueError (the host answers malformed)."""
    with pytest.raises(ValueError, match="not an order"):
        read_command(data)


@pytest.mark.parametrize(("headers", "expected"), [
    ({CORRELATION_HEADER: "42"}, 42), (None, 0), ({CORRELATION_HEADER: "-1"}, 0), ({CORRELATION_HEADER: "x"}, 0),
    ({CORRELATION_HEADER: str(2**64)}, 0),
], ids=["id", "none", "negative", "text", "over_uint64"])
def test_header_correlation_id_when_header_given_then_uint64_or_zero(headers, expected):
    """The correlation header is a decimal UInt64; anything else reads as 0 (none)."""
    assert header_correlation_id(SimpleNamespace(headers=headers)) == expected


def test_encode_unknown_reply_when_built_then_outcome_unknown_without_vt_orderid():
    """The edge's own reply when the venue-host is silent: outcomeUnknown, quoting the client's id."""
    reply = read_server_message(encode_unknown_reply("acct-01", "c-1", 12, "nats-orders"))

    assert (reply["which"], reply["status"], reply["clientOrderId"], reply["account"]) == (
        "orderReply", "outcomeUnknown", "c-1", "acct-01")
    assert reply.get("vtOrderId", "") == "" and reply["envelope"]["correlationId"] == 12 and reply["decidedTsNs"] > 0
