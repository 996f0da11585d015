"""Encode the order path's messages: actor messages and the ServerMessages of orders.

Every builder returns immutable ``bytes``. Fields are set one by one (pycapnp's
``new_message(**fields)`` is ~10× slower, perf/bench_codec.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import schemas
from actors.orders.record import OrderRecord
from actors._envelope import new_server_message
from actors.risk.rejection import Rejection

_ActorMessage = schemas.actor.ActorMessage


def _actor(member: str, source: str, correlation_id: int = 0):
    message = _ActorMessage.new_message()
    message.source = source
    message.sentTsNs = time.time_ns()
    message.correlationId = correlation_id
    return message, message.init(member)


def set_rejection(builder, rejection: Rejection) -> None:
    """Fill an orders.capnp ``Rejection`` builder."""
    builder.rule = rejection.rule
    builder.limit = rejection.limit
    builder.observed = rejection.observed
    builder.reason = rejection.reason


def read_rejection(reader) -> Rejection:
    """Copy an orders.capnp ``Rejection`` reader into a value."""
    return Rejection(reader.rule, reader.limit, reader.observed, reader.reason)


# -- between actors ----------------------------------------------------------------


def encode_order_command(session_path: str, user: str, client: bytes, source: str, correlation_id: int = 0,
                         accounts: tuple[str, ...] = (), all_accounts: bool = False) -> bytes:
    """Return ``ActorMessage{orderCommand}``: a validated ClientMessage for ``orders/<account>``.

    ``correlation_id`` (UInt64, 0: none) is the command's desk correlation id (actors/sessions/state.py).
    ``accounts`` / ``all_accounts``: the sender's verified token's ``accounts`` claim and whether it is
    an admin's, which an order host across NATS checks the command's account against.
    """
    message, body = _actor("orderCommand", source, correlation_id)
    body.sessionPath = session_path
    body.user = user
    body.client = client
    if accounts:
        body.accounts = list(accounts)
    body.allAccounts = all_accounts
    return message.to_bytes()


def encode_risk_check(check_id: int, record: OrderRecord, last_price: float, price_tick: float,
                      multiplier: float, source: str) -> bytes:
    """Return ``ActorMessage{riskCheck}`` for one order (sent to every rule actor of its account).

    Args:
        last_price: latest last price, quote currency (NaN: no tick yet).
        price_tick: quote currency (0: unknown contract).
        multiplier: units per lot (0: unknown contract).
    """
    message, body = _actor("riskCheck", source, record.correlation_id)
    body.checkId = check_id
    body.clientOrderId = record.client_order_id
    body.account = record.account
    body.vtSymbol = record.vt_symbol
    body.group = record.group
    body.direction = record.direction
    body.offset = record.offset
    body.orderType = record.order_type
    body.price = record.price
    body.volumeLots = record.volume
    body.lastPrice = last_price
    body.priceTick = price_tick
    body.multiplier = multiplier
    body.tsNs = record.created_ns
    return message.to_bytes()


def encode_verdict(check_id: int, rule: str, rejection: Rejection | None, source: str,
                   correlation_id: int = 0) -> bytes:
    """Return ``ActorMessage{riskVerdict}``: approved when ``rejection`` is ``None``; ``correlation_id``
    is the checked order's."""
    message, body = _actor("riskVerdict", source, correlation_id)
    body.checkId = check_id
    body.rule = rule
    body.approved = rejection is None
    if rejection is not None:
        set_rejection(body.init("rejection"), rejection)
    return message.to_bytes()


def encode_risk_update(kind: str, record: OrderRecord | None, source: str, *, price: float | None = None,
                       volume: float | None = None, ts_ns: int = 0) -> bytes:
    """Return ``ActorMessage{riskUpdate}`` of ``kind`` about ``record``.

    ``price``/``volume`` override the order's (a fill's price and volume).
    A ``replayed`` update summarizes the record (traded, active, cancel, sent).
    """
    message, body = _actor("riskUpdate", source, record.correlation_id if record is not None else 0)
    body.kind = kind
    body.tsNs = ts_ns or time.time_ns()
    if record is not None:
        body.clientOrderId = record.client_order_id
        body.vtSymbol = record.vt_symbol
        body.group = record.group
        body.direction = record.direction
        body.offset = record.offset
        body.price = record.price if price is None else price
        body.volumeLots = record.volume if volume is None else volume
        if kind == "replayed":
            body.tradedLots = record.traded
            body.active = record.active
            body.cancelRequested = record.cancel_requested
            body.rejectedByGateway = record.rejected_by_gateway
            body.sent = bool(record.vt_orderid) or record.sent_ns > 0
            body.tsNs = record.created_ns
    return message.to_bytes()


