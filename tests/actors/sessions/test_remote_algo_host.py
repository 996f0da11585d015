"""RemoteAlgoHostActor: on an edge node, the sessions' algo commands go unchanged to the NATS link."""

from __future__ import annotations

from actors import ActorRuntime, ChildSpec, Supervisor, start_root
from actors.orders.codec import encode_order_command
from actors.paths import ALGO_HOST_CHILD, ALGO_HOST_PATH
from actors.sessions.remote_algo_host import RemoteAlgoHostActor
from transport.edge.client import client_message


async def test_order_command_when_a_session_forwards_an_algo_command_then_its_bytes_go_to_forward_unchanged():
    """The actor at ``algos`` hands each orderCommand, byte for byte, to ``forward``; it counts them."""
    runtime = ActorRuntime()
    forwarded: list[bytes] = []
    start_root(runtime, Supervisor, {"children": [
        ChildSpec(ALGO_HOST_CHILD, RemoteAlgoHostActor, {"forward": forwarded.append})]})
    await runtime.wait_idle()
    data = encode_order_command("sessions/session/4", "trader1", client_message(
        3, stopAlgo={"jobId": "j-1", "account": "acct-01"}), "sessions/session/4", 7, ("acct-01",), False)
    assert runtime.tell_path(ALGO_HOST_PATH, data)
    await runtime.wait_idle()
    assert forwarded == [data]
    assert runtime.registry.entry(ALGO_HOST_PATH).instance.extra_statistics()["forwarded"] == 1
    runtime.shutdown()
