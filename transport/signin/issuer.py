"""The embedded token issuer: passwords in, short-lived access tokens and rotating refresh tokens out.

The desk signs its own access tokens (HS256, the desk's secret; verified by
:class:`transport.signin.auth.TokenVerifier` like any other) for the users of the
users file (transport/signin/users.py). A sign-in also opens a refresh-token
*family*: each refresh token is an opaque random string, good once; using
it (``rotate``) marks it used and returns the next token of the family with
a new access token. A refresh token presented twice means it was copied, so
the whole family is revoked: the thief's and the user's copies both stop
working (Source: OAuth 2.0 Security BCP, RFC 9700 §4.14.2, refresh token
rotation with reuse detection).

Families live in memory and in SQLite (``<state_dir>/refresh.sqlite3``,
only SHA-256 digests of the tokens are stored); every revocation and
rotation is committed before it is answered, so a restart never brings back
a revoked family. Sign-in failures are throttled per user name and per
client address (:class:`LoginThrottle`).

Times are seconds since the UNIX epoch (``time.time``) unless named ``_s``
durations.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from transport.signin.auth import mint_token
from transport.errors import ConfigError, TransportError

REFRESH_TOKEN_BYTES = 32
"""Random bytes in a refresh token (256 bits, URL-safe base64)."""
MAX_REFRESH_TOKEN_CHARS = 128
"""Longest refresh token looked at."""
MAX_TRACKED_KEYS = 100_000
"""Most user names and addresses the throttle remembers (oldest forgotten first)."""


@dataclass(frozen=True)
class IssuerConfig:
    """How the embedded issuer signs in users (TOML ``[issuer]``).

    Attributes:
        enabled: serve ``/auth/login`` (only with HS256: the desk must hold the secret).
        users_file: the users file; empty → ``<state_dir>/users.json``.
        access_ttl_s: access token lifetime, seconds (the page renews at 75 % of it).
        refresh_ttl_s: a sign-in's refresh lifetime, seconds: the family expires
            this long after the password was given, however often it rotates.
        max_failures: failed sign-ins of one user name, or from one address,
            within ``lockout_s`` before further attempts are refused.
        lockout_s: how long failures count and a locked name or address stays locked, seconds.

    Raises:
        ConfigError: a lifetime or limit out of range.
    """

    enabled: bool = True
    users_file: str = ""
    access_ttl_s: float = 15 * 60
    refresh_ttl_s: float = 12 * 3600
    max_failures: int = 5
    lockout_s: float = 300.0

    def __post_init__(self) -> None:
        if not 5 <= self.access_ttl_s <= 24 * 3600:
            raise ConfigError("[issuer] access_ttl_s must be within 5 s .. 24 h")
        if not self.access_ttl_s <= self.refresh_ttl_s <= 30 * 24 * 3600:
            raise ConfigError("[issuer] refresh_ttl_s must be within access_ttl_s .. 30 days")
        if not 1 <= self.max_failures <= 1000 or not 0 < self.lockout_s <= 24 * 3600:
            raise ConfigError("[issuer] max_failures must be 1..1000 and lockout_s within 0 .. 24 h")


class RefreshError(TransportError, PermissionError):
    """A refresh token was refused.

    Attributes:
        code: ``"refreshInvalid"`` (unknown or malformed), ``"refreshExpired"``,
            ``"refreshRevoked"`` (its family was revoked or signed out) or
            ``"refreshReused"`` (presented twice: its family is now revoked).
        user: the family's user when known, else ``""``.
    """

    def __init__(self, code: str, message: str, user: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.user = user


@dataclass(frozen=True)
class Issued:
    """What a sign-in or a refresh returns.

    Attributes:
        access_token: the signed JWT.
        access_expires_ts: its ``exp``, seconds since UNIX epoch.
        refresh_token: the next refresh token (for the cookie).
        refresh_expires_ts: when the family ends, seconds since UNIX epoch.
        user: ``sub``.
        role: ``"trader"`` or ``"admin"``.
    """

    access_token: str
    access_expires_ts: float
    refresh_token: str
    refresh_expires_ts: float
    user: str
    role: str


class LoginThrottle:
    """Failed sign-ins per key (a user name, an address) in a sliding window; in memory, loop thread.

    Args:
        max_failures: failures within ``window_s`` that lock a key.
        window_s: how long a failure counts, and how long a key stays locked, seconds.
        clock: seconds, monotonic (tests step it).
    """

    def __init__(self, max_failures: int, window_s: float, clock=time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after_s(self, *keys: str) -> float:
        """Return how long the most locked of ``keys`` stays locked, seconds (0: none locked)."""
        now = self.clock()
        longest = 0.0
        for key in keys:
            failures = self._recent(key, now)
            if failures is not None and len(failures) >= self.max_failures:
                longest = max(longest, failures[-1] + self.window_s - now)
        return longest

    def failed(self, *keys: str) -> None:
        """Count one failure against each of ``keys``."""
        now = self.clock()
        for key in keys:
            failures = self._recent(key, now)
            if failures is None:
                if len(self._failures) >= MAX_TRACKED_KEYS:
                    self._failures.pop(next(iter(self._failures)))
                failures = self._failures[key] = deque(maxlen=self.max_failures)
            failures.append(now)

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` (a user who signed in)."""
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and now - failures[0] > self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures


