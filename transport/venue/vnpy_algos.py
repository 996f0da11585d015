"""The desk's algo jobs: vnpy_algotrading's algos in the desk's MainEngine, their child orders on the desk's order path.

Traders start, pause, resume and stop vn.py algos (``TwapAlgo``, ``IcebergAlgo``, ``SniperAlgo``, ``StopAlgo``,
``BestLimitAlgo``) over the WebSocket (``startAlgo`` … ``stopAlgo``, schemas/orders.capnp). :class:`DeskAlgos`
checks the commands, keeps each job (journaled, resumed paused after a restart), submits the algos' child orders
to ``orders/<account>`` as the session ``algos`` (actors/sessions/algo_host.py), so every child order passes the
same risk rules and journal as a manual one (client order id ``a<16 hex of account and jobId>-<n>``; a child a
rule refuses pauses the algo with the reason; an algo that raises is stopped, its open child orders cancelled, and
its job ends ``stopped`` with the error as the reason), and sends each job's progress. The engine that runs the
templates, vnpy_algotrading's ``AlgoEngine`` routing its children through this service, is
:class:`~transport.venue.algo_engine.DeskAlgoEngine` (transport/venue/algo_engine.py).

Threads: the templates run on vn.py's EventEngine thread (ticks, 1 s timer, order events), as in vn.py; commands
and child-order replies from the loop thread are queued to it as events. Every second (vn.py's timer) each job's
progress (``algoProgress``) goes to the sessions granted its account.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

import schemas
from actors import ChildSpec, encode_error, encode_outbound, encode_server_message, new_server_message
from actors.orders.codec import encode_account_push, encode_order_command
from actors.orders.config import OrdersConfig
from actors.paths import ALGO_HOST_CHILD, ALGO_HOST_PATH, is_token, orders_path
from transport.edge.client import client_message
from transport.venue.algo_engine import describe_error, desk_algo_engine_class

_log = structlog.get_logger("transport.venue.vnpy_algos")

EVENT_ALGO_CALL = "eTickstageAlgoCall"
"""vn.py event type of a call queued from the loop thread to the EventEngine thread (``event.data()``)."""

SOURCE = "algos"
"""``Envelope.source`` of the algo engine's messages."""

MAX_SETTING_VALUE = 1e9
"""Largest absolute value of a template setting (seconds, lots, ticks …)."""

MAX_VOLUME_LOTS = 1e6
"""Largest algo volume, lots."""

_STATUS = {"RUNNING": "running", "PAUSED": "paused", "STOPPED": "stopped", "FINISHED": "finished"}


