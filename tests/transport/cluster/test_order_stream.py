"""The replicated order journal (issue 16): the ``ReplicatedOrderRow`` codec, which rows rebuild an order, and a
follower that learns every client order id from a real JetStream stream."""

from __future__ import annotations

import asyncio
import math

import pytest

import schemas
from actors.orders.journal import OrderJournal
from actors.orders.record import OrderRecord
from transport.cluster import subjects
from transport.cluster.nats_bus import NatsBus
from transport.cluster.order_stream import (
    ORDERS_STREAM,
    ReplicatedJournal,
    StreamRebuild,
    decode_stream_row,
    encode_stream_row,
    stream_msg_id,
)
from transport.errors import JournalStreamError


def _row(client_order_id: str = "o-1", state: str = "pending", **changes) -> dict:
    record = OrderRecord(client_order_id, "acct-01", "rb1801.SHFE", "long", "open", "limit", 3900.0, 1.0, "",
                         "trader1", created_ns=1, updated_ns=1)
    row = record.row()
    row.update(state=state, **changes)
    return row


def test_stream_row_when_encoded_then_decodes_to_the_same_row_with_nan_kept():
    """A row survives the codec unchanged, NaN floats included; the writer, epoch and seq come back."""
    row = _row(sent_ns=5)
    found = decode_stream_row(encode_stream_row("host-a", 3, 9, row, written_ts_ns=11))
    assert (found.node, found.epoch, found.seq, found.written_ts_ns) == ("host-a", 3, 9, 11)
    assert (found.account, found.client_order_id, found.order) == ("acct-01", "o-1", (3, 9))
    assert found.row.keys() == row.keys()
    assert all(found.row[k] == row[k] or (isinstance(row[k], float) and math.isnan(row[k]) and math.isnan(found.row[k]))
               for k in row)


@pytest.mark.parametrize("data, reason", [
    (b"\x00garbage", "unreadable"),
    (None, "not JSON"),
    ("[]", "not an object"),
    ('{"account": "acct-01"}', "JournalRowError"),
])
def test_stream_row_when_bad_then_refused_with_a_reason(data, reason):
    """Bytes that are not a row, a row that is not JSON, not an object, or not an order: JournalStreamError."""
    if not isinstance(data, bytes):
        message = schemas.actor.ReplicatedOrderRow.new_message()
        message.account, message.clientOrderId = "acct-01", "o-1"
        message.rowJson = "{not json" if data is None else data
        data = message.to_bytes()
    with pytest.raises(JournalStreamError) as caught:
        decode_stream_row(data)
    assert reason in str(caught.value)


def test_stream_row_when_row_key_differs_from_message_then_refused():
    """A row filed under another order's key is refused (it would overwrite that order)."""
    data = encode_stream_row("host-a", 1, 1, _row("o-1"))
    with schemas.actor.ReplicatedOrderRow.from_bytes(data) as reader:
        edited = reader.as_builder()
    edited.clientOrderId = "o-2"
    with pytest.raises(JournalStreamError, match="in the message of"):
        decode_stream_row(edited.to_bytes())


def test_rebuild_when_rows_arrive_late_or_twice_then_an_order_never_goes_back():
    """Rows order by (epoch, seq): an older row or a repeat is no news; a new epoch's row always is."""
    rebuild = StreamRebuild()
    sent = encode_stream_row("a", 1, 2, _row(state="sent"))
    pending = encode_stream_row("a", 1, 1, _row(state="pending", sent_ns=5))
    unknown = encode_stream_row("b", 2, 1, _row(state="outcomeUnknown"))
    assert rebuild.take(sent, 2).row["state"] == "sent"
    assert rebuild.take(pending, 1) is None          # stored late: older than what is known
    assert rebuild.take(sent, 3) is None             # stored twice
    assert rebuild.take(unknown, 4).row["state"] == "outcomeUnknown"
    assert rebuild.take(b"junk", 5) is None and rebuild.bad == 1
    assert rebuild.stream_seq == 5
    assert [row["state"] for row in rebuild.latest_rows()] == ["outcomeUnknown"]


