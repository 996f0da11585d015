"""WriteAhead: an order actor's write-ahead commit and send fence (exactly once to the exchange).

An approved order is sent to the exchange only after its write-ahead row is
committed (actors/orders/journal.py: SQLite WAL, on the loop thread) with
``sent_ns`` set, the moment ``MainEngine.send_order`` may be called from: so
the journal says "the send may have happened" at any kill point, and a
restarted desk never sends a client order id twice.

* **Group commit.** Orders approved while the runtime's next message is the
  same order actor's (a burst) are queued and committed in one transaction
  when its queue turns to someone else, or at :data:`WRITE_AHEAD_GROUP` orders
  (which bounds the first order's wait).
* **The send fence.** With a :class:`~actors.orders.ports.SendFence` (a NATS
  venue-host with a standby, transport/cluster/order_stream.py), the committed
  rows are first acknowledged by the replicated journal under the venue-host
  lease's epoch, and sent only if this host still holds the lease of that epoch
  when the acknowledgement comes back (else refused, rule ``lease``). A new
  client order id reaching a host without the lease is not taken at all.
  Without a fence (one process) the orders are sent at once.

A failed commit refuses the batch (rule ``journal``); so does a replicated
journal that does not acknowledge. A refused order was never sent. Every
method runs on the loop thread, inside (or right after) the order actor's
handlers; the fence's acknowledgement arrives outside any handler and wakes
the actor through :meth:`WriteAheadHost.wake_replicated`.
"""

from __future__ import annotations

import math
import time
from typing import Any, Protocol

from actors.orders.ports import JournalPort, SendFence
from actors.orders.record import OrderRecord
from actors.risk.rejection import Rejection

NAN = math.nan
WRITE_AHEAD_GROUP = 64
"""Most orders committed in one write-ahead transaction (group commit of a burst; bounds the first one's wait)."""


class WriteAheadHost(Protocol):
    """What a :class:`WriteAhead` needs of the order actor (loop thread, never blocking)."""

    @property
    def log(self) -> Any:
        """The structlog logger of the message being handled."""

    def send_written(self, record: OrderRecord, refusal: Rejection | None) -> None:
        """Call ``send_order`` for an order whose write-ahead row is committed (``refusal`` None), or refuse it
        with ``refusal`` (it was never sent), in that order's log context."""

    def wake_replicated(self, batch: int) -> None:
        """Tell the actor itself that replicated batch ``batch`` was answered (called outside any handler);
        its handler calls :meth:`WriteAhead.replicated`."""


