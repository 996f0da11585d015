"""Limits of /ws on real sockets: sockets per user, subscriptions, rate, frame size, Origin, bad input, contents."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.transport.conftest import is_message, wait_groups
from transport.signin.auth import mint_token
from transport.process.cli import load_config
from transport.errors import ConfigError
from transport.edge.limits import SocketLimits, TokenBucket, origin_allowed

ROOMY = dict(auth_timeout_s=2.0, max_bad_frames=1000)
"""Limits for tests that collect refusals: the bad-input limit stays out of the way."""


class SteppedClock:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


# -- units ----------------------------------------------------------------------------


def test_token_bucket_when_burst_spent_then_refused_until_refilled():
    """A bucket of 100 at 100/s gives 100 tokens at once, then one per 10 ms."""
    bucket = TokenBucket(100.0, 100, now_s=0.0)
    assert sum(bucket.take_nowait(0.0) for _ in range(101)) == 100
    assert not bucket.take_nowait(0.005)
    assert bucket.take_nowait(0.011)
    assert sum(bucket.take_nowait(10.0) for _ in range(200)) == 100


@pytest.mark.parametrize("origin, host, allowed, ok", [
    (None, "desk:8700", (), True),
    ("http://desk:8700", "desk:8700", (), True),
    ("http://localhost:3000", "desk:8700", (), False),
    ("http://localhost:3000", "127.0.0.1:8700", (), False),
    ("http://localhost:8700", "127.0.0.1:8700", (), True),
    ("http://[::1]:8700", "localhost:8700", (), True),
    ("http://127.0.0.1:8700", "10.0.0.5:8700", (), False),
    ("https://desk", "desk:443", (), True),
    ("http://desk", "desk", (), True),
    ("http://evil.example", "desk:8700", (), False),
    ("http://desk:9999", "desk:8700", (), False),
    ("null", "desk:8700", (), False),
    ("https://desk.lan", "desk:8700", ("https://desk.lan",), True),
    ("http://localhost:3000", "desk:8700", ("https://desk.lan",), False),
])
def test_origin_allowed_when_checked_then_own_origin_or_allow_list(origin, host, allowed, ok):
    """Without an allow-list only the desk's own host:port (any loopback name at it); with one, only its entries."""
    assert origin_allowed(origin, host, allowed) is ok


def test_socket_limits_when_not_positive_or_frame_over_hard_limit_then_config_error():
    """Limits must be positive and the decoded frame limit under the hard one."""
    with pytest.raises(ConfigError):
        SocketLimits(max_subscriptions=0)
    with pytest.raises(ConfigError):
        SocketLimits(max_frame_bytes=2 * 1024 * 1024)
    assert SocketLimits(allowed_origins=["https://Desk.lan/"]).allowed_origins == ("https://desk.lan",)


def test_load_config_when_limits_and_auth_tables_then_desk_config_carries_them(tmp_path):
    """[limits] and [auth] in the TOML file reach SocketLimits and AuthConfig."""
    path = tmp_path / "desk.toml"
    path.write_text('[limits]\nmax_sockets_per_user = 2\nmessages_per_s = 50.0\n'
                    'allowed_origins = ["https://desk.lan"]\n'
                    '[auth]\nissuer = "https://issuer.desk.lan"\naudience = "tickstage"\n')
    config = load_config(str(path))
    assert config.limits.max_sockets_per_user == 2 and config.limits.messages_per_s == 50.0
    assert config.limits.allowed_origins == ("https://desk.lan",)
    assert config.auth.issuer == "https://issuer.desk.lan" and config.auth.audience == "tickstage"
    path.write_text('[auth]\nalgorithm = "HS512"\n')
    with pytest.raises(ConfigError):
        load_config(str(path))


# -- limits on real sockets ----------------------------------------------------------------


async def test_sixth_socket_when_user_has_five_then_limit_exceeded_and_1008(desk, open_socket, jwt_secret):
    """A user's 6th socket is refused with limitExceeded and 1008; other users and a freed slot still work."""
    token = mint_token(jwt_secret, "ann")
    sockets = [await open_socket(desk, token) for _ in range(5)]
    sixth = await open_socket(desk, token, expect_ack=False)
    error = await sixth.recv()
    assert error["which"] == "error" and error["code"] == "limitExceeded"
    assert (await sixth.recv()) == {"which": "closed", "code": 1008}
    await open_socket(desk, mint_token(jwt_secret, "bob"))
    await sockets[0].ws.close()
    await open_socket(desk, token)
    stats = desk.sockets.statistics()
    assert stats.refused == {"limitExceeded": 1} and stats.users_connected == 2