def test_msg_id_and_subject_when_row_then_keyed_by_account_and_client_order_id():
    """Nats-Msg-Id names the row (a re-publish is a duplicate); the subject is per order, any id made a token."""
    assert stream_msg_id("acct-01", "o-1", 3, 9) == "acct-01:o-1:3:9"
    assert subjects.journal_order("acct-01", "o-1") == "journal.order.acct-01.o-1"
    odd = subjects.journal_order("acct-01", "o.1 *")
    assert odd.startswith("journal.order.acct-01.x") and odd.count(".") == 3


class _Lease:
    def __init__(self, epoch: int) -> None:
        self.held = epoch

    def __call__(self) -> int:
        return self.held


@pytest.mark.nats
async def test_replicated_journal_when_holder_writes_then_follower_knows_every_id_and_non_holder_stores_nothing(
        nats_url, tmp_path):
    """The lease holder's rows (write-ahead acknowledged first) reach a follower's SQLite journal; a host without
    the lease stores nothing; re-published rows are duplicates."""
    buses = [NatsBus([nats_url], name=f"stream-{i}") for i in range(2)]
    journals = [OrderJournal.open(tmp_path / f"j{i}.sqlite3") for i in range(2)]
    loop = asyncio.get_running_loop()
    for journal in journals:
        journal.start(loop)
    try:
        for bus in buses:
            await bus.connect()
        lease_a, lease_b = _Lease(5), _Lease(0)
        active = ReplicatedJournal(journals[0], buses[0], "host-a", lease_a)
        standby = ReplicatedJournal(journals[1], buses[1], "host-b", lease_b)
        await asyncio.wait_for(asyncio.gather(active.start(), standby.start()), 30)
        active.adopt()
        outcome: list = []
        rows = [_row(f"o-{i}", sent_ns=5) for i in range(3)]
        journals[0].write_orders_now(rows)
        active.replicate_ahead(rows, 5, lambda ok, error: outcome.append((ok, error)))
        async with asyncio.timeout(10):
            while not outcome:
                await asyncio.sleep(0.01)
        assert outcome == [(True, "")]
        active.write_order_nowait(_row("o-0", state="sent", vt_orderid="SIM.1"))
        standby.write_order_nowait(_row("o-9", state="sent"))   # not the holder: SQLite only
        assert await standby.wait_caught_up(5)
        async with asyncio.timeout(10):
            while standby.counters.applied < 4 or active.counters.stored < 4:
                await asyncio.sleep(0.01)
        journals[1].flush()
        states = {row["client_order_id"]: row["state"] for row in journals[1].orders("acct-01")}
        assert states == {"o-0": "sent", "o-1": "pending", "o-2": "pending", "o-9": "sent"}
        assert standby.counters.stored == 0 and standby.counters.not_holder == 1
        assert active.counters.stored == 4 and active.counters.ahead_batches == 1
        assert await buses[0].store(subjects.journal_order("acct-01", "o-1"),
                                    encode_stream_row("host-a", 5, 2, rows[1]), stream_msg_id("acct-01", "o-1", 5, 2)) \
            is False
        assert await buses[0].stream_last_seq(ORDERS_STREAM) == 4
        # the standby takes over: its journal holds the stream's latest row of every order
        lease_b.held = 6
        adopted = standby.adopt()
        assert adopted == {"acct-01": 3} and standby.epoch() == 6
    finally:
        for bus in buses:
            await bus.close()
        for journal in journals:
            journal.close()


