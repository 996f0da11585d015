"""Fixtures of the socket security tests: desks with chosen limits and auth, sockets with chosen headers."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import JWT_SECRET, WsClient

REPLAY = "cn_futopt_l1_20171113_0900-1000.csv.gz"


@pytest.fixture
async def desk_factory(data_dir, start_desk):
    """Start whole desks (real ticks replayed at 20×) with the given limits, auth and config; all stopped at the end."""
    from transport.signin.auth import AuthConfig
    from transport.edge.ws import SocketLimits

    async def _start(limits: SocketLimits | None = None, auth: AuthConfig | None = None,
                     jwt_secret: str = JWT_SECRET, **config):
        return await start_desk(replay=(str(data_dir / REPLAY),), jwt_secret=jwt_secret, auth=auth or AuthConfig(),
                                limits=limits or SocketLimits(auth_timeout_s=2.0, max_bad_frames=5), **config)

    return _start


@pytest.fixture
async def open_socket():
    """Open /ws clients on a desk, optionally with an Origin header and an auth token; all closed at the end."""
    import aiohttp

    http = aiohttp.ClientSession()
    clients: list[WsClient] = []

    async def _open(desk, token: str | None = None, *, origin: str | None = None,
                    expect_ack: bool = True) -> WsClient:
        headers = {"Origin": origin} if origin else {}
        ws = await http.ws_connect(f"ws://127.0.0.1:{desk.port}/ws", headers=headers,
                                   max_msg_size=64 * 1024 * 1024)
        client = WsClient(ws)
        clients.append(client)
        if token is not None:
            await client.send(auth={"token": token})
            if expect_ack:
                ack = await client.recv()
                assert ack["which"] == "ack" and ack["of"] == "auth", ack
        return client

    try:
        yield _open
    finally:
        for client in clients:
            await client.ws.close()
        await http.close()


async def wait_groups(desk, count: int, timeout_s: float = 10.0) -> list[str]:
    """Return the desk's group names once at least ``count`` exist (bounded wait)."""
    async with asyncio.timeout(timeout_s):
        while len(desk.bridge.groups()) < count:
            await asyncio.sleep(0.05)
    return sorted(desk.bridge.groups())


def is_message(which: str, **fields):
    """Predicate on a decoded ServerMessage dict: member ``which`` with ``fields`` equal."""
    return lambda m: m["which"] == which and all(m.get(k) == v for k, v in fields.items())


@pytest.fixture
async def http(desk, jwt_secret):
    """An aiohttp client of the ``desk``; ``http.admin`` and ``http.trader`` are bearer headers."""
    import aiohttp

    from transport.signin.auth import mint_token

    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{desk.port}") as session:
        session.admin = {"Authorization": f"Bearer {mint_token(jwt_secret, 'ops1', 'admin')}"}
        session.trader = {"Authorization": f"Bearer {mint_token(jwt_secret, 'trader1', 'trader')}"}
        yield session
