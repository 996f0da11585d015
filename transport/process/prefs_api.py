"""``/api/prefs``: a user's layouts, watchlists and settings over HTTP, kept server-side per user.

Routes, behind ``Authorization: Bearer <JWT>`` (any role); the user is the
token's ``sub``, never a name from the request (a ``?user=`` naming anyone
else is refused 403):

* ``GET /api/prefs`` — the whole document ``{"user", "layouts", "watchlists", "settings"}``;
* ``GET /api/prefs/<kind>`` — ``{"kind", "names": [...]}`` (kind: ``layouts``, ``watchlists``, ``settings``);
* ``GET /api/prefs/<kind>/<name>`` — ``{"kind", "name", "value"}``; 404 when none;
* ``PUT /api/prefs/<kind>/<name>`` with a JSON object — stored durably before the answer (200);
* ``DELETE /api/prefs/<kind>/<name>`` — 200, or 404 when none.

Errors are ``{"ok": false, "error": code, "message"}``: 401 without a valid
token, 400 for a bad name, a body that is not JSON or not an object, or one
nested too deep, 404 for an unknown kind or item, 409 past the number of items
of a kind, 413 for a body past :data:`MAX_BODY_BYTES` (refused from its
``Content-Length`` before a byte is read) or a user's document past its bound
(transport/process/prefs_store.py). Handlers run on the loop thread; file I/O
runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from transport.errors import AuthError, PrefsError
from transport.process.prefs_store import MAX_ITEM_BYTES, PrefsStore, check_kind

MAX_BODY_BYTES = MAX_ITEM_BYTES + 1024
"""Largest ``PUT`` body read, bytes (an item's bound plus whitespace slack)."""


class PrefsApi:
    """The per-user preference routes of one desk.

    Args:
        desk: the desk (``principal(request)`` checks the token).
        store: where the preferences live.
    """

    def __init__(self, desk: Any, store: PrefsStore) -> None:
        self.desk = desk
        self.store = store

    def add_routes(self, app: web.Application) -> None:
        """Add the ``/api/prefs`` routes to ``app``."""
        app.router.add_get("/api/prefs", self.document)
        app.router.add_get("/api/prefs/{kind}", self.names)
        app.router.add_get("/api/prefs/{kind}/{name}", self.get)
        app.router.add_put("/api/prefs/{kind}/{name}", self.put)
        app.router.add_delete("/api/prefs/{kind}/{name}", self.delete)

    def _user(self, request: web.Request) -> str:
        """Return the token's user.

        Raises:
            web.HTTPException: 401 without a valid token, 403 when ``?user=`` names another user.
        """
        try:
            principal = self.desk.principal(request)
        except AuthError as exc:
            raise web.HTTPUnauthorized(text=json.dumps({"ok": False, "error": exc.code, "message": str(exc)}),
                                       content_type="application/json") from None
        asked = request.query.get("user")
        if asked is not None and asked != principal.user:
            raise web.HTTPForbidden(text=json.dumps(
                {"ok": False, "error": "forbidden", "message": "preferences are per user: only the token's own"}),
                content_type="application/json")
        return principal.user

    async def document(self, request: web.Request) -> web.Response:
        """``GET /api/prefs``."""
        user = self._user(request)
        document = await asyncio.to_thread(self.store.document, user)
        return web.json_response({"user": user, **document})

    async def names(self, request: web.Request) -> web.Response:
        """``GET /api/prefs/<kind>``."""
        user = self._user(request)
        kind = request.match_info["kind"]
        try:
            check_kind(kind)
        except PrefsError as exc:
            return _error(exc)
        document = await asyncio.to_thread(self.store.document, user)
        return web.json_response({"kind": kind, "names": sorted(document[kind])})

    async def get(self, request: web.Request) -> web.Response:
        """``GET /api/prefs/<kind>/<name>``."""
        user = self._user(request)
        kind, name = request.match_info["kind"], request.match_info["name"]
        try:
            value = await asyncio.to_thread(self.store.get, user, kind, name)
        except PrefsError as exc:
            return _error(exc)
        return web.json_response({"kind": kind, "name": name, "value": value})

    async def put(self, request: web.Request) -> web.Response:
        """``PUT /api/prefs/<kind>/<name>`` with a JSON object."""
        user = self._user(request)
        kind, name = request.match_info["kind"], request.match_info["name"]
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            return _error(PrefsError(413, "tooLarge", f"a preference body is at most {MAX_BODY_BYTES} bytes"))
        data = await request.content.read(MAX_BODY_BYTES + 1)
        if len(data) > MAX_BODY_BYTES:
            return _error(PrefsError(413, "tooLarge", f"a preference body is at most {MAX_BODY_BYTES} bytes"))
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return _error(PrefsError(400, "malformed", "the body must be a JSON object"))
        try:
            await asyncio.to_thread(self.store.put, user, kind, name, value)
        except PrefsError as exc:
            return _error(exc)
        return web.json_response({"ok": True, "kind": kind, "name": name})

    async def delete(self, request: web.Request) -> web.Response:
        """``DELETE /api/prefs/<kind>/<name>``."""
        user = self._user(request)
        kind, name = request.match_info["kind"], request.match_info["name"]
        try:
            existed = await asyncio.to_thread(self.store.delete, user, kind, name)
        except PrefsError as exc:
            return _error(exc)
        if not existed:
            return _error(PrefsError(404, "notFound", f"no {kind[:-1]} named {name!r}"))
        return web.json_response({"ok": True, "kind": kind, "name": name})


def _error(exc: PrefsError) -> web.Response:
    return web.json_response({"ok": False, "error": exc.code, "message": str(exc)}, status=exc.status)


__all__ = ["MAX_BODY_BYTES", "PrefsApi"]
