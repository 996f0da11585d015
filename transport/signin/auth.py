"""JWT tokens for sockets and HTTP routes (PyJWT; transport/README.md, "Security").

A desk verifies one algorithm, chosen by :class:`AuthConfig`:

* ``HS256`` with the desk's shared secret (``--jwt-secret`` or
  ``TICKSTAGE_JWT_SECRET``, at least 32 bytes);
* ``RS256`` with an RSA public key read from a PEM file (the issuer keeps
  the private key; the desk cannot mint);
* ``RS256`` with the keys of an outside issuer's JWKS URL (``[auth]
  jwks_url``; PyJWT's ``PyJWKClient``): the token's ``kid`` picks the key;
  keys are cached for ``jwks_lifespan_s``; an unknown ``kid`` refetches the
  set once (key rotation), at most once per ``jwks_cooldown_s``. Fetches run
  in a worker thread (:meth:`TokenVerifier.verify_async`), never on the loop.

Registered claims checked: ``exp`` and ``iat`` (required), ``nbf`` (when
present), ``iss`` and ``aud`` (required and checked when configured). The
time claims must be integers or finite numbers within UNIX seconds 0 ..
:data:`MAX_TIME_CLAIM_S` (else ``malformedToken``), and ``exp`` at most
``max_lifetime_s`` (24 h by default) after now (else ``lifetimeTooLong``):
a token that never expires is a credential that can never be withdrawn.
tickstage claims: ``sub`` (user, required), ``role`` (``trader`` or
``admin``; absent means trader), ``accounts`` (list of account ids the user
may trade; absent means none), ``groups`` (list of market groups the user
may subscribe to; absent or null means all), ``ent`` (field-level
entitlements: exchange or ``"*"`` → field classes ``l1``, ``oi``, ``depth``;
absent or null means every field, actors/market/entitlements.py). Admins may
trade every account and see every group; an ``ent`` claim limits admins too
(a data licence binds the person, not the role). A user's own watchlist group (``watch-<user>``,
actors/market/watchlists.py) is seen by that user, whatever ``groups`` says,
and by admins; no other user sees it. Minting here is for development and tests
(``tickstage token``); production tokens come from the desk's issuer.

Nothing here logs or echoes a token or a key: error messages name only the
kind of failure.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
import structlog

from actors.market.entitlements import EVERYTHING, Entitlements
from actors.market.errors import EntitlementError
from actors.market.watchlists import is_watchlist_group, watchlist_group
from transport.errors import AuthError, ConfigError

_log = structlog.get_logger("transport.signin.auth")
ALGORITHMS = ("HS256", "RS256")
ROLES = ("trader", "admin")
MIN_SECRET_BYTES = 32
"""Shortest HS256 secret accepted (RFC 7518 §3.2: a key as long as the hash)."""
MAX_TOKEN_CHARS = 8 * 1024
"""Longest token looked at; longer is refused before decoding."""
MAX_CLAIM_ITEMS = 256
"""Most entries in the ``accounts`` or ``groups`` claim."""
MAX_CLAIM_CHARS = 128
"""Longest ``sub``, account id or group name in a claim."""
MAX_TIME_CLAIM_S = 2**41
"""Largest ``exp`` / ``iat`` / ``nbf`` looked at, UNIX seconds (year ~71,700): bigger is malformed."""
MAX_LIFETIME_S = 24 * 3600.0
"""Default longest time from now to a token's ``exp``, seconds."""


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for, and what they may do.

    Attributes:
        user: ``sub`` claim.
        role: ``"trader"`` or ``"admin"``.
        expires_ts: ``exp`` claim, seconds since UNIX epoch.
        accounts: ``accounts`` claim: account ids this user may trade and see.
        groups: ``groups`` claim: market groups this user may subscribe to;
            ``None`` means every group.
        entitlements: ``ent`` claim: the market data fields this user may receive, per
            exchange (:data:`~actors.market.entitlements.EVERYTHING` without the claim).
    """

    user: str
    role: str
    expires_ts: float
    accounts: tuple[str, ...] = ()
    groups: frozenset[str] | None = None
    entitlements: Entitlements = EVERYTHING

    @property
    def is_admin(self) -> bool:
        """True for the admin role (every account, every group, admin routes)."""
        return self.role == "admin"

    def may_trade(self, account: str) -> bool:
        """Return whether this user may submit, cancel and see orders of ``account``.

        Source: issue 6, "a trader acts on only their own accounts; admin sees all".
        """
        return self.is_admin or account in self.accounts

    @property
    def watchlist(self) -> str:
        """This user's own watchlist group, ``"watch-trader1"`` (it may not exist yet)."""
        return watchlist_group(self.user)

    def may_see_group(self, group: str) -> bool:
        """Return whether this user may subscribe to market group ``group``.

        A watchlist group (``watch-`` prefix) only by its owner and admins:
        the ``groups`` claim neither grants another user's nor withholds one's own.
        """
        if is_watchlist_group(group):
            return self.is_admin or group == self.watchlist
        return self.is_admin or self.groups is None or group in self.groups

    def may_list_group(self, group: str) -> bool:
        """Return whether ``GET /api/groups`` lists ``group`` to this user.

        As :meth:`may_see_group`, but only the user's own watchlist group: an
        admin may subscribe to another user's by name, it is not listed.
        """
        if is_watchlist_group(group):
            return group == self.watchlist
        return self.may_see_group(group)


