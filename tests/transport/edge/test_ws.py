"""/ws end to end on loopback: real aiohttp, real actors, real vn.py replaying real ticks."""

from __future__ import annotations

import time

import jwt
import numpy as np

from transport.signin.auth import mint_token


def _is(which, **fields):
    return lambda m: m["which"] == which and all(m.get(k) == v for k, v in fields.items())


async def _subscribe_rb(client):
    await client.send(subscribe={"groups": ["rb"]})
    info = await client.recv_until(_is("groupInfo", group="rb"))
    snapshot = await client.recv_until(_is("groupFrame", group="rb"))
    return info, snapshot


async def test_subscribe_when_group_known_then_info_then_snapshot_then_increasing_deltas(connect):
    """Subscribing sends groupInfo, a snapshot, then deltas whose seq rises by one."""
    client = await connect()
    info, snapshot = await _subscribe_rb(client)
    symbols = [i["vtSymbol"] for i in info["instruments"]]
    assert "rb1801.SHFE" in symbols
    assert snapshot["kind"] == "snapshot"
    assert len(snapshot["columns"]["indexes"]) == len(symbols)
    seq = snapshot["seq"]
    for _ in range(10):
        frame = await client.recv_until(_is("groupFrame", group="rb"))
        if frame["kind"] == "delta":
            assert frame["seq"] == seq + 1
            assert 0 < len(frame["columns"]["indexes"]) <= len(symbols)
            assert np.all(frame["columns"]["gatewayRecvTsNs"] > 0)
        seq = frame["seq"]


async def test_deltas_when_rows_change_then_prices_of_rb1801_move(connect):
    """Real instruments update: rb1801's last price is set and changes over the replay."""
    client = await connect()
    info, snapshot = await _subscribe_rb(client)
    index = [i["vtSymbol"] for i in info["instruments"]].index("rb1801.SHFE")
    prices = set()
    for _ in range(300):
        frame = await client.recv_until(_is("groupFrame", group="rb"))
        rows = frame["columns"]["indexes"]
        if index in rows:
            prices.add(float(frame["columns"]["lastPrices"][list(rows).index(index)]))
        if len(prices) >= 2:
            break
    assert len(prices) >= 2
    assert all(3000 < p < 5000 for p in prices)


async def test_snapshot_request_when_gap_then_snapshot_with_current_seq(connect):
    """A client that saw a gap asks for a snapshot and gets one at the current seq."""
    client = await connect()
    await _subscribe_rb(client)
    frame = await client.recv_until(_is("groupFrame", group="rb", kind="delta"))
    await client.send(snapshotRequest={"group": "rb"})
    snapshot = await client.recv_until(_is("groupFrame", group="rb", kind="snapshot"))
    assert snapshot["seq"] >= frame["seq"]
    later = await client.recv_until(_is("groupFrame", group="rb", kind="delta"))
    assert later["seq"] > snapshot["seq"] - 1


async def _warm(desk, monkeypatch) -> None:
    """Wait (bounded) until the desk no longer creates groups: its venue ready and settled, no start-up window."""
    import asyncio

    import transport.process.app as app

    monkeypatch.setattr(app, "GROUPS_WARMUP_S", 0.0)
    async with asyncio.timeout(15):
        while desk.groups_warming():
            await asyncio.sleep(0.05)


async def test_subscribe_when_group_unknown_then_error_and_socket_stays(desk, connect, monkeypatch):
    """On a warm desk an unknown group gets error(unknownGroup) at once; the socket keeps working."""
    await _warm(desk, monkeypatch)
    client = await connect()
    await client.send(subscribe={"groups": ["no-such-group"]})
    error = await client.recv_until(_is("error"))
    assert error["code"] == "unknownGroup"
    ping_id = await client.send(ping={"clientTsNs": 42})
    pong = await client.recv_until(_is("pong"))
    assert pong["clientTsNs"] == 42 and pong["envelope"]["correlationId"] == ping_id


async def test_first_message_when_not_auth_then_error_and_close_1008(connect):
    """A socket whose first message is not auth is refused and closed with 1008."""
    client = await connect(auth=False)
    await client.send(subscribe={"groups": ["rb"]})
    error = await client.recv()
    assert error["which"] == "error" and error["code"] == "unauthenticated"
    closed = await client.recv()
    assert closed == {"which": "closed", "code": 1008}


async def test_auth_when_token_missing_in_time_then_closed_1008(connect):
    """A socket that never authenticates is closed with 1008 after the auth timeout."""
    client = await connect(auth=False)
    error = await client.recv(timeout_s=5)
    assert error["which"] == "error" and error["code"] == "unauthenticated"
    assert (await client.recv())["code"] == 1008


async def test_auth_when_signature_forged_then_unauthenticated(connect):
    """A token signed with another secret is refused."""
    client = await connect(auth=False)
    await client.send(auth={"token": mint_token("another-secret-of-thirty-two-bytes!!", "mallory")})
    error = await client.recv()
    assert error["code"] == "unauthenticated"
    assert "another-secret" not in error["message"]
    assert (await client.recv())["code"] == 1008


async def test_auth_when_token_expired_then_token_expired(connect, jwt_secret):
    """An expired token is refused with tokenExpired."""
    client = await connect(auth=False)
    now = int(time.time())
    token = jwt.encode({"sub": "t", "role": "trader", "iat": now - 100, "exp": now - 10}, jwt_secret, "HS256")
    await client.send(auth={"token": token})
    error = await client.recv()
    assert error["code"] == "tokenExpired"
    assert (await client.recv())["code"] == 1008


