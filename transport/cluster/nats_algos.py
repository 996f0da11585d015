"""vn.py algos across NATS: edge nodes command them, the venue-host runs them and publishes their progress.

vn.py's algo engine (transport/venue/vnpy_algos.py) runs where vn.py does, on the ``venue-host``.

Edge side (:class:`AlgoEdgeLink`): a :class:`~actors.sessions.remote_algo_host.RemoteAlgoHostActor`
at ``algos`` hands each session's algo command (``startAlgo``, ``pauseAlgo``, ``resumeAlgo``, ``stopAlgo``,
already checked by the session against the trader's token) to :meth:`AlgoEdgeLink.forward`, which sends it
as a request on ``algo.command.<account>`` and passes the answer (``ack`` or ``error``) to the session. No
responders or no answer in time: the session gets ``error(internal)`` saying so (a start is idempotent by
its jobId, so a retry is safe). The link subscribes to every job's progress (``algo.progress.1s.*``, about
one message a second per running job) and hands each to the local sessions supervisor as the account push it
is, which delivers it to the sessions granted the job's account, as in one process: a trader without the
account never sees it, and a trader whose edge died sees their jobs' progress on the edge they reconnect to
without commanding them again.

Host side (:class:`AlgoHost`): one queue-group subscription to ``algo.command.*`` checks the request as the
order host does (the account is the subject's, the sender's verified token grants it: schemas/actor.capnp
``OrderCommand.accounts``, ``allAccounts``) and hands it to the algo engine, whose answer replies to the
request. Every progress the engine pushes (about every second per job, vn.py's timer) is published on
``algo.progress.1s.<job>`` (:func:`~transport.cluster.subjects.job_token`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
import structlog

import schemas
from actors import ActorRuntime, ChildSpec, encode_error, encode_outbound
from actors.orders.config import ALGO_MEMBERS
from actors.paths import ALGO_HOST_CHILD
from actors.sessions.remote_algo_host import RemoteAlgoHostActor
from transport.cluster import subjects
from transport.cluster.nats_bus import NatsBus, NoRespondersError, RequestTimeoutError, ServedSubject
from transport.cluster.nats_orders import header_correlation_id

_log = structlog.get_logger("transport.cluster.nats_algos")
HOST_QUEUE = "algo-host"
SOURCE = "nats-algos"
HOST_SESSION_PATH = "sessions/session/nats-algos"
"""The session path the algo engine is told a NATS command came from (its answers go to the request)."""
ENDED = ("stopped", "finished")


class AlgoCommand:
    """One algo command read from its ActorMessage ``orderCommand`` bytes (:meth:`read`).

    Attributes:
        session: the sending session's path.
        user: the sender's JWT ``sub``.
        client: the ClientMessage bytes, unchanged.
        member: ``startAlgo``, ``pauseAlgo``, ``resumeAlgo`` or ``stopAlgo``.
        account: the command's account.
        job_id: the command's jobId.
        envelope_id: the ClientMessage's envelope id.
        correlation_id: the desk correlation id (UInt64, 0: none).
        accounts: the sender's verified token's ``accounts`` claim.
        all_accounts: the sender's token is an admin's.
    """

    __slots__ = ("session", "user", "client", "member", "account", "job_id", "envelope_id", "correlation_id",
                 "accounts", "all_accounts")

    @classmethod
    def read(cls, data: bytes) -> AlgoCommand:
        """Return the command of ActorMessage ``orderCommand`` bytes.

        Raises:
            ValueError: not an orderCommand of an algo member.
            capnp.KjException: not a Cap'n Proto message.
        """
        command = cls()
        with schemas.actor.ActorMessage.from_bytes(data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                                   nesting_limit=schemas.NESTING_LIMIT) as message:
            if message.which() != "orderCommand":
                raise ValueError(f"not an orderCommand: {message.which()}")
            body = message.orderCommand
            command.session, command.user, command.client = str(body.sessionPath), str(body.user), bytes(body.client)
            command.accounts, command.all_accounts = tuple(body.accounts), bool(body.allAccounts)
            command.correlation_id = message.correlationId
        with schemas.stream.ClientMessage.from_bytes(command.client,
                                                     traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                                     nesting_limit=schemas.NESTING_LIMIT) as client:
            command.member = client.which()
            if command.member not in ALGO_MEMBERS:
                raise ValueError(f"not an algo command: {command.member}")
            member = getattr(client, command.member)
            command.account, command.job_id = str(member.account), str(member.jobId)
            command.envelope_id = client.envelope.id
        return command

    def may_trade(self) -> bool:
        """Return whether the sender's token grants the command's account (and names a user).

        Source: issue 6, "a trader acts on only their own accounts; admin sees all" (the edge's session checked
        it; the algo host checks again rather than trust the request).
        """
        return bool(self.user) and (self.all_accounts or self.account in self.accounts)


class AlgoHost:
    """Serves ``algo.command.<account>`` from the local algo engine; publishes ``algo.progress.1s.<job>``.

    Args:
        bus: a connected :class:`NatsBus`.
        algos: the node's :class:`~transport.venue.vnpy_algos.DeskAlgos` (``on_command``, ``progress_listeners``).
    """

    def __init__(self, bus: NatsBus, algos: Any) -> None:
        self.bus = bus
        self.algos = algos
        self.requests = self.refused = self.forbidden = self.progress_published = self.progress_unpublished = 0
        self.served = ServedSubject(bus, subjects.algo_command_any(), self._on_request, HOST_QUEUE, "algo-host")
        """Its queue-group subscription: on while this host serves (:meth:`activate`)."""

    async def start(self, serve: bool = True) -> None:
        """Publish the engine's progress and serve the commands, unless ``serve`` is false (a venue-host with a
        standby serves only while it holds the venue-host lease: :meth:`activate`) (loop thread)."""
        self.algos.progress_listeners.append(self._on_progress)
        if serve:
            await self.activate()

    async def activate(self) -> None:
        """Serve ``algo.command.*`` (queue ``HOST_QUEUE``) from now on; idempotent (loop thread)."""
        await self.served.activate()

    async def deactivate(self) -> None:
        """Stop serving ``algo.command.*``: a standby's algo would send its child orders to fenced order actors;
        idempotent (loop thread)."""
        await self.served.deactivate()

    def _on_request(self, msg: Any) -> None:
        self.requests += 1
        header_id = header_correlation_id(msg)
        try:
            command = AlgoCommand.read(msg.data)
            subject_matches = msg.subject == subjects.algo_command(command.account)
        except Exception as exc:  # noqa: BLE001 - capnp and subject errors too: a bad request never reaches the engine
            self.refused += 1
            _log.info("algo_request_refused", code="malformed", error_type=type(exc).__name__,
                      correlation_id=header_id or None)
            self._respond(msg.reply, encode_error("malformed", f"bad algo request: {type(exc).__name__}", 0, SOURCE))
            return
        log = _log.bind(correlation_id=command.correlation_id or header_id or None, member=command.member,
                        account=command.account)
        if not subject_matches or not command.may_trade():
            self.refused += 1
            self.forbidden += 1
            log.warning("algo_request_refused", code="forbidden", user=command.user or None)
            self._respond(msg.reply, encode_error("forbidden", f"user {command.user!r} may not run algos of account "
                                                  f"{command.account!r} (checked by the algo host against the "
                                                  "sender's token)", command.envelope_id, SOURCE))
            return
        answers: list[bytes] = []
        self.algos.on_command(HOST_SESSION_PATH, command.user, command.client, command.correlation_id,
                              answer=answers.append)
        self._respond(msg.reply, answers[0] if answers else encode_error(
            "internal", "the algo engine gave no answer", command.envelope_id, SOURCE))

    def _respond(self, inbox: str, payload: bytes) -> None:
        if inbox:
            self.bus.publish_nowait(inbox, payload)

    def _on_progress(self, job_id: str, push: bytes) -> None:
        try:
            subject = subjects.algo_progress(subjects.job_token(job_id))
        except subjects.SubjectTokenError:
            self.progress_unpublished += 1
            return
        if self.bus.publish_nowait(subject, push):
            self.progress_published += 1
        else:
            self.progress_unpublished += 1

    def statistics_dict(self) -> dict[str, int]:
        """Commands served and refused, progress messages published and not."""
        return {"algo_requests": self.requests, "algo_refused": self.refused, "algo_forbidden": self.forbidden,
                "algo_progress_published": self.progress_published,
                "algo_progress_unpublished": self.progress_unpublished}

    async def close(self) -> None:
        """Stop publishing progress."""
        if self._on_progress in self.algos.progress_listeners:
            self.algos.progress_listeners.remove(self._on_progress)


class AlgoEdgeLink:
    """Sends an edge node's algo commands to the algo host; takes every job's progress to its sessions.

    Args:
        runtime: the actor runtime.
        bus: a connected :class:`NatsBus`.
        timeout_s: how long a command may wait for its answer, seconds.
    """

    def __init__(self, runtime: ActorRuntime, bus: NatsBus, timeout_s: float = 3.0) -> None:
        self.runtime = runtime
        self.bus = bus
        self.timeout_s = timeout_s
        self._tasks: set[asyncio.Task] = set()
        self.sent = self.answers = self.no_responders = self.timeouts = self.progress = 0
        self.jobs_seen: set[str] = set()   # jobs whose progress arrived and has not ended

    def host_spec(self) -> ChildSpec:
        """Return the ``algos`` actor of an edge node (spawned under the root)."""
        return ChildSpec(ALGO_HOST_CHILD, RemoteAlgoHostActor, {"forward": self.forward})

    async def start(self) -> None:
        """Subscribe to every job's progress (loop thread)."""
        await self.bus.subscribe(subjects.algo_progress_any(), self._on_progress)

    def forward(self, data: bytes) -> None:
        """Send one algo command to the host; answer its session when the reply comes (non-blocking)."""
        task = asyncio.get_running_loop().create_task(self._request(data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, data: bytes) -> None:
        command = AlgoCommand.read(data)
        log = _log.bind(correlation_id=command.correlation_id or None, member=command.member, account=command.account)
        try:
            subject = subjects.algo_command(command.account)
        except subjects.SubjectTokenError:
            self._answer(command, encode_error("forbidden", f"account {command.account[:64]!r} is not yours",
                                               command.envelope_id, SOURCE))
            return
        self.sent += 1
        try:
            reply = await self.bus.request(subject, data, timeout_s=self.timeout_s)
        except NoRespondersError:
            self.no_responders += 1
            log.warning("algo_request_unanswered", reason="no responders", subject=subject)
            self._answer(command, encode_error("internal", f"no algo engine serves {command.account} (no responders "
                                               f"on {subject}): the command was not sent; retry", command.envelope_id,
                                               SOURCE))
            return
        except (RequestTimeoutError, nats.errors.Error, OSError) as exc:
            self.timeouts += 1
            log.warning("algo_request_unanswered", reason=type(exc).__name__, subject=subject)
            self._answer(command, encode_error("internal", f"no answer from the algo engine for {command.account} "
                                               f"({type(exc).__name__}): retry with the same jobId", command.envelope_id,
                                               SOURCE))
            return
        self.answers += 1
        self._answer(command, reply)

    def _on_progress(self, msg: Any) -> None:
        """A job's progress: to the local sessions granted its account (the sessions supervisor checks)."""
        self.progress += 1
        self.runtime.tell_path("sessions", msg.data)
        job = msg.subject.rsplit(".", 1)[-1]
        try:
            with schemas.actor.ActorMessage.from_bytes(msg.data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                                       nesting_limit=schemas.NESTING_LIMIT) as message:
                with schemas.stream.ServerMessage.from_bytes(message.accountPush.payload) as server:
                    status = str(server.algoProgress.status)
        except Exception:  # noqa: BLE001 - an unreadable progress is still delivered; the sessions check it
            return
        if status in ENDED:
            self.jobs_seen.discard(job)
        else:
            self.jobs_seen.add(job)

    def _answer(self, command: AlgoCommand, payload: bytes) -> None:
        self.runtime.tell_path(command.session, encode_outbound(group="", seq=0, kind="control", payload=payload,
                                                                source=SOURCE, correlation_id=command.correlation_id))

    def statistics_dict(self) -> dict[str, int]:
        """Commands sent, answers, failures, progress received, jobs running (progress seen, not ended)."""
        return {"algo_commands_sent": self.sent, "algo_answers": self.answers, "algo_no_responders": self.no_responders,
                "algo_timeouts": self.timeouts, "algo_progress_received": self.progress,
                "algo_jobs_running": len(self.jobs_seen)}

    async def close(self) -> None:
        """Cancel requests still waiting."""
        for task in list(self._tasks):
            task.cancel()


__all__ = ["AlgoCommand", "AlgoEdgeLink", "AlgoHost", "HOST_SESSION_PATH"]
