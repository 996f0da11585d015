"""The replicated order journal: every order row the active venue-host journals, on a JetStream stream (issue 16).

A venue-host with a standby (transport/cluster/venue_standby.py) journals
orders twice: in its SQLite journal (actors/orders/journal.py), as one process
does, and on the JetStream stream :data:`ORDERS_STREAM`, one message per row
written, subject ``journal.order.<account>.<client order id>``
(:func:`~transport.cluster.subjects.journal_order`), a
``ReplicatedOrderRow`` (schemas/actor.capnp) carrying the row, the writer's
node, the venue-host lease epoch it held and its row counter in that epoch.
The standby follows the stream from its first message and writes every row
into its own SQLite journal, so it knows every client order id ever seen; on
takeover its order actors rebuild from that journal as after a restart
(in-flight orders become ``outcomeUnknown`` and are resolved from the venue).

* **Write-ahead, acknowledged before the send.** The write-ahead rows of a
  burst (state ``pending`` with ``sent_ns``: "send_order may be called from
  now on") are stored on the stream and acknowledged before the order actor
  calls ``send_order`` (:meth:`ReplicatedJournal.replicate_ahead`, the
  ``SendFence`` of actors/orders/ports.py): a standby never takes over
  without knowing an id the venue may have. Later rows (sent, venue events,
  final) are stored without holding the order actor up; the order host
  answers a submit only once the order's latest row is acknowledged
  (:meth:`ReplicatedJournal.when_stored`, at most ``ack_timeout_s``), so a
  retry that reaches the standby after a takeover gets the same decision.
* **Fenced.** Only the holder of the venue-host lease writes: a row is stored
  under the epoch held *now* (by the host's own clock); a host whose lease
  lapsed stores nothing and its order actors refuse to send (rule ``lease``).
* **Ordered by (epoch, seq), not by arrival.** A row replaces an order's
  known row only if its ``(epoch, seq)`` is higher (:class:`StreamRebuild`):
  a row stored late (a retry) or twice never takes an order back.
* **Deduplicated**: ``Nats-Msg-Id`` = ``<account>:<client order id>:<epoch>:<seq>``,
  so a re-published row is stored once within the server's window (2 min).
  That window is a backstop only; a trading day is longer: the guarantee
  that no id is sent twice is the replicated journal itself (a retry of a
  seen id is answered from it) and the fence.
* **Kept a trading day**: ``max_age`` = ``[orders] stream_max_age_s``
  (default 24 h; the night session opens at 21:00 and the day session
  closes at 15:00), replicas = min(3, the seeds given), file storage.

**What an acknowledged write means on power loss.** nats-server acknowledges a
JetStream write once the stream's leader and a quorum of its replicas (2 of 3)
have appended it to their files, *before* any fsync: with the server default
``sync_interval`` of 2 minutes the data is in each server's page cache and
reaches the disk at the next periodic sync (Source: NATS docs, "JetStream
configuration", ``sync_interval``; Jepsen's 2025 analysis of nats-server
2.12.1 lost acknowledged writes under power failure, nats-server issue 7564).
So an acknowledged row survives the loss of any one server, a process crash
of all of them, and the power loss of any minority, but a power cut that
takes down a quorum of servers at once can lose up to 2 minutes of
acknowledged rows. The choice for this stream: **replicas 3 on servers in
separate power domains (separate hosts, separate PDUs), with the default
``sync_interval``**; the same bet as the SQLite journal's
``synchronous=NORMAL`` (no fsync per commit). Servers sharing one power
domain must run with ``sync_interval: always`` (an fsync before every ack):
the setting is server-wide, not per stream, so it costs every stream of
those servers. A lost acknowledged row can only make a standby not know an
id; the venue's reconciliation after takeover still finds an order the venue
has, but a retry of an id the stream lost would be sent again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import nats.errors
import structlog

import schemas
from actors.orders.journal_rows import ORDER_COLUMNS, ROW_ERRORS, check_order_row
from transport.cluster import subjects
from transport.cluster.nats_bus import NatsBus
from transport.errors import JournalStreamError

_log = structlog.get_logger("transport.cluster.order_stream")

ORDERS_STREAM = "ORDERS"
"""The JetStream stream of the replicated order journal (subjects ``journal.order.>``)."""
DEFAULT_STREAM_MAX_AGE_S = 86400.0
"""A row is kept this long, seconds: a trading day and more (``[orders] stream_max_age_s``)."""
ACK_TIMEOUT_S = 2.0
"""Longest wait for the stream's acknowledgement of a write-ahead batch before its orders are refused, seconds."""
STORE_ATTEMPTS = 20
"""Tries of a later row's store (0.25 s apart) while the lease is held; then counted in ``stream_failures``."""
_UNREACHABLE = (nats.errors.Error, asyncio.TimeoutError, OSError)


