"""Every NATS subject tickstage uses, each built by one function (DESIGN §8).

Subjects are dot-separated tokens; a token taken from data (a group, an
account, a symbol) must not contain ``.``, ``*``, ``>`` or whitespace, or it
would change the subject's shape or turn it into a wildcard. Each builder
checks its tokens and raises :class:`SubjectTokenError` otherwise.

| subject | payload (Cap'n Proto) | pattern |
| --- | --- | --- |
| ``md.tick.<ex>.<sym>`` | ActorMessage{tickBatch} of one contract | publish |
| ``md.agg.33ms.<group>`` | ServerMessage{groupFrame} / {groupInfo} | publish |
| ``md.snap.<group>`` | request → ServerMessage{groupFrame} snapshot | request-reply |
| ``acct.status.1s.<trader>`` | account status | publish |
| ``acct.risk.1s.<trader>`` | risk summary | publish |
| ``risk.event.<account>`` | risk event | publish |
| ``order.submit.<account>`` | SubmitOrder → OrderReply | request-reply |
| ``order.update.<account>`` | order events | publish |
| ``algo.progress.1s.<job>`` | algo progress | publish |
| ``ops.<topic>`` | operations (node liveness, shard map) | publish / request |
"""

from __future__ import annotations

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


def algo_progress(job: str) -> str:
    """``algo.progress.1s.<job>``: an algo job's progress every second."""
    return f"algo.progress.1s.{token(job)}"


def ops(topic: str) -> str:
    """``ops.<topic>``: operations traffic between nodes."""
    return f"ops.{token(topic)}"


__all__ = [
    "MAX_TOKEN_LENGTH",
    "SubjectTokenError",
    "acct_risk",
    "acct_status",
    "algo_progress",
    "md_agg",
    "md_snap",
    "md_tick",
    "ops",
    "order_submit",
    "order_update",
    "risk_event",
    "token",
]