async def test_subscribe_when_51st_group_then_limit_exceeded_and_socket_stays(desk_factory, open_socket, jwt_secret):
    """50 subscriptions are taken; the 51st gets limitExceeded, and after an unsubscribe it is taken."""
    desk = await desk_factory(watchlists={f"w{i}": ["rb1801.SHFE"] for i in range(5)})
    groups = await wait_groups(desk, 52)
    client = await open_socket(desk, mint_token(jwt_secret, "ann"))
    await client.send(subscribe={"groups": groups[:50]})
    await client.recv_until(is_message("ack", of="subscribe"), timeout_s=10)
    await client.send(subscribe={"groups": [groups[50]]})
    error = await client.recv_until(is_message("error"), timeout_s=10)
    assert error["code"] == "limitExceeded"
    await client.send(unsubscribe={"groups": [groups[0]]})
    await client.send(subscribe={"groups": [groups[50]]})
    info = await client.recv_until(is_message("groupInfo", group=groups[50]), timeout_s=10)
    assert info["group"] == groups[50]


async def test_messages_when_101_within_a_second_then_101st_rate_limited(desk_factory, open_socket, jwt_secret):
    """With the clock held still, 100 pings are answered and the 101st gets rateLimited; a second later pings pass."""
    desk = await desk_factory(limits=SocketLimits(**ROOMY))
    desk.sockets.clock = clock = SteppedClock()
    client = await open_socket(desk, mint_token(jwt_secret, "ann"))
    for i in range(101):
        await client.send(ping={"clientTsNs": i})
    replies = [await client.recv_until(lambda m: m["which"] in ("pong", "error")) for _ in range(101)]
    refused = [r for r in replies if r["which"] == "error"]
    assert len(refused) == 1 and refused[0]["code"] == "rateLimited"
    assert sorted(r["clientTsNs"] for r in replies if r["which"] == "pong") == list(range(100))
    clock.now_s += 1.0
    await client.send(ping={"clientTsNs": 500})
    assert (await client.recv_until(is_message("pong")))["clientTsNs"] == 500
    assert desk.sockets.statistics().refused == {"rateLimited": 1}


async def test_messages_when_flooded_on_real_clock_then_some_rate_limited(desk_factory, open_socket, jwt_secret):
    """1,000 pings sent at once on the real clock: at least one is refused with rateLimited (100/s)."""
    desk = await desk_factory(limits=SocketLimits(**ROOMY))
    client = await open_socket(desk, mint_token(jwt_secret, "ann"))
    for i in range(1000):
        await client.send(ping={"clientTsNs": i})
    replies = [await client.recv_until(lambda m: m["which"] in ("pong", "error")) for _ in range(1000)]
    codes = {r["code"] for r in replies if r["which"] == "error"}
    assert codes == {"rateLimited"}
    assert desk.sockets.statistics().refused["rateLimited"] == sum(r["which"] == "error" for r in replies)


async def test_frame_when_65_kib_then_too_large_and_socket_stays(desk, open_socket, jwt_secret):
    """A 65 KiB frame gets tooLarge without being decoded; the socket keeps working."""
    client = await open_socket(desk, mint_token(jwt_secret, "ann"))
    await client.ws.send_bytes(b"\x00" * (65 * 1024))
    assert (await client.recv_until(is_message("error")))["code"] == "tooLarge"
    await client.send(ping={"clientTsNs": 3})
    assert (await client.recv_until(is_message("pong")))["clientTsNs"] == 3


async def test_origin_when_not_allowed_then_403_before_upgrade(desk, open_socket):
    """A browser socket from another site is refused with HTTP 403 before the upgrade (counted forbidden)."""
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_socket(desk, origin="http://evil.example")
    assert refused.value.status == 403
    await open_socket(desk, origin=f"http://127.0.0.1:{desk.port}")
    await open_socket(desk, origin=f"http://localhost:{desk.port}")
    for other in ("http://localhost:5173", f"http://localhost:{desk.port + 1}"):  # another local site
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await open_socket(desk, origin=other)
        assert refused.value.status == 403
    stats = desk.sockets.statistics()
    assert stats.origins_refused == 3 and stats.refused["forbidden"] == 3


async def test_origin_when_allow_list_configured_then_only_listed_origins_upgraded(desk_factory, open_socket,
                                                                                   jwt_secret):
    """With allowed_origins set, localhost is no longer implied; listed origins authenticate as usual."""
    desk = await desk_factory(limits=SocketLimits(allowed_origins=("https://desk.lan",)))
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await open_socket(desk, origin=f"http://127.0.0.1:{desk.port}")
    await open_socket(desk, mint_token(jwt_secret, "ann"), origin="https://desk.lan")


