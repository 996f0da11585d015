"""``/admin/recordings``: per-session flight recordings, started and read by an admin.

Routes (aiohttp), every one behind ``Authorization: Bearer <JWT>`` with the
``admin`` role (401 without or with a refused token, 403 for another role):

* ``GET /admin/recordings`` — ``{"sessions": [...]}``: every open socket and
  every kept recording, each ``{"session", "id", "user", "role", "open",
  "groups", "recording", "records", "payload_bytes", "records_dropped",
  "started_ts_ns", "ended_ts_ns", "started_by"}`` (recording fields null
  when none);
* ``POST /admin/recordings {"session": "sessions/session/7", "action":
  "start" | "stop", "max_bytes": N, "max_records": N}`` — start (a new ring,
  replacing an earlier recording of that session) or stop capturing; 404 for
  a session not open (start) or never recorded (stop), 400 for a bad body.
  On start the session's groups are re-attached, so the recording opens with
  each group's ``groupInfo`` and a snapshot, and the order actor of every
  account the session may trade sends it an ``orderStatusReply`` (envelope
  correlation id 0: no request of the page's), so the recording opens with the
  orders the trader saw; it replays on its own. Audited (action ``record``)
  in the admin audit;
* ``GET /admin/recordings/{id}`` — the recording of ``sessions/session/<id>``
  as a file (``application/octet-stream``, format in schemas/flight.capnp),
  encoded off the loop; 404 when there is none.

At most :data:`KEPT_RECORDINGS` recordings are kept; starting one more drops
the oldest stopped one (a recording whose socket closed stays readable).
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import structlog
from aiohttp import web

from transport.admin.admin_guard import read_json_body
from actors import encode_actor_message
from actors.orders.codec import encode_order_command
from actors.paths import is_token, orders_account, session_path
from transport.admin.flight import DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORDS, FlightRecorder, encode_recording
from transport.edge.client import client_message


KEPT_RECORDINGS = 16
"""Recordings kept in memory at once."""
MAX_BYTES_LIMIT = 256 * 1024 * 1024
"""Largest ``max_bytes`` an admin may ask for one recording."""

_log = structlog.get_logger("transport.admin.flight_api")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class FlightApi:
    """Serves ``/admin/recordings`` for one desk (loop thread).

    Args:
        desk: the running :class:`transport.process.app.Desk` (``sockets``, ``principal(request)``,
            ``admin`` for the audit).
    """

    def __init__(self, desk: Any) -> None:
        self.desk = desk
        self.recordings: collections.OrderedDict[str, FlightRecorder] = collections.OrderedDict()

    def add_routes(self, app: web.Application) -> None:
        """Add the three routes to ``app``."""
        app.router.add_get("/admin/recordings", self.list)
        app.router.add_post("/admin/recordings", self.command)
        app.router.add_get("/admin/recordings/{id}", self.download)

    def _principal(self, request: web.Request):
        return self.desk.admin.require_admin(request)

    def _audit(self, user: str, target: str, result: str) -> None:
        self.desk.admin.audit.record(user, "record", target, result)

    # -- routes ----------------------------------------------------------------

    async def list(self, request: web.Request) -> web.Response:
        """``GET /admin/recordings``."""
        self._principal(request)
        connections = self.desk.sockets.connections if self.desk.sockets else {}
        rows = []
        for path in dict.fromkeys([*connections, *self.recordings]):
            conn = connections.get(path)
            recorder = self.recordings.get(path)
            stats = recorder.statistics() if recorder is not None else None
            rows.append({
                "session": path, "id": path.rsplit("/", 1)[-1],
                "user": conn.state.user if conn else stats.user, "role": conn.state.role if conn else recorder.role,
                "open": conn is not None, "groups": list(conn.state.groups) if conn else [],
                "recording": stats.recording if stats else None, "records": stats.records if stats else None,
                "payload_bytes": stats.payload_bytes if stats else None,
                "records_dropped": stats.records_dropped if stats else None,
                "started_ts_ns": stats.started_ts_ns if stats else None,
                "ended_ts_ns": stats.ended_ts_ns if stats else None,
                "started_by": stats.started_by if stats else None,
            })
        return web.json_response({"sessions": rows})

    async def command(self, request: web.Request) -> web.Response:
        """``POST /admin/recordings``: start or stop recording a session."""
        principal = self._principal(request)
        try:
            body = await read_json_body(request)
            path, action = str(body["session"]), str(body["action"])
            max_bytes = int(body.get("max_bytes", DEFAULT_MAX_BYTES))
            max_records = int(body.get("max_records", DEFAULT_MAX_RECORDS))
        except (ValueError, KeyError, TypeError, OverflowError):
            return _error(400, 'body must be {"session": path, "action": "start"|"stop"}')
        if action not in ("start", "stop") or not 0 < max_bytes <= MAX_BYTES_LIMIT or max_records <= 0:
            return _error(400, f"action start|stop, 0 < max_bytes ≤ {MAX_BYTES_LIMIT}, max_records > 0")
        if action == "stop":
            recorder = self.recordings.get(path)
            if recorder is None:
                return _error(404, f"no recording of {path}")
            recorder.stop()
            self._audit(principal.user, path, "stopped")
            return web.json_response({"session": path, "recording": False, "records": recorder.statistics().records})
        conn = self.desk.sockets.connections.get(path) if self.desk.sockets else None
        if conn is None:
            return _error(404, f"no open session {path}")
        recorder = FlightRecorder(path, conn.state.user, conn.state.role, principal.user, max_bytes, max_records)
        self._keep(path, recorder)
        conn.outbox.recorder = recorder
        for group in conn.state.groups:  # info + snapshot: the recording replays on its own
            self.desk.runtime.tell_path(path, encode_actor_message("groupRestarted", group, source="flight"))
        self._request_order_status(path, conn.state)
        self._audit(principal.user, path, "started")
        _log.info("flight_recording_started", session_path=path, user=conn.state.user, started_by=principal.user)
        return web.json_response({"session": path, "recording": True})

    def _request_order_status(self, path: str, state: Any) -> None:
        """Have every order actor of an account the session may trade answer it an orderStatusReply."""
        runtime = self.desk.runtime
        for entry in runtime.registry.entries():
            account = orders_account(entry.path)
            if account is None or not state.may_trade(account):
                continue
            request = client_message(0, orderStatusRequest={"account": account, "finishedLimit": 0}, source="flight")
            runtime.tell_path(entry.path, encode_order_command(path, "flight", request, "flight"))

    async def download(self, request: web.Request) -> web.Response:
        """``GET /admin/recordings/{id}``: the recording as a file."""
        self._principal(request)
        session_id = request.match_info["id"]
        path = session_path(session_id) if is_token(session_id) else f"sessions/session/{session_id}"
        recorder = self.recordings.get(path)
        if recorder is None:
            return _error(404, f"no recording of {path}")
        header, entries = recorder.snapshot()
        data = await asyncio.to_thread(encode_recording, header, entries)
        name = f"tickstage-session-{request.match_info['id']}.tkflight"
        return web.Response(body=data, content_type="application/octet-stream",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def _keep(self, path: str, recorder: FlightRecorder) -> None:
        old = self.recordings.pop(path, None)
        if old is not None:
            old.stop()
        while len(self.recordings) >= KEPT_RECORDINGS:
            stopped = next((p for p, r in self.recordings.items() if not r.recording), None)
            victim = stopped if stopped is not None else next(iter(self.recordings))
            self.recordings.pop(victim).stop()
            connections = self.desk.sockets.connections
            if victim in connections and connections[victim].outbox.recorder is not None:
                connections[victim].outbox.recorder = None
        self.recordings[path] = recorder


__all__ = ["KEPT_RECORDINGS", "FlightApi"]