@dataclass
class _Family:
    user: str
    expires_ts: float
    revoked: bool = False


class RefreshStore:
    """Refresh-token families, in memory and in SQLite (blocking calls: run them off the loop).

    Args:
        path: the SQLite file (created with its folder); ``":memory:"`` for tests.

    Raises:
        ConfigError: the file cannot be opened or is not a refresh store.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("CREATE TABLE IF NOT EXISTS families (id TEXT PRIMARY KEY, user TEXT NOT NULL,"
                             " expires_ts REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)")
            self._db.execute("CREATE TABLE IF NOT EXISTS tokens (digest TEXT PRIMARY KEY, family TEXT NOT NULL,"
                             " used INTEGER NOT NULL DEFAULT 0)")
            self._families = {row[0]: _Family(row[1], row[2], bool(row[3])) for row in
                              self._db.execute("SELECT id, user, expires_ts, revoked FROM families")}
            self._tokens = {row[0]: [row[1], bool(row[2])] for row in
                            self._db.execute("SELECT digest, family, used FROM tokens")}
        except sqlite3.Error as exc:
            raise ConfigError(f"refresh token store {self.path}: {exc}") from None
        if self.path != ":memory:":
            Path(self.path).chmod(0o600)

    def open_family(self, user: str, expires_ts: float) -> str:
        """Start a family for ``user`` ending at ``expires_ts``; return its first refresh token."""
        family = secrets.token_urlsafe(16)
        token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        with self._lock, self._db:
            self._db.execute("INSERT INTO families VALUES (?, ?, ?, 0)", (family, user, expires_ts))
            self._db.execute("INSERT INTO tokens VALUES (?, ?, 0)", (_digest(token), family))
            self._families[family] = _Family(user, expires_ts)
            self._tokens[_digest(token)] = [family, False]
        return token

    def rotate(self, token: str, now_ts: float | None = None) -> tuple[str, str, float]:
        """Use ``token`` once: return (next token, user, family expiry).

        Raises:
            RefreshError: unknown, expired, revoked, or reused (the family is then revoked).
        """
        now_ts = time.time() if now_ts is None else now_ts
        if not isinstance(token, str) or not 0 < len(token) <= MAX_REFRESH_TOKEN_CHARS:
            raise RefreshError("refreshInvalid", "no refresh token; sign in")
        digest = _digest(token)
        with self._lock:
            entry = self._tokens.get(digest)
            if entry is None:
                raise RefreshError("refreshInvalid", "unknown refresh token; sign in")
            family_id, used = entry
            family = self._families[family_id]
            if family.revoked:
                raise RefreshError("refreshRevoked", "this sign-in was revoked; sign in again", family.user)
            if used:
                self._revoke(family_id)
                raise RefreshError("refreshReused", "refresh token used twice: this sign-in is revoked; sign in",
                                   family.user)
            if now_ts >= family.expires_ts:
                raise RefreshError("refreshExpired", "sign-in expired; sign in again", family.user)
            following = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
            with self._db:
                self._db.execute("UPDATE tokens SET used = 1 WHERE digest = ?", (digest,))
                self._db.execute("INSERT INTO tokens VALUES (?, ?, 0)", (_digest(following), family_id))
            entry[1] = True
            self._tokens[_digest(following)] = [family_id, False]
            return following, family.user, family.expires_ts

    def revoke(self, token: str) -> str:
        """Revoke the family of ``token`` (sign-out); return its user, ``""`` when unknown."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_REFRESH_TOKEN_CHARS:
            return ""
        with self._lock:
            entry = self._tokens.get(_digest(token))
            if entry is None:
                return ""
            self._revoke(entry[0])
            return self._families[entry[0]].user

    def revoke_user(self, user: str) -> int:
        """Revoke every family of ``user`` (password changed, user removed); return how many."""
        with self._lock:
            ids = [i for i, family in self._families.items() if family.user == user and not family.revoked]
            for family_id in ids:
                self._revoke(family_id)
            return len(ids)

    def prune(self, now_ts: float | None = None) -> int:
        """Forget families expired for a day (their tokens are refused as unknown); return how many."""
        cutoff = (time.time() if now_ts is None else now_ts) - 24 * 3600
        with self._lock, self._db:
            gone = {i for i, family in self._families.items() if family.expires_ts < cutoff}
            for family_id in gone:
                del self._families[family_id]
            for digest in [d for d, (family_id, _) in self._tokens.items() if family_id in gone]:
                del self._tokens[digest]
            self._db.execute("DELETE FROM tokens WHERE family IN (SELECT id FROM families WHERE expires_ts < ?)",
                             (cutoff,))
            self._db.execute("DELETE FROM families WHERE expires_ts < ?", (cutoff,))
        return len(gone)

    def _revoke(self, family_id: str) -> None:
        with self._db:
            self._db.execute("UPDATE families SET revoked = 1 WHERE id = ?", (family_id,))
        self._families[family_id].revoked = True

    def close(self) -> None:
        """Close the database. Idempotent."""
        with self._lock:
            self._db.close()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def development_secret(state_dir: Path) -> str:
    """Return the development desk's HS256 secret, ``<state_dir>/jwt-secret``, made on first use (mode 0600).

    ``tickstage run`` without a secret and ``tickstage token`` both read it,
    so development tokens outlive a restart.

    Raises:
        ConfigError: the file cannot be read or written, is readable by
            others (mode not 0600), or holds fewer than 32 bytes.
    """
    from transport.signin.auth import MIN_SECRET_BYTES
    from transport.signin.users import write_private

    path = Path(state_dir) / "jwt-secret"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_private(path, secrets.token_urlsafe(48) + "\n")
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path} is readable by other users; chmod 600 it")
        secret = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"development secret {path}: {type(exc).__name__}") from None
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise ConfigError(f"development secret {path} is shorter than {MIN_SECRET_BYTES} bytes")
    return secret


