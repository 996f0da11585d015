"""Simulated traders: submit orders over ``/ws`` with retries, and account for every one.

A :class:`TraderClient` is a :class:`sim.harness.clients.SimClient` with a trader
token for one account. It submits small FAK limit orders (so none stays
active) at a steady rate, each with a fresh client order id, and waits for
its ``orderReply``; without one within ``reply_timeout_s`` (a crashed
session, a stalled order actor, a lost message) it sends the same order
again with the same id — safe, because the order actor is idempotent on it
(actors/README.md) — up to ``max_attempts``. At the end :meth:`TraderClient.settle`
asks ``orderStatusRequest`` for whatever is still unanswered or unknown.

:func:`order_figures` turns the traders' books and the simulated exchange's
counters (one venue per run, so it saw only these orders) into the report's
``orders_*`` figures.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import capnp

import schemas
from sim.harness.clients import SimClient

FINAL_STATES = frozenset({"working", "filled", "cancelled", "rejected"})
"""Order states that settle an order's fate (``sent`` and ``outcomeUnknown`` do not)."""


@dataclass
class OrderBook:
    """What a trader knows of one client order id.

    Attributes:
        attempts: submissions sent (1 + retries).
        reply: ``orderReply`` status (``accepted``, ``rejected``, ``outcomeUnknown``) or ``""``.
        state: the latest order state from events or the status reply, or ``""``.
    """

    attempts: int = 0
    reply: str = ""
    state: str = ""


@dataclass(frozen=True)
class Quote:
    """An order target: vt_symbol, a limit price on its grid (quote currency) and its tick."""

    vt_symbol: str
    price: float
    price_tick: float