async def test_auth_when_token_is_garbage_then_unauthenticated(connect):
    """A string that is not a JWT is refused."""
    client = await connect(auth=False)
    await client.send(auth={"token": "not-a-jwt"})
    assert (await client.recv())["code"] == "unauthenticated"


async def test_frame_when_malformed_then_error_malformed_and_socket_stays(connect):
    """Undecodable bytes get error(malformed); the next valid message still works."""
    client = await connect()
    await client.ws.send_bytes(b"\x07\x00\x00\x00garbage-that-is-not-capnp")
    error = await client.recv_until(_is("error"))
    assert error["code"] == "malformed"
    await client.ws.send_str("text is not the protocol")
    assert (await client.recv_until(_is("error")))["code"] == "malformed"
    await client.send(ping={"clientTsNs": 7})
    assert (await client.recv_until(_is("pong")))["clientTsNs"] == 7


async def test_frame_when_oversized_then_error_too_large(connect):
    """A frame over 64 KiB gets error(tooLarge) and is not decoded."""
    client = await connect()
    await client.ws.send_bytes(b"\x00" * (65 * 1024))
    error = await client.recv_until(_is("error"))
    assert error["code"] == "tooLarge"


async def test_bad_input_when_repeated_then_closed_1008(connect, desk):
    """More bad frames than the limit within the window closes the socket with 1008."""
    client = await connect()
    for _ in range(desk.config.limits.max_bad_frames + 1):
        await client.ws.send_bytes(b"\xff" * 16)
    closed = await client.recv_until(lambda m: m["which"] == "closed", timeout_s=5)
    assert closed["code"] == 1008
    assert desk.sockets.refused["malformed"] >= desk.config.limits.max_bad_frames


async def test_auth_when_sent_twice_then_refused_as_unknown_message(connect, jwt_secret):
    """A second auth on an open session is refused (refresh comes with its own message)."""
    client = await connect()
    await client.send(auth={"token": mint_token(jwt_secret, "trader1")})
    assert (await client.recv_until(_is("error")))["code"] == "unknownMessage"


async def test_viewport_when_subscribed_then_group_holds_it_and_when_not_then_unknown_group(connect, desk,
                                                                                          eventually):
    """A viewport of a subscribed group reaches the group actor; one of another group is refused."""
    client = await connect()
    await _subscribe_rb(client)
    await client.send(viewport={"group": "rb", "firstRow": 0, "rowCount": 20})
    await client.send(viewport={"group": "cu", "firstRow": 0, "rowCount": 20})
    error = await client.recv_until(_is("error"))
    assert error["code"] == "unknownGroup"
    group = desk.runtime.registry.entry("market/group/rb").instance
    await desk.runtime.wait_idle(5)
    assert group.statistics().extra["viewports"] == 1
    assert group.statistics().extra["viewport_rows"] == min(20, group.statistics().extra["instruments"])
    await client.send(viewport={"group": "rb", "rowIndexes": [5, 2, 9]})     # a sorted view: scattered rows
    await eventually(lambda: group.statistics().extra["viewport_rows"] == 3, what="3 viewport rows")
    await client.send(viewport={"group": "rb", "rowIndexes": list(range(1025))})
    refused = await client.recv_until(_is("error"))
    assert refused["code"] == "limitExceeded" and "viewport rows" in refused["message"]
    assert group.statistics().extra["viewport_rows"] == 3


async def test_desk_stop_when_sockets_open_then_each_gets_1001_going_away(desk, connect):
    """A stopping desk closes every socket with 1001 (the client reconnects), rather than leaving aiohttp to
    wait out its 60 s shutdown timeout for handlers that never end, and then dropping the TCP."""
    import asyncio

    import aiohttp

    async def closed(client) -> int:   # reads as a browser does, so the client answers the close handshake
        while (await client.ws.receive(timeout=30)).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            pass
        return client.ws.close_code

    clients = [await connect(), await connect()]
    await _subscribe_rb(clients[0])
    codes, _ = await asyncio.gather(asyncio.gather(*(closed(client) for client in clients)), desk.stop())
    assert codes == [aiohttp.WSCloseCode.GOING_AWAY] * 2


async def test_subscribe_when_desk_warming_and_group_absent_then_waiting_then_refused_once_warm(
        desk, connect, monkeypatch):
    """While the desk warms up (groups appear as the venue's contracts arrive) a subscribe to a group not
    there yet is held and shown sourceDown "waiting for the venue's contracts"; once warm it is refused
    unknownGroup, with a stopped status naming why, and the socket keeps working."""
    import transport.process.app as app

    await _warm(desk, monkeypatch)   # the replayed venue ready and settled; then a start-up window again
    monkeypatch.setattr(app, "GROUPS_WARMUP_S", 3600.0)
    client = await connect()
    sent = await client.send(subscribe={"groups": ["zz", "rb"]})
    waiting = await client.recv_until(_is("groupStatus", group="zz"))
    assert waiting["state"] == "sourceDown" and "waiting for the venue's contracts" in waiting["reason"]
    await client.recv_until(_is("groupFrame", group="rb"))   # a group that exists is served meanwhile
    monkeypatch.setattr(app, "GROUPS_WARMUP_S", 0.0)
    error = await client.recv_until(_is("error"), timeout_s=15)
    assert error["code"] == "unknownGroup" and "zz" in error["message"]
    assert error["envelope"]["correlationId"] == sent
    ping_id = await client.send(ping={"clientTsNs": 7})
    assert (await client.recv_until(_is("pong")))["envelope"]["correlationId"] == ping_id
