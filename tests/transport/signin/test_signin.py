"""The embedded issuer over real HTTP on loopback: sign-in, refresh rotation, refusals (each audited), CSRF,
durability of revocations, development mode, and RS256 tokens verified against a JWKS server with key rotation."""

from __future__ import annotations

import asyncio
import os
import stat
import time

import aiohttp
import jwt
import pytest
from aiohttp import web

from tests.transport.signin.test_users import CHEAP
from transport.signin.auth import AuthConfig, TokenVerifier, mint_token
from transport.signin.auth_api import CSRF_HEADER, REFRESH_COOKIE
from transport.process.cli import main as cli_main
from transport.signin.issuer import IssuerConfig, RefreshError, RefreshStore
from transport.signin.users import UsersFile

PASSWORD = "correct horse battery"
SAME_SITE = {CSRF_HEADER: "1"}


@pytest.fixture
async def signin_desk(start_desk, tmp_path):
    """A synthetic-market desk with users ann (trader, acct-01) and ops (admin); its state in tmp_path."""
    users = UsersFile(tmp_path / "users.json", CHEAP)
    users.add("ann", PASSWORD, "trader", ["acct-01"], ["rb", "IF"])
    users.add("ops", PASSWORD, "admin")
    users.add("cat", PASSWORD, "trader", entitlements={"CFFEX": ["l1"], "*": ["l1", "oi", "depth"]})

    async def _start(**issuer):
        config = IssuerConfig(**{"access_ttl_s": 60, "max_failures": 3, "lockout_s": 600, **issuer})
        return await start_desk(contracts=40, rate=50.0, state_dir=str(tmp_path), issuer=config)

    return _start