async def test_refusals_when_under_bad_input_limit_then_socket_survives_then_1008_past_it(
        desk_factory, open_socket, jwt_secret):
    """Every kind of refusal counts towards max_bad_frames: the socket answers until the limit, one more closes it."""
    desk = await desk_factory(limits=SocketLimits(max_bad_frames=6, message_burst=7))
    await wait_groups(desk, 2)
    desk.sockets.clock = SteppedClock()
    client = await open_socket(desk, mint_token(jwt_secret, "ann", groups=["rb"]))
    await client.send(subscribe={"groups": ["IF"]})                 # forbidden
    await client.ws.send_bytes(b"\xff" * 24)                         # malformed
    await client.ws.send_bytes(b"\x00" * (65 * 1024))                # tooLarge
    await client.send(subscribe={"groups": ["bad name!"]})           # malformed (charset)
    await client.send(subscribe={"groups": ["g"] * 65})              # limitExceeded (list length)
    await client.send(ping={"clientTsNs": 1})                        # the 6th frame passes
    await client.send(ping={"clientTsNs": 2})                        # the 7th too: the bucket holds 7
    codes = [(await client.recv_until(is_message("error")))["code"] for _ in range(5)]
    assert codes == ["forbidden", "malformed", "tooLarge", "malformed", "limitExceeded"]
    await client.recv_until(is_message("pong", clientTsNs=2))
    await client.send(ping={"clientTsNs": 3})                        # rateLimited: the 6th refusal, still open
    assert (await client.recv_until(is_message("error")))["code"] == "rateLimited"
    await client.send(ping={"clientTsNs": 4})                        # the 7th refusal closes
    assert (await client.recv_until(is_message("error")))["code"] == "rateLimited"
    assert (await client.recv_until(is_message("closed")))["code"] == 1008
    stats = desk.sockets.statistics()
    assert stats.closed_bad_input == 1 and stats.frames_refused == 7
    assert stats.frames_received == stats.frames_forwarded + stats.frames_handled + stats.frames_refused


@pytest.mark.parametrize("member, code", [
    ({"subscribe": {"groups": ["x" * 65]}}, "tooLarge"),
    ({"subscribe": {"groups": [""]}}, "malformed"),
    ({"subscribe": {"groups": ["rb\u00e9"]}}, "malformed"),
    ({"unsubscribe": {"groups": ["g"] * 100}}, "limitExceeded"),
    ({"snapshotRequest": {"group": "../../etc"}}, "malformed"),
    ({"refresh": {"token": "t" * 9000}}, "tooLarge"),
    ({"auth": {"token": "again"}}, "unknownMessage"),
])
async def test_message_when_valid_but_wrong_then_refused_with_code(desk, open_socket, jwt_secret, member, code):
    """Decodable messages with wrong contents are refused at the socket server with a stable code."""
    client = await open_socket(desk, mint_token(jwt_secret, "ann"))
    message_id = await client.send(**member)
    error = await client.recv_until(is_message("error"))
    assert error["code"] == code and error["envelope"]["correlationId"] == message_id


async def test_envelope_when_source_too_long_then_too_large(desk, open_socket, jwt_secret):
    """An envelope source over max_text_chars is refused with tooLarge."""
    import schemas

    client = await open_socket(desk, mint_token(jwt_secret, "ann"))
    message = schemas.stream.ClientMessage.new_message(ping={"clientTsNs": 1})
    message.init("envelope").source = "s" * 1000
    await client.ws.send_bytes(message.to_bytes())
    assert (await client.recv_until(is_message("error")))["code"] == "tooLarge"


async def test_http_when_request_line_never_completes_then_server_closes_within_header_timeout(start_desk):
    """A slowloris connection (a partial request line, then silence) is closed by the desk, not held forever."""
    desk = await start_desk(contracts=20, rate=20.0, http_header_timeout_s=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", desk.port)
    try:
        writer.write(b"GET /healthz HTT")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # EOF: the server closed it
    finally:
        writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", desk.port)
    try:  # a complete request is still served
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 200")
    finally:
        writer.close()


def test_desk_config_when_header_timeout_not_positive_then_config_error():
    """http_header_timeout_s must be > 0 (0 would turn aiohttp's timeout off)."""
    from transport.process.app import DeskConfig

    with pytest.raises(ConfigError):
        DeskConfig(http_header_timeout_s=0)