class StreamRow(NamedTuple):
    """One ``ReplicatedOrderRow`` read back.

    Attributes:
        node: the writing venue-host.
        epoch: the venue-host lease epoch it was written under.
        seq: the writer's row counter within that epoch.
        written_ts_ns: when published, ns since UNIX epoch.
        account: the strategy account.
        client_order_id: the client order id.
        row: the journal's ``orders`` row (columns ``ORDER_COLUMNS``), checked.
    """

    node: str
    epoch: int
    seq: int
    written_ts_ns: int
    account: str
    client_order_id: str
    row: dict[str, Any]

    @property
    def order(self) -> tuple[int, int]:
        """The row's place among the rows of its order: later rows are higher."""
        return self.epoch, self.seq


def encode_stream_row(node: str, epoch: int, seq: int, row: dict[str, Any], written_ts_ns: int | None = None) -> bytes:
    """Return a ``ReplicatedOrderRow`` of one journal ``orders`` row (floats NaN/inf kept, as JSON names)."""
    message = schemas.actor.ReplicatedOrderRow.new_message()
    message.node = node
    message.epoch = epoch
    message.seq = seq
    message.writtenTsNs = written_ts_ns if written_ts_ns is not None else time.time_ns()
    message.account = row["account"]
    message.clientOrderId = row["client_order_id"]
    message.rowJson = json.dumps(row, allow_nan=True, sort_keys=True)
    return message.to_bytes()


def decode_stream_row(data: bytes) -> StreamRow:
    """Read a ``ReplicatedOrderRow``; its row must rebuild an order (``OrderRecord.from_row``) of its key.

    Raises:
        JournalStreamError: not a ``ReplicatedOrderRow``, a row that is not a JSON object, a row that does not
            rebuild an order, or a row whose account / client order id differ from the message's.
    """
    try:
        with schemas.actor.ReplicatedOrderRow.from_bytes(data, traversal_limit_in_words=64 * 1024,
                                                         nesting_limit=schemas.NESTING_LIMIT) as message:
            node, epoch, seq, written = message.node, message.epoch, message.seq, message.writtenTsNs
            account, client_order_id, text = message.account, message.clientOrderId, message.rowJson
    except Exception as exc:  # noqa: BLE001 - any bytes on the stream: refused, never crashed on
        raise JournalStreamError(f"unreadable message ({type(exc).__name__})") from None
    try:
        row = json.loads(text)
    except ValueError as exc:
        raise JournalStreamError(f"rowJson is not JSON ({exc})") from None
    if not isinstance(row, dict):
        raise JournalStreamError("rowJson is not an object")
    row = {column: row.get(column) for column in ORDER_COLUMNS}   # exactly the journal's columns
    try:
        check_order_row(row)
    except ROW_ERRORS as exc:
        raise JournalStreamError(f"{type(exc).__name__}: {exc}") from None
    if (row.get("account"), row.get("client_order_id")) != (account, client_order_id):
        raise JournalStreamError(f"row of {row.get('account')!r}/{row.get('client_order_id')!r} in the message of "
                                 f"{account!r}/{client_order_id!r}")
    return StreamRow(node, epoch, seq, written, account, client_order_id, row)


def stream_msg_id(account: str, client_order_id: str, epoch: int, seq: int) -> str:
    """Return the ``Nats-Msg-Id`` of one row: the same row re-published is stored once (within the window)."""
    return f"{account}:{client_order_id}:{epoch}:{seq}"


