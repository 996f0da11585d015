"""Risk limits and kill switches at run time (actors/README.md, "Risk"), admin role only.

Routes, behind ``Authorization: Bearer <JWT>`` with the ``admin`` role (401
without a valid token, 403 for another role, 413 for a body over 4 KiB;
transport/admin/admin_guard.py), audited in the admin API's log:

* ``GET /admin/limits`` — every rule instance's effective limits, the kill
  switches not active (with who set each, when and why), the accounts, and the
  journaled changes (who, when, old, new);
* ``POST /admin/limits {"rule", "scope", "name", "value"}`` — change one limit
  of ``risk/<rule>/<scope>`` (scope: an account id or ``"global"``). The change
  is journaled (``limit_changes``: who and when) and durable before the rule
  actor gets it and before the answer (200 with the change). Unknown rule,
  scope or limit name → 404; a bad value → 400;
* ``POST /admin/kill-switch {"scope", "target", "state", "reason"}`` — set a
  kill switch (scope ``account`` / ``group`` / ``global``; state ``active`` /
  ``reduceOnly`` / ``halted``). Its actor journals the change and, on
  ``halted``, cancels the scope's open orders (202, with the ``previous`` state).

The audit records a limit change's old and new values (``changed 500 -> 2``)
and a kill switch's old and new states (``active -> halted``).

Handlers run on the loop thread and never wait on an actor; the only wait is
for the journal's commit of a limit change (at most :data:`COMMIT_TIMEOUT_S`).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from aiohttp import web

from actors.risk import GLOBAL_SCOPE
from actors.risk import rule_path
from actors.risk.events import encode_kill_switch_command, encode_limit_change
from actors.risk.limits import KILL_SWITCH_SCOPES, KILL_SWITCH_STATES
from transport.admin.admin_guard import read_json_body

COMMIT_TIMEOUT_S = 5.0
"""Longest a limit change waits for its journal commit, seconds."""


class RiskAdminApi:
    """The risk admin routes of one desk.

    Args:
        desk: the :class:`transport.process.app.Desk` (``runtime``, ``limit_store``,
            ``journal``, ``config.orders``, ``admin`` for auth and audit).
    """

    def __init__(self, desk: Any) -> None:
        self.desk = desk

    def add_routes(self, app: web.Application) -> None:
        """Add ``/admin/limits`` and ``/admin/kill-switch`` to ``app``."""
        app.router.add_get("/admin/limits", self.limits)
        app.router.add_post("/admin/limits", self.change_limit)
        app.router.add_post("/admin/kill-switch", self.kill_switch)

    def _scopes(self) -> dict[str, tuple[str, ...]]:
        orders = self.desk.config.orders
        accounts = tuple(spec.account for spec in orders.accounts)
        scopes = {rule: accounts for rule in orders.rules}
        for rule in orders.global_rules:
            scopes[rule] = scopes.get(rule, ()) + (GLOBAL_SCOPE,)
        return scopes

    async def limits(self, request: web.Request) -> web.Response:
        """``GET /admin/limits``."""
        self.desk.admin.require_admin(request)
        store = self.desk.limit_store
        body = {
            "limits": {rule: {scope: store.limits(rule, scope) for scope in scopes}
                       for rule, scopes in self._scopes().items()},
            "kill_switches": [_switch_row(store, scope, target, state)
                              for (scope, target), state in store.kill_switches().items()],
            "accounts": sorted({spec.account for spec in self.desk.config.orders.accounts}),
            "changes": self.desk.journal.limit_changes(),
        }
        return web.json_response(body)

    async def change_limit(self, request: web.Request) -> web.Response:
        """``POST /admin/limits {"rule", "scope", "name", "value"}``."""
        principal = self.desk.admin.require_admin(request, "limit", request.path)
        body = await _json(request)
        rule, scope, name = str(body.get("rule", "")), str(body.get("scope", "")), str(body.get("name", ""))
        target = f"{rule}/{scope}.{name}"
        audit = self.desk.admin.audit
        if scope not in self._scopes().get(rule, ()):
            audit.record(principal.user, "limit", target, "unknown_rule")
            return _error(404, f"no rule instance risk/{rule}/{scope}")
        try:
            value = float(body.get("value"))
        except (TypeError, ValueError):
            audit.record(principal.user, "limit", target, "malformed")
            return _error(400, "value must be a number")
        loop = asyncio.get_running_loop()
        committed: asyncio.Future = loop.create_future()

        def on_commit(ok: bool, error: str) -> None:
            if not committed.done():
                committed.set_result((ok, error))

        try:
            row = self.desk.limit_store.change_nowait(rule, scope, name, value, principal.user, on_commit)
        except KeyError as exc:
            audit.record(principal.user, "limit", target, "unknown_limit")
            return _error(404, str(exc).strip("'\""))
        except ValueError as exc:
            audit.record(principal.user, "limit", target, "malformed")
            return _error(400, str(exc))
        try:
            ok, error = await asyncio.wait_for(committed, COMMIT_TIMEOUT_S)
        except TimeoutError:
            ok, error = False, f"journal did not commit within {COMMIT_TIMEOUT_S:g} s"
        if not ok:
            audit.record(principal.user, "limit", target, "journal_failed")
            return _error(503, error)
        self.desk.runtime.tell_path(rule_path(rule, scope), encode_limit_change(row, source="admin"))
        audit.record(principal.user, "limit", target, f"changed {_number(row['old_value'])} -> {_number(value)}")
        return web.json_response({"ok": True, "change": {k: (None if isinstance(v, float) and math.isnan(v) else v)
                                                         for k, v in row.items()}})

    async def kill_switch(self, request: web.Request) -> web.Response:
        """``POST /admin/kill-switch {"scope", "target", "state", "reason"}``."""
        principal = self.desk.admin.require_admin(request, "kill_switch", request.path)
        body = await _json(request)
        scope, target, state = str(body.get("scope", "")), str(body.get("target", "")), str(body.get("state", ""))
        audit = self.desk.admin.audit
        if scope not in KILL_SWITCH_SCOPES or state not in KILL_SWITCH_STATES:
            audit.record(principal.user, "kill_switch", f"{scope}/{target}", "malformed")
            return _error(400, f"scope must be one of {KILL_SWITCH_SCOPES}, state one of {KILL_SWITCH_STATES}")
        accounts = {spec.account for spec in self.desk.config.orders.accounts}
        if scope == "global":
            target = GLOBAL_SCOPE
        if scope == "account" and target not in accounts:
            audit.record(principal.user, "kill_switch", f"{scope}/{target}", "unknown_account")
            return _error(404, f"no account {target!r}")
        path = rule_path("kill_switch", target if scope == "account" else GLOBAL_SCOPE)
        previous = self.desk.limit_store.kill_switch(scope, target)
        command = encode_kill_switch_command(scope, target, state, principal.user, str(body.get("reason", "")),
                                             source="admin")
        if not self.desk.runtime.tell_path(path, command):
            audit.record(principal.user, "kill_switch", f"{scope}/{target}", "actor_down")
            return _error(409, f"{path} is down or restarting; try again")
        audit.record(principal.user, "kill_switch", f"{scope}/{target}", f"{previous} -> {state}")
        return web.json_response({"ok": True, "scope": scope, "target": target, "state": state,
                                  "previous": previous}, status=202)


async def _json(request: web.Request) -> dict:
    """The JSON object of the body, read within the route's limit (413 past it); ``{}`` when not one."""
    body = await read_json_body(request)
    return body if isinstance(body, dict) else {}


def _number(value: Any) -> str:
    """A limit for the audit: ``5``, ``0.25``; ``none`` for a missing (NaN) one."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "none" if math.isnan(value) else f"{value:g}"


def _switch_row(store: Any, scope: str, target: str, state: str) -> dict[str, Any]:
    """One kill switch not active, with who set it, when (UNIX ns) and why."""
    change = store.kill_switch_change(scope, target) or {}
    return {"scope": scope, "target": target, "state": state, "changed_by": change.get("changed_by", ""),
            "ts_ns": change.get("ts_ns", 0), "reason": change.get("reason", "")}


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


__all__ = ["COMMIT_TIMEOUT_S", "RiskAdminApi"]