@pytest.fixture
async def client():
    """aiohttp clients on a desk, each with its own cookie jar (a browser); all closed at the end."""
    sessions = []

    def _client(desk) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(base_url=f"http://127.0.0.1:{desk.port}",
                                        cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        return session

    yield _client
    for session in sessions:
        await session.close()


async def _login(http, user: str = "ann", password: str = PASSWORD, headers=SAME_SITE):
    async with http.post("/auth/login", json={"user": user, "password": password}, headers=headers) as response:
        return response.status, await response.json(), response


async def _refresh(http, headers=SAME_SITE):
    async with http.post("/auth/refresh", headers=headers) as response:
        return response.status, await response.json()


def _audit(desk, action: str) -> list[tuple[str, str]]:
    return [(r.user, r.result) for r in desk.admin.audit.records() if r.action == action]


def _cookie(http) -> str:
    return next(c.value for c in http.cookie_jar if c.key == REFRESH_COOKIE)


async def test_login_when_password_right_then_access_token_and_httponly_strict_refresh_cookie(signin_desk, client,
                                                                                            open_socket):
    """A sign-in returns a short-lived token the desk verifies (socket acked) and an HttpOnly SameSite=Strict
    refresh cookie on /auth; a refresh rotates the cookie and returns a new token; it is audited."""
    desk = await signin_desk()
    http = client(desk)
    status, body, response = await _login(http)
    assert status == 200, body
    principal = desk.verifier.verify(body["access_token"])
    assert (principal.user, principal.role, principal.accounts) == ("ann", "trader", ("acct-01",))
    assert principal.groups == frozenset({"rb", "IF"})
    assert 55 <= body["expires_in"] <= 60
    cookie = response.cookies[REFRESH_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/auth"
    first = _cookie(http)
    status, renewed = await _refresh(http)
    assert status == 200 and renewed["user"] == "ann"
    assert _cookie(http) != first
    socket = await open_socket(desk, renewed["access_token"])
    await socket.send(refresh={"token": body["access_token"]})  # an older token of the same user is still valid
    assert (await socket.recv_until(lambda m: m["which"] in ("ack", "error") and m.get("of") != "subscribe"))[
        "which"] == "ack"
    assert ("ann", "ok") in _audit(desk, "login")


async def test_login_when_desk_checks_iss_and_aud_then_issued_tokens_carry_them(start_desk, tmp_path, client):
    """A desk with [auth] issuer and audience verifies the tokens its own issuer signs."""
    UsersFile(tmp_path / "users.json", CHEAP).add("ann", PASSWORD)
    desk = await start_desk(contracts=20, rate=20.0, state_dir=str(tmp_path),
                            auth=AuthConfig(issuer="https://desk.lan", audience="tickstage"))
    status, body, _ = await _login(client(desk))
    assert status == 200 and desk.verifier.verify(body["access_token"]).user == "ann"


async def test_login_when_password_wrong_or_user_unknown_then_same_401_and_audited(signin_desk, client):
    """Wrong password and unknown user get the same answer (no user enumeration); both are audited."""
    desk = await signin_desk()
    http = client(desk)
    wrong = await _login(http, "ann", "not the password")
    unknown = await _login(http, "nobody", "not the password")
    assert wrong[0] == unknown[0] == 401
    assert wrong[1] == unknown[1] == {"error": "invalidCredentials", "message": "wrong user or password"}
    assert _audit(desk, "login") == [("ann", "invalidCredentials"), ("nobody", "invalidCredentials")]


async def test_login_when_failures_reach_the_limit_then_locked_out_even_with_the_right_password(signin_desk, client):
    """After max_failures failures a user is locked (429, Retry-After) even with the right password; audited."""
    desk = await signin_desk(max_failures=3)
    http = client(desk)
    for _ in range(3):
        assert (await _login(http, "ann", "not the password"))[0] == 401
    status, body, response = await _login(http)
    assert status == 429 and body["error"] == "lockedOut"
    assert int(response.headers["Retry-After"]) > 0
    assert ("ann", "lockedOut") in _audit(desk, "login")
    desk.auth_api.throttle.clock = lambda: time.monotonic() + 601  # the lock-out window has passed
    assert (await _login(http))[0] == 200


async def test_login_when_one_address_fails_for_many_names_then_address_locked_out(signin_desk, client):
    """Failures count per address too: guessing across many names locks the address out."""
    desk = await signin_desk(max_failures=3)
    http = client(desk)
    for name in ("a1", "a2", "a3"):
        assert (await _login(http, name, "not the password"))[0] == 401
    assert (await _login(http, "ops"))[1]["error"] == "lockedOut"


async def test_refresh_when_token_reused_then_family_revoked_audited_and_still_revoked_after_restart(
        signin_desk, client, start_desk, tmp_path):
    """A refresh token presented twice revokes its family: the reuse and the legitimate next token are both
    refused, audited, and stay refused by a new desk on the same state folder."""
    desk = await signin_desk()
    user, thief = client(desk), client(desk)
    await _login(user)
    stolen = _cookie(user)
    assert (await _refresh(user))[0] == 200
    thief.cookie_jar.update_cookies({REFRESH_COOKIE: stolen})
    status, body = await _refresh(thief)
    assert (status, body["error"]) == (401, "refreshReused")
    status, body = await _refresh(user)
    assert (status, body["error"]) == (401, "refreshRevoked")
    assert ("ann", "refreshReused") in _audit(desk, "refresh") and ("ann", "refreshRevoked") in _audit(desk, "refresh")
    next_token = stolen
    await desk.stop()
    store = RefreshStore(tmp_path / "refresh.sqlite3")  # what a restarted desk reads
    with pytest.raises(RefreshError) as refused:
        store.rotate(next_token)
    assert refused.value.code == "refreshRevoked"
    store.close()


async def test_refresh_when_family_expired_or_cookie_missing_then_401_and_audited(signin_desk, client):
    """A refresh after the sign-in's refresh lifetime, or without a cookie, is refused and audited."""
    desk = await signin_desk(refresh_ttl_s=120)
    http = client(desk)
    await _login(http)
    desk.auth_api.now = lambda: time.time() + 121
    status, body = await _refresh(http)
    assert (status, body["error"]) == (401, "refreshExpired")
    status, body = await _refresh(client(desk))
    assert (status, body["error"]) == (401, "refreshInvalid")
    assert [result for _, result in _audit(desk, "refresh")] == ["refreshExpired", "refreshInvalid"]


@pytest.mark.parametrize("headers", [{"Origin": "http://evil.example"},
                                     {"Origin": "http://evil.example", CSRF_HEADER: "1"},
                                     {}])
async def test_refresh_when_cross_site_then_403_csrf_audited_and_cookie_not_rotated(signin_desk, client, headers):
    """A cross-site POST (a form: no X-Tickstage; or a foreign Origin) is refused 403 and rotates nothing."""
    desk = await signin_desk()
    http = client(desk)
    await _login(http)
    before = _cookie(http)
    async with http.post("/auth/refresh", headers=headers) as response:
        assert response.status == 403 and (await response.json())["error"] == "csrf"
    async with http.post("/auth/logout", headers=headers) as response:
        assert response.status == 403
    assert _cookie(http) == before
    assert [result for _, result in _audit(desk, "refresh")] == ["csrf"]
    origin = {"Origin": f"http://127.0.0.1:{desk.port}", CSRF_HEADER: "1"}
    assert (await _refresh(http, origin))[0] == 200


async def test_logout_when_signed_in_then_family_revoked_and_cookie_cleared(signin_desk, client):
    """Sign-out revokes the family: its refresh token no longer works."""
    desk = await signin_desk()
    http = client(desk)
    await _login(http)
    token = _cookie(http)
    async with http.post("/auth/logout", headers=SAME_SITE) as response:
        assert response.status == 204
    http.cookie_jar.update_cookies({REFRESH_COOKIE: token})
    assert (await _refresh(http))[1]["error"] == "refreshRevoked"
    assert ("ann", "ok") in _audit(desk, "logout")


async def test_login_when_users_file_corrupted_then_503_with_reason_and_desk_keeps_serving(signin_desk, client,
                                                                                          tmp_path):
    """A users file corrupted on disk refuses sign-ins with its fault; the desk and its tokens go on."""
    desk = await signin_desk()
    http = client(desk)
    (tmp_path / "users.json").write_text('{"version": 1, "users": {"ann": 7}}')
    status, body, _ = await _login(http)
    assert status == 503 and body["error"] == "usersFileInvalid" and "users.json" in body["message"]
    async with http.get("/healthz") as response:
        assert response.status == 200


@pytest.mark.parametrize("body", [b"", b"[]", b"{", b'{"user": 1, "password": 2}', b"x" * 10_000,
                                  b'{"user": "' + b"u" * 5000 + b'", "password": "p"}'])
async def test_login_when_body_malformed_then_400_or_401_never_500(signin_desk, client, body):
    """Malformed or huge sign-in bodies get a clear 4xx."""
    desk = await signin_desk()
    async with client(desk).post("/auth/login", data=body, headers=SAME_SITE) as response:
        assert response.status in (400, 401), await response.text()


async def test_token_cli_when_development_desk_then_signs_with_the_kept_0600_secret(start_desk, tmp_path, capsys):
    """A desk without a secret keeps one in <state_dir>/jwt-secret (0600); `tickstage token` signs with it."""
    desk = await start_desk(contracts=20, rate=20.0, jwt_secret="", state_dir=str(tmp_path))
    path = tmp_path / "jwt-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert cli_main(["token", "--user", "ann", "--jwt-secret", "", "--state-dir", str(tmp_path)]) == 0
    assert desk.verifier.verify(capsys.readouterr().out.strip().splitlines()[-1]).user == "ann"


# -- an outside issuer: RS256 keys from a JWKS URL ---------------------------------------------------------


def _rsa_key():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key, kid: str) -> dict:
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**public, "kid": kid, "alg": "RS256", "use": "sig"}


