"""Replacements: ``replaceOrder`` as a cancel and a linked new order, one operation (issue 17).

vn.py has no order modify (``BaseGateway`` has ``send_order`` and
``cancel_order`` only), so a replace of working order *A* by new client order
id *B* at a new price and/or volume is:

1. *B* is a new order of *A*'s contract, direction, offset and type, at the
   requested price and volume, linked both ways (``B.replaces == A``,
   ``A.replaced_by == B``). It goes through the validity check and every risk
   rule as any order does; a refusal ends the replace ``rejected`` and leaves
   *A* untouched.
2. Approved, *B* is held (journaled ``pending`` with ``sent_ns`` 0: never
   sent) and *A* is cancelled.
3. When *A* is final, *B* is sent for the requested volume less what *A*
   filled (a fill racing the cancel). Nothing left, or *A* filled outright:
   *B* ends ``rejected`` with reason "filled before replace" and nothing is
   sent.

The replace is idempotent by *B*'s id: a retry gets *B*'s decision (at once
if decided, else when it is) and sends nothing. Its answer is one
``replaceReply``; the blotter shows the pair through ``OrderView.replaces`` and
``replacedBy``. After a restart a held *B* (``sent_ns`` 0) was never sent: it
is closed ``rejected`` with the reason, and *A* is resolved with the venue as
any recovered order.

Every method runs on the loop thread, inside the order actor's handlers.
"""

from __future__ import annotations

import math
import time
from typing import Any, Protocol

from actors.orders.book import OrderBook
from actors.orders.codec import encode_replace_reply
from actors.orders.record import OrderRecord
from actors.risk.rejection import Rejection

NAN = math.nan
RULE = "replace"
"""The rule name of a replace's own refusals (``Rejection.rule``)."""
REPLY_OF = {"accepted": "accepted", "rejected": "rejected", "outcomeUnknown": "outcomeUnknown"}
"""The replacing order's ``ReplyStatus`` → the replace's ``ReplaceStatus``."""


class ReplaceHost(Protocol):
    """What a :class:`Replacements` needs of the order actor (loop thread, never blocking)."""

    account: str
    path: str

    @property
    def log(self) -> Any:
        """The structlog logger of the message being handled."""

    def cancel_now(self, record: OrderRecord) -> bool:
        """Send one cancel of ``record`` (idempotent); False when refused (a vt_orderid collision)."""

    def send_reply(self, session: str, payload: bytes) -> None:
        """Send a ServerMessage to one session."""

    def admit(self, record: OrderRecord, account_sent: str) -> None:
        """Take a new order (already in the book) through validity and the risk rules to the write-ahead."""


