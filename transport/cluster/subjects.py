"""Every NATS subject tickstage uses, each built by one function (transport/README.md, "NATS").

Subjects are dot-separated tokens; a token taken from data (a group, an
account, a symbol) must not contain ``.``, ``*``, ``>`` or whitespace, or it
would change the subject's shape or turn it into a wildcard. Each builder
checks its tokens and raises :class:`SubjectTokenError` otherwise.

| subject | payload (Cap'n Proto) | pattern |
| --- | --- | --- |
| ``md.tick.<ex>.<sym>`` | ActorMessage{tickBatch} of one contract | publish |
| ``md.batch.<ex>.<group>`` | ActorMessage{instrumentsAdded} / {tickBatch} of one group | publish |
| ``md.source`` | the active venue-host's heartbeat (empty) | publish |
| ``md.agg.33ms.<group>`` | ServerMessage{groupFrame} / {groupInfo} | publish |
| ``md.snap.<group>`` | request → ServerMessage{groupFrame} snapshot | request-reply |
| ``acct.status.1s.<trader>`` | ActorMessage{accountPush} of a ServerMessage{accountStatus} | publish |
| ``acct.risk.1s.<trader>`` | ActorMessage{accountPush} of a ServerMessage{riskSummary} | publish |
| ``risk.event.<account>`` | ActorMessage{accountPush} of a ServerMessage{riskEvent} | publish |
| ``order.submit.<account>`` | SubmitOrder → OrderReply | request-reply |
| ``order.update.<account>`` | order events | publish |
| ``algo.command.<account>`` | ActorMessage{orderCommand} of a start/pause/resume/stopAlgo → ack / error | request-reply |
| ``algo.progress.1s.<job>`` | ActorMessage{accountPush} of a ServerMessage{algoProgress} | publish |
| ``audit.<command>.<account>`` | the command's OrderCommand (JetStream ``AUDIT``) | publish |
| ``journal.order.<account>.<client order id>`` | ReplicatedOrderRow per journal row (``ORDERS``) | publish |
| ``ops.node.<node>`` | NodeAnnouncement, every second (issue 16) | publish |
| ``ops.<topic>`` | operations (node liveness, shard map) | publish / request |
"""

from __future__ import annotations

import hashlib
import re

from transport.errors import TransportError

_BAD_TOKEN = re.compile(r"[.*>\s]")
MAX_TOKEN_LENGTH = 128


class SubjectTokenError(TransportError, ValueError):
    """A subject token is empty, too long, or holds ``.``, ``*``, ``>`` or whitespace.

    Attributes:
        token: the refused token.
    """

    def __init__(self, token: str) -> None:
        super().__init__(f"invalid NATS subject token {token!r}")
        self.token = token


def token(value: str) -> str:
    """Return ``value`` if it is a valid single subject token.

    Raises:
        SubjectTokenError: empty, over 128 characters, or containing ``.``, ``*``, ``>``, whitespace.
    """
    if not value or len(value) > MAX_TOKEN_LENGTH or _BAD_TOKEN.search(value):
        raise SubjectTokenError(value)
    return value


def md_tick(exchange: str, symbol: str) -> str:
    """``md.tick.<ex>.<sym>``: every tick of one contract (detail views)."""
    return f"md.tick.{token(exchange)}.{token(symbol)}"


def md_batch(exchange: str, group: str) -> str:
    """``md.batch.<ex>.<group>``: a group's TickBatch and InstrumentsAdded messages (venue-host → aggregator).

    One message per group per drain of the vn.py bridge, never one per tick
    (batches, as in process). ``<ex>`` is the exchange of the group's first contract.
    Its own first token, not ``md.tick``: a contract's detail subject
    ``md.tick.<ex>.<sym>`` has the same shape, so an aggregator subscribed to
    every group's batches would otherwise receive every followed contract's
    ticks as a batch of an unknown "group" named after the symbol.
    """
    return f"md.batch.{token(exchange)}.{token(group)}"


def md_batch_subscriptions(groups: tuple[str, ...] = ()) -> list[str]:
    """Return the subscriptions of an aggregator: ``md.batch.*.<group>`` per group, or every group."""
    return [f"md.batch.*.{token(g)}" for g in groups] if groups else ["md.batch.*.*"]


def md_source() -> str:
    """``md.source``: the active venue-host's heartbeat (every ``HEARTBEAT_S``), so aggregators tell a quiet
    market from a dead source."""
    return "md.source"


def md_agg(group: str) -> str:
    """``md.agg.33ms.<group>``: a group's 33 ms frames."""
    return f"md.agg.33ms.{token(group)}"


