"""JWT tokens for sockets and HTTP routes (PyJWT; DESIGN §6).

Tokens are HS256, signed with the desk's secret (``--jwt-secret`` or
``TICKSTAGE_JWT_SECRET``). Claims: ``sub`` (user), ``role`` (``trader`` or
``admin``), ``exp`` and ``iat`` (required). Minting here is for development
(``tickstage token``); production tokens come from the desk's issuer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from transport.errors import AuthError

ALGORITHMS = ("HS256",)
ROLES = ("trader", "admin")


@dataclass(frozen=True)
class Principal:
    """Who a verified token speaks for.

    Attributes:
        user: ``sub`` claim.
        role: ``"trader"`` or ``"admin"``.
        expires_ts: ``exp`` claim, seconds since UNIX epoch.
    """

    user: str
    role: str
    expires_ts: float


def mint_token(secret: str, user: str, role: str = "trader", ttl_s: float = 8 * 3600) -> str:
    """Return an HS256 token for ``user`` valid ``ttl_s`` seconds (development use).

    Raises:
        ValueError: unknown role or empty secret.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    if not secret:
        raise ValueError("a JWT secret is required")
    now = int(time.time())
    return jwt.encode({"sub": user, "role": role, "iat": now, "exp": now + int(ttl_s)}, secret, "HS256")


def verify_token(secret: str, token: str) -> Principal:
    """Verify signature, expiry and claims of a token.

    Raises:
        AuthError: ``code="tokenExpired"`` for an expired token,
            ``code="unauthenticated"`` for anything else wrong.
    """
    try:
        claims = jwt.decode(token, secret, algorithms=list(ALGORITHMS),
                            options={"require": ["exp", "iat", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("tokenExpired", "token expired") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError("unauthenticated", f"invalid token ({type(exc).__name__})") from None
    role = claims.get("role", "trader")
    if role not in ROLES:
        raise AuthError("unauthenticated", "invalid token (unknown role)")
    return Principal(str(claims["sub"]), role, float(claims["exp"]))


__all__ = ["ALGORITHMS", "Principal", "ROLES", "mint_token", "verify_token"]
