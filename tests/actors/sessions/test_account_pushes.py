"""AccountPushes: a session's account pushes go out as they come, and past the high-water mark only the latest
status per account is kept and the accounts with dropped events get an order snapshot once the socket drains."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

import schemas
from actors._envelope import encode_server_message
from actors.sessions.account_pushes import AccountPushes
from actors.sessions.state import SessionState
from transport.signin.auth import Principal

SESSION = "sessions/session/3"
HIGH_WATER = 1000
LOW_WATER = 100
_ids = itertools.count(1)


class Outbox:
    """A socket outbox whose queue depth the test sets (``queued_bytes``); records what was queued."""

    def __init__(self, queued_bytes: int = 0) -> None:
        self.queued_bytes = queued_bytes
        self.queued: list[bytes] = []

    def put_nowait(self, payload: bytes) -> None:
        self.queued.append(payload)


def _pushes(queued_bytes: int = 0):
    outbox = Outbox(queued_bytes)
    sent: list[tuple[str, bytes]] = []

    def send_path(path: str, data: bytes) -> bool:
        sent.append((path, data))
        return True

    state = SessionState("trader1", "trader", principal=Principal("trader1", "trader", 0.0, ("acct-01", "acct-02")))
    return AccountPushes(SESSION, state, outbox, HIGH_WATER, LOW_WATER, send_path), outbox, sent


def _push(member: str, account: str = "acct-01") -> bytes:
    """A ServerMessage ``member`` from the account's actor, each with its own envelope id."""
    return encode_server_message(member, 0, f"accounts/{account}", next(_ids))


def _snapshot_request(data: bytes) -> tuple[str, str, str, tuple[str, ...]]:
    """(sessionPath, user, ClientMessage member, the token's accounts) of an ``orderCommand``."""
    with schemas.actor.ActorMessage.from_bytes(data) as message:
        command = message.orderCommand
        with schemas.stream.ClientMessage.from_bytes(bytes(command.client)) as client:
            return (command.sessionPath, command.user, f"{client.which()}:{client.orderStatusRequest.account}",
                    tuple(command.accounts))


def test_push_when_socket_keeps_up_then_queued_at_once_and_counted():
    """Under the high-water mark a push is queued as it comes; the bytes queued are returned."""
    pushes, outbox, sent = _pushes(queued_bytes=HIGH_WATER)
    payload = _push("orderAccepted")
    assert pushes.push("acct-01", payload) == len(payload)
    assert outbox.queued == [payload] and sent == []
    assert (pushes.pushes_sent, pushes.pushes_conflated) == (1, 0)


def test_push_when_account_not_granted_then_ignored():
    """A push of an account the token does not grant never reaches the socket."""
    pushes, outbox, _ = _pushes()
    assert pushes.push("acct-09", _push("accountStatus", "acct-09")) == 0
    assert outbox.queued == [] and pushes.pushes_sent == 0


def test_push_when_over_high_water_then_latest_status_kept_events_dropped_and_snapshot_asked_on_drain():
    """Past the high-water mark the latest accountStatus and riskSummary per account are kept and an account
    whose order events were dropped gets an orderStatusRequest on the client's behalf once the socket drains."""
    pushes, outbox, sent = _pushes(queued_bytes=HIGH_WATER + 1)
    first_status, last_status = _push("accountStatus"), _push("accountStatus")
    summary, other_status = _push("riskSummary"), _push("accountStatus", "acct-02")
    for account, payload in [("acct-01", first_status), ("acct-02", _push("orderFilled", "acct-02")),
                             ("acct-01", summary), ("acct-01", last_status), ("acct-02", other_status),
                             ("acct-01", _push("riskEvent"))]:
        assert pushes.push(account, payload) == 0
    assert outbox.queued == [] and sent == [] and pushes.pushes_conflated == 6
    outbox.queued_bytes = 0
    assert pushes.drained() == len(last_status) + len(summary) + len(other_status)
    assert outbox.queued == [last_status, summary, other_status]   # first kept order, latest payload
    assert [path for path, _ in sent] == ["orders/acct-01", "orders/acct-02"]
    assert [_snapshot_request(data) for _, data in sent] == [
        (SESSION, "trader1", "orderStatusRequest:acct-01", ("acct-01", "acct-02")),
        (SESSION, "trader1", "orderStatusRequest:acct-02", ("acct-01", "acct-02"))]
    assert pushes.pushes_sent == 3
    assert pushes.drained() == 0 and len(sent) == 2   # nothing left to flush


def test_push_when_something_kept_and_socket_under_high_water_then_conflated_until_drained():
    """While a status is kept or an account stale, a newer push waits too: the socket never gets a newer event
    before the snapshot that covers the dropped ones."""
    pushes, outbox, sent = _pushes(queued_bytes=HIGH_WATER + 1)
    pushes.push("acct-01", _push("orderAccepted"))
    outbox.queued_bytes = HIGH_WATER   # under the high-water mark, over the low-water mark
    assert pushes.push("acct-01", _push("orderFilled")) == 0
    assert outbox.queued == [] and sent == []
    outbox.queued_bytes = LOW_WATER
    status = _push("accountStatus")
    assert pushes.push("acct-01", status) == len(status)   # under the low-water mark: flushed at once
    assert outbox.queued == [status] and [path for path, _ in sent] == ["orders/acct-01"]


@given(st.lists(st.tuples(st.sampled_from(["acct-01", "acct-02"]),
                          st.sampled_from(["accountStatus", "riskSummary", "orderAccepted", "riskEvent"])),
                max_size=60))
def test_pushes_when_socket_never_reads_then_at_most_two_kept_per_account_and_drain_gives_the_latest(stream):
    """However many pushes come while the socket is stalled, at most the latest accountStatus and riskSummary
    per account are kept; the drain queues exactly those and asks a snapshot of each account with an event."""
    pushes, outbox, sent = _pushes(queued_bytes=HIGH_WATER + 1)
    latest: dict[tuple[str, str], bytes] = {}
    with_events: set[str] = set()
    for account, member in stream:
        payload = _push(member, account)
        pushes.push(account, payload)
        if member in ("accountStatus", "riskSummary"):
            latest[(account, member)] = payload
        else:
            with_events.add(account)
    assert outbox.queued == []
    outbox.queued_bytes = 0
    pushes.drained()
    assert sorted(outbox.queued) == sorted(latest.values()) and len(outbox.queued) <= 4
    assert [path for path, _ in sent] == [f"orders/{account}" for account in sorted(with_events)]
    assert pushes.pushes_conflated == len(stream) and pushes.pushes_sent == len(latest)