@dataclass(frozen=True)
class AuthConfig:
    """How the desk verifies tokens (TOML ``[auth]``).

    Attributes:
        algorithm: ``"HS256"`` (shared secret) or ``"RS256"`` (public key file).
        public_key_file: PEM file of the issuer's RSA public key (RS256 only).
        issuer: required ``iss`` value; empty → not checked.
        audience: required ``aud`` value; empty → not checked (a token
            carrying an ``aud`` is then refused, as PyJWT does).
        leeway_s: clock skew allowed on ``exp``/``nbf``/``iat``, seconds.
        jwks_url: the outside issuer's JWKS (RS256 keys by ``kid``), instead of
            ``public_key_file``.
        jwks_lifespan_s: how long fetched keys are used before the set is fetched again, seconds.
        jwks_cooldown_s: shortest time between two fetches for an unknown ``kid``, seconds.
        max_lifetime_s: longest time from now to ``exp`` accepted, seconds (24 h); a token
            reaching further is refused (``lifetimeTooLong``).

    Raises:
        ConfigError: unknown algorithm, RS256 without a key file or JWKS URL,
            negative leeway or JWKS times, a maximum lifetime not > 0.
    """

    algorithm: str = "HS256"
    public_key_file: str = ""
    issuer: str = ""
    audience: str = ""
    leeway_s: float = 0.0
    jwks_url: str = ""
    jwks_lifespan_s: float = 300.0
    jwks_cooldown_s: float = 30.0
    max_lifetime_s: float = MAX_LIFETIME_S

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"auth algorithm must be one of {ALGORITHMS}, not {self.algorithm!r}")
        if self.jwks_url and (self.algorithm != "RS256" or self.public_key_file):
            raise ConfigError("jwks_url needs algorithm RS256 and no public_key_file")
        if self.jwks_url and not self.jwks_url.startswith(("https://", "http://")):
            raise ConfigError("jwks_url must be an http(s) URL")
        if self.jwks_lifespan_s <= 0 or self.jwks_cooldown_s < 0:
            raise ConfigError("jwks_lifespan_s must be > 0 and jwks_cooldown_s ≥ 0")
        if self.algorithm == "RS256" and not (self.public_key_file or self.jwks_url):
            raise ConfigError("RS256 needs public_key_file (the issuer's RSA public key, PEM) or jwks_url")
        if self.leeway_s < 0:
            raise ConfigError("auth leeway_s must be ≥ 0")
        if not 0 < self.max_lifetime_s <= MAX_TIME_CLAIM_S:
            raise ConfigError(f"auth max_lifetime_s must be in (0, {MAX_TIME_CLAIM_S}]")


