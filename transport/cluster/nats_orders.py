"""Orders across NATS: edge nodes send, the venue-host's order actors answer (transport/README.md, "NATS").

Edge side (:class:`OrderEdgeLink`): a :class:`~actors.orders.remote.RemoteOrderActor`
at ``orders/<account>`` hands each session's ``orderCommand`` (unchanged
bytes) to :meth:`OrderEdgeLink.forward`, which sends it as a request on
``order.submit.<account>`` and passes the reply to the session. Failures are
clear and never duplicate an order:

* no responders (no venue-host subscribed): nothing was delivered, the
  session gets ``error(internal)`` saying the order was not sent;
* no reply in time (a node or route died mid-request): a submit gets an
  ``orderReply`` with status ``outcomeUnknown`` and an ``error`` with the
  reason; a retry with the same client order id is safe (the order actor
  answers a seen id with its original reply and sends nothing).

Pushes of every account come back and go to the local sessions supervisor,
which fans them out as in one process. The host publishes each on the
subject of its kind (:func:`push_subject`): an account's 1 s status on
``acct.status.1s.<trader>`` and risk summary on ``acct.risk.1s.<trader>``
(``<trader>``: the account's owner, ``[accounts.<id>] trader``), a risk event
on ``risk.event.<account>``, order and trade events on
``order.update.<account>`` (also the status and summary of an account
without a known trader, or whose trader is not a subject token). The edge
subscribes all four.

Host side (:class:`OrderHost`): one queue-group subscription to
``order.submit.*`` tells ``orders/<account>`` the command as if from the
session ``sessions/session/nats-orders`` (:class:`~actors.sessions.order_host.OrderHostActor`),
and keeps the request's reply inbox under (member, account, client order id,
correlation id) until the order actor's reply arrives: every reply for one
key carries the same decision, so FIFO per key is exact. Submits and
cancels are stored on the ``AUDIT`` JetStream stream with ``Nats-Msg-Id`` =
``<member>:<account>:<client order id>``, off the reply path.

Who may trade: the host does not trust a request's account. Each
``orderCommand`` carries the sender's verified token's ``accounts`` claim and
whether it is an admin's (schemas/actor.capnp ``OrderCommand.accounts`` @3,
``allAccounts`` @4, set by the edge's session from the token it verified); a
command whose account the token does not grant, or without a user, is refused
with ``error(forbidden)`` naming the user and the account, counted in
``order_forbidden``, and never reaches an order actor.

Correlation: the request is the session's ``orderCommand`` ActorMessage,
whose ``correlationId`` is the command's desk correlation id
(actors/sessions/state.py); the same id also travels in the NATS header
:data:`CORRELATION_HEADER` of the request and of the host's reply, for tools
that read NATS without decoding Cap'n Proto. Both ends bind it in their log
lines and set it on the actor messages they send for the command.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, NamedTuple

import nats.errors
import structlog

import schemas
from actors import ActorRuntime, ChildSpec, encode_error, encode_outbound, new_server_message, spawn
from actors.orders.codec import encode_order_command
from actors.orders.config import ORDER_KEYS, ORDER_REPLIES, order_key
from actors.orders.remote import RemoteOrderActor
from actors.orders.supervisor import OrdersSupervisor
from actors.paths import is_token, orders_path, session_child
from actors.sessions.order_host import OrderHostActor
from transport.cluster import subjects
from transport.cluster.nats_bus import NatsBus, NoRespondersError, RequestTimeoutError, ServedSubject

_log = structlog.get_logger("transport.cluster.nats_orders")
HOST_SESSION = session_child("nats-orders")
HOST_SESSION_PATH = f"sessions/{HOST_SESSION}"
HOST_QUEUE = "order-host"
AUDITED = ("submitOrder", "cancelOrder", "replaceOrder", "cancelAll", "flattenPosition")
_REPLY_MEMBERS = ORDER_REPLIES
CORRELATION_HEADER = "Tickstage-Correlation-Id"
"""NATS header of an order request and its reply: the command's desk correlation id, decimal UInt64."""


def _correlation_headers(correlation_id: int) -> dict[str, str] | None:
    return {CORRELATION_HEADER: str(correlation_id)} if correlation_id else None


def header_correlation_id(msg: Any) -> int:
    """Return the :data:`CORRELATION_HEADER` of a NATS message as an int (0: absent or not a UInt64)."""
    value = (getattr(msg, "headers", None) or {}).get(CORRELATION_HEADER, "")
    return int(value) if value.isdigit() and int(value) < 2**64 else 0