def md_snap(group: str) -> str:
    """``md.snap.<group>``: request a group's snapshot."""
    return f"md.snap.{token(group)}"


def acct_status(trader: str) -> str:
    """``acct.status.1s.<trader>``: a trader's account status every second."""
    return f"acct.status.1s.{token(trader)}"


def acct_risk(trader: str) -> str:
    """``acct.risk.1s.<trader>``: a trader's risk summary every second."""
    return f"acct.risk.1s.{token(trader)}"


def risk_event(account: str) -> str:
    """``risk.event.<account>``: risk events of one account."""
    return f"risk.event.{token(account)}"


def order_submit(account: str) -> str:
    """``order.submit.<account>``: order requests (request-reply)."""
    return f"order.submit.{token(account)}"


def order_update(account: str) -> str:
    """``order.update.<account>``: order and trade events of one account."""
    return f"order.update.{token(account)}"


def order_submit_any() -> str:
    """``order.submit.*``: the order host's subscription (every account)."""
    return "order.submit.*"


def order_update_any() -> str:
    """``order.update.*``: an edge node's subscription to every account's events."""
    return "order.update.*"


def account_pushes_any() -> list[str]:
    """An edge node's subscriptions to every account push: order events, 1 s status and risk, risk events."""
    return ["order.update.*", "acct.status.1s.*", "acct.risk.1s.*", "risk.event.*"]


def algo_progress(job: str) -> str:
    """``algo.progress.1s.<job>``: an algo job's progress every second (``<job>``: :func:`job_token`)."""
    return f"algo.progress.1s.{token(job)}"


def algo_progress_any() -> str:
    """``algo.progress.1s.*``: an edge node's subscription to every job's progress."""
    return "algo.progress.1s.*"


def algo_command(account: str) -> str:
    """``algo.command.<account>``: algo commands for one account's jobs (request-reply)."""
    return f"algo.command.{token(account)}"


def algo_command_any() -> str:
    """``algo.command.*``: the algo host's subscription (every account)."""
    return "algo.command.*"


def job_token(job_id: str) -> str:
    """Return the subject token of an algo job id: the id itself when it is a valid token, else ``j#`` and the
    first 16 hex digits of its SHA-256 (a client-chosen id may hold ``.`` or spaces; both ends derive the same)."""
    if job_id and len(job_id) <= MAX_TOKEN_LENGTH and not _BAD_TOKEN.search(job_id) and not job_id.startswith("j#"):
        return job_id
    return "j#" + hashlib.sha256(job_id.encode()).hexdigest()[:16]


def audit_command(command: str, account: str) -> str:
    """``audit.<command>.<account>``: one order command on the ``AUDIT`` JetStream stream."""
    return f"audit.{token(command)}.{token(account)}"


def journal_order(account: str, client_order_id: str) -> str:
    """``journal.order.<account>.<client order id>``: one order's journal rows on the ``ORDERS`` stream.

    A client order id that is not a subject token (a ``.``, ``*``, ``>``, whitespace, or too long) is
    written as ``x`` and its UTF-8 bytes in hex, so every id has one subject.
    """
    try:
        order = token(client_order_id)
    except SubjectTokenError:
        order = "x" + client_order_id.encode().hex()[:MAX_TOKEN_LENGTH - 1]
    return f"journal.order.{token(account)}.{order}"


def journal_order_any() -> str:
    """``journal.order.>``: every order's journal rows (the ``ORDERS`` stream's subjects)."""
    return "journal.order.>"


def ops_node(node: str) -> str:
    """``ops.node.<node>``: one node's announcement (a heartbeat with its role, host, uptime, lag, leases)."""
    return f"ops.node.{token(node)}"


def ops_node_any() -> str:
    """``ops.node.*``: every node's announcements (the cluster view)."""
    return "ops.node.*"


def ops(topic: str) -> str:
    """``ops.<topic>``: operations traffic between nodes."""
    return f"ops.{token(topic)}"


__all__ = [
    "MAX_TOKEN_LENGTH",
    "SubjectTokenError",
    "account_pushes_any",
    "acct_risk",
    "acct_status",
    "algo_command",
    "algo_command_any",
    "algo_progress",
    "algo_progress_any",
    "audit_command",
    "journal_order",
    "journal_order_any",
    "md_agg",
    "md_snap",
    "md_tick",
    "md_batch",
    "md_source",
    "md_batch_subscriptions",
    "job_token",
    "ops",
    "ops_node",
    "ops_node_any",
    "order_submit",
    "order_submit_any",
    "order_update",
    "order_update_any",
    "risk_event",
    "token",
]
