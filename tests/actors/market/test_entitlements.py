"""Field-level entitlements (actors/market/entitlements.py): the claim, and what reaches each socket.

The socket tests run a whole desk replaying recorded SHFE/DCE/... ticks and read
what the WebSocket received (bytes, decoded), as a client would.
"""

from __future__ import annotations

import asyncio
import math

import aiohttp
import numpy as np
import pytest

import schemas
from actors.market.entitlements import EVERYTHING, Entitlements, mask_key
from actors.market.errors import EntitlementError
from schemas._columns import _locate_struct, _segments, column_views, pointer_index
from schemas.state_hash import HASHED_COLUMNS, l1_state_crc32
from tests.conftest import JWT_SECRET
from transport.edge.client import DeskSocket, read_server_message
from transport.signin.auth import mint_token

GROUP = "rb"  # SHFE rebar: ticks every ~0.5 s of the recorded hour, 20× here
NO_OI = {"SHFE": ["l1", "depth"], "*": ["l1", "oi", "depth"]}
"""An entitlement without SHFE's open interest."""
_FRAME_PATH = (pointer_index(schemas.stream.ServerMessage, "groupFrame"),)
_ROWS_PATH = _FRAME_PATH + (pointer_index(schemas.market.GroupFrame, "rows"),)
_CRC_BYTE = schemas.market.GroupFrame.schema.fields["stateCrc32"].proto.slot.offset * 4


# -- the claim ------------------------------------------------------------------


def test_from_claim_when_absent_then_everything_and_when_listed_then_per_exchange_with_star_for_the_rest() -> None:
    """No claim grants every class; a claim grants per exchange, "*" the others, an unnamed exchange nothing,
    an unknown class nothing."""
    assert Entitlements.from_claim(None) is EVERYTHING and EVERYTHING.allows("CFFEX", "depth")
    ent = Entitlements.from_claim({"CFFEX": ["l1", "future-class"], "*": ["l1", "oi", "depth"]})
    assert ent.classes("CFFEX") == {"l1"} and ent.allows("SHFE", "oi")
    assert ent.masked_columns("CFFEX") == ("openInterestsLots",) and ent.masked_columns("SHFE") == ()
    assert Entitlements.from_claim({"CFFEX": ["l1"]}).masked_columns("SHFE")[0] == "lastPrices"
    assert mask_key(ent, ["SHFE", "CFFEX"]) == (("CFFEX", ("openInterestsLots",)),)
    assert mask_key(ent, ["SHFE"]) == () == mask_key(EVERYTHING, ["CFFEX"])


@pytest.mark.parametrize("claim", [["l1"], {"CFFEX": "l1"}, {"": ["l1"]}, {"X" * 33: ["l1"]}, {"CFFEX": [1]},
                                   {f"E{i}": [] for i in range(65)}])
def test_from_claim_when_malformed_then_entitlement_error(claim) -> None:
    """A claim of the wrong shape is refused with an EntitlementError (a ValueError), never half read."""
    with pytest.raises(EntitlementError) as caught:
        Entitlements.from_claim(claim)
    assert isinstance(caught.value, ValueError)


async def test_auth_when_ent_claim_malformed_then_socket_refused(desk) -> None:
    """A token whose ent claim is not an object of lists is unauthenticated; nothing reaches an actor."""
    import jwt
    import time

    token = jwt.encode({"sub": "eve", "iat": int(time.time()), "exp": int(time.time()) + 60, "ent": ["l1"]},
                       JWT_SECRET, "HS256")
    async with aiohttp.ClientSession() as http:
        client = await DeskSocket.connect(http, f"ws://127.0.0.1:{desk.port}/ws", token=token)
        answer = await client.recv()
        await client.close()
    assert answer["which"] == "error" and answer["code"] == "unauthenticated" and "ent" in answer["message"]


# -- frames on the socket -------------------------------------------------------


class _Socket:
    """One user's socket: raw frame bytes by frame (envelope id), and a mirror of the state checked on every hash."""

    def __init__(self, client: DeskSocket) -> None:
        self.client = client
        self.frames: dict[int, bytes] = {}
        self.decoded: dict[int, dict] = {}
        self.size = 0
        self.state: dict[str, np.ndarray] = {}
        self.checks = self.mismatches = 0

    @classmethod
    async def open(cls, http, desk, user: str, ent: dict | None) -> _Socket:
        token = mint_token(JWT_SECRET, user, entitlements=ent)
        client = await DeskSocket.connect(http, f"ws://127.0.0.1:{desk.port}/ws", token=token, groups=[GROUP])
        return cls(client)

    async def read_until(self, predicate, timeout_s: float = 15) -> dict:
        """Read frames (keeping them) until ``predicate(message)``; return that message."""
        async with asyncio.timeout(timeout_s):
            while True:
                data = await self.client.recv_bytes(timeout_s)
                assert data is not None, "socket closed"
                message = read_server_message(data)
                self.take(message, data)
                if predicate(message):
                    return message

    def take(self, message: dict, data: bytes) -> None:
        if message.get("group") != GROUP:
            return
        if message["which"] == "groupInfo":
            self.size = message["firstIndex"] + len(message["instruments"])
            for name in HASHED_COLUMNS:
                grown = np.full(self.size, np.nan)
                old = self.state.get(name, np.zeros(0))
                if message["firstIndex"]:
                    grown[:min(len(old), self.size)] = old[:self.size]
                self.state[name] = grown
        elif message["which"] == "groupFrame" and self.state:
            frame_id = message["envelope"]["id"]  # one id per frame, shared by its encodes for every class
            self.frames[frame_id] = data
            self.decoded[frame_id] = message
            indexes = message["columns"]["indexes"].astype(int)
            for name in HASHED_COLUMNS:
                self.state[name][indexes] = message["columns"][name]
            if message["stateHashed"]:
                self.checks += 1
                self.mismatches += l1_state_crc32(self.state, self.size) != message["stateCrc32"]