class AlgoCommandError(ValueError):
    """An algo command refused: ``code`` is an ErrorCode (``malformed``, ``forbidden``, ``unknownContract``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class AlgoJob:
    """One algo job.

    Attributes:
        job_id: chosen by the client.
        account: the strategy account it trades.
        user: the trader who started it (JWT ``sub``).
        template: vnpy_algotrading template class name.
        vt_symbol, volume: the contract and the total volume, lots.
        algo: the running template instance (None once ended and reported).
        message: the latest event (why it paused, a refusal, "finished").
        children: client order ids of its child orders (this incarnation's).
        request: the parsed ``startAlgo`` (direction, offset, price, setting …), journaled.
        child_seq: child orders sent over the job's life (the next child is ``-<child_seq + 1>``).
        restore: the journal row of a job to resume paused after a restart, until its contract is known.
        open_children: child orders not yet final.
        ended_reported: its final progress has been sent: ended (stopped or finished) with no child order open. An
            ended job whose cancels are still on their way keeps reporting each second until its last child
            closes, so the trader's last view of it says ``openChildren`` 0, not a child that is long cancelled.
    """

    job_id: str
    account: str
    user: str
    template: str
    vt_symbol: str
    volume: float
    algo: Any = None
    message: str = ""
    children: set[str] = field(default_factory=set)
    open_children: set[str] = field(default_factory=set)
    ended_reported: bool = False
    request: dict[str, Any] = field(default_factory=dict)
    child_seq: int = 0
    restore: dict[str, Any] | None = None
    last_row: tuple = ()


class DeskAlgos:
    """The desk's algo jobs: commands from the sessions, children to the order actors, progress to the traders.

    Args:
        runtime: the actor runtime (``tell_path``, ``registry``).
        config: the accounts (who owns which).
        journal: the order journal (actors/orders/journal.py): each job's row (``algo_jobs``) is written when it
            changes; at start the unfinished jobs of the trading day's journal are resumed **paused** (never re-run
            on their own), their traded lots and average price restored. A job whose algo failed is journaled
            ``stopped`` like any ended job, so a restarted desk does not resume it.
    """

    def __init__(self, runtime: Any, config: OrdersConfig, journal: Any = None) -> None:
        self.runtime = runtime
        self.config = config
        self.journal = journal
        self.loop: asyncio.AbstractEventLoop | None = None
        self.engine: Any = None
        self.event_engine: Any = None
        self.jobs: dict[str, AlgoJob] = {}           # jobId → job (jobIds are desk-unique)
        self._by_algo: dict[str, AlgoJob] = {}        # vn.py algo_name → job
        self._child_job: dict[str, AlgoJob] = {}      # child client order id → job
        self.child_by_vt: dict[str, str] = {}         # gateway vt_orderid → child client order id
        self._seq = 0
        self._lock = threading.Lock()
        self.started = self.refused_children = self.progress_sent = 0
        self.algos_failed = self.handler_failures = 0
        self.progress_listeners: list[Callable[[str, bytes], None]] = []
        """Called on the loop thread with (job id, ActorMessage accountPush of its algoProgress), every progress
        the local sessions get (the NATS algo host publishes it on ``algo.progress.1s.<job>``)."""

    # -- wiring -----------------------------------------------------------------------------

    def attach(self, event_engine: Any, main_engine: Any) -> None:
        """Add the engine to vn.py's MainEngine and the 1 s progress to its timer (before connect)."""
        from vnpy.trader.event import EVENT_TIMER

        self.event_engine = event_engine
        self.engine = main_engine.add_engine(desk_algo_engine_class())
        self.engine.desk = self
        event_engine.register(EVENT_ALGO_CALL, self._run_call)
        event_engine.register(EVENT_TIMER, self._on_timer)

    def start(self, spawn_host: Callable[[Any], None]) -> None:
        """Start the host session (loop thread); ``spawn_host(ChildSpec)`` spawns it under the root."""
        from actors.sessions.algo_host import AlgoHostActor

        self.loop = asyncio.get_running_loop()
        for row in self.journal.algo_jobs() if self.journal is not None else ():
            job = AlgoJob(row["job_id"], row["account"], row["user"], row["template"], row["vt_symbol"],
                          float(row["volume"]), message=row["message"] or "", child_seq=int(row["children"] or 0))
            try:
                job.request = {**{k: row[k] for k in ("job_id", "account", "template", "vt_symbol", "direction",
                                                     "offset", "price", "volume")},
                               "setting": json.loads(row["setting_json"])}
            except (TypeError, ValueError) as exc:
                _log.warning("algo_job_unreadable", job_id=row["job_id"], error=repr(exc))
                job.ended_reported = True
            self.jobs[job.job_id] = job
            if row["status"] in ("stopped", "finished") or job.ended_reported:
                job.ended_reported = True
                continue
            job.restore = row
            job.message = "resumed paused after a desk restart: resume or stop it"
            _log.info("algo_job_restored", job_id=job.job_id, account=job.account, traded=row["traded"])
        spawn_host(ChildSpec(ALGO_HOST_CHILD, AlgoHostActor, {"command": self.on_command, "reply": self.on_reply}))

    def _call(self, fn: Callable[[], None]) -> None:
        from vnpy.event import Event

        self.event_engine.put(Event(EVENT_ALGO_CALL, fn))

    def _run_call(self, event: Any) -> None:
        try:
            event.data()
        except Exception as exc:  # noqa: BLE001 - never the EventEngine's thread
            _log.error("algo_call_failed", error=repr(exc))

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        if self.loop is not None:
            try:
                self.loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:   # loop closed: the desk is stopping
                pass

    def _answer(self, session: str, payload: bytes, correlation: int,
                answer: Callable[[bytes], None] | None = None) -> None:
        if answer is not None:
            answer(payload)
            return
        self.runtime.tell_path(session, encode_outbound(group="", seq=0, kind="control", payload=payload,
                                                        source=SOURCE, correlation_id=correlation))

    # -- commands (loop thread) ---------------------------------------------------------------

    def on_command(self, session: str, user: str, data: bytes, correlation_id: int,
                   answer: Callable[[bytes], None] | None = None) -> None:
        """Handle an algo command a session forwarded (token already checked for the account).

        Args:
            session: the commanding session's path (its ``ack`` / ``error`` goes there).
            user: the trader's JWT ``sub``.
            data: the ClientMessage bytes.
            correlation_id: the desk correlation id of the command (UInt64, 0: none).
            answer: when given, takes the ``ack`` / ``error`` ServerMessage instead of the session, before this
                returns (the NATS algo host answers its request with it).
        """
        with schemas.stream.ClientMessage.from_bytes(data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                                     nesting_limit=schemas.NESTING_LIMIT) as client:
            member = client.which()
            envelope_id = client.envelope.id
            body = getattr(client, member)
            try:
                if member == "startAlgo":
                    request = self._parse_start(body)
                    job = self.jobs.get(request["job_id"])
                    if job is not None:
                        if job.account != request["account"]:
                            raise AlgoCommandError("forbidden", f"jobId {request['job_id']!r} is another account's")
                        detail = job.job_id   # idempotent: the job already runs (or ran)
                    else:
                        self._check_contract(request)
                        job = AlgoJob(request["job_id"], request["account"], user, request["template"],
                                      request["vt_symbol"], request["volume"], message="starting", request=request)
                        self.jobs[job.job_id] = job
                        self._call(lambda: self._start(job, request))
                        detail = job.job_id
                else:
                    job = self.jobs.get(str(body.jobId))
                    if job is None or job.account != str(body.account):
                        raise AlgoCommandError("forbidden", f"no algo job {str(body.jobId)[:64]!r} of account "
                                               f"{str(body.account)[:64]!r}")
                    action = member.removesuffix("Algo")
                    self._call(lambda: self._control(job, action, user))
                    detail = job.job_id
            except AlgoCommandError as exc:
                self._answer(session, encode_error(exc.code, str(exc), envelope_id, SOURCE), correlation_id, answer)
                return
        _log.info("algo_command", member=member, job_id=detail, user=user, correlation_id=correlation_id or None)
        self._answer(session, encode_server_message("ack", envelope_id, SOURCE, of=member, detail=detail),
                     correlation_id, answer)

    def _parse_start(self, body: Any) -> dict[str, Any]:
        templates = self.engine.algo_templates if self.engine is not None else {}
        template = str(body.template)
        if template not in templates:
            raise AlgoCommandError("malformed", f"unknown algo template {template[:64]!r}; known: {sorted(templates)}")
        account = str(body.account)
        if self.config.account(account) is None:
            raise AlgoCommandError("forbidden", f"account {account[:64]!r} is not configured")
        price, volume = float(body.price), float(body.volumeLots)
        if not (math.isfinite(price) and price > 0):
            raise AlgoCommandError("malformed", f"price must be a finite number > 0, not {price!r}")
        if not (math.isfinite(volume) and 0 < volume <= MAX_VOLUME_LOTS):
            raise AlgoCommandError("malformed", f"volumeLots must be in (0, {MAX_VOLUME_LOTS:g}], not {volume!r}")
        defaults = templates[template].default_setting
        setting = dict(defaults)
        for item in body.settings:
            key, text = str(item.key), str(item.value)
            if key not in defaults:
                raise AlgoCommandError("malformed", f"{template} has no setting {key[:64]!r}; its settings: "
                                       f"{sorted(defaults)}")
            try:
                value = float(text)
            except ValueError:
                raise AlgoCommandError("malformed", f"setting {key} = {text[:64]!r} is not a number") from None
            if not (math.isfinite(value) and abs(value) <= MAX_SETTING_VALUE):
                raise AlgoCommandError("malformed", f"setting {key} = {text[:64]!r} must be a finite number of "
                                       f"at most {MAX_SETTING_VALUE:g}")
            if isinstance(defaults[key], int) and not isinstance(defaults[key], bool):
                if value != int(value) or value < 0:
                    raise AlgoCommandError("malformed", f"setting {key} = {text[:64]!r} must be a whole number >= 0")
                value = int(value)
            setting[key] = value
        if template == "TwapAlgo" and not (setting["interval"] >= 1 and setting["time"] >= setting["interval"]):
            raise AlgoCommandError("malformed", "TwapAlgo needs interval >= 1 and time >= interval (seconds)")
        return {"job_id": str(body.jobId), "account": account, "template": template, "vt_symbol": str(body.vtSymbol),
                "direction": str(body.direction), "offset": str(body.offset), "price": price, "volume": volume,
                "setting": setting}

    def _check_contract(self, request: dict[str, Any]) -> None:
        from vnpy.trader.utility import round_to

        vt_symbol = request["vt_symbol"]
        main_engine = self.engine.main_engine if self.engine is not None else None
        contract = main_engine.get_contract(vt_symbol) if main_engine is not None else None
        if contract is None:
            raise AlgoCommandError("unknownContract", f"{vt_symbol[:64]!r} is not a contract the gateways know")
        setting = request["setting"]
        if request["template"] == "TwapAlgo":   # vnpy_algotrading rounds each slice to the contract's lot step
            per_slice = request["volume"] / (setting["time"] / setting["interval"])
            if not round_to(per_slice, contract.min_volume or 1):
                raise AlgoCommandError("malformed", f"TwapAlgo slices of {per_slice:g} lots round to 0 lots "
                                       f"(lot step {contract.min_volume:g}): fewer slices (time / interval) or more lots")

    # -- on vn.py's EventEngine thread -----------------------------------------------------------

    def _start(self, job: AlgoJob, request: dict[str, Any], publish: bool = True) -> None:
        from vnpy.trader.constant import Direction, Offset

        direction = Direction.LONG if request["direction"] == "long" else Direction.SHORT
        offset = {"open": Offset.OPEN, "close": Offset.CLOSE, "closeToday": Offset.CLOSETODAY,
                  "closeYesterday": Offset.CLOSEYESTERDAY}.get(request["offset"], Offset.NONE)
        name = self.engine.start_algo(request["template"], request["vt_symbol"], direction, offset,
                                      request["price"], request["volume"], request["setting"])
        if not name:
            job.message = "not started: the contract is not known to vn.py"
            job.ended_reported = False
            return
        job.algo = self.engine.algos.get(name)
        self._by_algo[name] = job
        job.message = "running"
        self.started += 1
        if publish:
            self._publish(job)

    def _restore(self, job: AlgoJob) -> None:
        """Start a journaled job again and pause it at once, its fills restored (EventEngine thread)."""
        row, job.restore = job.restore, None
        request = job.request
        self._start(job, request, publish=False)
        algo = job.algo
        if algo is None:
            return
        algo.pause()
        algo.traded = float(row["traded"] or 0.0)
        algo.traded_price = float(row["avg_price"]) if row["avg_price"] is not None and math.isfinite(
            float(row["avg_price"])) else 0.0
        job.message = "resumed paused after a desk restart: resume or stop it"
        self._publish(job)

    def _control(self, job: AlgoJob, action: str, user: str) -> None:
        algo = job.algo
        if algo is None or algo.status.name in ("STOPPED", "FINISHED"):
            return
        if action == "pause" and algo.status.name == "RUNNING":
            algo.pause()
        elif action == "resume" and algo.status.name == "PAUSED":
            algo.resume()
        elif action == "stop":
            algo.stop()
            self._cancel_unseen_children(job, algo)
        job.message = f"{action}d by {user}" if action != "stop" else f"stopped by {user}"
        self._publish(job)

    def submit_child(self, algo: Any, direction: Any, price: float, volume: float, order_type: Any,
                     offset: Any) -> str:
        """Submit a child order to ``orders/<account>``; return its client order id (EventEngine thread)."""
        job = self._by_algo.get(algo.algo_name)
        if job is None:
            return ""
        with self._lock:
            self._seq += 1
            seq = self._seq
        digest = hashlib.sha1(f"{job.account}\0{job.job_id}".encode()).hexdigest()[:16]
        job.child_seq += 1
        client_order_id = f"a{digest}-{job.child_seq}"
        job.children.add(client_order_id)
        job.open_children.add(client_order_id)
        self._child_job[client_order_id] = job
        offset_name = {"OPEN": "open", "CLOSE": "close", "CLOSETODAY": "closeToday",
                       "CLOSEYESTERDAY": "closeYesterday"}.get(offset.name, "none")
        data = client_message(seq, source=SOURCE, submitOrder={
            "clientOrderId": client_order_id, "account": job.account, "vtSymbol": algo.vt_symbol,
            "direction": "long" if direction.name == "LONG" else "short", "offset": offset_name,
            "orderType": "limit", "price": float(price), "volumeLots": float(volume),
            "reference": f"algo:{job.job_id}"[:64]})
        self._to_loop(self._tell_order, job.account, job.user, data)
        return client_order_id

    def _tell_order(self, account: str, user: str, data: bytes) -> None:
        path = orders_path(account) if is_token(account) else ""
        if not self.runtime.tell_path(path, encode_order_command(ALGO_HOST_PATH, user, data, SOURCE)):
            _log.warning("algo_child_not_sent", account=account, reason="order actor restarting")

    def cancel_child(self, algo: Any, client_order_id: str) -> None:
        """Cancel a child order through ``orders/<account>`` (EventEngine thread)."""
        job = self._child_job.get(client_order_id)
        if job is None:
            return
        data = client_message(0, source=SOURCE, cancelOrder={"clientOrderId": client_order_id,
                                                             "account": job.account})
        self._to_loop(self._tell_order, job.account, job.user, data)

    def child_of(self, reference: str, vt_orderid: str) -> str:
        """Return the child client order id of a vn.py order event (its desk reference), or ``""``."""
        prefix, _, rest = reference.partition(":")
        if prefix != "tickstage":
            return ""
        _, _, client_order_id = rest.partition(":")
        if client_order_id in self._child_job:
            self.child_by_vt[vt_orderid] = client_order_id
            return client_order_id
        return ""

    def child_state(self, client_order_id: str, active: bool) -> None:
        """Note whether a child order is still open (EventEngine thread)."""
        job = self._child_job.get(client_order_id)
        if job is not None and not active:
            job.open_children.discard(client_order_id)

    def on_reply(self, payload: bytes) -> None:
        """An order actor's answer to a child (loop thread): a refused child pauses its algo with the reason."""
        with schemas.stream.ServerMessage.from_bytes(payload, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                                      nesting_limit=schemas.NESTING_LIMIT) as message:
            if message.which() != "orderReply":
                return
            reply = message.orderReply
            client_order_id, status = str(reply.clientOrderId), str(reply.status)
            vt_orderid = str(reply.vtOrderId)
            reason = f"{reply.rejection.rule}: {reply.rejection.reason}" if status == "rejected" else ""
        self._call(lambda: self._child_answered(client_order_id, status, vt_orderid, reason))

    def _child_answered(self, client_order_id: str, status: str, vt_orderid: str, reason: str) -> None:
        job = self._child_job.get(client_order_id)
        if job is None:
            return
        if vt_orderid:
            self.child_by_vt[vt_orderid] = client_order_id
        if status == "rejected":
            self.refused_children += 1
            job.open_children.discard(client_order_id)
            if job.algo is not None and job.algo.status.name == "RUNNING":
                job.algo.pause()
            job.message = f"paused: child order {client_order_id} refused ({reason})"
            self._publish(job)

    def algo_failed(self, algo: Any, exc: Exception) -> None:
        """End the job of an algo that raised and that the engine stopped (EventEngine thread).

        vn.py's stop cancelled the children the algo knew open (its ``active_orders``, learnt from order events);
        a child sent but not yet seen in an order event is cancelled here too (the order actor cancels a pending
        order once it is sent). The job's message becomes ``"failed: <error type>: <message>"`` (the error cut to
        200 characters), its progress (``stopped``) goes to the traders of its account and to the journal, and
        :meth:`statistics` counts it (``algos_failed``).

        Args:
            algo: the vnpy_algotrading template instance that raised (already stopped).
            exc: what it raised.
        """
        self.algos_failed += 1
        job = self._by_algo.get(algo.algo_name)
        if job is None or job.ended_reported:
            return
        self._cancel_unseen_children(job, algo)
        job.message = f"failed: {describe_error(exc)}"
        self._publish(job)

    def _cancel_unseen_children(self, job: AlgoJob, algo: Any) -> None:
        """Cancel the job's open children vn.py's stop did not: it cancels only the algo's ``active_orders``,
        learnt from order events, so a child sent just before the stop, whose first event has not reached the
        algo, would stay open at the venue (EventEngine thread; the order actor cancels a child still being sent
        once it is sent)."""
        for client_order_id in sorted(job.open_children - set(algo.active_orders)):
            self.cancel_child(algo, client_order_id)

    def failed(self, exc: Exception) -> None:
        """A vn.py handler raised outside any one algo (EventEngine thread, already logged): counted
        (``handler_failures``)."""
        self.handler_failures += 1

    def _on_timer(self, event: Any) -> None:
        try:
            for job in list(self.jobs.values()):
                if job.restore is not None and self.engine.main_engine.get_contract(job.vt_symbol) is not None:
                    self._restore(job)
                if not job.ended_reported:
                    self._publish(job)
        except Exception as exc:  # noqa: BLE001 - never the EventEngine's thread
            _log.error("algo_progress_failed", error=repr(exc))

    # -- progress ----------------------------------------------------------------------------

    def progress(self, job: AlgoJob) -> dict[str, Any]:
        """Return a job's ``AlgoProgress`` fields (EventEngine thread)."""
        algo = job.algo
        if algo is not None:
            status = _STATUS.get(algo.status.name, "paused")
        else:
            status = "stopped" if job.message.startswith("not started") else "paused"
        traded = float(algo.traded) if algo is not None else 0.0
        avg = float(algo.traded_price) if algo is not None and traded else math.nan
        if status == "finished" and not job.message.startswith("finished"):
            job.message = f"finished: {traded:g} lots at {avg:g}"
        return {"jobId": job.job_id, "account": job.account, "template": job.template, "status": status,
                "tradedLots": traded, "volumeLots": job.volume, "avgPrice": avg,
                "openChildren": len(job.open_children), "message": job.message[:500], "tsNs": time.time_ns(),
                "vtSymbol": job.vt_symbol}

    def _publish(self, job: AlgoJob) -> None:
        fields = self.progress(job)
        if fields["status"] in ("stopped", "finished") and not job.open_children:
            job.ended_reported = True   # an ended job with children still open reports again until they close
        self._to_loop(self._push, job.account, fields)

    def _push(self, account: str, fields: dict[str, Any]) -> None:
        message, body = new_server_message("algoProgress", 0, SOURCE)
        for key, value in fields.items():
            setattr(body, key, value)
        self.progress_sent += 1
        push = encode_account_push(account, message.to_bytes(), SOURCE)
        self.runtime.tell_path("sessions", push)
        for listener in self.progress_listeners:
            listener(fields["jobId"], push)
        job = self.jobs.get(fields["jobId"])
        if self.journal is not None and job is not None and job.request:
            request = job.request
            row = {"job_id": job.job_id, "account": job.account, "user": job.user, "template": job.template,
                   "vt_symbol": job.vt_symbol, "direction": request["direction"], "offset": request["offset"],
                   "price": request["price"], "volume": job.volume, "setting_json": json.dumps(request["setting"]),
                   "status": fields["status"], "traded": fields["tradedLots"], "avg_price": fields["avgPrice"],
                   "children": job.child_seq, "message": fields["message"]}
            key = tuple(row.values())
            if key != job.last_row:
                job.last_row = key
                self.journal.write_algo_job_nowait({**row, "updated_ns": time.time_ns()})

    def statistics(self) -> dict[str, int]:
        """Jobs, starts, refused children, progress messages sent, algos stopped because they raised
        (``algos_failed``) and vn.py handlers that raised outside any one algo (``handler_failures``)."""
        return {"jobs": len(self.jobs), "started": self.started, "refused_children": self.refused_children,
                "progress_sent": self.progress_sent, "algos_failed": self.algos_failed,
                "handler_failures": self.handler_failures}


__all__ = ["AlgoCommandError", "AlgoJob", "DeskAlgos", "EVENT_ALGO_CALL"]
