"""SocketOutbox over a real aiohttp WebSocket on loopback: direct writes, flow-control fallback, order."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from transport.edge.outbox import SocketOutbox, WriteBatch, websocket_header

SIZES = (10, 125, 126, 200, 65_535, 65_536, 70_000)
"""Payload sizes across the three length forms of RFC 6455 §5.2 (7-bit, 16-bit, 64-bit)."""


async def _serve(direct_limit_bytes: int, frames: list[bytes], outboxes: list[SocketOutbox],
                 batch: WriteBatch | None = None):
    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        outbox = SocketOutbox(ws.send_bytes, lambda: None, transport=request.transport,
                              is_closed=lambda: ws.closed, direct_limit_bytes=direct_limit_bytes, batch=batch)
        outboxes.append(outbox)
        writer = asyncio.create_task(outbox.run())
        for frame in frames:  # one loop turn
            outbox.put_nowait(frame, 1)
        try:
            async for _ in ws:
                pass
        finally:
            outbox.close()
            writer.cancel()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/ws"


@pytest.mark.parametrize(("direct_limit_bytes", "direct_writes"), [(1 << 20, 1), (1, 0)])
async def test_frames_when_queued_in_one_turn_then_arrive_whole_in_order(direct_limit_bytes, direct_writes):
    """Frames of every length form arrive intact and in order: in one direct write, or through aiohttp."""
    frames = [bytes([i]) * size for i, size in enumerate(SIZES)]
    outboxes: list[SocketOutbox] = []
    runner, url = await _serve(direct_limit_bytes, frames, outboxes)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=1 << 20) as ws:
            received = []
            async with asyncio.timeout(5):
                while len(received) < len(frames):
                    msg = await ws.receive()
                    assert msg.type == aiohttp.WSMsgType.BINARY
                    received.append(msg.data)
        assert received == frames
        outbox = outboxes[0]
        assert outbox.direct_writes == direct_writes
        assert outbox.frames_sent == len(frames) and outbox.bytes_sent == sum(SIZES)
        assert outbox.send_latency.count == len(frames) and outbox.queued_bytes == 0
    finally:
        await runner.cleanup()


def test_websocket_header_when_lengths_cross_forms_then_rfc6455_encoding():
    """7-bit, 16-bit (126) and 64-bit (127) payload lengths, FIN and binary opcode set, no mask."""
    assert websocket_header(125) == b"\x82\x7d"
    assert websocket_header(126) == b"\x82\x7e\x00\x7e"
    assert websocket_header(65_536) == b"\x82\x7f" + (65_536).to_bytes(8, "big")


async def test_frames_when_many_sockets_share_a_write_batch_then_one_callback_writes_all_in_order():
    """Frames queued to several sockets in one loop turn are written by one callback of their shared
    WriteBatch (one writelines per socket), whole and in order on every socket."""
    batch = WriteBatch()
    outboxes: list[SocketOutbox] = []
    runner, url = await _serve(1 << 20, [], outboxes, batch)
    frames = [bytes([i]) * size for i, size in enumerate(SIZES)]
    try:
        async with aiohttp.ClientSession() as http:
            sockets = [await http.ws_connect(url, max_msg_size=1 << 20) for _ in range(3)]
            async with asyncio.timeout(5):
                while len(outboxes) < 3:
                    await asyncio.sleep(0.001)
            turns = batch.turns
            for frame in frames:   # one loop turn, every socket
                for outbox in outboxes:
                    outbox.put_nowait(frame, 1)
            for ws in sockets:
                received = []
                async with asyncio.timeout(5):
                    while len(received) < len(frames):
                        received.append((await ws.receive()).data)
                assert received == frames
                await ws.close()
        assert batch.turns == turns + 1
        assert all(o.direct_writes == 1 and o.frames_sent == len(frames) for o in outboxes)
    finally:
        await runner.cleanup()


async def test_write_batch_when_one_outbox_raises_then_the_others_are_still_written():
    """A write that raises (here its on_drained) is logged; the other outboxes of the turn are written."""
    written = []

    class Outbox:
        def __init__(self, fail: bool) -> None:
            self.fail = fail

        def _write_direct(self) -> None:
            if self.fail:
                raise RuntimeError("boom")
            written.append(self)

    batch = WriteBatch()
    good = [Outbox(False), Outbox(False)]
    for outbox in (good[0], Outbox(True), good[1]):
        batch.add(outbox)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert written == good and batch.turns == 1


class _Transport:
    """An asyncio transport with ``unsent`` bytes in its write buffer; keeps each ``writelines``' buffers
    (header, payload, header, payload ...)."""

    def __init__(self, unsent: int) -> None:
        self.unsent, self.written = unsent, []

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def writelines(self, buffers) -> None:
        self.written.append(list(buffers))


async def test_frames_when_the_client_is_under_256_kib_behind_then_still_written_directly():
    """A socket with 100 KiB unsent (a client a little behind) still gets its frames by direct writes, not one
    aiohttp send per frame through the writer task; past 256 KiB they wait for aiohttp's flow control."""

    async def send(frame: bytes) -> None:
        raise AssertionError("not through aiohttp")

    behind, stuck = _Transport(100 * 1024), _Transport(300 * 1024)
    near, far = SocketOutbox(send, lambda: None, transport=behind), SocketOutbox(send, lambda: None, transport=stuck)
    for outbox in (near, far):
        outbox.put_nowait(b"x" * 1000, 1)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert near.direct_writes == 1 and behind.written == [[websocket_header(1000), b"x" * 1000]]
    assert far.direct_writes == 0 and stuck.written == [] and far.queued_bytes == 1000


async def test_send_nowait_when_direct_path_open_then_written_in_the_call_else_after_the_queue():
    """``send_nowait`` writes the frames queued before it and itself in one ``writelines`` in the call; past the
    direct limit (aiohttp's flow control) it queues behind them for the writer task, order kept."""

    sent: list[bytes] = []

    async def send(frame: bytes) -> None:
        sent.append(frame)

    keeping_up, stuck = _Transport(0), _Transport(300 * 1024)
    open_, behind = SocketOutbox(send, lambda: None, transport=keeping_up), SocketOutbox(send, lambda: None,
                                                                                          transport=stuck)
    for outbox in (open_, behind):
        outbox.put_nowait(b"frame", 1)
        outbox.send_nowait(b"reply")
    assert [buffers[1::2] for buffers in keeping_up.written] == [[b"frame", b"reply"]] and open_.queued_bytes == 0 and open_.direct_writes == 1
    assert stuck.written == [] and behind.queued_bytes == len(b"framereply")
    writer = asyncio.create_task(behind.run())
    async with asyncio.timeout(5):
        while len(sent) < 2:
            await asyncio.sleep(0.001)
    assert sent == [b"frame", b"reply"]
    behind.close()
    await writer
