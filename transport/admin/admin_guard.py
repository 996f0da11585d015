"""The guard in front of every admin route: token, role, then body size, before any handler reads a byte.

:func:`admin_guard` is an aiohttp middleware. For every request under
``/admin/`` and for ``/metrics`` it checks, in this order, before the
handler runs and before any of the body is read:

1. the ``Authorization: Bearer <JWT>`` token (401 ``{"error": code, "reason"}``);
2. the ``admin`` role (403); a refused command (any method but GET/HEAD) is
   audited as ``forbidden`` with the route as its target, never with
   anything from the body (the audit folds repeated refusals);
3. the body size against the route's limit (:data:`ADMIN_ROUTES`; 0 for
   reads, :data:`DEFAULT_BODY_LIMIT_BYTES` for a command without an entry):
   a ``Content-Length`` over it gets 413 at once; a chunked body is read by
   :func:`read_json_body` with the same limit (413 past it).

aiohttp's ``client_max_size`` is one number for the whole app (1 MiB by
default), so the per-route limits live here. The handler finds the checked
principal in ``request[PRINCIPAL_KEY]``. The rule: authorise before reading
a request's content, so a refused request costs the desk a header parse and
nothing it keeps (a trader's 1 MiB bodies on these routes once grew the
desk's memory, audit and logs by ~1 MiB each).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from transport.errors import AuthError

DEFAULT_BODY_LIMIT_BYTES = 4 * 1024
"""Body limit of an admin command route without its own entry, bytes."""
PRINCIPAL_KEY = web.RequestKey("tickstage_principal", object)
"""``request[PRINCIPAL_KEY]``: the admin :class:`~transport.signin.auth.Principal` the guard checked."""
BODY_LIMIT_KEY = web.RequestKey("tickstage_max_body_bytes", int)
"""``request[BODY_LIMIT_KEY]``: the route's body limit, bytes."""


@dataclass(frozen=True)
class AdminRoute:
    """What the guard knows of one admin route.

    Attributes:
        action: the audit's action name for a refused command (``""``: a read, not audited).
        max_body_bytes: largest body accepted, bytes (0: none).
    """

    action: str
    max_body_bytes: int


ADMIN_ROUTES: dict[tuple[str, str], AdminRoute] = {
    ("POST", "/admin/restart"): AdminRoute("restart", 4 * 1024),
    ("POST", "/admin/stop"): AdminRoute("stop", 4 * 1024),
    ("POST", "/admin/faults"): AdminRoute("fault", 16 * 1024),
    ("POST", "/admin/limits"): AdminRoute("limit", 4 * 1024),
    ("POST", "/admin/kill-switch"): AdminRoute("kill_switch", 4 * 1024),
    ("POST", "/admin/recordings"): AdminRoute("record", 4 * 1024),
}
"""(method, route) → audit action and body limit. Reads (GET/HEAD) take no body."""


def is_admin_path(path: str) -> bool:
    """Return whether ``path`` is behind the admin guard (``/admin/...`` and ``/metrics``)."""
    return path.startswith("/admin/") or path == "/admin" or path == "/metrics"


def route_of(request: web.Request) -> AdminRoute:
    """Return the :class:`AdminRoute` of ``request`` (a default for routes without an entry)."""
    canonical = request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
    found = ADMIN_ROUTES.get((request.method, canonical))
    if found is not None:
        return found
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return AdminRoute("", 0)
    return AdminRoute(request.method.lower(), DEFAULT_BODY_LIMIT_BYTES)


def _json_error(status: int, body: dict, **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers=headers or None)


def admin_guard(desk: Any):
    """Return the middleware guarding the admin routes of ``desk`` (``principal(request)``, ``admin.audit``)."""

    @web.middleware
    async def guard(request: web.Request, handler):
        if not is_admin_path(request.path):
            return await handler(request)
        route = route_of(request)
        try:
            principal = desk.principal(request)
        except AuthError as exc:
            return _json_error(401, {"error": exc.code, "reason": exc.reason, "message": str(exc)},
                               **{"WWW-Authenticate": 'Bearer realm="tickstage-admin"'})
        if not principal.is_admin:
            if route.action and desk.admin is not None:
                desk.admin.audit.record(principal.user, route.action, f"{request.method} {request.path}",
                                        "forbidden")
            return _json_error(403, {"error": "forbidden", "message": "admin role required"})
        length = request.content_length
        if length is not None and length > route.max_body_bytes:
            return _too_large(route.max_body_bytes)
        request[PRINCIPAL_KEY] = principal
        request[BODY_LIMIT_KEY] = route.max_body_bytes
        return await handler(request)

    return guard


def _too_large(limit: int) -> web.Response:
    return _json_error(413, {"error": "tooLarge", "message": f"this route takes bodies of at most {limit} bytes"})


class BodyTooLargeError(web.HTTPRequestEntityTooLarge):
    """A chunked admin body past its route's limit (answered 413 by aiohttp)."""

    def __init__(self, limit: int, actual: int) -> None:
        super().__init__(max_size=limit, actual_size=actual, text=json.dumps(
            {"error": "tooLarge", "message": f"this route takes bodies of at most {limit} bytes"}),
            content_type="application/json")


async def read_json_body(request: web.Request) -> Any:
    """Return the request's JSON body (``None`` when empty or not JSON), read within the route's limit.

    Raises:
        BodyTooLargeError: more bytes than the route takes (aiohttp answers 413).
    """
    limit = request.get(BODY_LIMIT_KEY, DEFAULT_BODY_LIMIT_BYTES)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError(limit, size)
    data = b"".join(chunks)
    if not data:
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


__all__ = ["ADMIN_ROUTES", "BODY_LIMIT_KEY", "DEFAULT_BODY_LIMIT_BYTES", "PRINCIPAL_KEY", "AdminRoute", "BodyTooLargeError", "admin_guard",
           "is_admin_path", "read_json_body", "route_of"]
