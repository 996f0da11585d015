"""One order as the order actor knows it, and its journal row.

Enumerations are kept as the Cap'n Proto enumerant names of schemas/orders.capnp
(``"long"``, ``"closeToday"``, ``"notTraded"``); vn.py's enums map to them by
member ``.name`` (vn.py's values are localized), in both directions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

DIRECTIONS = {"LONG": "long", "SHORT": "short", "NET": "net"}
"""vn.py ``Direction`` member name → orders.capnp ``Direction``."""
OFFSETS = {"NONE": "none", "OPEN": "open", "CLOSE": "close", "CLOSETODAY": "closeToday",
           "CLOSEYESTERDAY": "closeYesterday"}
"""vn.py ``Offset`` member name → orders.capnp ``Offset``."""
ORDER_TYPES = {"LIMIT": "limit", "MARKET": "market", "STOP": "stop", "FAK": "fak", "FOK": "fok",
               "RFQ": "rfq", "ETF": "etf"}
"""vn.py ``OrderType`` member name → orders.capnp ``OrderType``."""
STATUSES = {"SUBMITTING": "submitting", "NOTTRADED": "notTraded", "PARTTRADED": "partTraded",
            "ALLTRADED": "allTraded", "CANCELLED": "cancelled", "REJECTED": "rejected"}
"""vn.py ``Status`` member name → orders.capnp ``OrderStatus``."""

VNPY_DIRECTIONS = {v: k for k, v in DIRECTIONS.items()}
VNPY_OFFSETS = {v: k for k, v in OFFSETS.items()}
VNPY_ORDER_TYPES = {v: k for k, v in ORDER_TYPES.items()}

FINAL_STATES = frozenset({"filled", "cancelled", "rejected"})
"""Order states that never change again."""
OPEN_STATES = frozenset({"sent", "working", "outcomeUnknown"})
"""Order states with an order (possibly) live at the exchange."""
STATE_OF_STATUS = {"notTraded": "working", "partTraded": "working", "allTraded": "filled",
                   "cancelled": "cancelled", "rejected": "rejected"}
"""vn.py status past SUBMITTING → order state."""

NAN = math.nan


class Rejection(NamedTuple):
    """Why an order was refused: a value, not an exception (orders.capnp ``Rejection``).

    Attributes:
        rule: the rule that refused it (``"active_order"``, ``"order_validity"``), or
            ``"gateway"``, ``"exchange"``, ``"journal"``.
        limit: the limit in the rule's unit (NaN: none).
        observed: the observed value, this order included, same unit (NaN: none).
        reason: human-readable.
    """

    rule: str
    limit: float
    observed: float
    reason: str


@dataclass(slots=True)
class OrderRecord:
    """An order of one account, from submission to its final state.

    Attributes:
        client_order_id: the idempotency key, chosen by the client.
        account: strategy account.
        vt_symbol: ``"rb1801.SHFE"``.
        direction, offset, order_type: orders.capnp enumerant names.
        price: limit price, quote currency.
        volume: lots.
        reference: the client's tag.
        user: who submitted it first (JWT sub).
        group: contract group (exchange product), ``"rb"``.
        state: orders.capnp ``OrderState`` name.
        vt_orderid: vn.py's id, ``""`` until known.
        status: vn.py status (orders.capnp ``OrderStatus`` name).
        traded: lots filled, the larger of the order events' and the trades' figure.
        avg_price: average fill price from the trades, quote currency (0: none).
        rejection: ``(rule, limit, observed, reason)`` when rejected.
        reply_status: ``"accepted" | "rejected" | "outcomeUnknown"`` once decided, else ``None``.
        decided_ns: when the reply was decided, ns since UNIX epoch.
        created_ns, updated_ns, sent_ns: ns since UNIX epoch (``sent_ns`` 0 until sent).
        cancel_requested: a cancel went to the gateway.
        rejected_by_gateway: vn.py or the exchange rejected it.
        trade_ids: vt_tradeids seen (fills are deduplicated by them); not journaled.
        trade_volume: lots filled according to the trades seen.
        cancel_on_send: cancel as soon as a vt_orderid is known (a kill switch tripped meanwhile).
        unknown_queries: gateway queries answered "unknown order".
        reply_journaled: a row carrying the decided reply was queued to the journal.
        correlation_id: the desk correlation id of the submission (UInt64, 0: none or recovered from
            the journal); every message and log line about the order carries it. Not journaled.
    """

    client_order_id: str
    account: str
    vt_symbol: str
    direction: str
    offset: str
    order_type: str
    price: float
    volume: float
    reference: str = ""
    user: str = ""
    group: str = ""
    state: str = "pending"
    vt_orderid: str = ""
    status: str = "submitting"
    traded: float = 0.0
    avg_price: float = 0.0
    rejection: Rejection | None = None
    reply_status: str | None = None
    decided_ns: int = 0
    created_ns: int = 0
    updated_ns: int = 0
    sent_ns: int = 0
    cancel_requested: bool = False
    rejected_by_gateway: bool = False
    trade_ids: set[str] = field(default_factory=set)
    trade_volume: float = 0.0
    cancel_on_send: bool = False
    unknown_queries: int = 0
    reply_journaled: bool = False
    correlation_id: int = 0

    @property
    def final(self) -> bool:
        """The order will not change again."""
        return self.state in FINAL_STATES

    @property
    def open(self) -> bool:
        """An order may be live at the exchange."""
        return self.state in OPEN_STATES

    @property
    def active(self) -> bool:
        """It counts against the active-order limit: neither final nor refused."""
        return self.state not in FINAL_STATES

    def row(self) -> dict[str, Any]:
        """Return the journal row (every column of the ``orders`` table)."""
        rule, limit, observed, reason = self.rejection or ("", NAN, NAN, "")
        return {
            "account": self.account, "client_order_id": self.client_order_id, "user": self.user,
            "vt_symbol": self.vt_symbol, "direction": self.direction, "offset": self.offset,
            "order_type": self.order_type, "price": self.price, "volume": self.volume,
            "reference": self.reference, "grp": self.group, "state": self.state,
            "vt_orderid": self.vt_orderid, "status": self.status, "traded": self.traded,
            "avg_price": self.avg_price, "rejection_rule": rule,
            "rejection_limit": None if math.isnan(limit) else limit,
            "rejection_observed": None if math.isnan(observed) else observed,
            "rejection_reason": reason, "reply_status": self.reply_status or "",
            "decided_ns": self.decided_ns, "created_ns": self.created_ns,
            "updated_ns": self.updated_ns, "sent_ns": self.sent_ns,
            "cancel_requested": int(self.cancel_requested),
            "rejected_by_gateway": int(self.rejected_by_gateway),
            "trade_volume": self.trade_volume,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OrderRecord:
        """Rebuild a record from its journal row."""
        rejection = None
        if row["rejection_rule"]:
            rejection = Rejection(row["rejection_rule"], _nan(row["rejection_limit"]),
                                  _nan(row["rejection_observed"]), row["rejection_reason"])
        return cls(
            client_order_id=row["client_order_id"], account=row["account"], vt_symbol=row["vt_symbol"],
            direction=row["direction"], offset=row["offset"], order_type=row["order_type"],
            price=row["price"], volume=row["volume"], reference=row["reference"], user=row["user"],
            group=row["grp"], state=row["state"], vt_orderid=row["vt_orderid"], status=row["status"],
            traded=row["traded"], avg_price=row["avg_price"], rejection=rejection,
            reply_status=row["reply_status"] or None, decided_ns=row["decided_ns"],
            created_ns=row["created_ns"], updated_ns=row["updated_ns"], sent_ns=row["sent_ns"],
            cancel_requested=bool(row["cancel_requested"]),
            rejected_by_gateway=bool(row["rejected_by_gateway"]), trade_volume=row["trade_volume"],
            reply_journaled=bool(row["reply_status"]),
        )


def _nan(value: float | None) -> float:
    return NAN if value is None else float(value)


def reference_of(account: str, client_order_id: str) -> str:
    """Return the ``OrderRequest.reference`` of an order: ``"tickstage:<account>:<client order id>"``."""
    return f"tickstage:{account}:{client_order_id}"


def parse_reference(reference: str) -> tuple[str, str] | None:
    """Return ``(account, client order id)`` from a reference made by :func:`reference_of`, else ``None``."""
    if not reference.startswith("tickstage:"):
        return None
    account, sep, client_order_id = reference[len("tickstage:"):].partition(":")
    if not sep or not account or not client_order_id:
        return None
    return account, client_order_id


__all__ = [
    "DIRECTIONS",
    "FINAL_STATES",
    "OFFSETS",
    "OPEN_STATES",
    "ORDER_TYPES",
    "OrderRecord",
    "Rejection",
    "STATE_OF_STATUS",
    "STATUSES",
    "VNPY_DIRECTIONS",
    "VNPY_OFFSETS",
    "VNPY_ORDER_TYPES",
    "parse_reference",
    "reference_of",
]