def _rs256(key, kid: str, user: str = "ann") -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + 300}, key, "RS256", headers={"kid": kid})


@pytest.fixture
async def jwks_server():
    """A JWKS endpoint on loopback serving ``server.keys``; ``server.fetches`` counts GETs."""
    app = web.Application()
    state = type("JwksServer", (), {"keys": [], "fetches": 0, "url": ""})()

    async def jwks(request):
        state.fetches += 1
        return web.json_response({"keys": state.keys})

    app.router.add_get("/.well-known/jwks.json", jwks)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/.well-known/jwks.json"
    yield state
    await runner.cleanup()


async def test_auth_when_jwks_key_rotated_then_new_kid_fetched_once_and_unknown_kid_refused(
        jwks_server, start_desk, open_socket):
    """RS256 tokens verify against the JWKS URL; a new kid (rotation) refetches the set once and is accepted;
    a kid the issuer never published is refused; the desk offers no password sign-in."""
    first, second = _rsa_key(), _rsa_key()
    jwks_server.keys = [_jwk(first, "k1")]
    desk = await start_desk(contracts=20, rate=20.0,
                            auth=AuthConfig(algorithm="RS256", jwks_url=jwks_server.url, jwks_cooldown_s=0))
    await open_socket(desk, _rs256(first, "k1"))
    await open_socket(desk, _rs256(first, "k1", "bob"))
    assert jwks_server.fetches == 1
    jwks_server.keys = [_jwk(first, "k1"), _jwk(second, "k2")]
    await open_socket(desk, _rs256(second, "k2"))
    assert jwks_server.fetches == 2
    forged = await open_socket(desk, _rs256(_rsa_key(), "k3"), expect_ack=False)
    refusal = await forged.recv()
    assert refusal["which"] == "error" and refusal["code"] == "unauthenticated"
    wrong_key = await open_socket(desk, _rs256(second, "k1"), expect_ack=False)  # k1's kid, k2's signature
    assert (await wrong_key.recv())["code"] == "unauthenticated"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{desk.url}auth/login", json={"user": "ann", "password": PASSWORD},
                             headers=SAME_SITE) as response:
            assert response.status == 404 and (await response.json())["error"] == "noIssuer"