def _masked_spans(data: bytes) -> list[range]:
    """Byte ranges of a GroupFrame message that entitlements may change: the OI column and stateCrc32."""
    oi = column_views(data, _ROWS_PATH)["openInterestsLots"]
    base = np.frombuffer(data, np.uint8).ctypes.data
    start = oi.ctypes.data - base
    segs = _segments(data)
    seg, word, _, _ = _locate_struct(data, segs, _FRAME_PATH)
    crc = (segs.starts[seg] + word) * 8 + _CRC_BYTE
    return [range(start, start + oi.nbytes), range(crc, crc + 4)]


def _group_stats(desk) -> dict:
    return desk.runtime.registry.entry(f"market/group/{GROUP}").instance.extra_statistics()


async def test_group_frames_when_two_entitlement_classes_then_bytes_differ_only_in_masked_fields(desk) -> None:
    """Three users on one group, two entitlement classes (one without SHFE's open interest): each frame is
    encoded once per class, not per session; the two classes' bytes of a frame differ only in the open
    interest column (NaN for the unentitled) and the state hash, and every hash verifies against the state
    its class sees."""
    async with aiohttp.ClientSession() as http:
        full = await _Socket.open(http, desk, "ann", None)
        narrow = await _Socket.open(http, desk, "bob", NO_OI)
        twin = await _Socket.open(http, desk, "carl", NO_OI)   # bob's class: no third encode
        for socket in (full, narrow, twin):
            await socket.read_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "snapshot")
        before = _group_stats(desk)
        await full.read_until(lambda m: full.checks >= 6 and len(full.frames) >= 20, timeout_s=20)
        for socket in (narrow, twin):
            await socket.read_until(lambda m, s=socket: m["which"] == "groupFrame"
                                    and m["envelope"]["id"] >= max(full.frames), timeout_s=20)
        after = _group_stats(desk)
        for socket in (full, narrow, twin):
            await socket.client.close()

    frames = after["frames"] - before["frames"]
    assert frames > 0 and after["frame_encodes"] - before["frame_encodes"] == 2 * frames
    assert after["entitlement_classes"] == 2
    common = sorted(set(full.frames) & set(narrow.frames))
    assert len(common) >= 10
    compared = 0
    for seq in common:
        a, b = full.frames[seq], narrow.frames[seq]
        assert len(a) == len(b)
        differ = np.flatnonzero(np.frombuffer(a, np.uint8) != np.frombuffer(b, np.uint8))
        spans = _masked_spans(a)
        assert all(any(i in span for span in spans) for i in differ), (seq, differ[:8])
        mine, theirs = full.decoded[seq]["columns"], narrow.decoded[seq]["columns"]
        assert np.isnan(theirs["openInterestsLots"]).all()
        for name in HASHED_COLUMNS[:-1]:
            np.testing.assert_array_equal(mine[name], theirs[name])
        compared += len(mine["indexes"]) > 0 and not np.isnan(mine["openInterestsLots"]).all()
        assert narrow.frames[seq] == twin.frames.get(seq, narrow.frames[seq])  # one class, the same bytes
    assert compared > 0  # frames whose open interest the full class did receive
    assert full.checks >= 6 and narrow.checks >= 3
    assert full.mismatches == narrow.mismatches == twin.mismatches == 0


