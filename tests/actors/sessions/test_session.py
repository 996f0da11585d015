"""SessionActor: slow consumer conflation with bounded memory, snapshot after drain, attach retried."""

from __future__ import annotations

import asyncio

import numpy as np

import schemas
from actors import ActorRuntime, ChildSpec, Supervisor, start_root
from actors._envelope import encode_actor_message
from actors.market.frames import InstrumentInfo, encode_instruments_added, encode_tick_batch
from actors.market.group import GroupActor
from actors.market.supervisor import MarketSupervisor
from actors.sessions.session import SessionActor, SessionState
from actors.sessions.supervisor import SessionsSupervisor
from transport.edge.outbox import SocketOutbox
from transport.edge.client import client_message

N_ROWS = 200
HIGH_WATER = 16 * 1024
LOW_WATER = 4 * 1024


class StalledSocket:
    """A socket whose reader stopped: send() waits until released; records what got through."""

    def __init__(self):
        self.released = asyncio.Event()
        self.sent: list[bytes] = []

    async def send(self, frame: bytes) -> None:
        await self.released.wait()
        self.sent.append(frame)


def _batch(i, group="rb", rows=N_ROWS):
    idx = np.arange(rows, dtype=np.uint32)
    price = np.full(rows, 100.0 + i)
    return encode_tick_batch(group, {"indexes": idx, "lastPrices": price, "bidPrices": price, "askPrices": price,
                                    "bidVolumesLots": price, "askVolumesLots": price, "volumesLots": price,
                                    "openInterestsLots": price, "exchangeTsNs": idx.astype(np.int64),
                                    "gatewayRecvTsNs": idx.astype(np.int64)})


SESSION_PATH = "sessions/session/1"
WATER = {"high_water_bytes": HIGH_WATER, "low_water_bytes": LOW_WATER}


def _start_tree(runtime, socket, group_specs, **session_args):
    """Start one session writing to ``socket`` (its outbox tells it when drained) beside a market of
    ``group_specs``; return ``(outbox, writer task)``."""
    outbox = SocketOutbox(socket.send, lambda: runtime.tell_path(
        SESSION_PATH, encode_actor_message("socketDrained", None)), LOW_WATER)
    writer = asyncio.create_task(outbox.run())
    session = ChildSpec("session/1", SessionActor, {"outbox": outbox, "state": SessionState("t", "trader"),
                                                   **session_args})
    start_root(runtime, Supervisor, {"children": [
        ChildSpec("market", MarketSupervisor, {"children": list(group_specs)}),
        ChildSpec("sessions", SessionsSupervisor, {"children": [session]})]})
    return outbox, writer


def _announce(runtime, group: str, rows: int) -> None:
    """Tell a group its ``rows`` instruments (full list)."""
    instruments = [InstrumentInfo(f"{group}{i}.SHFE", f"{group}{i}", "SHFE", group, "F", 1.0, 10.0)
                   for i in range(rows)]
    runtime.tell_path(f"market/group/{group}", encode_instruments_added(
        group=group, version=1, first_index=0, instruments=instruments, source="t"))


async def test_slow_client_when_socket_stalls_then_deltas_conflated_memory_bounded_then_snapshot():
    """A stalled socket never queues much over the high-water mark; after it drains it gets a snapshot."""
    runtime = ActorRuntime()
    socket = StalledSocket()
    session_path = SESSION_PATH
    outbox, writer = _start_tree(runtime, socket, [ChildSpec("group/rb", GroupActor, {"group": "rb", "window_ms": 1})],
                                 **WATER)
    try:
        await runtime.wait_idle()
        _announce(runtime, "rb", N_ROWS)
        runtime.tell_path(session_path, encode_actor_message("client", client_message(1, subscribe={"groups": ["rb"]})))
        await runtime.wait_idle()
        for i in range(200):
            runtime.tell_path("market/group/rb", _batch(i))
            await asyncio.sleep(0.002)
        await runtime.wait_idle()
        actor = runtime.registry.entry(session_path).instance
        stats = actor.statistics().extra
        assert stats["conflated"] > 0
        assert stats["stale_groups"] == ["rb"]
        frame_bytes = len(_batch(0))
        assert outbox.max_queued_bytes <= HIGH_WATER + 2 * frame_bytes
        socket.released.set()
        async with asyncio.timeout(5):
            while not socket.sent or _kind(socket.sent[-1]) != "snapshot" or actor.stale:
                await asyncio.sleep(0.005)
        assert _kind(socket.sent[-1]) == "snapshot"
    finally:
        writer.cancel()
        runtime.shutdown()


