"""The admin API (transport/README.md): the supervision tree, restart or stop a subtree, the audit, metrics.

Routes (aiohttp), every one behind ``Authorization: Bearer <JWT>`` with the
``admin`` role — no or a refused token gets 401, another role 403:

* ``GET /admin/tree`` — the actor tree as JSON (built at most every 250 ms and
  shared by the readers of that window; at most 4 admin reads at once, others
  wait up to 5 s, then 503 ``busy``: transport/admin/admin_reads.py): each node has ``path``,
  ``kind``, ``state``, ``restarts``, ``mailbox``, ``msgs_per_s`` (last
  second), ``msgs_per_s_1m``, ``handler_p50_ms``, ``handler_p99_ms``,
  ``last_error`` (``type``, ``message``, ``ts_ns``) or ``null``, ``liveness`` (market
  groups only: ``live``, ``stopped``, ``restarting``, ``sourceDown``, ``closed``, ``ended``), ``stats``
  (the actor's counters and its kind's own figures), ``transitions`` (the
  last state changes) and ``children``;
* ``POST /admin/restart {"path": P}`` / ``POST /admin/stop {"path": P}`` —
  sends :class:`~actors.RestartChild` / :class:`~actors.StopChild` to the
  supervisor of ``P`` and answers once the subtree is running again (or
  stopped), at most :data:`SETTLE_TIMEOUT_S` later. Unknown path → 404; the
  root → 400; its supervisor down → 409;
* ``GET /admin/cluster`` — the NATS cluster (issue 16): every node heard on
  ``ops.node.*`` (role, host, uptime, loop lag, groups led and followed), every
  group's leading aggregator, lease epoch and lease age;
* ``GET /admin/audit?since_ns=&until_ns=&user=&limit=`` — admin actions
  (``user``, ``ts``, ``ts_ns``, ``action``, ``target``, ``result``,
  ``repeated``) with ``since_ns <= ts_ns < until_ns`` (UNIX ns) of ``user``,
  the newest ``limit`` (≤ 1,000, the default) oldest first; durable in the
  journal (transport/admin/audit.py: retention, field caps, folded refusals); each
  is also logged (``admin_action_audited``). A bad parameter → 400;
* ``GET /metrics`` — Prometheus text (:mod:`transport.admin.metrics`), cached and
  bounded as the tree.

Token, role and body size are checked by :func:`transport.admin.admin_guard.admin_guard`
before any handler runs or any body byte is read. Handlers run on the loop
thread; they read ``statistics()`` (never wait on an actor) except for the
one ask to the parent supervisor.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from dataclasses import asdict
from typing import Any

import structlog
from aiohttp import web

from actors import ROOT_PATH, ActorState, RestartChild, StopChild
from actors.errors import ActorDeadError, AskTimeoutError
from actors.market.liveness import group_liveness
from transport.admin.admin_guard import PRINCIPAL_KEY, admin_guard, read_json_body
from transport.admin.admin_reads import CachedBody, ReadSlots, ReadStatistics
from transport.admin.audit import AUDIT_KEPT, MAX_QUERY_ROWS, AuditLog, AuditRecord
from transport.errors import AuthError
from transport.admin.metrics import CONTENT_TYPE, LoopLagMonitor, desk_registry, metrics_text

SETTLE_TIMEOUT_S = 5.0
"""Longest a restart or stop request waits for its subtree to settle, seconds."""
ASK_TIMEOUT_S = 5.0
"""Longest the supervisor of the target may take to acknowledge, seconds."""

_log = structlog.get_logger("transport.admin.api")
def _finite(value: Any) -> Any:
    """Replace NaN and infinities (no JSON for them; browsers refuse the document) with None."""
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    """JSON for admin responses: NaN/inf as null, unknown objects as their str()."""
    return json.dumps(_finite(value), default=str, allow_nan=False)
_UNSETTLED = (ActorState.STARTING, ActorState.RESTARTING, ActorState.STOPPING)


def _node(entry, runtime, children: list[dict]) -> dict:
    instance = entry.instance
    stats = instance.statistics() if instance is not None and hasattr(instance, "statistics") else None
    last_error = entry.last_error or (stats.last_error if stats is not None else None)
    node = {
        "path": entry.path,
        "kind": entry.kind,
        "state": entry.state.value,
        "restarts": entry.restarts,
        "mailbox": stats.mailbox if stats is not None else runtime.mailbox_depth(entry.address),
        "msgs_per_s": stats.msgs_per_s_1s if stats is not None else 0.0,
        "msgs_per_s_1m": round(stats.msgs_per_s_1m, 3) if stats is not None else 0.0,
        "handler_p50_ms": stats.handler_ns_p50 / 1e6 if stats is not None else None,
        "handler_p99_ms": stats.handler_ns_p99 / 1e6 if stats is not None else None,
        "last_error": last_error.as_dict() if last_error is not None else None,
        "stats": {},
        "transitions": [{"state": s, "restarts": r, "ts_ns": t} for s, r, t in entry.transitions],
        "children": children,
    }
    liveness = group_liveness(entry)
    if liveness is not None:
        node["liveness"] = liveness
    if stats is not None:
        node["stats"] = {"messages": stats.messages, "unknown": stats.unknown,
                         "handler_ns_total": stats.handler_ns_total, "handler_ns_max": stats.handler_ns_max,
                         **stats.extra}
    return node


def actor_tree(runtime) -> dict | None:
    """Return the supervision tree from the root as nested JSON-ready dicts (loop thread).

    One pass over the registry groups children by parent, so the cost is
    linear in the number of actors; mailbox depths come from one scan of
    the runtime's queue.
    """
    by_parent: dict[str, list] = collections.defaultdict(list)
    for entry in runtime.registry.entries():
        by_parent[entry.parent].append(entry)

    def build(entry) -> dict:
        return _node(entry, runtime, [build(child) for child in by_parent.get(entry.path, ())])

    root = runtime.registry.get(ROOT_PATH)
    return build(root) if root is not None else None


def child_name(path: str, parent: str) -> str:
    """Return the name under its supervisor of the child at ``path`` (``sessions/session/3`` → ``session/3``)."""
    return path if parent == ROOT_PATH else path[len(parent) + 1:]


class AdminApi:
    """The admin routes of one desk.

    Args:
        desk: the :class:`transport.process.app.Desk` (``runtime``, ``principal(request)``,
            ``sockets``, ``bridge``).
        audit_kept: admin actions kept in memory (the journal keeps them durably).
    """

    def __init__(self, desk: Any, audit_kept: int = AUDIT_KEPT) -> None:
        self.desk = desk
        self.audit = AuditLog(getattr(desk, "journal", None), audit_kept)
        self.lag = LoopLagMonitor()
        self.metrics = desk_registry(desk, self.lag)
        self.reads = ReadSlots()
        self._tree_body = CachedBody(self._build_tree)
        self._metrics_body = CachedBody(self._build_metrics)

    def add_routes(self, app: web.Application) -> None:
        """Add the admin guard and routes to ``app`` and start the loop-lag monitor."""
        app.middlewares.append(admin_guard(self.desk))
        app.router.add_get("/admin/tree", self.tree)
        app.router.add_post("/admin/restart", self.restart)
        app.router.add_post("/admin/stop", self.stop)
        app.router.add_get("/admin/audit", self.audit_list)
        app.router.add_get("/admin/venues", self.venues)
        app.router.add_get("/admin/cluster", self.cluster)
        app.router.add_get("/metrics", self.metrics_page)
        self.lag.start()
        self.audit.prune_soon()

    def close(self) -> None:
        """Stop the loop-lag monitor. Idempotent."""
        self.lag.stop()

    async def wait_closed(self) -> None:
        """Wait for the audit's background prune. Idempotent."""
        await self.audit.close()

    @property
    def runtime(self):
        """The desk's actor runtime."""
        return self.desk.runtime

    # -- auth ------------------------------------------------------------------

    def require_admin(self, request: web.Request, action: str = "", target: str = ""):
        """Return the admin principal of the request, or raise 401/403 (a refused action is audited).

        The admin guard has already checked a request under ``/admin/`` (``request[PRINCIPAL_KEY]``).
        """
        checked = request.get(PRINCIPAL_KEY)
        if checked is not None:
            return checked
        try:
            principal = self.desk.principal(request)
        except AuthError as exc:
            raise web.HTTPUnauthorized(text=_dumps({"error": exc.code}), content_type="application/json",
                                       headers={"WWW-Authenticate": 'Bearer realm="tickstage-admin"'}) from None
        if not principal.is_admin:
            if action:
                self.audit.record(principal.user, action, target, "forbidden")
            raise web.HTTPForbidden(text=_dumps({"error": "forbidden", "message": "admin role required"}),
                                    content_type="application/json")
        return principal

    # -- routes ----------------------------------------------------------------

    async def tree(self, request: web.Request) -> web.Response:
        """``GET /admin/tree`` (built at most every 250 ms, at most 4 reads at once: transport/admin/admin_reads.py)."""
        self.require_admin(request)
        async with self.reads.slot():
            body = await self._tree_body.get()
        return web.Response(body=body, content_type="application/json")

    async def _build_tree(self) -> bytes:
        """Collect the tree on the loop; encode it in a worker thread."""
        runtime = self.runtime
        body = {"ts_ns": time.time_ns(), "healthy": runtime.root_failure is None,
                "runtime": asdict(runtime.statistics()), "tree": actor_tree(runtime),
                "admin_reads": asdict(self.read_statistics())}
        links = getattr(self.desk, "links", None)
        if links is not None and links.bus is not None:
            body["nats"] = links.statistics_dict()  # role, ticks, orders, audit and connection counters
            for name in ("watchlist_link", "detail_link", "socket_ledger"):  # the surface's links of this node
                part = getattr(self.desk, name, None)
                if part is not None:
                    body["nats"].update(part.statistics_dict())
        return (await asyncio.to_thread(_dumps, body)).encode()

    async def _build_metrics(self) -> bytes:
        return metrics_text(self.metrics)

    def invalidate_reads(self) -> None:
        """Drop the cached tree and metrics: the next read shows an admin command's effect."""
        self._tree_body.invalidate()
        self._metrics_body.invalidate()

    def read_statistics(self) -> ReadStatistics:
        """Return the admin reads' counters (builds, cache hits, waits, 503s) now."""
        bodies = (self._tree_body, self._metrics_body)
        return ReadStatistics(sum(b.builds for b in bodies), sum(b.hits for b in bodies), self.reads.waited,
                              self.reads.refused_busy)

    async def audit_list(self, request: web.Request) -> web.Response:
        """``GET /admin/audit?since_ns=&until_ns=&user=&limit=``."""
        self.require_admin(request)
        query = request.query
        try:
            since_ns = _int_param(query, "since_ns", 0)
            until_ns = _int_param(query, "until_ns", 2**63 - 1)
            limit = _int_param(query, "limit", MAX_QUERY_ROWS)
        except ValueError as exc:
            return web.json_response({"error": "malformed", "message": str(exc)}, status=400)
        if not 1 <= limit <= MAX_QUERY_ROWS:
            return web.json_response({"error": "malformed", "message": f"limit must be 1..{MAX_QUERY_ROWS}"},
                                     status=400)
        user = query.get("user")
        if user is not None and not 0 < len(user) <= 256:
            return web.json_response({"error": "malformed", "message": "user must be 1..256 characters"}, status=400)
        async with self.reads.slot():
            records = await self.audit.query(since_ns, until_ns, user, limit)
        return web.json_response({"records": [asdict(r) for r in records]}, dumps=_dumps)

    async def venues(self, request: web.Request) -> web.Response:
        """``GET /admin/venues``: each vn.py gateway's connection (transport/venue/connection.py).

        Answer: ``{"tsNs": int, "venues": [{"name", "class", "state", "sinceTsNs", "lastError", "marketData",
        "contracts", "subscriptions", "connects", "settings"}]}``, in configuration order; ``settings`` shows
        each secret as ``***`` and where it is read from (transport/venue/gateways.py), never its value. A
        node without vn.py answers an empty list.
        """
        self.require_admin(request)
        engine = getattr(self.desk, "engine", None)
        venues = []
        if engine is not None:
            configs = {gateway.name: gateway for gateway in engine.gateways}
            for status in engine.connections.statuses():
                config = configs.get(status.name)
                venues.append({**status.as_json(), "settings": config.public_settings() if config else {}})
        return web.json_response({"tsNs": time.time_ns(), "venues": venues}, dumps=_dumps)

    async def cluster(self, request: web.Request) -> web.Response:
        """``GET /admin/cluster``: every node heard on NATS, every group's leader, epoch and lease age (issue 16).

        ``{"nats": bool, "node": this node's name, "nodes": [...], "groups": [...]}`` (transport/cluster/
        membership.py ``ClusterView.describe``); without NATS the lists are empty.
        """
        self.require_admin(request)
        links = getattr(self.desk, "links", None)
        view = getattr(links, "cluster", None)
        if view is None:
            return web.json_response({"nats": False, "node": getattr(links, "node", ""), "nodes": [], "groups": []},
                                     dumps=_dumps)
        async with self.reads.slot():
            body = await view.describe()
        return web.json_response({"nats": True, "node": links.node, **body}, dumps=_dumps)

    async def metrics_page(self, request: web.Request) -> web.Response:
        """``GET /metrics``."""
        self.require_admin(request)
        async with self.reads.slot():
            body = await self._metrics_body.get()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def restart(self, request: web.Request) -> web.Response:
        """``POST /admin/restart {"path": P}``."""
        return await self._command(request, "restart")

    async def stop(self, request: web.Request) -> web.Response:
        """``POST /admin/stop {"path": P}``."""
        return await self._command(request, "stop")

    async def _command(self, request: web.Request, action: str) -> web.Response:
        principal = self.require_admin(request, action, request.path)
        target = _target_path(await read_json_body(request))
        if target is None:
            self.audit.record(principal.user, action, "?", "malformed")
            return _reply(400, action, "", "malformed", 'send {"path": "<actor path>"}')
        registry = self.runtime.registry
        entry = registry.get(target)
        if entry is None:
            return self._audited(principal.user, 404, action, target, "unknown_path", "no actor at this path")
        if not entry.parent:
            return self._audited(principal.user, 400, action, target, "refused",
                                 "the root cannot be restarted or stopped from the admin API")
        command = (RestartChild if action == "restart" else StopChild)(child_name(target, entry.parent))
        before = entry.address
        try:
            ack = await self.runtime.ask(entry.parent, command, timeout_s=ASK_TIMEOUT_S)
        except ActorDeadError as exc:
            return self._audited(principal.user, 409, action, target, "parent_down", str(exc))
        except AskTimeoutError as exc:
            return self._audited(principal.user, 504, action, target, "timeout", str(exc))
        if getattr(ack, "result", "") == "unknown_child":
            return self._audited(principal.user, 409, action, target, "unknown_child",
                                 "its supervisor no longer has this child")
        settled = await self._settle(target, before, action)
        result = ("restarted" if settled else "restarting") if action == "restart" else (
            "stopped" if settled else "stopping")
        return self._audited(principal.user, 200 if settled else 202, action, target, result, "")

    def _audited(self, user: str, status: int, action: str, target: str, result: str, message: str):
        self.audit.record(user, action, target, result)
        self.invalidate_reads()
        entry = self.runtime.registry.get(target)
        return _reply(status, action, target, result, message,
                      state=entry.state.value if entry is not None else "removed",
                      restarts=entry.restarts if entry is not None else None)

    async def _settle(self, target: str, before, action: str) -> bool:
        """Wait (bounded) until the subtree at ``target`` runs again (restart) or has stopped (stop)."""
        registry = self.runtime.registry
        prefix = target + "/"

        def settled() -> bool:
            entry = registry.get(target)
            if action == "stop":
                return entry is None or entry.state is ActorState.STOPPED
            if entry is None or entry.address == before or entry.state is not ActorState.RUNNING:
                return False
            return not any(e.state in _UNSETTLED for e in registry.entries() if e.path.startswith(prefix))

        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                while not settled():
                    await asyncio.sleep(0.005)
        except TimeoutError:
            return False
        return True


def _int_param(query, name: str, default: int) -> int:
    """Return the integer query parameter ``name`` (0 ≤ value < 2**63) or ``default``; ValueError when bad."""
    text = query.get(name)
    if text is None:
        return default
    if not (text.isdigit() and len(text) <= 19 and int(text) < 2**63):
        raise ValueError(f"{name} must be an integer in 0 .. 2**63-1")
    return int(text)


def _target_path(body: Any) -> str | None:
    """Return the ``path`` of a JSON body ``{"path": P}``, or ``None`` when malformed."""
    path = body.get("path") if isinstance(body, dict) else None
    return path.strip().strip("/") if isinstance(path, str) and 0 < len(path) <= 512 else None


def _reply(status: int, action: str, target: str, result: str, message: str, **extra) -> web.Response:
    body = {"ok": 200 <= status < 300, "action": action, "path": target, "result": result, **extra}
    if message:
        body["message"] = message
    return web.json_response(body, status=status, dumps=_dumps)


__all__ = ["AUDIT_KEPT", "AdminApi", "AuditLog", "AuditRecord", "actor_tree", "child_name"]