async def test_refresh_when_entitlement_narrowed_then_no_frame_after_the_ack_carries_the_field(desk) -> None:
    """A socket whose token is refreshed without SHFE's open interest gets, from the refresh's ack on, only
    frames with that column absent (NaN), a fresh snapshot of its new class, and hashes that still verify."""
    async with aiohttp.ClientSession() as http:
        socket = await _Socket.open(http, desk, "ann", None)
        await socket.read_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "snapshot"
                                and not np.isnan(m["columns"]["openInterestsLots"]).all())
        await socket.read_until(lambda m: m["which"] == "groupFrame" and m["kind"] == "delta"
                                and len(m["columns"]["indexes"]) > 0)
        sent = await socket.client.send(refresh={"token": mint_token(JWT_SECRET, "ann", entitlements=NO_OI)})
        await socket.read_until(lambda m: m["which"] == "ack" and m["envelope"]["correlationId"] == sent)
        seen = len(socket.frames)
        checks = socket.checks
        after: list[dict] = []

        def collect(message: dict) -> bool:
            if message["which"] == "groupFrame":
                after.append(message)
            return sum(len(m["columns"]["indexes"]) for m in after) >= 20 and socket.checks >= checks + 3

        await socket.read_until(collect, timeout_s=20)
        await socket.client.close()

    assert len(socket.frames) > seen and after[0]["kind"] == "snapshot"
    assert all(np.isnan(m["columns"]["openInterestsLots"]).all() for m in after)
    assert any(not math.isnan(v) for m in after for v in m["columns"]["lastPrices"])  # l1 still there
    assert socket.mismatches == 0


async def test_tick_detail_when_depth_and_oi_unentitled_then_sent_as_nan_once_per_class(desk) -> None:
    """A contract's detail stream masks, per subscriber's class, open interest and levels 2..5 (NaN); two
    subscribers of one class share one encode."""
    symbol = "rb1801.SHFE"
    ent = {"SHFE": ["l1"], "*": ["l1", "oi", "depth"]}
    async with aiohttp.ClientSession() as http:
        sockets = [await DeskSocket.connect(http, f"ws://127.0.0.1:{desk.port}/ws",
                                            token=mint_token(JWT_SECRET, user, entitlements=claim))
                   for user, claim in (("ann", None), ("bob", ent), ("carl", ent))]
        async with asyncio.timeout(10):
            while desk.bridge.latest_row(symbol) is None:
                await asyncio.sleep(0.05)
        for socket in sockets:
            await socket.send(subscribeTicks={"vtSymbols": [symbol]})
        for socket in sockets:
            await socket.recv_until(lambda m: m["which"] == "tickDetail" and m["history"], timeout_s=10)
        ticks = desk.runtime.registry.entry("ticks").instance
        before = ticks.extra_statistics()
        while True:  # until a drain went out after `before` (whole drains: stats are read between handlers)
            live = [await s.recv_until(lambda m: m["which"] == "tickDetail" and not m["history"], timeout_s=10)
                    for s in sockets]
            after = ticks.extra_statistics()
            if after["details_sent"] > before["details_sent"]:
                break
        for socket in sockets:
            await socket.close()

    full, narrow, twin = live
    assert not any(math.isnan(v) for v in full["ticks"]["openInterestsLots"])
    assert all(math.isnan(v) for v in narrow["ticks"]["openInterestsLots"])
    assert narrow["ticks"]["lastPrices"] and not any(math.isnan(v) for v in narrow["ticks"]["lastPrices"])
    n = len(narrow["ticks"]["lastPrices"])
    levels = np.array(narrow["depth"]["bidPrices"]).reshape(n, 5)
    assert not np.isnan(levels[:, 0]).any() and np.isnan(levels[:, 1:]).all()
    sent, encodes = (after[k] - before[k] for k in ("details_sent", "detail_encodes"))
    assert sent > 0 and encodes * 3 == sent * 2  # per drain: ann's class, and one encode for bob and carl


async def test_refresh_when_entitlement_narrowed_then_no_tick_detail_after_the_ack_carries_the_field(desk) -> None:
    """A socket following a contract's ticks, refreshed without SHFE's open interest and depth, gets from the
    ack on only details with those fields absent (NaN): the new history first, then live ticks."""
    symbol = "rb1801.SHFE"
    async with aiohttp.ClientSession() as http:
        socket = await DeskSocket.connect(http, f"ws://127.0.0.1:{desk.port}/ws", token=mint_token(JWT_SECRET, "ann"))
        async with asyncio.timeout(10):
            while desk.bridge.latest_row(symbol) is None:
                await asyncio.sleep(0.05)
        await socket.send(subscribeTicks={"vtSymbols": [symbol]})
        before = await socket.recv_until(lambda m: m["which"] == "tickDetail" and not m["history"], timeout_s=10)
        sent = await socket.send(refresh={"token": mint_token(JWT_SECRET, "ann", entitlements={
            "SHFE": ["l1"], "*": ["l1", "oi", "depth"]})})
        await socket.recv_until(lambda m: m["which"] == "ack" and m["envelope"]["correlationId"] == sent)
        after = []
        await socket.recv_until(lambda m: m["which"] == "tickDetail" and not after.append(m)
                                and sum(not d["history"] for d in after) >= 3, timeout_s=15)
        await socket.close()

    assert not any(math.isnan(v) for v in before["ticks"]["openInterestsLots"])
    assert after[0]["history"]
    for detail in after:
        n = len(detail["ticks"]["lastPrices"])
        assert all(math.isnan(v) for v in detail["ticks"]["openInterestsLots"])
        assert np.isnan(np.array(detail["depth"]["bidPrices"]).reshape(n, 5)[:, 1:]).all()
