"""RemoteGroupActor (an edge node's stand-in for a group led by an aggregator): what a local client sends it."""

from __future__ import annotations

import pytest

from actors import ActorRuntime, ChildSpec, Supervisor, start_root
from actors._envelope import encode_actor_message
from actors.errors import AskTimeoutError
from actors.market.remote_group import RemoteGroupActor


async def test_remote_group_when_a_page_sends_its_viewport_then_counted_and_not_refused():
    """The page sends ``viewport`` to its group on every scroll; on an edge node the group is a RemoteGroupActor,
    which takes it (counted, not forwarded: the aggregator's frames serve every edge) instead of refusing it with
    a ``failure`` (which its session refused in turn: a failure ping-pong)."""
    asked = []
    runtime = ActorRuntime()
    start_root(runtime, Supervisor, {"children": [ChildSpec("rb", RemoteGroupActor, {
        "group": "rb", "request_snapshot": asked.append})]})
    await runtime.wait_idle()
    try:
        viewport = encode_actor_message("viewport", {"group": "rb", "firstRow": 0, "rowCount": 20}, source="probe")
        with pytest.raises(AskTimeoutError):   # no answer at all, and no failure
            await runtime.ask("rb", viewport, timeout_s=0.3)
        actor = runtime.registry.entry("rb").instance
        assert actor.statistics().unknown == 0 and actor.extra_statistics()["viewports_ignored"] == 1
        assert asked == []   # nothing asked of the aggregator for it
    finally:
        runtime.shutdown()


async def test_remote_group_when_frames_arrive_from_nats_then_local_sessions_get_them_in_line_in_order():
    """An edge node's group hands each delta to its local session in-line (no actor message per session and
    frame), after the info the attach was answered with, every frame in order on the socket."""
    import asyncio

    import numpy as np

    from actors._envelope import encode_outbound
    from actors.market.frames import InstrumentInfo, encode_group_frame, encode_group_info
    from actors.market.supervisor import MarketSupervisor
    from actors.sessions.session import SessionActor, SessionState
    from actors.sessions.supervisor import SessionsSupervisor
    from transport.edge.client import client_message, read_server_message
    from transport.edge.outbox import SocketOutbox

    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)

    runtime = ActorRuntime()
    outbox = SocketOutbox(send, lambda: None)
    writer = asyncio.create_task(outbox.run())
    start_root(runtime, Supervisor, {"children": [
        ChildSpec("market", MarketSupervisor, {"children": [ChildSpec("group/rb", RemoteGroupActor, {
            "group": "rb", "request_snapshot": lambda group: None})]}),
        ChildSpec("sessions", SessionsSupervisor, {"children": [ChildSpec("session/1", SessionActor, {
            "outbox": outbox, "state": SessionState("t", "trader")})]})]})
    try:
        await runtime.wait_idle()
        runtime.tell_path("sessions/session/1", encode_actor_message(
            "client", client_message(1, subscribe={"groups": ["rb"]})))
        await runtime.wait_idle()
        info = encode_group_info(group="rb", version=1, first_index=0, source="aggregator", instruments=[
            InstrumentInfo("rb1801.SHFE", "rb1801", "SHFE", "rb", "F", 1.0, 10.0)])
        runtime.tell_path("market/group/rb", encode_outbound(group="rb", seq=0, kind="info", payload=info,
                                                             source="aggregator"))
        await runtime.wait_idle()
        session = runtime.registry.entry("sessions/session/1").instance
        handled = session.statistics().messages
        one = np.ones(1)
        for seq in range(1, 31):
            frame = encode_group_frame(group="rb", seq=seq, snapshot=seq == 1, window_ms=33, info_version=1,
                                       source="aggregator", rows={
                                           "indexes": np.zeros(1, np.uint32), "lastPrices": one * seq,
                                           "bidPrices": one, "askPrices": one, "bidVolumesLots": one,
                                           "askVolumesLots": one, "volumesLots": one, "openInterestsLots": one,
                                           "exchangeTsNs": np.zeros(1, np.int64),
                                           "gatewayRecvTsNs": np.zeros(1, np.int64)})
            runtime.tell_path("market/group/rb", encode_outbound(
                group="rb", seq=seq, kind="snapshot" if seq == 1 else "delta", payload=frame, source="aggregator"))
        await runtime.wait_idle()
        async with asyncio.timeout(5):
            while sum(read_server_message(f)["which"] == "groupFrame" for f in sent) < 30:
                await asyncio.sleep(0.005)
        messages = [read_server_message(f) for f in sent]
        kinds = [m["which"] for m in messages if m["which"] in ("groupInfo", "groupFrame")]
        assert kinds[0] == "groupInfo"
        assert [m["seq"] for m in messages if m["which"] == "groupFrame"] == list(range(1, 31))
        assert session.statistics().messages - handled < 5   # not one message per frame
        group = runtime.registry.entry("market/group/rb").instance.extra_statistics()
        assert group["frames_inline"] == 30 and group["frames_by_message"] == 0
    finally:
        writer.cancel()
        runtime.shutdown()