class StreamRebuild:
    """Which rows of the stream are news: the latest ``(epoch, seq)`` of every order (no runtime, no I/O).

    Attributes:
        known: (account, client order id) → the ``(epoch, seq)`` of its latest row and that row.
        stream_seq: the highest stream sequence taken.
        bad: messages refused (:class:`JournalStreamError`).
    """

    def __init__(self) -> None:
        self.known: dict[tuple[str, str], tuple[tuple[int, int], dict[str, Any]]] = {}
        self.stream_seq = 0
        self.bad = 0

    def newer(self, row: dict[str, Any], order: tuple[int, int]) -> bool:
        """Keep ``row`` as its order's latest if ``order`` is later than the known one; return whether it was."""
        key = (row["account"], row["client_order_id"])
        known = self.known.get(key)
        if known is not None and order <= known[0]:
            return False
        self.known[key] = (order, row)
        return True

    def latest_rows(self) -> list[dict[str, Any]]:
        """Return every order's latest row (what a host taking over writes into its journal)."""
        return [row for _, row in self.known.values()]

    def take(self, data: bytes, stream_seq: int) -> StreamRow | None:
        """Read one stream message; return its row when it is the order's latest yet, else ``None`` (an older or
        repeated row, or a bad message: counted and logged, never raised)."""
        self.stream_seq = max(self.stream_seq, stream_seq)
        try:
            found = decode_stream_row(data)
        except JournalStreamError as exc:
            self.bad += 1
            _log.error("journal_stream_row_refused", stream_seq=stream_seq, reason=exc.reason)
            return None
        return found if self.newer(found.row, found.order) else None


@dataclass
class StreamCounters:
    """Counters of the replicated journal (``/admin/tree`` under ``nats``)."""

    stored: int = 0
    duplicates: int = 0
    failures: int = 0
    not_holder: int = 0
    applied: int = 0
    ahead_batches: int = 0
    ahead_failures: int = 0
    ahead_ack_ns_max: int = 0
    ahead_ack_ns_total: int = 0