def encode_journaled(client_order_id: str, ok: bool, error: str, source: str = "journal") -> bytes:
    """Return ``ActorMessage{journaled}``."""
    message, body = _actor("journaled", source)
    body.clientOrderId = client_order_id
    body.ok = ok
    body.error = error
    return message.to_bytes()


def encode_account_push(account: str, payload: bytes, source: str, correlation_id: int = 0) -> bytes:
    """Return ``ActorMessage{accountPush}``: ServerMessage bytes for every session granted ``account``;
    ``correlation_id`` is the command that caused it (0: none, a periodic status)."""
    message, body = _actor("accountPush", source, correlation_id)
    body.account = account
    body.payload = payload
    return message.to_bytes()


def encode_vnpy_order(*, vt_orderid: str, reference: str, vt_symbol: str, direction: str, offset: str,
                      order_type: str, price: float, volume: float, traded: float, status: str, ts_ns: int,
                      gateway_name: str, account: str, source: str = "gateway") -> bytes:
    """Return ``ActorMessage{vnpyOrder}``: one vn.py OrderData (enums as orders.capnp names)."""
    message, body = _actor("vnpyOrder", source)
    body.vtOrderId = vt_orderid
    body.reference = reference
    body.vtSymbol = vt_symbol
    body.direction = direction
    body.offset = offset
    body.orderType = order_type
    body.price = price
    body.volumeLots = volume
    body.tradedLots = traded
    body.status = status
    body.tsNs = ts_ns
    body.gatewayName = gateway_name
    body.account = account
    return message.to_bytes()


def encode_vnpy_trade(*, vt_tradeid: str, vt_orderid: str, vt_symbol: str, direction: str, offset: str,
                      price: float, volume: float, ts_ns: int, gateway_name: str, account: str,
                      source: str = "gateway") -> bytes:
    """Return ``ActorMessage{vnpyTrade}``: one vn.py TradeData (price quote currency, volume lots)."""
    message, body = _actor("vnpyTrade", source)
    body.vtTradeId = vt_tradeid
    body.vtOrderId = vt_orderid
    body.vtSymbol = vt_symbol
    body.direction = direction
    body.offset = offset
    body.price = price
    body.volumeLots = volume
    body.tsNs = ts_ns
    body.gatewayName = gateway_name
    body.account = account
    return message.to_bytes()


def encode_vnpy_account(*, vt_accountid: str, gateway_name: str, balance: float, frozen: float,
                        available: float, ts_ns: int, source: str = "gateway") -> bytes:
    """Return ``ActorMessage{vnpyAccount}``: one vn.py AccountData (quote currency)."""
    message, body = _actor("vnpyAccount", source)
    body.vtAccountId = vt_accountid
    body.gatewayName = gateway_name
    body.balance = balance
    body.frozen = frozen
    body.available = available
    body.tsNs = ts_ns
    return message.to_bytes()


# -- to the browser ------------------------------------------------------------------


def fill_order_view(view, record: OrderRecord) -> None:
    """Fill an orders.capnp ``OrderView`` builder from a record."""
    view.clientOrderId = record.client_order_id
    view.account = record.account
    view.vtSymbol = record.vt_symbol
    view.direction = record.direction
    view.offset = record.offset
    view.orderType = record.order_type
    view.price = record.price
    view.volumeLots = record.volume
    view.state = record.state
    view.vtOrderId = record.vt_orderid
    view.status = record.status
    view.tradedLots = record.traded
    view.avgPrice = record.avg_price
    if record.rejection is not None:
        set_rejection(view.init("rejection"), record.rejection)
    view.createdTsNs = record.created_ns
    view.updatedTsNs = record.updated_ns
    view.reference = record.reference
    view.reason = record.reason
    view.replaces = record.replaces
    view.replacedBy = record.replaced_by


def encode_order_reply(record: OrderRecord, correlation_id: int, source: str) -> bytes:
    """Return ServerMessage ``orderReply`` with the record's decision (``reply_status`` must be set)."""
    message, body = new_server_message("orderReply", correlation_id, source)
    body.clientOrderId = record.client_order_id
    body.account = record.account
    body.status = record.reply_status
    body.vtOrderId = record.vt_orderid
    if record.reply_status == "rejected" and record.rejection is not None:
        set_rejection(body.init("rejection"), record.rejection)
    body.decidedTsNs = record.decided_ns
    return message.to_bytes()


def encode_order_event(member: str, record: OrderRecord, source: str, **extra) -> bytes:
    """Return a ServerMessage order event (``orderAccepted``, ``orderRejected``, ``orderUpdated``,
    ``orderFilled``, ``outcomeUnknown``) with the record's view; ``extra`` sets the event's own fields."""
    message, body = new_server_message(member, 0, source)
    fill_order_view(body.init("order"), record)
    for name, value in extra.items():
        setattr(body, name, value)
    return message.to_bytes()