class TokenVerifier:
    """Verifies tokens for one desk; built once at start.

    Args:
        config: algorithm, key file, issuer, audience.
        secret: HS256 secret (ignored for RS256).

    Raises:
        ConfigError: HS256 secret missing or shorter than 32 bytes; RS256 key
            file unreadable or not an RSA public key.
    """

    def __init__(self, config: AuthConfig | None = None, secret: str = "") -> None:
        self.config = config or AuthConfig()
        if self.config.algorithm == "HS256":
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigError(f"the HS256 JWT secret must be at least {MIN_SECRET_BYTES} bytes")
            self._key: object = secret
        elif self.config.jwks_url:
            self._key = None
        else:
            self._key = load_public_key(self.config.public_key_file)
        self._jwks = JwksKeys(self.config) if self.config.jwks_url else None
        required = ["exp", "iat", "sub"]
        if self.config.issuer:
            required.append("iss")
        if self.config.audience:
            required.append("aud")
        self._options = {"require": required, "enforce_minimum_key_length": True}

    @property
    def algorithm(self) -> str:
        """``"HS256"`` or ``"RS256"``."""
        return self.config.algorithm

    def verify(self, token: str) -> Principal:
        """Verify signature, time claims, issuer, audience and tickstage claims.

        Args:
            token: the compact JWT as sent by the client.

        Returns:
            The :class:`Principal` the token speaks for.

        Raises:
            AuthError: ``code="tokenExpired"`` for an expired token,
                ``code="unauthenticated"`` for anything else wrong (the message
                names the failure, never the token or key; ``reason``
                ``"malformedToken"`` or ``"lifetimeTooLong"`` for bad time claims).
        """
        if not token:
            raise AuthError("unauthenticated", "missing token")
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError("unauthenticated", f"token longer than {MAX_TOKEN_CHARS} characters")
        config = self.config
        key = self._key if self._jwks is None else self._jwks.key_nowait(token)
        try:
            claims = jwt.decode(token, key, algorithms=[config.algorithm],
                                issuer=config.issuer or None, audience=config.audience or None,
                                leeway=config.leeway_s, options=self._options)
        except jwt.ExpiredSignatureError:
            raise AuthError("tokenExpired", "token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("unauthenticated", "token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise AuthError("unauthenticated", "wrong token audience") from None
        except jwt.InvalidIssuerError:
            raise AuthError("unauthenticated", "wrong token issuer") from None
        except jwt.InvalidSignatureError:
            raise AuthError("unauthenticated", "bad token signature") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError("unauthenticated", f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError("unauthenticated", f"invalid token ({type(exc).__name__})") from None
        except (OverflowError, ValueError, TypeError) as exc:  # PyJWT on absurd numbers
            raise AuthError("unauthenticated", f"malformed token ({type(exc).__name__})", "malformedToken") from None
        expires_s = _time_claim(claims, "exp")
        for name in ("iat", "nbf"):
            if name in claims:
                _time_claim(claims, name)
        if expires_s - time.time() > config.max_lifetime_s + config.leeway_s:
            raise AuthError("unauthenticated", f"token lifetime over the desk's maximum of "
                            f"{config.max_lifetime_s:g} s (lifetimeTooLong)", "lifetimeTooLong")
        return _principal(claims, expires_s)

    async def verify_async(self, token: str) -> Principal:
        """As :meth:`verify`, first fetching the JWKS (worker thread) when the token's ``kid`` is not cached.

        Raises:
            AuthError: as :meth:`verify`; ``unauthenticated`` also when the
                JWKS cannot be fetched or has no key of that ``kid``.
        """
        if self._jwks is not None and token and len(token) <= MAX_TOKEN_CHARS:
            await self._jwks.load(token)
        return self.verify(token)


class JwksKeys:
    """RS256 keys of an outside issuer's JWKS, by ``kid`` (PyJWT's ``PyJWKClient`` fetches and caches).

    Args:
        config: ``jwks_url``, ``jwks_lifespan_s``, ``jwks_cooldown_s``.
    """

    def __init__(self, config: AuthConfig) -> None:
        self.lifespan_s = config.jwks_lifespan_s
        self._client = jwt.PyJWKClient(config.jwks_url, cache_keys=False, lifespan=config.jwks_lifespan_s,
                                       timeout=5, cooldown_duration=config.jwks_cooldown_s)
        self._keys: dict[str, tuple[object, float]] = {}

    def key_nowait(self, token: str):
        """Return the cached public key for ``token``'s ``kid`` (no fetch; loop thread).

        Raises:
            AuthError: ``unauthenticated``: no ``kid``, or its key is not cached
                (a fetch is then started, so a retry may pass).
        """
        kid = _kid(token)
        cached = self._keys.get(kid)
        if cached is not None and time.monotonic() - cached[1] < self.lifespan_s:
            return cached[0]
        try:
            asyncio.get_running_loop().create_task(self.load(token))
        except RuntimeError:
            pass  # no loop (a tool): nothing to fetch with
        raise AuthError("unauthenticated", "token signing key (kid) not known; retry")

    async def load(self, token: str) -> None:
        """Fetch the key of ``token``'s ``kid`` if it is not cached (worker thread); never raises."""
        try:
            kid = _kid(token)
        except AuthError:
            return
        cached = self._keys.get(kid)
        if cached is not None and time.monotonic() - cached[1] < self.lifespan_s:
            return
        try:
            signing_key = await asyncio.to_thread(self._client.get_signing_key, kid)
        except jwt.PyJWKClientError as exc:
            _log_jwks_failure(exc)
            return
        if signing_key.algorithm_name == "RS256":
            self._keys[kid] = (signing_key.key, time.monotonic())


def _kid(token: str) -> str:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        raise AuthError("unauthenticated", "invalid token (header)") from None
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_CLAIM_CHARS:
        raise AuthError("unauthenticated", "token has no kid header (JWKS desk)")
    return kid


def _log_jwks_failure(exc: Exception) -> None:
    _log.warning("jwks_key_not_found", error_type=type(exc).__name__,
                                                   reason=str(exc)[:200])


def _time_claim(claims: dict, name: str) -> float:
    """Return the time claim ``name`` as float seconds, or raise AuthError(malformedToken)."""
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError("unauthenticated", f"malformed token ({name} claim)", "malformedToken")
    if isinstance(value, int):
        if not 0 <= value <= MAX_TIME_CLAIM_S:
            raise AuthError("unauthenticated", f"malformed token ({name} claim out of range)", "malformedToken")
        return float(value)
    if not (math.isfinite(value) and 0 <= value <= MAX_TIME_CLAIM_S):
        raise AuthError("unauthenticated", f"malformed token ({name} claim out of range)", "malformedToken")
    return value


def _principal(claims: dict, expires_s: float) -> Principal:
    user = claims["sub"]
    if not isinstance(user, str) or not 0 < len(user) <= MAX_CLAIM_CHARS:
        raise AuthError("unauthenticated", "invalid token (sub claim)")
    role = claims.get("role", "trader")
    if role not in ROLES:
        raise AuthError("unauthenticated", "invalid token (unknown role)")
    accounts = _string_list(claims.get("accounts"), "accounts")
    groups = claims.get("groups")
    try:
        entitlements = Entitlements.from_claim(claims.get("ent"))
    except EntitlementError:
        raise AuthError("unauthenticated", "invalid token (ent claim)") from None
    return Principal(user, role, expires_s, tuple(accounts or ()),
                     None if groups is None else frozenset(_string_list(groups, "groups")), entitlements)


def _string_list(value: object, name: str) -> list[str] | None:
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) > MAX_CLAIM_ITEMS
            or not all(isinstance(v, str) and 0 < len(v) <= MAX_CLAIM_CHARS for v in value)):
        raise AuthError("unauthenticated", f"invalid token ({name} claim)")
    return value