def test_verifier_when_jwks_kid_not_cached_then_refused_without_blocking():
    """The synchronous path never fetches: an uncached kid is refused at once (HTTP routes, socket refresh)."""
    verifier = TokenVerifier(AuthConfig(algorithm="RS256", jwks_url="http://127.0.0.1:9/jwks.json"))
    with pytest.raises(PermissionError, match="kid"):
        verifier.verify(_rs256(_rsa_key(), "k1"))
    with pytest.raises(PermissionError):
        verifier.verify(mint_token("x" * 32, "ann"))  # HS256 token, no kid


async def test_verify_async_when_jwks_unreachable_then_unauthenticated_not_raised_further():
    """A JWKS URL that does not answer makes the token refused (unauthenticated), in bounded time."""
    verifier = TokenVerifier(AuthConfig(algorithm="RS256", jwks_url="http://127.0.0.1:9/jwks.json"))
    with pytest.raises(PermissionError):
        await asyncio.wait_for(verifier.verify_async(_rs256(_rsa_key(), "k1")), 10)


async def test_login_when_user_has_entitlements_then_issued_and_refreshed_tokens_carry_the_ent_claim(
        signin_desk, client):
    """The users file's entitlements become the ent claim of every token the issuer signs (sign-in and
    refresh), and the desk reads them back; a user without entitlements gets no claim (every field)."""
    desk = await signin_desk()
    http = client(desk)
    status, body, _ = await _login(http, "cat")
    assert status == 200, body
    principal = desk.verifier.verify(body["access_token"])
    assert principal.entitlements.as_dict() == {"*": ["depth", "l1", "oi"], "CFFEX": ["l1"]}
    assert not principal.entitlements.allows("CFFEX", "oi") and principal.entitlements.allows("SHFE", "oi")
    status, renewed = await _refresh(http)
    assert status == 200 and desk.verifier.verify(renewed["access_token"]).entitlements == principal.entitlements
    status, body, _ = await _login(client(desk), "ann")
    assert "ent" not in jwt.decode(body["access_token"], options={"verify_signature": False})