class OrderRequest(NamedTuple):
    """One order command read from its ActorMessage bytes (:func:`read_command`).

    Attributes:
        session: the sending session's path.
        user: the sender's JWT ``sub``.
        client: the ClientMessage bytes, unchanged.
        member: ``submitOrder``, ``cancelOrder`` or ``orderStatusRequest``.
        account: the command's account.
        client_order_id: ``""`` for a status request.
        envelope_id: the ClientMessage's envelope id.
        correlation_id: the desk correlation id (UInt64, 0: none).
        accounts: the sender's verified token's ``accounts`` claim.
        all_accounts: the sender's token is an admin's.
    """

    session: str
    user: str
    client: bytes
    member: str
    account: str
    client_order_id: str
    envelope_id: int
    correlation_id: int
    accounts: tuple[str, ...]
    all_accounts: bool

    def may_trade(self) -> bool:
        """Return whether the sender's token grants the command's account (and names a user).

        Source: issue 6, "a trader acts on only their own accounts; admin sees all" (as the edge's
        session checks it; the order host checks again rather than trust the request).
        """
        return bool(self.user) and (self.all_accounts or self.account in self.accounts)


def read_command(data: bytes) -> OrderRequest:
    """Return the :class:`OrderRequest` of ActorMessage ``orderCommand`` bytes.

    Args:
        data: ActorMessage ``orderCommand`` bytes.

    Raises:
        ValueError: not an orderCommand of a member of actors.orders.config.ORDER_KEYS.
    """
    with schemas.actor.ActorMessage.from_bytes(data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                               nesting_limit=schemas.NESTING_LIMIT) as message:
        if message.which() != "orderCommand":
            raise ValueError(f"not an orderCommand: {message.which()}")
        command = message.orderCommand
        session, user, client_bytes = command.sessionPath, command.user, bytes(command.client)
        accounts, all_accounts = tuple(command.accounts), bool(command.allAccounts)
        desk_correlation = message.correlationId
    with schemas.stream.ClientMessage.from_bytes(client_bytes, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                                 nesting_limit=schemas.NESTING_LIMIT) as client:
        member = client.which()
        if member not in ORDER_KEYS:
            raise ValueError(f"not an order command: {member}")
        body = getattr(client, member)
        client_order_id = order_key(member, body)
        return OrderRequest(session, user, client_bytes, member, body.account, client_order_id, client.envelope.id,
                            desk_correlation, accounts, all_accounts)


def push_subject(account: str, push: bytes, traders: dict[str, str]) -> str:
    """Return the subject of an account push: by the kind of its ServerMessage (module docstring); ``""`` for an
    ``algoProgress``, which the algo host publishes on the job's own subject.

    Args:
        account: the push's account.
        push: ActorMessage ``accountPush`` bytes.
        traders: account → its trader (JWT ``sub``).
    """
    with schemas.actor.ActorMessage.from_bytes(push, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                               nesting_limit=schemas.NESTING_LIMIT) as message:
        payload = message.accountPush.payload
        with schemas.stream.ServerMessage.from_bytes(payload) as server:
            member = server.which()
    if member == "algoProgress":
        return ""   # on algo.progress.1s.<job> (transport/cluster/nats_algos.py), for the edges that follow the job
    trader = traders.get(account, "")
    try:
        if member == "accountStatus" and trader:
            return subjects.acct_status(trader)
        if member == "riskSummary" and trader:
            return subjects.acct_risk(trader)
        if member == "riskEvent":
            return subjects.risk_event(account)
    except subjects.SubjectTokenError:
        pass
    return subjects.order_update(account)


def _reply_key(payload: bytes) -> tuple[str, str, str, int] | int | None:
    """Return the pending key a reply answers; for an ``error`` only its correlation id; else ``None``."""
    with schemas.stream.ServerMessage.from_bytes(payload) as message:
        member = message.which()
        if member == "error":
            return message.envelope.correlationId
        command = _REPLY_MEMBERS.get(member)
        if command is None:
            return None
        body = getattr(message, member)
        client_order_id = order_key(command, body)
        return command, body.account, client_order_id, message.envelope.correlationId


def encode_unknown_reply(account: str, client_order_id: str, correlation_id: int, source: str) -> bytes:
    """Return ServerMessage ``orderReply`` with status ``outcomeUnknown`` (no vtOrderId)."""
    message, body = new_server_message("orderReply", correlation_id, source)
    body.clientOrderId = client_order_id
    body.account = account
    body.status = "outcomeUnknown"
    body.decidedTsNs = time.time_ns()
    return message.to_bytes()


