"""transport/cluster/nats_orders.py without a NATS server: the order request's reading, its correlation header,
the outcomeUnknown reply an edge gives when the venue-host does not answer, when a venue-host's reply goes out."""

from __future__ import annotations

import asyncio
import collections
from types import SimpleNamespace

import pytest

from actors import encode_actor_message
from actors.orders.codec import encode_order_command, encode_order_reply
from actors.orders.record import OrderRecord
from transport.cluster.nats_orders import (
    CORRELATION_HEADER,
    OrderHost,
    encode_unknown_reply,
    header_correlation_id,
    read_command,
)
from transport.cluster.order_stream import ReplicatedJournal
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


class _Bus:
    """A NatsBus stand-in: what the host publishes; stores wait until the test releases them."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []
        self.release = asyncio.Event()

    def publish_nowait(self, subject, data, headers=None) -> bool:
        self.published.append((subject, data))
        return True

    async def store(self, subject, data, msg_id, timeout_s=2.0) -> bool:
        await self.release.wait()
        return True


def _reply_of(client_order_id: str, correlation: int) -> bytes:
    record = OrderRecord(client_order_id, "acct-01", "rb1801.SHFE", "long", "open", "limit", 3900.0, 1.0, "",
                         "trader1", reply_status="accepted", vt_orderid="SIM.1", decided_ns=1, created_ns=1,
                         updated_ns=1)
    return encode_order_reply(record, correlation, "orders/acct-01")


async def test_order_host_reply_when_decided_row_stored_then_published_in_the_call_else_on_its_ack():
    """A venue-host answers a submit once the order's decided row is on the stream: at once (in the reply's own
    call) when its store is done, else from the store's completion, within one loop turn of the acknowledgement
    (a task and ``asyncio.wait`` in between cost loop turns, each behind the host's market work)."""
    bus = _Bus()
    host = OrderHost(SimpleNamespace(registry={}), bus)
    row = OrderRecord("o-2", "acct-01", "rb1801.SHFE", "long", "open", "limit", 3900.0, 1.0, "", "trader1",
                      state="sent", created_ns=1, updated_ns=1).row()
    host.replicated = ReplicatedJournal(SimpleNamespace(write_order_nowait=lambda row, **_: None), bus, "host-a",
                                        lambda: 4, ack_timeout_s=5.0)
    host.replicated.following = False
    for client_order_id, correlation in (("o-1", 7), ("o-2", 8)):
        host.pending[("submitOrder", "acct-01", client_order_id, correlation)] = collections.deque(
            [(f"_INBOX.{client_order_id}", 0.0)])
    host._on_reply(_reply_of("o-1", 7))   # nothing under way for o-1
    assert [subject for subject, _ in bus.published] == ["_INBOX.o-1"]
    host.replicated.write_order_nowait(row)
    host._on_reply(_reply_of("o-2", 8))
    await asyncio.sleep(0.01)
    assert len(bus.published) == 1   # o-2 waits for its row
    bus.release.set()
    for _ in range(3):   # the store's step, then at most one turn
        await asyncio.sleep(0)
        if len(bus.published) == 2:
            break
    assert [subject for subject, _ in bus.published] == ["_INBOX.o-1", "_INBOX.o-2"]
    assert host.replied == 2 and host.replies_unreplicated == 0 and not host.pending
