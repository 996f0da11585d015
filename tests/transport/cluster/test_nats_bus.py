"""NatsBus against a real nats-server: publish/subscribe, request-reply errors, JetStream audit."""

from __future__ import annotations

import asyncio

import nats.errors
import nats.js.errors
import pytest

from actors import encode_actor_message
from transport.cluster import subjects
from transport.cluster.nats_bus import NatsBus, NoRespondersError, RequestTimeoutError


@pytest.fixture
async def bus(nats_url):
    """A connected bus; closed (drained) at the end."""
    connected = NatsBus([nats_url], name="test")
    await connected.connect()
    try:
        yield connected
    finally:
        await connected.close()


async def test_publish_nowait_when_subscribed_then_same_bytes_in_order(bus):
    """Actors' queued publishes arrive in order with the bytes unchanged."""
    received: list[bytes] = []
    await bus.subscribe(subjects.md_agg("rb"), lambda msg: received.append(msg.data))
    payloads = [encode_actor_message("groupRestarted", f"rb{i}") for i in range(200)]
    for payload in payloads:
        assert bus.publish_nowait(subjects.md_agg("rb"), payload)
    async with asyncio.timeout(5):
        while len(received) < len(payloads):
            await asyncio.sleep(0.005)
    assert received == payloads
    assert bus.statistics().published >= 200


async def test_publish_nowait_when_queue_full_then_dropped_and_counted(nats_url):
    """Past max_queued, publish_nowait drops and counts instead of growing memory."""
    small = NatsBus([nats_url], name="small", max_queued=10)
    await small.connect()
    try:
        accepted = [small.publish_nowait("ops.flood", b"x") for _ in range(25)]
        assert accepted.count(False) == 15
        assert small.statistics().dropped == 15
    finally:
        await small.close()


async def test_request_when_served_then_reply_bytes(bus):
    """Request-reply returns the responder's bytes."""
    async def serve(msg):
        await msg.respond(b"reply:" + msg.data)

    await bus.subscribe(subjects.order_submit("acct-1"), serve)
    assert await bus.request(subjects.order_submit("acct-1"), b"order", timeout_s=2) == b"reply:order"


async def test_request_when_nobody_serves_then_no_responders_not_timeout(bus):
    """No subscriber is reported as NoRespondersError, distinct from a timeout."""
    with pytest.raises(NoRespondersError) as caught:
        await bus.request(subjects.order_submit("nobody"), b"order", timeout_s=2)
    assert not isinstance(caught.value, TimeoutError)


async def test_request_when_responder_silent_then_request_timeout(bus):
    """A subscriber that never answers gives RequestTimeoutError (also a TimeoutError)."""
    await bus.subscribe(subjects.order_submit("silent"), lambda msg: None)
    with pytest.raises(TimeoutError):
        await bus.request(subjects.order_submit("silent"), b"order", timeout_s=0.2)


async def test_audit_when_same_msg_id_twice_then_stored_once(bus):
    """The AUDIT stream stores a command once per Nats-Msg-Id (client order id)."""
    await bus.ensure_audit_stream()
    assert await bus.audit("audit.order.acct-1", b"submit", msg_id="coid-1") is True
    assert await bus.audit("audit.order.acct-1", b"submit", msg_id="coid-1") is False
    assert await bus.audit("audit.order.acct-1", b"submit", msg_id="coid-2") is True
    assert await bus.audit_count() == 2


async def test_store_when_the_stream_has_no_leader_for_a_moment_then_retried_and_stored_once(bus):
    """A stream publish answered "no responders" / "no stream response" (its leader's server just died, a new one
    not yet elected: here the stream does not exist yet for 0.3 s) is tried again within the timeout instead of
    failing the write-ahead of an order at once; the same Nats-Msg-Id keeps a retry from storing twice."""
    async def stream_appears() -> None:
        await asyncio.sleep(0.3)
        await bus.ensure_stream("RETRIED", ["retried.>"])

    appearing = asyncio.create_task(stream_appears())
    assert await bus.store("retried.a", b"row", msg_id="a-1", timeout_s=3.0) is True
    await appearing
    assert bus.statistics().store_retries >= 1
    assert await bus.store("retried.a", b"row", msg_id="a-1", timeout_s=3.0) is False
    assert await bus.stream_last_seq("RETRIED") == 1


async def test_store_when_no_stream_ever_then_refused_within_its_timeout(bus):
    """Retries stop at the timeout: the caller gets the error (the order is then refused, never sent)."""
    with pytest.raises((nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError, nats.errors.TimeoutError)):
        await bus.store("nostream.a", b"row", msg_id="n-1", timeout_s=0.5)


async def test_connect_when_no_server_then_connection_error():
    """No reachable seed is a ConnectionError, quickly."""
    with pytest.raises(ConnectionError):
        await NatsBus(["nats://127.0.0.1:1"], name="none").connect(timeout_s=0.5)


async def test_store_when_the_acknowledgement_comes_then_returns_within_one_loop_turn():
    """``store`` waits on the acknowledgement's own future (nats-py ``publish_async``), not through JetStream
    ``publish``'s ``asyncio.wait_for``: it returns within one loop turn of the acknowledgement resolving (each turn
    of a venue-host's loop waits behind its market work; two stores precede every NATS order's reply)."""
    from types import SimpleNamespace

    acknowledgement: asyncio.Future = asyncio.get_running_loop().create_future()

    class JetStream:   # nats-py's JetStreamContext as the bus uses it: either publish ends on the same future
        async def publish_async(self, subject, payload=b"", wait_stall=None, stream=None, headers=None):
            return acknowledgement

        async def publish(self, subject, payload=b"", timeout=None, stream=None, headers=None):
            return await asyncio.wait_for(acknowledgement, timeout)   # as nats-py's request awaits its reply

    bus = NatsBus(["nats://127.0.0.1:1"], name="fake")
    bus._js = JetStream()
    storing = asyncio.create_task(bus.store("journal.order.a.b", b"row", "a:b:1:1"))
    for _ in range(3):
        await asyncio.sleep(0)
    acknowledgement.set_result(SimpleNamespace(duplicate=False))
    turns = 0
    while not storing.done() and turns < 10:
        await asyncio.sleep(0)
        turns += 1
    assert storing.done() and storing.result() is True and turns <= 1
