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

**Replay.** Every fault the desk applied (status ``injected``) is appended to a
scenario file (sim/harness/scenario.py format), ``<state dir>/faults-<UTC start
time>.toml``: the desk as configured (market, seed, replay, water marks, NATS)
and each fault with ``at_s`` = seconds from the desk's start to the injection,
so ``tickstage sim --scenario FILE`` runs the same faults on the same market.
The file is rewritten whole (write, then rename) after each fault, its
``duration_s`` past the last fault's end; answers and ``GET /admin/faults``
name it in ``scenario``. A desk without a state folder keeps it in its
temporary folder, removed when the desk stops: give ``--state-dir`` to keep it.

Slow and garbage clients are connected to the desk itself, with tokens
minted from its HS256 secret; with RS256 those two kinds answer 409.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from transport.admin.admin_guard import read_json_body


def _record_json(record: Any) -> dict[str, Any]:
    return {"index": record.index, "kind": record.spec.kind, "target": record.target, "status": record.status,
            "reason": record.reason, "injected_ns": record.injected_ns, "ended_ns": record.ended_ns,
            "details": record.details}


_log = structlog.get_logger("transport.process.faults_api")

REPLAY_TAIL_S = 5.0
"""The written scenario runs this long past the last fault's end, seconds."""


def desk_spec(config: Any) -> Any:
    """Return the :class:`sim.harness.scenario.DeskSpec` of a running desk's configuration.

    Args:
        config: a :class:`transport.process.app.DeskConfig` on the simulator gateway.
    """
    from sim.harness.scenario import DeskSpec

    sim = config.sim
    known = {f.name for f in dataclasses.fields(DeskSpec)}
    extra = {k: sim[k] for k in ("peak", "instruments", "copies", "shift_s", "max_gap_s") if k in sim and k in known}
    return DeskSpec(contracts=config.contracts, rate=float(config.rate), seed=config.seed,
                    replay=str(Path(config.replay[0]).resolve()) if config.replay else "", speed=float(config.speed),
                    high_water_bytes=config.limits.high_water_bytes, low_water_bytes=config.limits.low_water_bytes,
                    nats=bool(config.nats), **extra)


class FaultsApi:
    """Serves ``/admin/faults`` for one desk (loop thread).

    Args:
        desk: the running :class:`transport.process.app.Desk` (its ``admin`` keeps the audit).
    """

    def __init__(self, desk: Any) -> None:
        self.desk = desk
        self._injector: Any = None
        self._started = time.monotonic()
        self.scenario_path: Path = Path(desk.state_dir) / time.strftime("faults-%Y%m%dT%H%M%SZ.toml", time.gmtime())
        """Where the applied faults are written as a replayable scenario (module docstring)."""
        self.applied: list[Any] = []
        """The :class:`sim.harness.scenario.FaultSpec` of every applied fault, ``at_s`` from the desk's start."""
        self._write_lock = asyncio.Lock()

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
        at_s = round(time.monotonic() - self._started, 3)
        record = await self.injector().inject(spec)
        self._audit(principal.user, target, record.status)
        answer = _record_json(record)
        if record.status == "injected":
            self.applied.append(dataclasses.replace(spec, at_s=at_s))
            answer["scenario"] = await self._write_scenario()
        status = {"injected": 202, "skipped": 200}.get(record.status, 409)
        return web.json_response(answer, status=status, dumps=lambda v: json.dumps(v, default=str))

    async def _write_scenario(self) -> str:
        """Rewrite the scenario file with every applied fault (a worker thread; write, then rename).

        Returns:
            The file's path, or ``"unwritten: <reason>"`` when it could not be written (the fault stands).
        """
        from sim.harness.scenario import TIMED, scenario_toml

        def write(text: str) -> None:
            partial = self.scenario_path.with_suffix(".toml.partial")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, self.scenario_path)

        async with self._write_lock:  # each write holds every fault applied so far, in order
            ends = [f.at_s + (f.duration_ms / 1000 if f.kind in TIMED else 0.0) for f in self.applied]
            try:
                text = scenario_toml(
                    self.scenario_path.stem, round(max(ends) + REPLAY_TAIL_S, 3), desk_spec(self.desk.config),
                    self.applied, seed=self.desk.config.seed,
                    comment=f"Faults injected into a running desk ({self.desk.url}), at_s from its start.\n"
                            f"Replay: tickstage sim --scenario {self.scenario_path}")
                await asyncio.to_thread(write, text)
            except (OSError, ValueError) as exc:
                _log.error("fault_scenario_unwritten", path=str(self.scenario_path), error=str(exc))
                return f"unwritten: {exc}"
        _log.info("fault_scenario_written", path=str(self.scenario_path), faults=len(self.applied))
        return str(self.scenario_path)

    async def list(self, request: web.Request) -> web.Response:
        """``GET /admin/faults``."""
        self._principal(request, "")
        records = self._injector.records if self._injector is not None else []
        return web.json_response({"faults": [_record_json(r) for r in records],
                                  "scenario": str(self.scenario_path) if self.applied else None},
                                 dumps=lambda v: json.dumps(v, default=str))

    async def close(self) -> None:
        """End route faults still active."""
        if self._injector is not None:
            await self._injector.close()


__all__ = ["REPLAY_TAIL_S", "FaultsApi", "desk_spec"]