class Replacements:
    """The replaces of one account: the held new orders and the sessions waiting for replace answers.

    Args:
        book: the account's orders.
        host: the order actor.

    Attributes:
        held: client order ids of approved replacing orders waiting for the replaced order to end.
        replaces: replaces started (retries not counted).
        filled_before: replaces refused "filled before replace".
    """

    def __init__(self, book: OrderBook, host: ReplaceHost) -> None:
        self.book = book
        self.host = host
        self.held: set[str] = set()
        self.waiters: dict[str, list[tuple[str, int]]] = {}
        self.replaces = self.filled_before = 0

    # -- the request ------------------------------------------------------------------------

    def replace(self, request, user: str, session: str, correlation: int) -> None:
        """Handle a stream.capnp ``replaceOrder`` (an orders.capnp ``ReplaceOrder`` reader)."""
        old_id, new_id = request.clientOrderId, request.newClientOrderId
        new = self.book.get(new_id)
        if new is not None or new_id in self.book.quarantined:
            if new is not None and new.replaces == old_id:
                if new.reply_status is not None:
                    self._reply(new, session, correlation)
                else:
                    self.waiters.setdefault(new_id, []).append((session, correlation))
                return
            self._refuse(request, session, correlation, "rejected", Rejection(
                RULE, NAN, NAN, f"newClientOrderId {new_id!r} already names another order of {self.host.account}"))
            return
        old = self.book.get(old_id)
        if old is None:
            self._refuse(request, session, correlation, "unknownOrder", Rejection(
                RULE, NAN, NAN, f"no order {old_id!r} in {self.host.account}"))
            return
        why = self._not_replaceable(old)
        if why:
            self._refuse(request, session, correlation, "notWorking", Rejection(RULE, NAN, NAN, why))
            return
        now = time.time_ns()
        new = OrderRecord(new_id, old.account, old.vt_symbol, old.direction, old.offset, old.order_type,
                          request.price, request.volumeLots, old.reference, user, group=old.group,
                          created_ns=now, updated_ns=now, replaces=old_id)
        old.replaced_by = new_id
        self.replaces += 1
        self.book.add(new)
        self.waiters[new_id] = [(session, correlation)]
        self.host.log.info("order_replace_started", client_order_id=old_id, new_client_order_id=new_id,
                           price=request.price, volume_lots=request.volumeLots)
        self.host.admit(new, request.account)

    @staticmethod
    def _not_replaceable(old: OrderRecord) -> str:
        """Why ``old`` cannot be replaced now (``""``: it can)."""
        if old.final:
            return f"order {old.client_order_id!r} is {old.state}: not working"
        if old.replaced_by:
            return f"order {old.client_order_id!r} is already being replaced by {old.replaced_by!r}"
        if old.state not in ("sent", "working") or not old.vt_orderid:
            return f"order {old.client_order_id!r} is {old.state}, not yet working at the exchange: not working"
        return ""

    # -- the hold ------------------------------------------------------------------------------

    def hold(self, record: OrderRecord) -> bool:
        """Whether an approved order must not be sent now: a replacing order whose replaced order is not final
        (held; the replaced order is cancelled), or one refused because that order filled. Otherwise its
        volume is reduced by the replaced order's fills and it may be sent."""
        if not record.replaces:
            return False
        old = self.book.get(record.replaces)
        if old is None:
            return False
        if not old.final:
            if record.client_order_id not in self.held:
                self.held.add(record.client_order_id)
                self.book.write(record)   # pending, sent_ns 0: the pair is in the journal, B never sent
                if not self.host.cancel_now(old):
                    self.held.discard(record.client_order_id)
                    self.book.refuse(record, Rejection(RULE, NAN, NAN, (
                        f"the cancel of {old.client_order_id!r} was refused: its vt_orderid also names another "
                        "open order")))
                    return True
            return True
        self.held.discard(record.client_order_id)
        filled = old.traded
        left = record.volume - filled
        if old.state == "filled" or left <= 0:
            self.filled_before += 1
            self.book.refuse(record, Rejection(RULE, record.volume, filled, (
                f"filled before replace: {filled:g} of {old.client_order_id!r}'s lots filled before its cancel, "
                f"nothing left of the {record.volume:g} lots asked")))
            return True
        record.volume = left
        return False

    def released(self, record: OrderRecord, approve) -> None:
        """``record`` became final: if a held order replaces it, hand that one to ``approve`` (the
        write-ahead queue), which settles it through :meth:`hold`."""
        new_id = record.replaced_by
        if new_id and new_id in self.held:
            approve(self.book.orders[new_id])

    def cancel_held(self, record: OrderRecord, why: str) -> bool:
        """Refuse a held replacing order (a cancel of it before it was sent); False when not held."""
        if record.client_order_id not in self.held:
            return False
        self.held.discard(record.client_order_id)
        self.book.refuse(record, Rejection(RULE, NAN, NAN, why))
        return True

    # -- answers -------------------------------------------------------------------------------

    def decided(self, record: OrderRecord) -> None:
        """The replacing order ``record`` has its decision: answer every session waiting on the replace. Refused
        before the replace cancelled the order it replaces, the link is dropped: that order may be replaced
        again."""
        old = self.book.get(record.replaces)
        if record.reply_status == "rejected" and old is not None and not old.final and \
                not old.cancel_requested and old.replaced_by == record.client_order_id:
            old.replaced_by = ""
        for session, correlation in self.waiters.pop(record.client_order_id, ()):
            self._reply(record, session, correlation)

    def recover(self) -> None:
        """Relink the pairs after :meth:`OrderBook.recover`; close a replacing order that was held (never sent:
        ``sent_ns`` 0) as ``rejected`` with the reason."""
        for record in sorted(self.book.orders.values(), key=lambda r: r.created_ns):
            if not record.replaces:
                continue
            old = self.book.get(record.replaces)
            if old is not None and (record.state != "rejected" or old.final or old.cancel_requested):
                old.replaced_by = record.client_order_id
            if not record.final and record.sent_ns == 0:
                self.book.unresolved.discard(record.client_order_id)
                self.book.recovered.discard(record.client_order_id)
                record.reason = ""
                self.book.reject(record, Rejection(RULE, NAN, NAN, (
                    f"not sent: the desk stopped before {record.replaces!r} ended, while this replacing order "
                    "was held; replace again")))

    def _reply(self, new: OrderRecord, session: str, correlation: int) -> None:
        old = self.book.get(new.replaces)
        filled = old.traded if old is not None and old.final else 0.0
        self.host.send_reply(session, encode_replace_reply(
            new.replaces, new.account, new.client_order_id, REPLY_OF[new.reply_status], correlation,
            self.host.path, new=new, filled_before_lots=filled))

    def _refuse(self, request, session: str, correlation: int, status: str, rejection: Rejection) -> None:
        self.host.log.info("order_replace_refused", client_order_id=request.clientOrderId,
                           new_client_order_id=request.newClientOrderId, status=status, reason=rejection.reason)
        self.host.send_reply(session, encode_replace_reply(
            request.clientOrderId, self.host.account, request.newClientOrderId, status, correlation,
            self.host.path, rejection=rejection))


__all__ = ["RULE", "ReplaceHost", "Replacements"]
