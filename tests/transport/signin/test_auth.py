"""Tokens and rights: PyJWT HS256/RS256 verification, claims, expiry, refresh, groups, secrets (real sockets on loopback)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import aiohttp
import jwt
import pytest
import structlog

from actors.sessions.session import SessionState
from tests.transport.conftest import is_message, wait_groups
from transport.signin.auth import AuthConfig, Principal, TokenVerifier, mint_token
from transport.process.cli import main as cli_main
from transport.errors import AuthError, ConfigError

ISSUER = "https://issuer.desk.lan"
AUDIENCE = "tickstage"


@pytest.fixture(scope="module")
def rsa_keys(tmp_path_factory):
    """An RSA key pair of the issuer, and another one of a forger: (private PEM, public key file, forger PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def pair():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return private, public

    folder = tmp_path_factory.mktemp("keys")
    private, public = pair()
    forger, _ = pair()
    (folder / "issuer.pub.pem").write_bytes(public)
    (folder / "issuer.pem").write_text(private)
    return private, str(folder / "issuer.pub.pem"), forger, str(folder / "issuer.pem")


def _claims(token: str) -> dict:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


# -- verification without sockets ------------------------------------------------


def test_verify_when_claims_complete_then_principal_carries_accounts_and_groups(jwt_secret):
    """sub, role, accounts and groups claims land on the Principal."""
    token = mint_token(jwt_secret, "ann", "trader", 60, accounts=["acct-01", "acct-02"], groups=["rb", "IF"])
    principal = TokenVerifier(AuthConfig(), jwt_secret).verify(token)
    assert principal.user == "ann" and principal.role == "trader"
    assert principal.accounts == ("acct-01", "acct-02")
    assert principal.groups == frozenset({"rb", "IF"})
    assert principal.may_see_group("rb") and not principal.may_see_group("cu")


def test_verify_when_groups_absent_then_every_group_allowed_and_no_account(jwt_secret):
    """Without a groups claim every group is allowed; without accounts none may be traded."""
    principal = TokenVerifier(AuthConfig(), jwt_secret).verify(mint_token(jwt_secret, "bob"))
    assert principal.groups is None and principal.may_see_group("anything")
    assert principal.accounts == () and not principal.may_trade("acct-01")


def test_may_trade_when_trader_then_own_accounts_only_and_admin_all():
    """A trader trades the accounts of their claim; an admin every account."""
    trader = Principal("ann", "trader", 0.0, accounts=("acct-01",))
    admin = Principal("ops", "admin", 0.0)
    assert trader.may_trade("acct-01") and not trader.may_trade("acct-02")
    assert admin.may_trade("acct-02") and admin.may_see_group("rb") and admin.is_admin


def test_session_state_may_trade_when_principal_set_then_follows_its_accounts():
    """SessionState exposes the accounts claim and may_trade for the order path."""
    state = SessionState("ann", "trader", principal=Principal("ann", "trader", 0.0, accounts=("acct-01",)))
    assert state.accounts == ("acct-01",)
    assert state.may_trade("acct-01") and not state.may_trade("acct-02")
    assert not SessionState("bare", "trader").may_trade("acct-01")


@pytest.mark.parametrize("claims, reason", [
    ({"accounts": "acct-01"}, "accounts claim"),
    ({"accounts": [1, 2]}, "accounts claim"),
    ({"groups": "rb"}, "groups claim"),
    ({"groups": ["x" * 500]}, "groups claim"),
    ({"role": "root"}, "unknown role"),
    ({"sub": ""}, "sub claim"),
])
def test_verify_when_claim_has_wrong_shape_then_unauthenticated(jwt_secret, claims, reason):
    """A signed token whose tickstage claims have the wrong type or size is refused."""
    now = int(time.time())
    token = jwt.encode({"sub": "ann", "iat": now, "exp": now + 60, **claims}, jwt_secret, "HS256")
    with pytest.raises(AuthError) as refused:
        TokenVerifier(AuthConfig(), jwt_secret).verify(token)
    assert refused.value.code == "unauthenticated" and reason in str(refused.value)


def test_verify_when_alg_none_then_unauthenticated(jwt_secret):
    """An unsigned token (alg none) is refused."""
    now = int(time.time())
    token = jwt.encode({"sub": "ann", "role": "admin", "iat": now, "exp": now + 60}, None, "none")
    with pytest.raises(AuthError):
        TokenVerifier(AuthConfig(), jwt_secret).verify(token)


def test_verify_when_hs256_signed_with_public_key_on_rs256_desk_then_unauthenticated(rsa_keys):
    """Algorithm confusion: an HS256 token keyed with the RS256 public key is refused."""
    _, public_file, _, _ = rsa_keys
    now = int(time.time())
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps({"sub": "m", "role": "admin", "iat": now,
                                                "exp": now + 60}).encode()).rstrip(b"=")
    import hashlib
    import hmac

    signature = hmac.new(Path(public_file).read_bytes(), header + b"." + body, hashlib.sha256).digest()
    token = (header + b"." + body + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()
    with pytest.raises(AuthError):
        TokenVerifier(AuthConfig(algorithm="RS256", public_key_file=public_file)).verify(token)


def test_verifier_when_secret_short_or_key_file_missing_then_config_error(tmp_path):
    """A desk refuses to start with a secret under 32 bytes or an unreadable RS256 key file."""
    with pytest.raises(ConfigError):
        TokenVerifier(AuthConfig(), "short")
    with pytest.raises(ConfigError):
        TokenVerifier(AuthConfig(algorithm="RS256", public_key_file=str(tmp_path / "missing.pem")))
    (tmp_path / "bad.pem").write_text("not a key")
    with pytest.raises(ConfigError):
        TokenVerifier(AuthConfig(algorithm="RS256", public_key_file=str(tmp_path / "bad.pem")))
    with pytest.raises(ConfigError):
        AuthConfig(algorithm="RS256")


def test_token_cli_when_claims_given_then_token_carries_them_and_says_development(jwt_secret, capsys):
    """`tickstage token` mints accounts, groups, iss and aud, and says it is for development."""
    assert cli_main(["token", "--user", "ann", "--jwt-secret", jwt_secret, "--accounts", "a1,a2",
                     "--groups", "rb", "--iss", ISSUER, "--aud", AUDIENCE]) == 0
    out = capsys.readouterr()
    assert "development" in out.err and jwt_secret not in out.out + out.err
    claims = _claims(out.out.strip())
    assert claims["accounts"] == ["a1", "a2"] and claims["groups"] == ["rb"]
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE


def test_token_cli_when_private_key_file_then_rs256_token_verifies(rsa_keys, capsys):
    """`tickstage token --private-key-file` mints an RS256 token the public key verifies."""
    _, public_file, _, private_file = rsa_keys
    assert cli_main(["token", "--user", "ann", "--role", "admin", "--private-key-file", private_file]) == 0
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier(AuthConfig(algorithm="RS256", public_key_file=public_file)).verify(token)
    assert principal.user == "ann" and principal.is_admin


def test_token_cli_when_secret_short_then_exit_2(capsys):
    """`tickstage token` refuses a secret under 32 bytes."""
    assert cli_main(["token", "--user", "ann", "--jwt-secret", "short"]) == 2
    assert "32 bytes" in capsys.readouterr().err


# -- tokens on real sockets ------------------------------------------------------------


async def _refused(open_socket, desk, token: str) -> dict:
    client = await open_socket(desk, token, expect_ack=False)
    error = await client.recv()
    assert (await client.recv()) == {"which": "closed", "code": 1008}
    return error


async def test_auth_when_rs256_token_valid_then_ack_and_forged_signature_refused(desk_factory, open_socket,
                                                                                rsa_keys):
    """An RS256 desk takes its issuer's token and refuses one signed by another key."""
    private, public_file, forger, _ = rsa_keys
    desk = await desk_factory(auth=AuthConfig(algorithm="RS256", public_key_file=public_file))
    await open_socket(desk, mint_token(private, "ann", algorithm="RS256"))
    error = await _refused(open_socket, desk, mint_token(forger, "mallory", "admin", algorithm="RS256"))
    assert error["code"] == "unauthenticated" and "signature" in error["message"]
    assert desk.sockets.statistics().refused["unauthenticated"] == 1


async def test_auth_when_audience_or_issuer_wrong_then_unauthenticated(desk_factory, open_socket, jwt_secret):
    """A desk with iss and aud configured refuses other audiences, other issuers and tokens lacking them."""
    desk = await desk_factory(auth=AuthConfig(issuer=ISSUER, audience=AUDIENCE))
    await open_socket(desk, mint_token(jwt_secret, "ann", issuer=ISSUER, audience=AUDIENCE))
    wrong_audience = await _refused(open_socket, desk, mint_token(jwt_secret, "ann", issuer=ISSUER, audience="x"))
    assert wrong_audience["code"] == "unauthenticated" and "audience" in wrong_audience["message"]
    wrong_issuer = await _refused(open_socket, desk, mint_token(jwt_secret, "ann", issuer="evil", audience=AUDIENCE))
    assert "issuer" in wrong_issuer["message"]
    lacking = await _refused(open_socket, desk, mint_token(jwt_secret, "ann"))
    assert lacking["code"] == "unauthenticated"


async def test_auth_when_token_not_yet_valid_then_unauthenticated(desk, open_socket, jwt_secret):
    """A token whose nbf is in the future is refused."""
    error = await _refused(open_socket, desk, mint_token(jwt_secret, "ann", not_before_s=600))
    assert error["code"] == "unauthenticated" and "not yet valid" in error["message"]


async def test_auth_when_token_expired_then_token_expired_and_1008(desk, open_socket, jwt_secret):
    """An expired token is refused with tokenExpired."""
    error = await _refused(open_socket, desk, mint_token(jwt_secret, "ann", ttl_s=-10))
    assert error["code"] == "tokenExpired"


async def test_auth_when_token_missing_then_unauthenticated(desk, open_socket):
    """An auth message without a token is refused."""
    error = await _refused(open_socket, desk, "")
    assert error["code"] == "unauthenticated" and "missing" in error["message"]


async def test_socket_when_token_expires_then_error_token_expired_and_closed_1008(desk, open_socket, jwt_secret):
    """A socket whose token reaches exp gets error(tokenExpired) and is closed with 1008."""
    # exp is whole seconds: ttl 1 s can expire before a loaded machine finishes the handshake
    client = await open_socket(desk, mint_token(jwt_secret, "ann", ttl_s=3))
    error = await client.recv_until(is_message("error"), timeout_s=10)
    assert error["code"] == "tokenExpired"
    assert (await client.recv(timeout_s=5)) == {"which": "closed", "code": 1008}
    assert desk.sockets.statistics().tokens_expired == 1


async def test_refresh_when_before_expiry_then_acked_and_socket_outlives_first_token(desk, open_socket, jwt_secret):
    """A refresh with a new token before exp re-arms expiry: the socket keeps working past the first exp."""
    first = mint_token(jwt_secret, "ann", ttl_s=2)
    client = await open_socket(desk, first)
    refresh_id = await client.send(refresh={"token": mint_token(jwt_secret, "ann", ttl_s=3600)})
    ack = await client.recv_until(is_message("ack", of="refresh"))
    assert ack["envelope"]["correlationId"] == refresh_id
    await asyncio.sleep(max(0.0, _claims(first)["exp"] - time.time()) + 0.5)  # past the first token's exp
    await client.send(ping={"clientTsNs": 9})
    assert (await client.recv_until(is_message("pong")))["clientTsNs"] == 9
    stats = desk.sockets.statistics()
    assert stats.tokens_refreshed == 1 and stats.tokens_expired == 0


async def test_refresh_when_other_user_or_expired_then_refused_and_socket_stays(desk, open_socket, jwt_secret):
    """A refresh for another user is forbidden, an expired one tokenExpired; the socket keeps its token."""
    client = await open_socket(desk, mint_token(jwt_secret, "ann"))
    await client.send(refresh={"token": mint_token(jwt_secret, "bob", "admin")})
    assert (await client.recv_until(is_message("error")))["code"] == "forbidden"
    await client.send(refresh={"token": mint_token(jwt_secret, "ann", ttl_s=-5)})
    assert (await client.recv_until(is_message("error")))["code"] == "tokenExpired"
    await client.send(refresh={"token": "garbage"})
    assert (await client.recv_until(is_message("error")))["code"] == "unauthenticated"
    await client.send(ping={"clientTsNs": 1})
    assert (await client.recv_until(is_message("pong")))["clientTsNs"] == 1


async def test_refresh_when_groups_narrowed_then_revoked_group_unsubscribed(desk, open_socket, jwt_secret):
    """A refresh whose groups claim drops a subscribed group unsubscribes it; later subscribes are forbidden."""
    await wait_groups(desk, 2)
    client = await open_socket(desk, mint_token(jwt_secret, "ann", groups=["rb", "cu"]))
    await client.send(subscribe={"groups": ["rb", "cu"]})
    await client.recv_until(is_message("ack", of="subscribe"))
    await client.send(refresh={"token": mint_token(jwt_secret, "ann", groups=["rb"])})
    await client.recv_until(is_message("ack", of="refresh"))
    await client.recv_until(is_message("ack", of="unsubscribe"))
    await client.send(subscribe={"groups": ["cu"]})
    assert (await client.recv_until(is_message("error")))["code"] == "forbidden"


# -- rights ---------------------------------------------------------------------


async def test_subscribe_when_group_not_allowed_by_token_then_forbidden(desk, open_socket, jwt_secret):
    """A trader whose token allows rb is refused IF with forbidden, and nothing of the message is subscribed."""
    await wait_groups(desk, 2)
    client = await open_socket(desk, mint_token(jwt_secret, "ann", groups=["rb"]))
    await client.send(subscribe={"groups": ["rb", "IF"]})
    error = await client.recv_until(is_message("error"))
    assert error["code"] == "forbidden" and "IF" in error["message"]
    await client.send(snapshotRequest={"group": "IF"})
    assert (await client.recv_until(is_message("error")))["code"] == "forbidden"
    await client.send(subscribe={"groups": ["rb"]})
    assert (await client.recv_until(is_message("groupInfo")))["group"] == "rb"
    assert desk.sockets.statistics().refused["forbidden"] == 2


async def test_subscribe_when_admin_with_groups_claim_then_every_group_allowed(desk, open_socket, jwt_secret):
    """An admin sees every group, whatever the groups claim says."""
    await wait_groups(desk, 2)
    client = await open_socket(desk, mint_token(jwt_secret, "ops", "admin", groups=["rb"]))
    await client.send(subscribe={"groups": ["IF"]})
    assert (await client.recv_until(is_message("groupInfo")))["group"] == "IF"


async def test_api_groups_when_trader_limited_then_lists_allowed_groups_only(desk, jwt_secret):
    """/api/groups lists the groups the token allows; no token gets 401."""
    await wait_groups(desk, 2)
    url = f"http://127.0.0.1:{desk.port}/api/groups"
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {mint_token(jwt_secret, 'ann', groups=['rb'])}"}
        async with http.get(url, headers=headers) as response:
            assert [g["name"] for g in (await response.json())["groups"]] == ["rb"]
        async with http.get(url) as response:
            assert response.status == 401 and (await response.json()) == {"error": "unauthenticated"}


# -- secrets ---------------------------------------------------------------------------


async def test_logs_when_auth_fails_then_neither_secret_nor_token_logged(desk, open_socket, jwt_secret):
    """Refused, expired and accepted tokens leave no token or secret in logs or error messages."""
    forged = mint_token("another-secret-of-thirty-two-bytes!!", "mallory", "admin")
    expired = mint_token(jwt_secret, "ann", ttl_s=-10)
    good = mint_token(jwt_secret, "ann")
    with structlog.testing.capture_logs() as logs:
        errors = [await _refused(open_socket, desk, token) for token in (forged, expired, "x" * 300)]
        client = await open_socket(desk, good)
        await client.send(refresh={"token": forged})
        errors.append(await client.recv_until(is_message("error")))
    text = repr(logs) + repr(errors)
    assert any(entry["event"] == "socket_refused" for entry in logs)
    for secret in (jwt_secret, forged, expired, good, forged.split(".")[2], good.split(".")[2], "x" * 300):
        assert secret not in text


async def test_index_page_when_served_then_no_secret_in_source(desk, jwt_secret):
    """GET / and the UI scripts do not carry the JWT secret."""
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/app.js", "/worker.js", "/feed.js"):
            async with http.get(f"http://127.0.0.1:{desk.port}{path}") as response:
                assert response.status == 200
                assert jwt_secret not in await response.text()


async def test_admin_routes_when_rs256_desk_then_trader_403_forged_admin_401_admin_200(desk_factory, rsa_keys):
    """Admin routes read the desk's verifier: a trader is forbidden, a forged admin unauthenticated."""
    private, public_file, forger, _ = rsa_keys
    desk = await desk_factory(auth=AuthConfig(algorithm="RS256", public_key_file=public_file))
    url = f"http://127.0.0.1:{desk.port}/admin/tree"
    async with aiohttp.ClientSession() as http:
        for key, role, status in ((private, "trader", 403), (forger, "admin", 401), (private, "admin", 200)):
            headers = {"Authorization": f"Bearer {mint_token(key, 'ann', role, algorithm='RS256')}"}
            async with http.get(url, headers=headers) as response:
                assert response.status == status, (role, status)


async def test_refresh_when_role_changes_then_forbidden_and_socket_keeps_its_role(desk, open_socket, jwt_secret):
    """A trader's socket cannot become an admin's by refresh (nor an admin's a trader's): forbidden, role kept."""
    client = await open_socket(desk, mint_token(jwt_secret, "ann", "trader"))
    await client.send(refresh={"token": mint_token(jwt_secret, "ann", "admin")})
    error = await client.recv_until(is_message("error"))
    assert error["code"] == "forbidden" and "role" in error["message"]
    (conn,) = [c for c in desk.sockets.connections.values() if c.state.user == "ann"]
    assert (conn.state.role, conn.state.principal.role) == ("trader", "trader")
    await client.send(refresh={"token": mint_token(jwt_secret, "ann", "trader")})
    assert (await client.recv_until(is_message("ack", of="refresh")))["of"] == "refresh"


def _token_with(claims: dict, secret: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "ann", "iat": now, "exp": now + 60, **claims}, secret, "HS256")