def encode_cancel_reply(client_order_id: str, account: str, status: str, vt_orderid: str,
                        correlation_id: int, source: str) -> bytes:
    """Return ServerMessage ``cancelReply``."""
    message, body = new_server_message("cancelReply", correlation_id, source)
    body.clientOrderId = client_order_id
    body.account = account
    body.status = status
    body.vtOrderId = vt_orderid
    return message.to_bytes()


def encode_replace_reply(replaced: str, account: str, new_client_order_id: str, status: str, correlation_id: int,
                         source: str, *, new: OrderRecord | None = None, filled_before_lots: float = 0.0,
                         rejection: Rejection | None = None) -> bytes:
    """Return ServerMessage ``replaceReply`` (orders.capnp ``ReplaceReply``).

    Args:
        replaced: the client order id of the order replaced.
        new_client_order_id: the replacing order's client order id.
        status: orders.capnp ``ReplaceStatus`` name.
        new: the replacing order, when there is one (its vt_orderid, volume in lots and rejection).
        filled_before_lots: lots of the replaced order filled before its cancel took effect.
        rejection: the refusal when ``new`` carries none.
    """
    message, body = new_server_message("replaceReply", correlation_id, source)
    body.clientOrderId = replaced
    body.account = account
    body.newClientOrderId = new_client_order_id
    body.status = status
    body.filledBeforeLots = filled_before_lots
    if new is not None:
        body.vtOrderId = new.vt_orderid
        body.volumeLots = new.volume
        rejection = rejection or new.rejection
    if status != "accepted" and status != "outcomeUnknown" and rejection is not None:
        set_rejection(body.init("rejection"), rejection)
    return message.to_bytes()


def encode_cancel_all_reply(request_id: str, account: str, client_order_ids: Iterable[str], correlation_id: int,
                            source: str) -> bytes:
    """Return ServerMessage ``cancelAllReply`` naming the orders a cancel was sent (or is due) for."""
    ids = list(client_order_ids)
    message, body = new_server_message("cancelAllReply", correlation_id, source)
    body.requestId = request_id
    body.account = account
    listed = body.init("clientOrderIds", len(ids))
    for i, client_order_id in enumerate(ids):
        listed[i] = client_order_id
    return message.to_bytes()


def encode_flatten_reply(client_order_id: str, account: str, vt_symbol: str, status: str,
                         client_order_ids: Iterable[str], correlation_id: int, source: str, *,
                         rejection: Rejection | None = None) -> bytes:
    """Return ServerMessage ``flattenReply`` (orders.capnp ``FlattenReply``).

    Args:
        client_order_id: the flatten's client order id.
        vt_symbol: the contract flattened (``""``: every contract held).
        status: orders.capnp ``FlattenStatus`` name.
        client_order_ids: the closing orders' client order ids.
        rejection: why, when ``status`` is ``rejected``.
    """
    ids = list(client_order_ids)
    message, body = new_server_message("flattenReply", correlation_id, source)
    body.clientOrderId = client_order_id
    body.account = account
    body.vtSymbol = vt_symbol
    body.status = status
    listed = body.init("clientOrderIds", len(ids))
    for i, child in enumerate(ids):
        listed[i] = child
    if rejection is not None:
        set_rejection(body.init("rejection"), rejection)
    return message.to_bytes()


def encode_status_reply(account: str, records: Iterable[OrderRecord], correlation_id: int, source: str) -> bytes:
    """Return ServerMessage ``orderStatusReply`` listing ``records``."""
    records = list(records)
    message, body = new_server_message("orderStatusReply", correlation_id, source)
    body.account = account
    views = body.init("orders", len(records))
    for view, record in zip(views, records):
        fill_order_view(view, record)
    return message.to_bytes()


def finite_or_nan(value: float) -> float:
    """Return ``value`` when finite, else NaN (for optional figures)."""
    return value if math.isfinite(value) else math.nan


__all__ = [
    "encode_account_push",
    "encode_cancel_all_reply",
    "encode_cancel_reply",
    "encode_flatten_reply",
    "encode_journaled",
    "encode_order_command",
    "encode_order_event",
    "encode_order_reply",
    "encode_replace_reply",
    "encode_risk_check",
    "encode_risk_update",
    "encode_status_reply",
    "encode_verdict",
    "encode_vnpy_account",
    "encode_vnpy_order",
    "encode_vnpy_trade",
    "fill_order_view",
    "finite_or_nan",
    "read_rejection",
    "set_rejection",
]
