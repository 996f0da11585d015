"""``POST /admin/faults``: inject a simulator fault into this running desk (admin role, audited).

Body (JSON): a fault as in a scenario file (sim/harness/scenario.py), without
``at_s``: ``{"kind": "crash", "target": "market/group/rb"}``,
``{"kind": "stall", "target": "market/group/m_o", "duration_ms": 500}``,
``{"kind": "burst", "factor": 10, "duration_ms": 2000}`` ...

Answers ``202`` with the fault's record once injected (``index``, ``kind``,
``target``, ``status``, ``reason``), ``200`` when skipped (a NATS
disconnect on a desk without NATS), ``409`` when it could not apply (unknown
path, an actor without a crash handler), ``400`` for a malformed body, ``401``
/ ``403`` without an admin token (checked before the body is read), ``413``
for a body over 16 KiB (transport/admin/admin_guard.py). Every call is recorded in the admin audit
(``GET /admin/audit``, action ``fault``, target ``<kind> <target>``). A
crash or kill then shows in ``GET /admin/tree`` as the target's restart count.
``GET /admin/faults`` lists the faults injected so far and how each ended.

Slow and garbage clients are connected to the desk itself, with tokens
minted from its HS256 secret; with RS256 those two kinds answer 409.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from transport.admin.admin_guard import read_json_body


def _record_json(record: Any) -> dict[str, Any]:
    return {"index": record.index, "kind": record.spec.kind, "target": record.target, "status": record.status,
            "reason": record.reason, "injected_ns": record.injected_ns, "ended_ns": record.ended_ns,
            "details": record.details}


class FaultsApi:
    """Serves ``/admin/faults`` for one desk (loop thread).

    Args:
        desk: the running :class:`transport.process.app.Desk` (its ``admin`` keeps the audit).
    """

    def __init__(self, desk: Any) -> None:
        self.desk = desk
        self._injector: Any = None

    def add_routes(self, app: web.Application) -> None:
        """Add ``POST /admin/faults`` and ``GET /admin/faults``."""
        app.router.add_post("/admin/faults", self.inject)
        app.router.add_get("/admin/faults", self.list)

    def _audit(self, user: str, target: str, result: str) -> None:
        self.desk.admin.audit.record(user, "fault", target, result)
        self.desk.admin.invalidate_reads()

    def _principal(self, request: web.Request, target: str) -> Any:
        return self.desk.admin.require_admin(request, "fault", target)

    def injector(self) -> Any:
        """The desk's :class:`sim.harness.faults.FaultInjector`, made on first use."""
        if self._injector is None:
            from sim.harness.clients import ClientFactory
            from sim.harness.faults import FaultInjector

            desk = self.desk
            factory = None
            if desk.config.auth.algorithm == "HS256":
                url = f"ws://{desk.config.host}:{desk.port}/ws"
                factory = ClientFactory(url, desk.jwt_secret, sorted(desk.bridge.groups())[:3] if desk.bridge else [])
            self._injector = FaultInjector(desk, {}, factory, seed=desk.config.seed)
        return self._injector

    async def inject(self, request: web.Request) -> web.Response:
        """``POST /admin/faults``."""
        from sim.harness.scenario import FAULT_KINDS, FaultSpec

        principal = self._principal(request, request.path)
        body = await read_json_body(request)
        kind = body.get("kind") if isinstance(body, dict) else None
        target = f"{kind} {body.get('target', '')}".strip() if isinstance(body, dict) else "?"
        known = {f.name for f in dataclasses.fields(FaultSpec)} - {"at_s"}
        if not isinstance(body, dict) or kind not in FAULT_KINDS or set(body) - known:
            self._audit(principal.user, target, "malformed")
            return web.json_response({"error": "malformed", "message": f"a JSON object with kind in {FAULT_KINDS} "
                                      f"and keys among {sorted(known)}"}, status=400)
        try:
            spec = FaultSpec(at_s=0.0, **{k: tuple(v) if isinstance(v, list) else v for k, v in body.items()})
        except TypeError as exc:
            self._audit(principal.user, target, "malformed")
            return web.json_response({"error": "malformed", "message": str(exc)}, status=400)
        record = await self.injector().inject(spec)
        self._audit(principal.user, target, record.status)
        status = {"injected": 202, "skipped": 200}.get(record.status, 409)
        return web.json_response(_record_json(record), status=status, dumps=lambda v: json.dumps(v, default=str))

    async def list(self, request: web.Request) -> web.Response:
        """``GET /admin/faults``."""
        self._principal(request, "")
        records = self._injector.records if self._injector is not None else []
        return web.json_response({"faults": [_record_json(r) for r in records]},
                                 dumps=lambda v: json.dumps(v, default=str))

    async def close(self) -> None:
        """End route faults still active."""
        if self._injector is not None:
            await self._injector.close()


__all__ = ["FaultsApi"]