def _kind(payload: bytes) -> str:
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        return str(message.groupFrame.kind) if message.which() == "groupFrame" else message.which()


async def test_snapshot_when_dropped_over_high_water_then_asked_again_after_drain():
    """A requested snapshot that arrives while the socket is over the high-water mark is asked for again.

    After a stall every subscribed group is stale; the drain asks each for a
    snapshot at once, and the first snapshots fill the socket past the
    high-water mark, so the last is dropped. Found by sim/harness/scenarios/matrix.toml
    (five groups, three of them option chains): such a group stayed stale,
    its deltas conflated, until the next periodic snapshot (3 s).
    """
    runtime = ActorRuntime()
    socket = StalledSocket()
    session_path = SESSION_PATH
    groups = ("rb", "cu")
    rows = 2 * N_ROWS  # a snapshot of one group is over the high-water mark on its own
    outbox, writer = _start_tree(runtime, socket, [
        ChildSpec(f"group/{g}", GroupActor, {"group": g, "window_ms": 1, "snapshot_interval_s": 3600.0})
        for g in groups], **WATER)
    try:
        await runtime.wait_idle()
        for g in groups:
            _announce(runtime, g, rows)
        runtime.tell_path(session_path, encode_actor_message("client", client_message(
            1, subscribe={"groups": list(groups)})))
        await runtime.wait_idle()
        for i in range(50):
            for g in groups:
                runtime.tell_path(f"market/group/{g}", _batch(i, g, rows))
            await asyncio.sleep(0.002)
        await runtime.wait_idle()
        actor = runtime.registry.entry(session_path).instance
        assert sorted(actor.stale) == sorted(groups)
        socket.released.set()
        async with asyncio.timeout(5):
            while actor.stale or {g for g in groups if ("snapshot", g) in map(_frame_of, socket.sent)} != set(groups):
                await asyncio.sleep(0.005)
    finally:
        writer.cancel()
        runtime.shutdown()


def _frame_of(payload: bytes) -> tuple[str, str]:
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        if message.which() != "groupFrame":
            return message.which(), ""
        return str(message.groupFrame.kind), message.groupFrame.group


class ForgetfulGroupActor(GroupActor):
    """A GroupActor whose first ``attach`` is lost, as if refused as corrupt on its way in."""

    def on_start(self, restarts: int) -> None:
        super().on_start(restarts)
        self.attaches_lost = 0

    def _on_attach(self, attach, message, sender) -> None:
        if not self.attaches_lost:
            self.attaches_lost += 1
            return
        super()._on_attach(attach, message, sender)


async def test_attach_when_group_never_answers_then_sent_again_and_snapshot_arrives():
    """An attach lost on the way (no info, no snapshot back) is retried until the group answers.

    Found by sim/harness/scenarios/matrix.toml: the ``corrupt`` fault crashed
    market/group/m_o, whose restart made every session attach again while
    the fault still corrupted its inbound messages; a probe whose attach was
    lost got no m_o frame for 20 s, until that probe's own session restarted.
    """
    runtime = ActorRuntime()
    socket = StalledSocket()
    socket.released.set()
    session_path = SESSION_PATH
    _, writer = _start_tree(runtime, socket, [
        ChildSpec("group/rb", ForgetfulGroupActor, {"group": "rb", "window_ms": 1})])
    try:
        await runtime.wait_idle()
        _announce(runtime, "rb", 10)
        runtime.tell_path(session_path, encode_actor_message("client", client_message(1, subscribe={"groups": ["rb"]})))
        async with asyncio.timeout(10):
            while ("snapshot", "rb") not in map(_frame_of, socket.sent):
                await asyncio.sleep(0.01)
        actor = runtime.registry.entry(session_path).instance
        stats = actor.statistics().extra
        assert stats["attach_retries"] == 1 and stats["attaching"] == []
        assert runtime.registry.entry("market/group/rb").instance.attaches_lost == 1
    finally:
        writer.cancel()
        runtime.shutdown()


