"""Encode the risk side's messages: rule status, risk events, limit and kill-switch changes.

The actor messages (``ruleStatus``, ``riskEvent``, ``limitChange``,
``killSwitchCommand``, ``killSwitchChanged``, ``cancelOpenOrders``) carry the
same accounts.capnp structs the browser gets inside ServerMessage, so
``accounts/<account>`` re-wraps them without translating fields.
"""

from __future__ import annotations

import time

import schemas

_ActorMessage = schemas.actor.ActorMessage


def _actor(member: str, source: str, correlation_id: int = 0):
    message = _ActorMessage.new_message()
    message.source = source
    message.sentTsNs = time.time_ns()
    message.correlationId = correlation_id
    return message, message.init(member)


def encode_rule_status(rule: str, scope: str, limit: float, observed: float, healthy: bool,
                       rejections: int, source: str) -> bytes:
    """Return ``ActorMessage{ruleStatus}`` (limit and observed in the rule's unit)."""
    message, body = _actor("ruleStatus", source)
    body.rule = rule
    body.scope = scope
    body.limit = limit
    body.observed = observed
    body.healthy = healthy
    body.rejections = rejections
    return message.to_bytes()


def fill_risk_event(body, *, rule: str, scope: str, severity: str, observed: float, limit: float,
                    message: str, account: str, client_order_id: str = "", ts_ns: int = 0) -> None:
    """Fill an accounts.capnp ``RiskEvent`` builder."""
    body.rule = rule
    body.scope = scope
    body.severity = severity
    body.observed = observed
    body.limit = limit
    body.message = message
    body.account = account
    body.clientOrderId = client_order_id
    body.tsNs = ts_ns or time.time_ns()


def encode_risk_event(*, source: str, correlation_id: int = 0, **fields) -> bytes:
    """Return ``ActorMessage{riskEvent}`` (fields of :func:`fill_risk_event`); ``correlation_id`` is the
    refused order's (UInt64, 0: none)."""
    message, body = _actor("riskEvent", source, correlation_id)
    fill_risk_event(body, **fields)
    return message.to_bytes()


def encode_limit_change(row: dict, source: str) -> bytes:
    """Return ``ActorMessage{limitChange}`` from a journal row of :meth:`LimitStore.change_nowait`."""
    message, body = _actor("limitChange", source)
    body.rule = row["rule"]
    body.scope = row["scope"]
    body.name = row["name"]
    body.oldValue = row["old_value"]
    body.newValue = row["new_value"]
    body.changedBy = row["changed_by"]
    body.tsNs = row["ts_ns"]
    return message.to_bytes()


def encode_kill_switch_command(scope: str, target: str, state: str, by: str, reason: str, source: str) -> bytes:
    """Return ``ActorMessage{killSwitchCommand}`` (scope ``account``/``group``/``global``)."""
    message, body = _actor("killSwitchCommand", source)
    body.scope = scope
    body.target = target
    body.state = state
    body.by = by
    body.reason = reason
    return message.to_bytes()


def encode_kill_switch_changed(row: dict, source: str) -> bytes:
    """Return ``ActorMessage{killSwitchChanged}`` from a journal row of :meth:`LimitStore.set_kill_switch_nowait`."""
    message, body = _actor("killSwitchChanged", source)
    body.scope = row["scope"]
    body.target = row["target"]
    body.state = row["state"]
    body.previous = row["previous"]
    body.changedBy = row["changed_by"]
    body.reason = row["reason"]
    body.tsNs = row["ts_ns"]
    return message.to_bytes()


def encode_cancel_open_orders(group: str, reason: str, by: str, source: str) -> bytes:
    """Return ``ActorMessage{cancelOpenOrders}`` (``group`` ``""``: every group)."""
    message, body = _actor("cancelOpenOrders", source)
    body.group = group
    body.reason = reason
    body.by = by
    return message.to_bytes()


def encode_pnl_update(account: str, realized: float, unrealized: float, source: str, marked: bool = True) -> bytes:
    """Return ``ActorMessage{pnlUpdate}`` (quote currency; ``marked``: every contract held had a last price)."""
    message, body = _actor("pnlUpdate", source)
    body.account = account
    body.realizedPnl = realized
    body.unrealizedPnl = unrealized
    body.marked = marked
    body.tsNs = time.time_ns()
    return message.to_bytes()


__all__ = [
    "encode_cancel_open_orders",
    "encode_kill_switch_changed",
    "encode_kill_switch_command",
    "encode_limit_change",
    "encode_pnl_update",
    "encode_risk_event",
    "encode_rule_status",
    "fill_risk_event",
]