@pytest.mark.parametrize(("claims", "reason"), [
    ({"exp": 10**400}, "malformedToken"),
    ({"exp": 2**64}, "malformedToken"),
    ({"nbf": -(10**30)}, "malformedToken"),
    ({"exp": int(time.time()) + 25 * 3600}, "lifetimeTooLong"),
])
async def test_token_when_time_claim_absurd_or_too_long_then_refused_over_http_and_ws(
        http, desk, open_socket, jwt_secret, claims, reason):
    """Huge or out-of-range exp/iat/nbf are malformed, an exp past 24 h is lifetimeTooLong: 401 and close 1008."""
    bad = _token_with(claims, jwt_secret)
    async with http.get("/admin/tree", headers={"Authorization": f"Bearer {bad}"}) as response:
        assert response.status == 401
        body = await response.json()
    assert (body["error"], body["reason"]) == ("unauthenticated", reason)
    async with http.get("/api/groups", headers={"Authorization": f"Bearer {bad}"}) as response:
        assert response.status == 401
    error = await _refused(open_socket, desk, bad)
    assert error["code"] == "unauthenticated"
    assert ("malformed token" if reason == "malformedToken" else reason) in error["message"]


def test_token_verifier_when_max_lifetime_configured_then_applied(jwt_secret):
    """[auth] max_lifetime_s bounds exp - now; a longer-lived desk setting accepts a longer token."""
    week = _token_with({"exp": int(time.time()) + 7 * 86400}, jwt_secret)
    with pytest.raises(AuthError) as refused:
        TokenVerifier(AuthConfig(), jwt_secret).verify(week)
    assert refused.value.reason == "lifetimeTooLong"
    assert TokenVerifier(AuthConfig(max_lifetime_s=8 * 86400), jwt_secret).verify(week).user == "ann"
    with pytest.raises(ConfigError):
        AuthConfig(max_lifetime_s=0)