class _HeldBus:
    """A NatsBus stand-in whose stores wait until the test releases them."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.stored: list[str] = []

    async def store(self, subject, data, msg_id, timeout_s=2.0) -> bool:
        await self.release.wait()
        self.stored.append(msg_id)
        return True


class _Journal:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def write_order_nowait(self, row, on_commit=None, *, soon=False) -> None:
        self.rows.append(row)


async def test_when_stored_when_latest_row_not_acknowledged_then_called_once_it_is():
    """A submit's reply waits for the order's latest row on the stream; a row of another order does not hold it,
    and a host without the lease stores nothing and waits for nothing."""
    bus, journal, lease = _HeldBus(), _Journal(), _Lease(4)
    replicated = ReplicatedJournal(journal, bus, "host-a", lease, ack_timeout_s=5.0)
    replicated.following = False
    replicated.write_order_nowait(_row("o-1", state="sent"))
    called: list[tuple[str, bool]] = []
    replicated.when_stored("acct-01", "o-1", lambda in_time: called.append(("o-1", in_time)))
    replicated.when_stored("acct-01", "o-2", lambda in_time: called.append(("o-2", in_time)))
    assert called == [("o-2", True)]   # nothing under way for o-2: at once, in the call
    await asyncio.sleep(0.05)
    assert called == [("o-2", True)]
    bus.release.set()
    async with asyncio.timeout(5):
        while len(called) < 2:
            await asyncio.sleep(0.001)
    assert called == [("o-2", True), ("o-1", True)]
    assert bus.stored == ["acct-01:o-1:4:1"] and len(journal.rows) == 1
    replicated.following = True   # a standby: SQLite only
    replicated.write_order_nowait(_row("o-3", state="sent"))
    replicated.when_stored("acct-01", "o-3", lambda in_time: called.append(("o-3", in_time)), 0.01)
    assert called[-1] == ("o-3", True) and bus.stored == ["acct-01:o-1:4:1"]


async def test_when_stored_when_the_store_outlasts_the_timeout_then_called_once_not_in_time():
    """A store slower than the timeout: the callback runs once, with in_time False, and not again when the store
    completes later."""
    bus, journal = _HeldBus(), _Journal()
    replicated = ReplicatedJournal(journal, bus, "host-a", _Lease(4), ack_timeout_s=5.0)
    replicated.following = False
    replicated.write_order_nowait(_row("o-1", state="sent"))
    called: list[bool] = []
    replicated.when_stored("acct-01", "o-1", called.append, 0.01)
    async with asyncio.timeout(5):
        while not called:
            await asyncio.sleep(0.005)
    bus.release.set()
    await replicated.wait_all_stored(5)
    await asyncio.sleep(0)
    assert called == [False]


async def _turns_until(done, limit: int = 50) -> int:
    """Loop turns (``sleep(0)``) until ``done()``; ``limit`` + 1 if never."""
    for turn in range(limit + 1):
        if done():
            return turn
        await asyncio.sleep(0)
    return limit + 1


async def test_when_stored_when_the_store_completes_then_called_within_one_loop_turn():
    """The reply waits for the store, not for tasks behind it: once the row's acknowledgement is taken, the
    callback runs within one loop turn (each turn waits behind the venue-host's market work; a task and
    ``asyncio.wait`` in between took more)."""
    bus, journal = _HeldBus(), _Journal()
    replicated = ReplicatedJournal(journal, bus, "host-a", _Lease(4), ack_timeout_s=5.0)
    replicated.following = False
    replicated.write_order_nowait(_row("o-1", state="sent"))
    called: list[bool] = []
    replicated.when_stored("acct-01", "o-1", called.append)
    await asyncio.sleep(0.01)
    bus.release.set()
    assert await _turns_until(lambda: bus.stored) <= 2
    assert await _turns_until(lambda: called) <= 1 and called == [True]


async def test_replicate_ahead_when_one_order_is_acknowledged_then_done_within_one_loop_turn():
    """The write-ahead row of an order sent alone: ``done`` runs within one loop turn of the stream's
    acknowledgement (no task per row nor ``wait_for`` between them: they took three), and still only once every
    row of a burst is acknowledged."""
    bus, journal = _HeldBus(), _Journal()
    replicated = ReplicatedJournal(journal, bus, "host-a", _Lease(4), ack_timeout_s=5.0)
    replicated.following = False
    outcome: list[tuple[bool, str]] = []
    replicated.replicate_ahead([_row("o-1", sent_ns=5)], 4, lambda ok, error: outcome.append((ok, error)))
    await asyncio.sleep(0.01)
    bus.release.set()
    assert await _turns_until(lambda: bus.stored) <= 2
    assert await _turns_until(lambda: outcome) <= 1 and outcome == [(True, "")]
    bus.release.clear()
    replicated.replicate_ahead([_row(f"b-{i}", sent_ns=5) for i in range(3)], 4,
                               lambda ok, error: outcome.append((ok, error)))
    await asyncio.sleep(0.01)
    assert len(outcome) == 1
    bus.release.set()
    async with asyncio.timeout(5):
        while len(outcome) < 2:
            await asyncio.sleep(0.001)
    assert outcome[1] == (True, "") and len(bus.stored) == 4