class OrderHost:
    """Serves ``order.submit.<account>`` from the local order actors (venue-host node).

    Args:
        runtime: the actor runtime (with the ``orders`` and ``sessions`` subtrees).
        bus: a connected :class:`NatsBus`.
        audit_replicas: replicas of the ``AUDIT`` stream (3 on a 3-node cluster).
        pending_ttl_s: a request whose reply never came is forgotten after this long.
        serve: subscribe ``order.submit.*`` at start; ``False`` on a venue-host with a standby, which serves
            only while it holds the venue-host lease (:meth:`activate`, transport/cluster/venue_standby.py).
    """

    def __init__(self, runtime: ActorRuntime, bus: NatsBus, audit_replicas: int = 1, pending_ttl_s: float = 30.0,
                 serve: bool = True) -> None:
        self.traders: dict[str, str] = {}
        """account → its trader (JWT ``sub``): status and risk summaries go to ``acct.*.1s.<trader>``."""
        self.runtime = runtime
        self.bus = bus
        self.audit_replicas = audit_replicas
        self.pending_ttl_s = pending_ttl_s
        self.pending: dict[tuple[str, str, str, int], collections.deque] = {}
        self._tasks: set[asyncio.Task] = set()
        self.requests = self.replied = self.unmatched = self.refused = self.forbidden = 0
        self.audit_ready = False
        self.audited = self.audit_duplicates = self.audit_failures = 0
        self.serve = serve
        self.served = ServedSubject(bus, subjects.order_submit_any(), self._on_request, HOST_QUEUE, "order-host")
        """Its queue-group subscription: on while this host serves (:meth:`activate`)."""
        self.replicated: Any = None
        """The replicated order journal (transport/cluster/order_stream.py) on a venue-host with a standby: a
        submit's reply waits until the order's latest row is on the stream (``when_stored``)."""
        self.replies_unreplicated = 0

    async def start(self) -> None:
        """Create the audit stream, start the host session, serve the subject (loop thread)."""
        self._spawn_task(self._ensure_audit_stream())
        spawn(self.runtime, "sessions", ChildSpec(HOST_SESSION, OrderHostActor,
                                                  {"reply": self._on_reply, "push": self._on_push}))
        if self.serve:
            await self.activate()
        self._spawn_task(self._expire())

    async def activate(self) -> None:
        """Serve ``order.submit.*`` (queue ``order-host``) from now on; idempotent (loop thread)."""
        await self.served.activate()

    async def deactivate(self) -> None:
        """Stop serving ``order.submit.*`` (a standby venue-host); idempotent (loop thread)."""
        await self.served.deactivate()

    def _spawn_task(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_request(self, msg: Any) -> None:
        self.requests += 1
        header_id = header_correlation_id(msg)
        try:
            request = read_command(msg.data)
            _, user, client, member, account, client_order_id, correlation, desk_correlation = request[:8]
            subject_matches = msg.subject == subjects.order_submit(account)
        except Exception as exc:  # noqa: BLE001 - capnp errors too: a bad request never reaches an actor
            self.refused += 1
            _log.info("order_request_refused", code="malformed", error_type=type(exc).__name__,
                      correlation_id=header_id or None)
            self._respond(msg.reply, encode_error("malformed", f"bad order request: {type(exc).__name__}", 0,
                                                  "nats-orders"), header_id)
            return
        desk_correlation = desk_correlation or header_id
        log = _log.bind(correlation_id=desk_correlation or None, member=member, account=account)
        path = orders_path(account) if is_token(account) else ""
        if not subject_matches or path not in self.runtime.registry:
            self.refused += 1
            log.info("order_request_refused", code="forbidden")
            self._respond(msg.reply, encode_error("forbidden", f"no order actor for account {account!r} "
                                                  "on this order host", correlation, "nats-orders"), desk_correlation)
            return
        if not request.may_trade():
            self.refused += 1
            self.forbidden += 1
            log.warning("order_request_refused", code="forbidden", user=user or None,
                        reason="the sender's token does not grant the account")
            self._respond(msg.reply, encode_error("forbidden", f"user {user!r} may not trade account {account!r} "
                                                  "(checked by the order host against the sender's token)",
                                                  correlation, "nats-orders"), desk_correlation)
            return
        log.debug("order_request_received", client_order_id=client_order_id)
        key = (member, account, client_order_id, correlation)
        self.pending.setdefault(key, collections.deque()).append((msg.reply, time.monotonic()))
        if not self.runtime.tell_path(path, encode_order_command(HOST_SESSION_PATH, user, client, "nats-orders",
                                                                 desk_correlation)):
            self.pending[key].pop()
            self.refused += 1
            log.info("order_request_refused", code="internal", reason="order actor restarting")
            self._respond(msg.reply, encode_error("internal", f"the order actor of {account} is restarting; "
                                                  "retry with the same clientOrderId", correlation, "nats-orders"),
                          desk_correlation)
            return
        if member in AUDITED:
            self._spawn_task(self._audit(subjects.audit_command(member, account), msg.data,
                                         f"{member}:{account}:{client_order_id}"))

    def _respond(self, inbox: str, payload: bytes, correlation_id: int = 0) -> None:
        if inbox:
            self.bus.publish_nowait(inbox, payload, _correlation_headers(correlation_id))

    def _on_reply(self, payload: bytes, correlation_id: int = 0) -> None:
        key = _reply_key(payload)
        if isinstance(key, int):  # an error names only its correlation: the oldest command with it
            key = next((k for k in self.pending if k[3] == key), None)
        waiting = self.pending.get(key) if key is not None else None
        if not waiting:
            self.unmatched += 1
            _log.info("order_reply_unmatched", correlation_id=correlation_id or None)
            return
        inbox, _ = waiting.popleft()
        if not waiting:
            del self.pending[key]
        self.replied += 1
        _log.debug("order_reply_sent", correlation_id=correlation_id or None)
        if self.replicated is not None and key[2]:
            account, client_order_id = key[1], key[2]

            def answer(in_time: bool) -> None:   # at once, or from the row's store completing: no task between
                if not in_time:
                    self.replies_unreplicated += 1
                    _log.warning("order_reply_unreplicated", account=account, client_order_id=client_order_id)
                self._respond(inbox, payload, correlation_id)

            self.replicated.when_stored(account, client_order_id, answer)
            return
        self._respond(inbox, payload, correlation_id)

    def set_traders(self, traders: dict[str, str]) -> None:
        """Set each account's trader (``AccountSpec.trader``), the ``<trader>`` of ``acct.*.1s.<trader>``."""
        self.traders = dict(traders)

    def _on_push(self, account: str, data: bytes) -> None:
        try:
            subject = push_subject(account, data, self.traders)
        except Exception:  # noqa: BLE001 - capnp errors too: an unreadable push still reaches the edges
            subject = subjects.order_update(account)
        if subject:
            self.bus.publish_nowait(subject, data)

    async def _ensure_audit_stream(self, attempts: int = 60) -> None:
        """Create the AUDIT stream, retrying while a fresh JetStream cluster elects its leader (~0.5 s apart)."""
        for _ in range(attempts):
            try:
                await self.bus.ensure_audit_stream(replicas=self.audit_replicas)
                self.audit_ready = True
                return
            except (nats.errors.Error, asyncio.TimeoutError) as exc:
                _log.info("audit_stream_waiting", error_type=type(exc).__name__)
                await asyncio.sleep(0.5)
        _log.error("audit_stream_unavailable", replicas=self.audit_replicas)

    async def _audit(self, subject: str, data: bytes, msg_id: str) -> None:
        for _ in range(40):
            try:
                if await self.bus.audit(subject, data, msg_id):
                    self.audited += 1
                else:
                    self.audit_duplicates += 1
                return
            except (nats.errors.Error, asyncio.TimeoutError, OSError) as exc:
                _log.warning("audit_retried", msg_id=msg_id, error_type=type(exc).__name__)
                await asyncio.sleep(0.5)
        self.audit_failures += 1
        _log.error("audit_failed", msg_id=msg_id)

    async def _expire(self) -> None:
        while True:
            await asyncio.sleep(self.pending_ttl_s / 3)
            oldest = time.monotonic() - self.pending_ttl_s
            for key in list(self.pending):
                waiting = self.pending[key]
                while waiting and waiting[0][1] < oldest:
                    waiting.popleft()
                if not waiting:
                    del self.pending[key]

    def statistics_dict(self) -> dict[str, int]:
        """Requests, replies, refusals, audit outcomes, requests waiting."""
        return {"order_requests": self.requests, "order_replies": self.replied, "order_refused": self.refused,
                "order_forbidden": self.forbidden,
                "order_replies_unmatched": self.unmatched, "audit_ready": self.audit_ready, "audited": self.audited,
                "audit_duplicates": self.audit_duplicates, "audit_failures": self.audit_failures,
                "order_requests_waiting": sum(len(w) for w in self.pending.values()),
                "order_host_serving": self.served.serving,
                "order_replies_unreplicated": self.replies_unreplicated}

    async def close(self) -> None:
        """Cancel the audit and expiry tasks."""
        for task in list(self._tasks):
            task.cancel()


class OrderEdgeLink:
    """Sends an edge node's order commands to the order host and routes replies back.

    Args:
        runtime: the actor runtime.
        bus: a connected :class:`NatsBus`.
        timeout_s: how long a request may wait for its reply (above the host's answer timeout).
    """

    def __init__(self, runtime: ActorRuntime, bus: NatsBus, timeout_s: float = 3.0) -> None:
        self.runtime = runtime
        self.bus = bus
        self.timeout_s = timeout_s
        self._tasks: set[asyncio.Task] = set()
        self.sent = self.replies = self.no_responders = self.timeouts = self.pushes = 0

    def orders_spec(self, accounts: tuple[str, ...]) -> ChildSpec:
        """Return the ``orders`` subtree of an edge node: one RemoteOrderActor per account."""
        return ChildSpec("orders", OrdersSupervisor, {"children": [
            ChildSpec(account, RemoteOrderActor, {"account": account, "forward": self.forward})
            for account in accounts]})

    async def start(self) -> None:
        """Take every account's pushes (loop thread): ``order.update.*``, ``acct.status.1s.*``,
        ``acct.risk.1s.*``, ``risk.event.*``."""
        for subject in subjects.account_pushes_any():
            await self.bus.subscribe(subject, self._on_update)

    def _on_update(self, msg: Any) -> None:
        self.pushes += 1
        self.runtime.tell_path("sessions", msg.data)

    def forward(self, account: str, data: bytes) -> None:
        """Send one orderCommand to the host; answer its session when the reply comes (non-blocking)."""
        task = asyncio.get_running_loop().create_task(self._request(account, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _request(self, account: str, data: bytes) -> None:
        session, _, _, member, _, client_order_id, correlation, desk_correlation = read_command(data)[:8]
        subject = subjects.order_submit(account)
        log = _log.bind(correlation_id=desk_correlation or None, member=member, account=account)
        self.sent += 1
        log.debug("order_request_sent", subject=subject, client_order_id=client_order_id)
        try:
            reply = await self.bus.request(subject, data, timeout_s=self.timeout_s,
                                           headers=_correlation_headers(desk_correlation))
        except NoRespondersError:
            self.no_responders += 1
            log.warning("order_request_unanswered", reason="no responders", subject=subject)
            self._answer(session, encode_error(
                "internal", f"no order host serves {account} (no responders on {subject}): the command was "
                "not sent; retry with the same clientOrderId", correlation, "nats-orders"), desk_correlation)
            return
        except (RequestTimeoutError, nats.errors.Error, OSError) as exc:
            self.timeouts += 1
            log.warning("order_request_unanswered", reason=type(exc).__name__, subject=subject)
            if member == "submitOrder":
                self._answer(session, encode_unknown_reply(account, client_order_id, correlation, "nats-orders"),
                             desk_correlation)
            self._answer(session, encode_error(
                "internal", f"no reply from the order host for {account} ({type(exc).__name__}): the outcome "
                "is unknown; retry with the same clientOrderId (it is never sent twice)", correlation,
                "nats-orders"), desk_correlation)
            return
        self.replies += 1
        log.debug("order_reply_received")
        self._answer(session, reply, desk_correlation)

    def _answer(self, session: str, payload: bytes, correlation_id: int = 0) -> None:
        self.runtime.tell_path(session, encode_outbound(group="", seq=0, kind="control", payload=payload,
                                                        source="nats-orders", correlation_id=correlation_id))

    def statistics_dict(self) -> dict[str, int]:
        """Commands sent, replies, no-responder and timeout failures, pushes received."""
        return {"order_commands_sent": self.sent, "order_replies": self.replies,
                "order_no_responders": self.no_responders, "order_timeouts": self.timeouts,
                "order_pushes": self.pushes}

    async def close(self) -> None:
        """Cancel requests still waiting."""
        for task in list(self._tasks):
            task.cancel()


__all__ = ["CORRELATION_HEADER", "HOST_SESSION_PATH", "OrderEdgeLink", "OrderHost", "OrderRequest",
           "push_subject",
           "encode_unknown_reply", "header_correlation_id", "read_command"]