class TokenIssuer:
    """Signs users in and rotates their refresh tokens (blocking: call through ``asyncio.to_thread``).

    Args:
        config: lifetimes and limits.
        secret: the desk's HS256 secret.
        users: the users file (:class:`transport.signin.users.UsersFile`); ``None`` until read.
        store: the refresh-token families.
        token_issuer: ``iss`` of the access tokens (the desk's ``[auth] issuer``; empty: none).
        audience: ``aud`` of the access tokens (the desk's ``[auth] audience``; empty: none).
    """

    def __init__(self, config: IssuerConfig, secret: str, users, store: RefreshStore, token_issuer: str = "",
                 audience: str = "") -> None:
        self.config = config
        self._secret = secret
        self.token_issuer = token_issuer
        self.audience = audience
        self.users = users
        self.store = store

    def sign_in(self, name: str, password: str, now_ts: float | None = None) -> Issued | None:
        """Return tokens for ``name`` if ``password`` is theirs, else ``None`` (same work either way)."""
        user = self.users.authenticate(name, password)
        if user is None:
            return None
        now_ts = time.time() if now_ts is None else now_ts
        refresh_expires_ts = now_ts + self.config.refresh_ttl_s
        refresh = self.store.open_family(user.name, refresh_expires_ts)
        return self._issue(user.name, refresh, refresh_expires_ts, now_ts)

    def refresh(self, token: str, now_ts: float | None = None) -> Issued:
        """Rotate ``token``: the next refresh token and a new access token.

        Raises:
            RefreshError: as :meth:`RefreshStore.rotate`, or ``refreshRevoked``
                when the user was removed from the users file since.
        """
        now_ts = time.time() if now_ts is None else now_ts
        following, name, refresh_expires_ts = self.store.rotate(token, now_ts)
        if self.users.get(name) is None:
            self.store.revoke(following)
            raise RefreshError("refreshRevoked", "user no longer exists", name)
        return self._issue(name, following, refresh_expires_ts, now_ts)

    def _issue(self, name: str, refresh: str, refresh_expires_ts: float, now_ts: float) -> Issued:
        user = self.users.get(name)
        ttl_s = min(self.config.access_ttl_s, max(1.0, refresh_expires_ts - now_ts))
        token = mint_token(self._secret, user.name, user.role, ttl_s, accounts=list(user.accounts),
                           groups=None if user.groups is None else list(user.groups),
                           entitlements=user.entitlements.as_dict(), now_s=now_ts,
                           issuer=self.token_issuer, audience=self.audience)
        return Issued(token, int(now_ts) + int(ttl_s), refresh, refresh_expires_ts, user.name, user.role)


__all__ = ["IssuerConfig", "development_secret", "Issued", "LoginThrottle", "RefreshError", "RefreshStore", "TokenIssuer"]