def load_public_key(path: str):
    """Return the RSA public key in PEM file ``path``.

    Raises:
        ConfigError: unreadable, not PEM, or not RSA.
    """
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the RS256 public key file {path}: {type(exc).__name__}") from None
    if not isinstance(key, RSAPublicKey):
        raise ConfigError(f"{path} is not an RSA public key")
    return key


def verify_token(secret: str, token: str) -> Principal:
    """Verify an HS256 token with ``secret`` and no issuer/audience checks.

    Prefer a :class:`TokenVerifier` built once (the desk's ``desk.verifier``).

    Raises:
        AuthError: as :meth:`TokenVerifier.verify`.
        ConfigError: ``secret`` shorter than 32 bytes.
    """
    return TokenVerifier(AuthConfig(), secret).verify(token)


def principal_from_header(verifier: TokenVerifier, authorization: str) -> Principal:
    """Return the principal of an HTTP ``Authorization: Bearer <JWT>`` header value.

    Raises:
        AuthError: no bearer token, or the token is refused.
    """
    if not authorization.startswith("Bearer "):
        raise AuthError("unauthenticated", "missing bearer token")
    return verifier.verify(authorization.removeprefix("Bearer ").strip())


def mint_token(key: str | bytes, user: str, role: str = "trader", ttl_s: float = 8 * 3600, *,
               accounts: list[str] | None = None, groups: list[str] | None = None,
               entitlements: dict[str, list[str]] | None = None, issuer: str = "", audience: str = "", algorithm: str = "HS256",
               not_before_s: float = 0.0, now_s: float | None = None) -> str:
    """Return a signed token for ``user`` (development and tests only).

    Args:
        key: HS256 secret (≥ 32 bytes), or an RSA private key in PEM for RS256.
        user: ``sub``.
        role: ``"trader"`` or ``"admin"``.
        ttl_s: lifetime from ``now_s``, seconds (negative: already expired).
        accounts: ``accounts`` claim; ``None`` leaves it out.
        groups: ``groups`` claim; ``None`` leaves it out (every group).
        entitlements: ``ent`` claim, exchange or ``"*"`` → field classes (``"l1"``, ``"oi"``,
            ``"depth"``); ``None`` leaves it out (every field).
        issuer: ``iss`` claim when not empty.
        audience: ``aud`` claim when not empty.
        algorithm: ``"HS256"`` or ``"RS256"``.
        not_before_s: ``nbf`` = ``now_s`` + this, when not 0 (seconds).
        now_s: ``iat``, seconds since UNIX epoch; default now.

    Raises:
        ValueError: unknown role or algorithm, empty or short secret.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
    if not key:
        raise ValueError("a JWT secret or private key is required")
    if algorithm == "HS256" and len(key.encode() if isinstance(key, str) else key) < MIN_SECRET_BYTES:
        raise ValueError(f"an HS256 secret must be at least {MIN_SECRET_BYTES} bytes")
    now = int(time.time() if now_s is None else now_s)
    claims: dict = {"sub": user, "role": role, "iat": now, "exp": now + int(ttl_s)}
    if accounts is not None:
        claims["accounts"] = list(accounts)
    if groups is not None:
        claims["groups"] = list(groups)
    if entitlements is not None:
        claims["ent"] = {exchange: list(classes) for exchange, classes in entitlements.items()}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    if not_before_s:
        claims["nbf"] = now + int(not_before_s)
    return jwt.encode(claims, key, algorithm)


__all__ = [
    "ALGORITHMS",
    "AuthConfig",
    "JwksKeys",
    "MAX_LIFETIME_S",
    "MAX_TIME_CLAIM_S",
    "MAX_TOKEN_CHARS",
    "MIN_SECRET_BYTES",
    "Principal",
    "ROLES",
    "TokenVerifier",
    "load_public_key",
    "mint_token",
    "principal_from_header",
    "verify_token",
]