class TraderClient(SimClient):
    """A trader submitting FAK limit orders with idempotent retries (loop thread).

    Args:
        account: the strategy account the token may trade.
        quotes: where and around which price to order.
        orders_per_s: submission rate.
        reply_timeout_s: wait for an ``orderReply`` before sending again, seconds.
        max_attempts: submissions per order at most.
        seed: seed of the choices (symbol, side, price offset).
    """

    def __init__(self, name: str, url: str, token: str, account: str, quotes: Sequence[Quote],
                 orders_per_s: float = 5.0, reply_timeout_s: float = 1.0, max_attempts: int = 5,
                 seed: int = 0) -> None:
        super().__init__(name, url, token, groups=())
        self.account = account
        self.quotes = list(quotes)
        self.orders_per_s = orders_per_s
        self.reply_timeout_s = reply_timeout_s
        self.max_attempts = max_attempts
        self.books: dict[str, OrderBook] = {}
        self._replied: dict[str, asyncio.Event] = {}
        self._rng = random.Random(seed)
        self._serial = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._stop = asyncio.Event()
        self.replies_ns: list[int] = []
        """Arrival (UNIX ns) of every ``orderReply``: a trader's healthy messages."""
        self.sends_ns: list[int] = []
        """When every submission (retries too) was sent, UNIX ns."""
        self._first_sent_ns: dict[str, int] = {}
        self._first_reply_ns: dict[str, int] = {}

    async def trade(self) -> None:
        """Submit orders until :meth:`stop_trading` (run as a task)."""
        while not self._stop.is_set():
            coid = f"{self.name}-{next(self._serial)}"
            task = asyncio.get_running_loop().create_task(self._submit(coid, self._order(coid)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            try:
                await asyncio.wait_for(self._stop.wait(), 1.0 / self.orders_per_s)
            except TimeoutError:
                pass

    def stop_trading(self) -> None:
        """Stop submitting new orders (retries of sent ones go on)."""
        self._stop.set()

    def _order(self, coid: str) -> dict[str, Any]:
        quote = self._rng.choice(self.quotes)
        steps = self._rng.randint(-3, 3)
        return {"clientOrderId": coid, "account": self.account, "vtSymbol": quote.vt_symbol,
                "direction": self._rng.choice(("long", "short")), "offset": "open", "orderType": "fak",
                "price": round(quote.price + steps * quote.price_tick, 8), "volumeLots": 1.0,
                "reference": "sim"}

    async def _submit(self, coid: str, order: dict[str, Any]) -> None:
        book = self.books.setdefault(coid, OrderBook())
        replied = self._replied.setdefault(coid, asyncio.Event())
        while book.attempts < self.max_attempts and not replied.is_set():
            await self.connected.wait()   # a restarting desk: retry once it listens again, not into the void
            book.attempts += 1
            sent_ns = time.time_ns()
            self.sends_ns.append(sent_ns)
            self._first_sent_ns.setdefault(coid, sent_ns)
            await self.send(submitOrder=order)
            try:
                await asyncio.wait_for(replied.wait(), self.reply_timeout_s)
            except TimeoutError:
                continue

    async def settle(self, timeout_s: float = 10.0, ask_every_s: float = 1.0) -> None:
        """Wait for retries in flight, then ask the status of every order without a settled fate.

        The status request is asked again every ``ask_every_s`` for the orders
        still unsettled, until ``timeout_s``: on a starved process one request
        (or its reply) can come late, and an order the desk knows must not be
        counted lost because its answer was slow.
        """
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        pending = None  # orders with neither a final state nor a known unknown outcome
        while pending != []:
            open_ids = [coid for coid, book in self.books.items() if book.state not in FINAL_STATES]
            if not open_ids or time.monotonic() >= deadline:
                return
            for start in range(0, len(open_ids), 200):
                await self.send(orderStatusRequest={"account": self.account,
                                                    "clientOrderIds": open_ids[start:start + 200]})
            asked = time.monotonic()
            while time.monotonic() - asked < ask_every_s and time.monotonic() < deadline:
                pending = [c for c in open_ids
                           if self.books[c].state not in FINAL_STATES and self.books[c].state != "outcomeUnknown"]
                if not pending:
                    break
                await asyncio.sleep(0.02)

    def _take(self, data: bytes) -> None:
        super()._take(data)
        try:
            with schemas.stream.ServerMessage.from_bytes(
                    data, traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                    nesting_limit=schemas.NESTING_LIMIT) as message:
                member = message.which()
                if member == "orderReply":
                    self.replies_ns.append(time.time_ns())
                    reply = message.orderReply
                    self._first_reply_ns.setdefault(reply.clientOrderId, self.replies_ns[-1])
                    self._note(reply.clientOrderId, reply=str(reply.status))
                elif member == "orderStatusReply":
                    for view in message.orderStatusReply.orders:
                        self._note(view.clientOrderId, state=str(view.state))
                elif member in ("orderAccepted", "orderRejected", "orderUpdated", "orderFilled",
                                "outcomeUnknown"):
                    view = getattr(message, member).order
                    self._note(view.clientOrderId, state=str(view.state))
        except (capnp.KjException, ValueError):
            pass

    def first_healthy(self, after_built_ns: int, groups: Iterable[str] | None = None) -> int | None:
        """Return the arrival of the first order reply at or after ``after_built_ns`` (a trader's recovery)."""
        return next((ns for ns in self.replies_ns if ns >= after_built_ns), None)

    def recovery(self, end_ns: int, ready_ns: int, groups: Iterable[str] | None = None,
                 market_ns: int = 0) -> tuple[int, int] | None:
        """Return ``(arrival, clock start)`` of the first order reply at or after ``ready_ns``, UNIX ns.

        The clock starts at ``end_ns`` when an order sent before it was still
        unanswered then (the desk owed a reply); otherwise at the first
        submission after ``end_ns`` (the trader had asked nothing meanwhile).
        ``groups`` and ``market_ns`` are ignored. None when no reply came.
        """
        arrival = self.first_healthy(ready_ns)
        if arrival is None:
            return None
        owed = any(sent < end_ns and self._first_reply_ns.get(coid, arrival) >= end_ns
                   for coid, sent in self._first_sent_ns.items())
        first_send = next((ns for ns in self.sends_ns if ns >= end_ns), end_ns)
        return arrival, end_ns if owed or first_send > arrival else first_send

    def _note(self, coid: str, reply: str = "", state: str = "") -> None:
        book = self.books.get(coid)
        if book is None:
            return
        if reply:
            book.reply = reply
            if reply == "rejected" and not book.state:
                book.state = "rejected"
            self._replied.setdefault(coid, asyncio.Event()).set()
        if state:
            book.state = state

    async def close(self) -> None:
        """Stop trading and close the socket."""
        self._stop.set()
        for task in list(self._tasks):
            task.cancel()
        await super().close()


def order_figures(traders: Iterable[TraderClient], exchange_statistics: Any) -> dict[str, int]:
    """Return ``orders_submitted``, ``orders_at_gateway``, ``orders_lost``, ``orders_duplicated``,
    ``unknown_outcomes_unresolved`` and ``order_retries``.

    ``orders_duplicated`` counts orders the exchange received beyond one per
    reference (a retry that went out twice); ``orders_lost`` counts ids with
    neither a reply nor a known state; an order whose reply or last state is
    ``outcomeUnknown`` and never settled is unresolved.
    """
    books = [book for trader in traders for book in trader.books.values()]
    stats = exchange_statistics
    return {
        "orders_submitted": len(books),
        "orders_at_gateway": stats.distinct_references if stats is not None else 0,
        "orders_duplicated": (stats.orders_received - stats.distinct_references) if stats is not None else 0,
        "orders_lost": sum(1 for b in books if not b.reply and not b.state),
        "unknown_outcomes_unresolved": sum(
            1 for b in books if b.state not in FINAL_STATES and (b.reply == "outcomeUnknown"
                                                               or b.state == "outcomeUnknown")),
        "order_retries": sum(b.attempts - 1 for b in books if b.attempts > 1),
    }


__all__ = ["FINAL_STATES", "OrderBook", "Quote", "TraderClient", "order_figures"]