class WriteAhead:
    """The queue of approved orders, their group commit, and the send fence of one order actor.

    Args:
        journal: the durable journal (``write_orders_now``).
        fence: the venue-host lease and replicated journal; ``None`` (one process): sent at once.
        host: the order actor.

    Attributes:
        fenced (int): orders refused by rule ``lease`` (this host no longer held the lease).
        not_taken (int): new client order ids answered "not taken" (no lease when they came).
    """

    def __init__(self, journal: JournalPort, fence: SendFence | None, host: WriteAheadHost) -> None:
        self.journal = journal
        self.fence = fence
        self.host = host
        self.queued: list[OrderRecord] = []
        self._replicating: dict[int, tuple[list[OrderRecord], int]] = {}   # batch → (records, epoch)
        self._replicated: dict[int, tuple[bool, str]] = {}   # batch → (acknowledged, error)
        self._batches = 0
        self.fenced = self.not_taken = 0

    @property
    def replicating(self) -> int:
        """Orders written ahead and waiting for the replicated journal's acknowledgement."""
        return sum(len(records) for records, _ in self._replicating.values())

    def takes_new_orders(self) -> bool:
        """Return whether a new client order id may be taken now: no fence, or the venue-host lease held."""
        return self.fence is None or bool(self.fence.epoch())

    def not_taken_reason(self, client_order_id: str) -> str:
        """Count and log a new client order id not taken (no lease now); return the ``error(internal)`` text.

        Not journaled and never sent: the error asks for a retry with the same id, which the active host (or
        this one, once it holds the lease again) takes.
        """
        self.not_taken += 1
        self.host.log.info("order_not_taken", client_order_id=client_order_id, reason="venue-host lease not held")
        return (f"order {client_order_id} not taken: this venue-host does not hold the venue-host lease now "
                "(standby or fenced); it was not sent; retry with the same clientOrderId")

    def queue(self, record: OrderRecord) -> None:
        """Queue an approved order for the next commit; a full group (:data:`WRITE_AHEAD_GROUP`) is committed
        and sent at once."""
        self.queued.append(record)
        if len(self.queued) >= WRITE_AHEAD_GROUP:
            self.commit_and_send()

    def commit_and_send(self) -> None:
        """Commit the queued orders' write-ahead rows (one transaction), then send each; a failed commit refuses
        them all. With a fence the rows are first replicated under the lease's epoch and sent once acknowledged
        (:meth:`replicated`)."""
        records, self.queued = self.queued, []
        if not records:
            return
        sending_ns = time.time_ns()
        for record in records:   # the write-ahead row says "send_order may be called from now on"
            record.sent_ns = sending_ns
        rows = [record.row() for record in records]
        ok, error = self.journal.write_orders_now(rows)
        if not ok:
            self._send_batch(records, Rejection("journal", NAN, NAN, f"journal write failed: {error}"))
        elif self.fence is None:
            self._send_batch(records, None)
        elif epoch := self.fence.epoch():
            self._replicate(records, rows, epoch)
        else:
            self._send_batch(records, self._fenced(0, 0))

    def replicated(self, batch: int) -> None:
        """The replicated journal answered batch ``batch``: send it if this host still holds the lease of the
        epoch it was written under, checked immediately before ``send_order``; else refuse it."""
        records, epoch = self._replicating.pop(batch, ([], 0))
        ok, error = self._replicated.pop(batch, (False, "no acknowledgement"))
        held = self.fence.epoch() if self.fence is not None else 0
        if not ok:
            refusal = Rejection("journal", NAN, NAN, "not sent: the replicated order journal did not acknowledge "
                                f"the write-ahead record ({error})")
        elif held != epoch:
            refusal = self._fenced(epoch, held)
        else:
            refusal = None
        self._send_batch(records, refusal)

    def _replicate(self, records: list[OrderRecord], rows: list[dict[str, Any]], epoch: int) -> None:
        """Hand the rows to the fence's replicated journal: no send before the standby knows the client order
        ids. The acknowledgement records the outcome and wakes the host."""
        self._batches += 1
        batch = self._batches & 0xFFFFFFFF
        self._replicating[batch] = (records, epoch)
        outcomes, wake = self._replicated, self.host.wake_replicated

        def done(ok: bool, error: str) -> None:   # loop thread, outside any handler
            outcomes[batch] = (ok, error)
            wake(batch)

        self.fence.replicate_ahead(rows, epoch, done)

    def _send_batch(self, records: list[OrderRecord], refusal: Rejection | None) -> None:
        if refusal is not None and refusal.rule == "lease":
            self.fenced += len(records)
        send = self.host.send_written
        for record in records:
            if refusal is not None:
                record.sent_ns = 0
            send(record, refusal)

    def _fenced(self, epoch: int, held: int) -> Rejection:
        """The refusal of an order this host may not send: it does not hold the venue-host lease (now)."""
        self.host.log.warning("order_fenced", epoch=epoch, held=held)
        return Rejection("lease", float(epoch), float(held),
                         f"not sent: this venue-host does not hold the venue-host lease "
                         f"(written under epoch {epoch or 'none'}, held now: {held or 'none'}); it is fenced and "
                         "sends nothing: the active venue-host answers a retry")


__all__ = ["WRITE_AHEAD_GROUP", "WriteAhead", "WriteAheadHost"]
