"""Sign-in routes of the embedded issuer (aiohttp), and the login page.

* ``GET /login`` — the login page (ui/login.html);
* ``GET /auth/config`` — ``{"issuer": bool, "access_ttl_s": s}``: whether
  this desk signs users in with a password, or takes tokens of an outside
  issuer only;
* ``POST /auth/login {"user", "password"}`` — 200 ``{"access_token",
  "token_type": "Bearer", "expires_in", "expires_at", "refresh_expires_at",
  "user", "role"}`` and the refresh token in the ``tickstage_refresh``
  cookie (HttpOnly, SameSite=Strict, Path=/auth); a wrong password and an
  unknown user get the same 401 ``invalidCredentials`` after the same Argon2
  work; too many failures of one user name or one address within
  ``lockout_s`` get 429 ``lockedOut`` with ``Retry-After``;
* ``POST /auth/refresh`` — rotates the cookie's refresh token and returns a
  new access token (200, as login) or 401 ``refreshInvalid`` /
  ``refreshExpired`` / ``refreshRevoked`` / ``refreshReused`` (the cookie
  is then cleared);
* ``POST /auth/logout`` — revokes the cookie's family and clears the cookie (204).

All three POSTs are same-origin only (CSRF): the request must carry
``X-Tickstage: 1``, a header a cross-site form cannot send and a cross-site
``fetch`` cannot send without a CORS preflight this server never grants,
and an ``Origin``, when present, naming this desk (its ``Host``, or one of
``[limits] allowed_origins``); otherwise 403 ``csrf``. Source: OWASP CSRF
Prevention Cheat Sheet ("custom request headers", "verifying origin").

Every sign-in, refresh refusal and sign-out is audited through the admin
API's audit (``GET /admin/audit``: action ``login`` / ``refresh`` /
``logout``, target the client address, result the outcome code) and logged;
passwords and tokens never are. Argon2 and SQLite run in worker threads,
never on the loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from transport.signin.issuer import IssuerConfig, Issued, LoginThrottle, RefreshError, RefreshStore, TokenIssuer
from transport.signin.users import MAX_NAME_CHARS, MAX_PASSWORD_CHARS, UsersFile, UsersFileError

REFRESH_COOKIE = "tickstage_refresh"
CSRF_HEADER = "X-Tickstage"
MAX_BODY_BYTES = 4 * 1024
"""Largest sign-in body read."""
LOGIN_PAGE = Path(__file__).resolve().parents[2] / "ui" / "login.html"

_log = structlog.get_logger("transport.signin.auth_api")


class AuthApi:
    """The ``/auth/*`` routes and ``/login`` of one desk.

    Args:
        desk: the :class:`transport.process.app.Desk` (``jwt_secret``, ``config``, ``admin``).
        config: the issuer's settings.
        state_dir: the desk's state folder (users file and refresh store default there).
        enabled: whether this desk signs users in (HS256 only); if not, the
            POST routes answer 404 ``noIssuer``.

    Attributes:
        throttle: the sign-in throttle (its ``clock`` may be stepped by tests).
        now: wall clock, seconds since UNIX epoch, for token times (tests may replace it).
    """

    def __init__(self, desk: Any, config: IssuerConfig, state_dir: Path, enabled: bool = True) -> None:
        self.desk = desk
        self.config = config
        self.enabled = enabled and config.enabled
        self.users_path = Path(config.users_file) if config.users_file else state_dir / "users.json"
        self.throttle = LoginThrottle(config.max_failures, config.lockout_s)
        self.store: RefreshStore | None = None
        self.issuer: TokenIssuer | None = None
        self._users_stamp: tuple[int, int] | None = None
        self._users_error = ""
        self.state_dir = state_dir
        self.now = time.time

    async def start(self) -> None:
        """Open the refresh store and read the users file (worker threads).

        A bad users file does not stop the desk: sign-ins are refused with
        503 ``usersFileInvalid`` naming the fault until the file is fixed
        (refreshes go on with the last good copy, so nobody signed in is dropped).

        Raises:
            ConfigError: the refresh store cannot be opened.
        """
        if not self.enabled:
            return
        self.store = await asyncio.to_thread(RefreshStore, self.state_dir / "refresh.sqlite3")
        await asyncio.to_thread(self.store.prune)
        auth = self.desk.config.auth  # the desk's own verifier must take what it issues
        self.issuer = TokenIssuer(self.config, self.desk.jwt_secret, None, self.store, auth.issuer, auth.audience)
        await asyncio.to_thread(self._reload_users)

    def close(self) -> None:
        """Close the refresh store. Idempotent."""
        if self.store is not None:
            self.store.close()
            self.store = None

    def add_routes(self, app: web.Application) -> None:
        """Add ``/login`` and the ``/auth/*`` routes to ``app``."""
        app.router.add_get("/login", self.login_page)
        app.router.add_get("/auth/config", self.auth_config)
        app.router.add_post("/auth/login", self.login)
        app.router.add_post("/auth/refresh", self.refresh)
        app.router.add_post("/auth/logout", self.logout)

    # -- users file --------------------------------------------------------------

    def _reload_users(self) -> None:
        """Read the users file again if it changed on disk (worker thread)."""
        try:
            stat = self.users_path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = (0, 0)
        except OSError as exc:
            self._users_error = f"users file {self.users_path}: cannot be read ({exc.strerror})"
            return
        if stamp == self._users_stamp:
            return
        try:
            self.issuer.users = UsersFile(self.users_path)
            self._users_error = ""
        except UsersFileError as exc:
            self._users_error = str(exc)
            _log.error("users_file_refused", path=str(self.users_path), reason=str(exc))
        self._users_stamp = stamp

    # -- routes ------------------------------------------------------------------

    async def login_page(self, request: web.Request) -> web.FileResponse:
        """``GET /login``."""
        return web.FileResponse(LOGIN_PAGE)

    async def auth_config(self, request: web.Request) -> web.Response:
        """``GET /auth/config``."""
        return web.json_response({"issuer": self.enabled, "access_ttl_s": self.config.access_ttl_s})

    async def login(self, request: web.Request) -> web.Response:
        """``POST /auth/login``."""
        address = request.remote or "?"
        refused = self._refuse_request(request, "login", address)
        if refused is not None:
            return refused
        body = await _json_body(request)
        name, password = body.get("user"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
            return self._answer(400, "malformed", 'send {"user": ..., "password": ...}', "?", "login", address)
        name = name[:MAX_NAME_CHARS + 1]
        user_key, address_key = f"user:{name}", f"address:{address}"
        retry_after_s = self.throttle.retry_after_s(user_key, address_key)
        if retry_after_s > 0:
            return self._answer(429, "lockedOut", f"too many failed sign-ins; try again in {retry_after_s:.0f} s",
                                name, "login", address, headers={"Retry-After": str(int(retry_after_s) + 1)})
        await asyncio.to_thread(self._reload_users)
        if self._users_error:
            return self._answer(503, "usersFileInvalid", self._users_error, name, "login", address)
        issued = await asyncio.to_thread(self.issuer.sign_in, name, password[:MAX_PASSWORD_CHARS + 1],
                                         self.now())
        if issued is None:
            self.throttle.failed(user_key, address_key)
            return self._answer(401, "invalidCredentials", "wrong user or password", name, "login", address)
        self.throttle.succeeded(user_key)
        self._audit(name, "login", address, "ok")
        return self._issued(request, issued)

    async def refresh(self, request: web.Request) -> web.Response:
        """``POST /auth/refresh``."""
        address = request.remote or "?"
        refused = self._refuse_request(request, "refresh", address)
        if refused is not None:
            return refused
        token = request.cookies.get(REFRESH_COOKIE, "")
        await asyncio.to_thread(self._reload_users)
        if self.issuer.users is None:  # never read a good users file: nobody could have signed in
            return self._answer(503, "usersFileInvalid", self._users_error, "?", "refresh", address)
        try:
            issued = await asyncio.to_thread(self.issuer.refresh, token, self.now())
        except RefreshError as exc:
            response = self._answer(401, exc.code, str(exc), exc.user or "?", "refresh", address)
            response.del_cookie(REFRESH_COOKIE, path="/auth")
            return response
        _log.info("token_refreshed_by_issuer", user=issued.user)
        return self._issued(request, issued)

    async def logout(self, request: web.Request) -> web.Response:
        """``POST /auth/logout``."""
        address = request.remote or "?"
        refused = self._refuse_request(request, "logout", address)
        if refused is not None:
            return refused
        user = await asyncio.to_thread(self.store.revoke, request.cookies.get(REFRESH_COOKIE, ""))
        self._audit(user or "?", "logout", address, "ok" if user else "noSession")
        response = web.Response(status=204)
        response.del_cookie(REFRESH_COOKIE, path="/auth")
        return response

    # -- helpers -----------------------------------------------------------------------

    def _refuse_request(self, request: web.Request, action: str, address: str) -> web.Response | None:
        if not self.enabled:
            return web.json_response({"error": "noIssuer", "message": "this desk takes tokens from an outside "
                                      "issuer; sign in there"}, status=404)
        if not same_origin(request, self.desk.config.limits.allowed_origins):
            return self._answer(403, "csrf", f"cross-site request refused (send {CSRF_HEADER}: 1 from the desk's "
                                "own pages)", "?", action, address)
        return None

    def _issued(self, request: web.Request, issued: Issued) -> web.Response:
        now = self.now()
        response = web.json_response({
            "access_token": issued.access_token, "token_type": "Bearer",
            "expires_in": int(issued.access_expires_ts - now), "expires_at": issued.access_expires_ts,
            "refresh_expires_at": int(issued.refresh_expires_ts), "user": issued.user, "role": issued.role},
            headers={"Cache-Control": "no-store"})
        response.set_cookie(REFRESH_COOKIE, issued.refresh_token, path="/auth", httponly=True, samesite="Strict",
                            secure=request.secure, max_age=max(0, int(issued.refresh_expires_ts - now)))
        return response

    def _answer(self, status: int, code: str, message: str, user: str, action: str, address: str,
                headers: dict | None = None) -> web.Response:
        self._audit(user, action, address, code)
        return web.json_response({"error": code, "message": message}, status=status,
                                 headers={"Cache-Control": "no-store", **(headers or {})})

    def _audit(self, user: str, action: str, address: str, result: str) -> None:
        user = user[:MAX_NAME_CHARS]
        admin = getattr(self.desk, "admin", None)
        if admin is not None:
            admin.audit.record(user, action, address, result)
        else:
            _log.info("sign_in_audited", user=user, action=action, target=address, result=result)


def same_origin(request: web.Request, allowed_origins: tuple[str, ...] = ()) -> bool:
    """Return whether ``request`` comes from the desk's own pages (CSRF check).

    It must carry ``X-Tickstage: 1``; its ``Origin``, when present, must be
    this desk (``scheme://Host``) or one of ``allowed_origins``.
    """
    if request.headers.get(CSRF_HEADER) != "1":
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    return origin in allowed_origins or origin == f"{request.scheme}://{request.host}".lower()


async def _json_body(request: web.Request) -> dict:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return {}
    try:
        body = json.loads(await request.content.read(MAX_BODY_BYTES + 1) or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


__all__ = ["CSRF_HEADER", "REFRESH_COOKIE", "AuthApi", "same_origin"]