class ReplicatedJournal:
    """An order actor's journal on a venue-host with a standby: the SQLite journal, and the ``ORDERS`` stream.

    It is the order actors' ``JournalPort`` (actors/orders/ports.py: rows go to
    the SQLite journal as before, and each row the lease holder writes is also
    stored on the stream) and their ``SendFence`` (:meth:`epoch`,
    :meth:`replicate_ahead`). It also follows the stream, writing other hosts'
    rows into the SQLite journal while this host is not the active one.

    Args:
        journal: the node's :class:`~actors.orders.journal.OrderJournal` (started).
        bus: a connected :class:`NatsBus`.
        node: this node's name (in every row it stores).
        epoch: returns the venue-host lease epoch held now by this host's clock, 0 when not held.
        replicas: the stream's replicas (min(3, cluster size)).
        max_age_s: the stream's max age, seconds.
        ack_timeout_s: see :data:`ACK_TIMEOUT_S`.
    """

    def __init__(self, journal: Any, bus: NatsBus, node: str, epoch: Callable[[], int], *, replicas: int = 1,
                 max_age_s: float = DEFAULT_STREAM_MAX_AGE_S, ack_timeout_s: float = ACK_TIMEOUT_S) -> None:
        self.journal = journal
        self.bus = bus
        self.node = node
        self._epoch = epoch
        self.replicas = replicas
        self.max_age_s = max_age_s
        self.ack_timeout_s = ack_timeout_s
        self.rebuild = StreamRebuild()
        self.following = True
        """True while this host is not the active one: rows of the stream are written into its SQLite journal."""
        self.foreign_rows = 0
        """Rows taken from the stream that another venue-host wrote (it was active meanwhile)."""
        self.ready = asyncio.Event()
        self.counters = StreamCounters()
        self._seq_epoch = 0
        self._seq = 0
        self._tasks: set[asyncio.Task] = set()
        self._latest: dict[tuple[str, str], asyncio.Task] = {}   # order → the store of its latest row
        self._subscription: Any = None

    # -- JournalPort (loop thread) ---------------------------------------------------

    def write_orders_now(self, rows: list[dict[str, Any]]) -> tuple[bool, str]:
        """Commit the write-ahead rows to SQLite now; the stream gets them from :meth:`replicate_ahead`."""
        return self.journal.write_orders_now(rows)

    def write_order_nowait(self, row: dict[str, Any], *, soon: bool = False) -> None:
        """Queue the row in SQLite; store it on the stream too while the lease is held (in the order written)."""
        self.journal.write_order_nowait(row, soon=soon)
        epoch = self.epoch()
        if not epoch:
            self.counters.not_holder += 1
            return
        seq = self._next_seq(epoch, row)
        self._track((row["account"], row["client_order_id"]), self._spawn(self._store_later(row, epoch, seq)))

    def orders(self, account: str) -> list[dict[str, Any]]:
        """Return the committed order rows of ``account`` (SQLite: this host's and the stream's)."""
        return self.journal.orders(account)

    def quarantined_orders(self, account: str) -> dict[str, str]:
        """Return client order id → why, of every quarantined order row of ``account``."""
        return self.journal.quarantined_orders(account)

    def quarantine_order_nowait(self, row: dict[str, Any], reason: str) -> None:
        """Queue moving an unreadable order row to the quarantine (SQLite only)."""
        self.journal.quarantine_order_nowait(row, reason)

    # -- SendFence (loop thread) -------------------------------------------------------

    def epoch(self) -> int:
        """Return the venue-host lease epoch held now (0: not held, nothing may be sent)."""
        return 0 if self.following else self._epoch()

    def replicate_ahead(self, rows: list[dict[str, Any]], epoch: int, done: Callable[[bool, str], None]) -> None:
        """Store the write-ahead ``rows`` under ``epoch``; call ``done(ok, error)`` on the loop once every row
        is acknowledged (``ok``) or one is not within ``ack_timeout_s``."""
        stamped = [(row, self._next_seq(epoch, row)) for row in rows]
        task = self._spawn(self._store_ahead(stamped, epoch, done))
        for row in rows:
            self._track((row["account"], row["client_order_id"]), task)

    def _track(self, key: tuple[str, str], task: asyncio.Task) -> None:
        """Remember the store of an order's latest row (the one a reply waits for)."""
        self._latest[key] = task

        def forget(done: asyncio.Task) -> None:
            if self._latest.get(key) is done:
                del self._latest[key]

        task.add_done_callback(forget)

    def when_stored(self, account: str, client_order_id: str, callback: Callable[[bool], None],
                    timeout_s: float | None = None) -> None:
        """Call ``callback(in_time)`` once the order's latest row written so far is acknowledged by the stream (or
        its store gave up), at most ``timeout_s`` (default ``ack_timeout_s``) from now: at once, in this call,
        when no store of it is under way; else from the store's completion, with no task in between (each task
        step is a loop turn, ~100–250 µs at p50 on a venue-host streaming the market: perf/bench_nats.py).
        ``in_time`` is False when the wait timed out. The order host answers a submit from here, so a retry that
        reaches the standby after a takeover gets the same decision (loop thread)."""
        task = self._latest.get((account, client_order_id))
        if task is None or task.done():
            callback(True)
            return
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def finish(_task: Any = None) -> None:
            nonlocal timer
            if timer is None:
                return   # called already (the store's completion and the timeout raced)
            timer.cancel()
            timer = None
            task.remove_done_callback(finish)
            callback(_task is not None)

        timer = loop.call_later(self.ack_timeout_s if timeout_s is None else timeout_s, finish)
        task.add_done_callback(finish)

    def _next_seq(self, epoch: int, row: dict[str, Any]) -> int:
        if epoch != self._seq_epoch:
            self._seq_epoch, self._seq = epoch, 0
        self._seq += 1
        self.rebuild.newer(dict(row), (epoch, self._seq))
        return self._seq

    async def _store_ahead(self, stamped: list[tuple[dict[str, Any], int]], epoch: int,
                           done: Callable[[bool, str], None]) -> None:
        started = time.perf_counter_ns()
        self.counters.ahead_batches += 1
        try:
            async with asyncio.timeout(self.ack_timeout_s):
                if len(stamped) == 1:   # an order alone: no task per row, each task's steps are loop turns
                    row, seq = stamped[0]
                    await self._store(row, epoch, seq)
                else:
                    await asyncio.gather(*(self._store(row, epoch, seq) for row, seq in stamped))
        except (*_UNREACHABLE, asyncio.CancelledError) as exc:
            self.counters.ahead_failures += 1
            _log.warning("journal_stream_ahead_failed", rows=len(stamped), epoch=epoch, error_type=type(exc).__name__)
            done(False, f"{type(exc).__name__} from the {ORDERS_STREAM} stream")
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        elapsed = time.perf_counter_ns() - started
        self.counters.ahead_ack_ns_total += elapsed
        self.counters.ahead_ack_ns_max = max(self.counters.ahead_ack_ns_max, elapsed)
        done(True, "")

    async def _store_later(self, row: dict[str, Any], epoch: int, seq: int) -> None:
        for _ in range(STORE_ATTEMPTS):
            try:
                await self._store(row, epoch, seq)
                return
            except _UNREACHABLE as exc:
                _log.info("journal_stream_retried", client_order_id=row["client_order_id"],
                          error_type=type(exc).__name__)
                await asyncio.sleep(0.25)
                if self._epoch() != epoch:
                    break
        self.counters.failures += 1
        _log.error("journal_stream_store_failed", account=row["account"], client_order_id=row["client_order_id"],
                   epoch=epoch, seq=seq)

    async def _store(self, row: dict[str, Any], epoch: int, seq: int) -> None:
        account, client_order_id = row["account"], row["client_order_id"]
        stored = await self.bus.store(subjects.journal_order(account, client_order_id),
                                      encode_stream_row(self.node, epoch, seq, row),
                                      stream_msg_id(account, client_order_id, epoch, seq), self.ack_timeout_s)
        if stored:
            self.counters.stored += 1
        else:
            self.counters.duplicates += 1

    # -- following the stream ----------------------------------------------------------------

    async def start(self, attempts: int = 120) -> None:
        """Create the stream (retrying while a fresh JetStream cluster elects, 0.5 s apart), then follow it from
        its first message; set :attr:`ready` (loop thread)."""
        for _ in range(attempts):
            try:
                await self.bus.ensure_stream(ORDERS_STREAM, [subjects.journal_order_any()], replicas=self.replicas,
                                             max_age_s=self.max_age_s)
                self._subscription = await self.bus.follow_stream(subjects.journal_order_any(), self._on_row)
                self.ready.set()
                return
            except _UNREACHABLE as exc:
                _log.info("journal_stream_waiting", error_type=type(exc).__name__)
                await asyncio.sleep(0.5)
        _log.error("journal_stream_unavailable", replicas=self.replicas)

    async def _on_row(self, msg: Any) -> None:
        try:
            stream_seq = msg.metadata.sequence.stream
        except Exception:  # noqa: BLE001 - not a JetStream message: nothing to order it by
            stream_seq = 0
        found = self.rebuild.take(msg.data, stream_seq)
        if found is not None and found.node != self.node:
            self.foreign_rows += 1
        if found is not None and self.following:
            self.journal.write_order_nowait(found.row)
            self.counters.applied += 1

    def adopt(self) -> dict[str, int]:
        """This host becomes the active one: stop following and write every order's latest row of the stream
        into SQLite (over any row this host wrote while it was not the holder); return account → rows written
        (loop thread)."""
        self.following = False
        accounts: dict[str, int] = {}
        for row in self.rebuild.latest_rows():
            self.journal.write_order_nowait(dict(row))
            accounts[row["account"]] = accounts.get(row["account"], 0) + 1
        self.journal.flush()
        return accounts

    def follow(self) -> None:
        """This host is no longer the active one: write the stream's rows into SQLite again (loop thread)."""
        self.following = True

    async def wait_caught_up(self, timeout_s: float) -> bool:
        """Wait until every row stored before this call has been taken from the stream (bounded); return
        whether it was (coroutine)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.ready.wait()
                last = await self.bus.stream_last_seq(ORDERS_STREAM)
                while self.rebuild.stream_seq < last:
                    await asyncio.sleep(0.01)
        except (*_UNREACHABLE, TimeoutError):
            return False
        return True

    def _spawn(self, coroutine: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def statistics_dict(self) -> dict[str, Any]:
        """The stream's counters: rows stored, duplicates, failures, rows not stored (no lease), rows applied
        from other hosts, refused messages, write-ahead batches and their acknowledgement time."""
        c = self.counters
        return {"stream_rows_stored": c.stored, "stream_duplicates": c.duplicates, "stream_failures": c.failures,
                "stream_rows_not_holder": c.not_holder, "stream_rows_applied": c.applied,
                "stream_rows_refused": self.rebuild.bad, "stream_seq": self.rebuild.stream_seq,
                "stream_orders_known": len(self.rebuild.known), "stream_following": self.following,
                "stream_ahead_batches": c.ahead_batches, "stream_ahead_failures": c.ahead_failures,
                "stream_ahead_ack_ms_max": round(c.ahead_ack_ns_max / 1e6, 3),
                "stream_ahead_ack_ms_mean": round(c.ahead_ack_ns_total / 1e6 / c.ahead_batches, 3)
                if c.ahead_batches else 0.0}

    async def wait_all_stored(self, timeout_s: float | None = None) -> None:
        """Wait (at most ``ack_timeout_s``) for every store under way (a stopping host, before it gives its
        lease up)."""
        pending = [task for task in self._tasks if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=self.ack_timeout_s if timeout_s is None else timeout_s)

    async def close(self) -> None:
        """Cancel the stores still waiting (their rows are in SQLite)."""
        for task in list(self._tasks):
            task.cancel()


__all__ = ["ACK_TIMEOUT_S", "DEFAULT_STREAM_MAX_AGE_S", "ORDERS_STREAM", "ReplicatedJournal", "StreamRebuild",
           "StreamRow", "decode_stream_row", "encode_stream_row", "stream_msg_id"]
