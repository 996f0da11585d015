"""One order as the order actor knows it, and its journal row.

Enumerations are kept as the Cap'n Proto enumerant names of schemas/orders.capnp
(``"long"``, ``"closeToday"``, ``"notTraded"``); vn.py's enums map to them by
member ``.name`` (vn.py's values are localized), in both directions.

Journal rows hold every float column losslessly: a finite number as itself, a
non-finite one as its name (``"NaN"``, ``"Infinity"``, ``"-Infinity"``:
:func:`encode_real`), because Python's sqlite3 stores a NaN parameter as NULL
and a NULL read back into a Cap'n Proto ``Float64`` aborted the order actor's
recovery. :meth:`OrderRecord.from_row` trusts nothing it reads: a row of the
wrong shape raises :class:`~actors.orders.errors.JournalRowError` and the
journal quarantines it (actors/orders/journal.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import schemas
from actors.orders.errors import JournalRowError
from actors.risk.rejection import Rejection  # re-exported: the order path's users import it from here

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

ORDER_STATES = frozenset(schemas.orders.OrderState.schema.enumerants)
"""Every orders.capnp ``OrderState`` name."""
REPLY_STATUSES = frozenset(schemas.orders.ReplyStatus.schema.enumerants)
"""Every orders.capnp ``ReplyStatus`` name."""

NAN = math.nan
INT64_MAX = 2**63 - 1
NON_FINITE_NAMES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
"""How the journal spells the floats SQLite cannot keep (a NaN parameter becomes NULL)."""


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
        created_ns, updated_ns: ns since UNIX epoch.
        sent_ns: when ``send_order`` was called, ns since UNIX epoch; set just before the call and
            journaled in the write-ahead row, so a row with ``sent_ns`` > 0 says "the send may have
            happened" at any kill point; 0: never called.
        cancel_requested: a cancel went to the gateway.
        rejected_by_gateway: vn.py or the exchange rejected it.
        trade_ids: vt_tradeids seen (fills are deduplicated by them); not journaled.
        trade_volume: lots filled according to the trades seen.
        cancel_on_send: cancel as soon as a vt_orderid is known (a kill switch tripped meanwhile).
        unknown_queries: gateway queries answered "unknown order".
        reply_journaled: a row carrying the decided reply was queued to the journal.
        reason: why the desk put the order in its state, when the desk decided it (the cause of an
            ``outcomeUnknown``, why recovery closed an order the venue did not know); ``""`` otherwise.
        correlation_id: the desk correlation id of the submission (UInt64, 0: none or recovered from
            the journal); every message and log line about the order carries it. Not journaled.
        replaces: the client order id of the order this one replaces (``replaceOrder``), ``""`` otherwise.
        replaced_by: the client order id of the order replacing this one; not journaled (rebuilt from the
            replacing order's ``replaces`` on recovery).
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
    reason: str = ""
    correlation_id: int = 0
    replaces: str = ""
    replaced_by: str = ""

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
        """Return the journal row (every column of the ``orders`` table; floats per :func:`encode_real`)."""
        rule, limit, observed, reason = self.rejection or ("", NAN, NAN, "")
        return {
            "account": self.account, "client_order_id": self.client_order_id, "user": self.user,
            "vt_symbol": self.vt_symbol, "direction": self.direction, "offset": self.offset,
            "order_type": self.order_type, "price": encode_real(self.price), "volume": encode_real(self.volume),
            "reference": self.reference, "grp": self.group, "state": self.state,
            "vt_orderid": self.vt_orderid, "status": self.status, "traded": encode_real(self.traded),
            "avg_price": encode_real(self.avg_price), "rejection_rule": rule,
            "rejection_limit": encode_real(limit), "rejection_observed": encode_real(observed),
            "rejection_reason": reason, "reply_status": self.reply_status or "",
            "decided_ns": self.decided_ns, "created_ns": self.created_ns,
            "updated_ns": self.updated_ns, "sent_ns": self.sent_ns,
            "cancel_requested": int(self.cancel_requested),
            "rejected_by_gateway": int(self.rejected_by_gateway),
            "trade_volume": encode_real(self.trade_volume), "reason": self.reason, "replaces": self.replaces,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OrderRecord:
        """Rebuild a record from its journal row, checking every column.

        Accepts what :meth:`row` writes and what earlier versions wrote (NULL
        rejection figures meaning NaN, no ``reason`` column).

        Raises:
            JournalRowError: a column is missing, of the wrong type, not a known
                enumerant, or a number that cannot be what the column holds (a
                non-finite price or volume on an order that passed validation).
        """
        reader = _RowReader(row)
        text, real, count = reader.text, reader.real, reader.count
        state = reader.name("state", ORDER_STATES)
        reply_status = reader.name("reply_status", REPLY_STATUSES | {""})
        rejection = None
        if text("rejection_rule"):
            rejection = Rejection(text("rejection_rule"), real("rejection_limit", null=True, finite=False),
                                  real("rejection_observed", null=True, finite=False), text("rejection_reason"))
        validated = state != "rejected"   # a rejected order may be one refused for its very numbers
        return cls(
            client_order_id=text("client_order_id"), account=text("account"), vt_symbol=text("vt_symbol"),
            direction=reader.name("direction", _DIRECTION_NAMES), offset=reader.name("offset", _OFFSET_NAMES),
            order_type=reader.name("order_type", _ORDER_TYPE_NAMES),
            price=real("price", finite=validated), volume=real("volume", finite=validated),
            reference=text("reference"), user=text("user"), group=text("grp"), state=state,
            vt_orderid=text("vt_orderid"), status=reader.name("status", _STATUS_NAMES),
            traded=real("traded", minimum=0.0), avg_price=real("avg_price", minimum=0.0), rejection=rejection,
            reply_status=reply_status or None, decided_ns=count("decided_ns"),
            created_ns=count("created_ns"), updated_ns=count("updated_ns"), sent_ns=count("sent_ns"),
            cancel_requested=bool(count("cancel_requested", maximum=1)),
            rejected_by_gateway=bool(count("rejected_by_gateway", maximum=1)),
            trade_volume=real("trade_volume", minimum=0.0), reply_journaled=bool(reply_status),
            reason=text("reason", missing=""), replaces=text("replaces", missing=""),
        )


_DIRECTION_NAMES = frozenset(DIRECTIONS.values())
_OFFSET_NAMES = frozenset(OFFSETS.values())
_ORDER_TYPE_NAMES = frozenset(ORDER_TYPES.values())
_STATUS_NAMES = frozenset(STATUSES.values())
_MISSING = object()


def encode_real(value: float) -> float | str:
    """Return how the journal stores a float: itself when finite, else ``"NaN"``, ``"Infinity"`` or
    ``"-Infinity"`` (SQLite would store a NaN as NULL, losing it)."""
    if math.isfinite(value):
        return float(value)
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def decode_real(value: Any, table: str, column: str, *, null: bool = False) -> float:
    """Return the float a journal cell holds (see :func:`encode_real`).

    Args:
        null: accept NULL as NaN (columns where earlier versions wrote NaN as NULL).

    Raises:
        JournalRowError: NULL (unless ``null``), a bool, text other than the three names, a blob.
    """
    if value is None and null:
        return NAN
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value in NON_FINITE_NAMES:
        return NON_FINITE_NAMES[value]
    raise JournalRowError(table, column, value, "not a number (finite, or NaN / Infinity / -Infinity by name)")


class _RowReader:
    """Typed, checked reads of one ``orders`` row (every failure a :class:`JournalRowError`)."""

    def __init__(self, row: Any) -> None:
        if not isinstance(row, dict):
            raise JournalRowError("orders", "*", row, "not a row")
        self.row = row

    def get(self, column: str, missing: Any = _MISSING) -> Any:
        if column not in self.row:
            if missing is not _MISSING:
                return missing
            raise JournalRowError("orders", column, None, "column missing")
        return self.row[column]

    def text(self, column: str, missing: Any = _MISSING) -> str:
        value = self.get(column, missing)
        if value is None and missing is not _MISSING:
            return missing              # a column added later: NULL in rows written before it
        if not isinstance(value, str):
            raise JournalRowError("orders", column, value, "not text")
        return value

    def name(self, column: str, names: frozenset[str]) -> str:
        value = self.text(column)
        if value not in names:
            raise JournalRowError("orders", column, value, f"not one of {sorted(names)}")
        return value

    def real(self, column: str, *, null: bool = False, finite: bool = True, minimum: float | None = None) -> float:
        value = decode_real(self.get(column), "orders", column, null=null)
        if finite and not math.isfinite(value):
            raise JournalRowError("orders", column, value, "must be finite")
        if minimum is not None and not value >= minimum:
            raise JournalRowError("orders", column, value, f"must be >= {minimum:g}")
        return value

    def count(self, column: str, maximum: int = INT64_MAX) -> int:
        value = self.get(column)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            raise JournalRowError("orders", column, value, f"not an integer within 0..{maximum}")
        return value


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
    "NON_FINITE_NAMES",
    "ORDER_STATES",
    "OFFSETS",
    "OPEN_STATES",
    "ORDER_TYPES",
    "OrderRecord",
    "REPLY_STATUSES",
    "Rejection",
    "STATE_OF_STATUS",
    "STATUSES",
    "VNPY_DIRECTIONS",
    "VNPY_OFFSETS",
    "VNPY_ORDER_TYPES",
    "decode_real",
    "encode_real",
    "parse_reference",
    "reference_of",
]