class _Transport:
    """A socket transport that takes every write (a client keeping up)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def writelines(self, buffers) -> None:
        self.written += list(buffers)[1::2]   # payloads, not their WebSocket headers


async def test_order_reply_when_session_takes_it_then_written_in_its_handler_after_earlier_frames():
    """A reply to the client's own command (an order actor's ``control`` outbound, a pong) is written to the
    socket in the session's handler, with any frame queued before it first, not at the end of the loop turn
    behind the loop's other callbacks (a bridge drain, the next pump slice)."""
    from actors import encode_outbound

    runtime = ActorRuntime()
    transport = _Transport()

    async def send(frame: bytes) -> None:
        raise AssertionError("not through aiohttp")

    outbox = SocketOutbox(send, lambda: None, transport=transport)
    start_root(runtime, Supervisor, {"children": [ChildSpec("sessions", SessionsSupervisor, {"children": [
        ChildSpec("session/1", SessionActor, {"outbox": outbox, "state": SessionState("t", "trader")})]})]})
    await runtime.wait_idle()
    await asyncio.sleep(0)
    transport.written.clear()
    outbox.put_nowait(b"earlier frame")
    runtime.tell_path(SESSION_PATH, encode_outbound(group="", seq=0, kind="control", payload=b"order reply",
                                                    source="orders/acct-01"))
    await asyncio.sleep(0)   # one loop turn: the runtime's pump, which runs the session's handler
    assert transport.written == [b"earlier frame", b"order reply"]
    runtime.tell_path(SESSION_PATH, encode_actor_message("client", client_message(9, ping={"clientTsNs": 1})))
    await asyncio.sleep(0)
    assert len(transport.written) == 3
    with schemas.stream.ServerMessage.from_bytes(transport.written[2]) as message:
        assert message.which() == "pong"
    runtime.shutdown()


def _message_of(payload: bytes) -> tuple:
    """(member, group or code, state or message) of a ServerMessage, for the warm-up test."""
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        member = message.which()
        if member == "groupStatus":
            return member, message.groupStatus.group, str(message.groupStatus.state), message.groupStatus.reason
        if member == "error":
            return member, str(message.error.code), message.error.message
        if member == "groupFrame":
            return member, message.groupFrame.group, str(message.groupFrame.kind)
        return (member,)


async def test_subscribe_when_group_not_created_yet_and_desk_warming_then_held_attached_when_it_appears():
    """A browser reconnecting to a restarted desk resubscribes before the venue's contracts made its groups:
    the subscribe is held (sourceDown, "waiting for the venue's contracts") and the group attached once it
    exists; a group still absent once the desk is warm is refused unknownGroup then (it was refused at once,
    and the page dropped the trader's panel)."""
    from actors import spawn

    runtime = ActorRuntime()
    socket = StalledSocket()
    socket.released.set()
    warming = [True]
    _, writer = _start_tree(runtime, socket, [], groups_warming=lambda: warming[0])

    async def seen(predicate, timeout_s=15.0):
        async with asyncio.timeout(timeout_s):
            while not any(predicate(_message_of(payload)) for payload in socket.sent):
                await asyncio.sleep(0.01)

    try:
        await runtime.wait_idle()
        runtime.tell_path(SESSION_PATH, encode_actor_message("client", client_message(
            1, subscribe={"groups": ["rb", "zz"]})))
        await seen(lambda m: m[:3] == ("groupStatus", "rb", "sourceDown") and "waiting" in m[3])
        assert not any(_message_of(p)[0] == "error" for p in socket.sent)
        def waiting_for_zz() -> int:
            return sum(1 for p in socket.sent if _message_of(p)[:3] == ("groupStatus", "zz", "sourceDown"))

        told = waiting_for_zz()
        runtime.tell_path(SESSION_PATH, encode_actor_message("crash", "test"))   # a restarted session still waits
        async with asyncio.timeout(10):
            while waiting_for_zz() == told:
                await asyncio.sleep(0.01)
        spawn(runtime, "market", ChildSpec("group/rb", GroupActor, {"group": "rb", "window_ms": 1}))
        await runtime.wait_idle()
        _announce(runtime, "rb", 10)
        await seen(lambda m: m == ("groupFrame", "rb", "snapshot"))
        warming[0] = False
        await seen(lambda m: m[:2] == ("error", "unknownGroup") and "zz" in m[2])
        assert ("groupStatus", "zz", "stopped") in [_message_of(p)[:3] for p in socket.sent]   # the panel says why
        session = runtime.registry.entry(SESSION_PATH).instance
        assert list(session.state.groups) == ["rb"]
    finally:
        writer.cancel()
        runtime.shutdown()


async def test_subscribe_when_group_absent_and_desk_warm_then_refused_at_once():
    runtime = ActorRuntime()
    socket = StalledSocket()
    socket.released.set()
    _, writer = _start_tree(runtime, socket, [], groups_warming=lambda: False)
    try:
        await runtime.wait_idle()
        runtime.tell_path(SESSION_PATH, encode_actor_message("client", client_message(1, subscribe={"groups": ["zz"]})))
        await runtime.wait_idle()
        async with asyncio.timeout(5):
            while not socket.sent:
                await asyncio.sleep(0.01)
        assert _message_of(socket.sent[0])[:2] == ("error", "unknownGroup")
    finally:
        writer.cancel()
        runtime.shutdown()
