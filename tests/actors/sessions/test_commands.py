"""CommandForwarder: a session's order and algo commands are checked, then sent to orders/<account> or the algo host."""

from __future__ import annotations

import pytest

import schemas
from actors.paths import ALGO_HOST_PATH
from actors.sessions.commands import CommandForwarder, Refusal
from actors.sessions.state import SessionState
from transport.edge.client import client_message

SESSION = "sessions/session/3"


class Principal:
    """A token granting ``accounts`` (not an admin)."""

    is_admin = False

    def __init__(self, *accounts: str) -> None:
        self.accounts = accounts

    def may_trade(self, account: str) -> bool:
        return account in self.accounts


def _forwarder(registry=("orders/acct-01", "orders/acct-02"), takes=True):
    sent: list[tuple[str, bytes]] = []

    def send_path(path: str, data: bytes) -> bool:
        sent.append((path, data))
        return takes

    state = SessionState("trader1", "trader", principal=Principal("acct-01"))
    return CommandForwarder(SESSION, state, set(registry), send_path), sent


def _body(**member):
    ((name, _),) = member.items()
    data = client_message(5, **member)
    with schemas.stream.ClientMessage.from_bytes(data) as client:
        return getattr(client, name).as_builder(), data


def _command(data: bytes) -> tuple[str, str, int, str]:
    with schemas.actor.ActorMessage.from_bytes(data) as message:
        command = message.orderCommand
        with schemas.stream.ClientMessage.from_bytes(bytes(command.client)) as client:
            return command.sessionPath, command.user, message.correlationId, client.which()


SUBMIT = {"clientOrderId": "c-1", "account": "acct-01", "vtSymbol": "rb2501.SHFE", "price": 3500.0, "volumeLots": 1.0}


def test_order_when_account_granted_then_sent_to_its_order_actor_with_correlation():
    """A granted account's submitOrder goes to orders/<account> as an orderCommand from the session."""
    forwarder, sent = _forwarder()
    body, data = _body(submitOrder=SUBMIT)
    assert forwarder.order(body, "submitOrder", data, 77) is None
    assert [path for path, _ in sent] == ["orders/acct-01"]
    assert _command(sent[0][1]) == (SESSION, "trader1", 77, "submitOrder")
    assert forwarder.order_commands == 1


@pytest.mark.parametrize("account", ["acct-02", "acct-09", "../x"], ids=["not_granted", "unknown", "not_a_token"])
def test_order_when_account_not_granted_or_unknown_then_forbidden_and_nothing_sent(account):
    """An account the token does not grant, or the desk does not have, is refused as forbidden."""
    forwarder, sent = _forwarder()
    body, data = _body(submitOrder={**SUBMIT, "account": account})
    assert forwarder.order(body, "submitOrder", data, 1).code == "forbidden"
    assert sent == [] and forwarder.order_commands == 0


def test_order_when_client_order_id_too_long_then_malformed():
    """A clientOrderId over 64 bytes is malformed before any grant check."""
    forwarder, sent = _forwarder()
    body, data = _body(submitOrder={**SUBMIT, "clientOrderId": "x" * 65})
    refusal = forwarder.order(body, "submitOrder", data, 1)
    assert refusal.code == "malformed" and "clientOrderId" in refusal.message and sent == []


def test_order_when_flatten_ticks_not_finite_then_malformed():
    """A flattenPosition with NaN ticks is malformed."""
    forwarder, sent = _forwarder()
    body, data = _body(flattenPosition={"clientOrderId": "f-1", "account": "acct-01", "aggressiveness": "cross",
                                        "ticks": float("nan")})
    assert forwarder.order(body, "flattenPosition", data, 1).code == "malformed" and sent == []


def test_order_when_order_actor_does_not_take_it_then_internal_retry():
    """An order actor that is restarting (the send fails) gives ``internal`` naming the retry."""
    forwarder, _ = _forwarder(takes=False)
    body, data = _body(submitOrder=SUBMIT)
    refusal = forwarder.order(body, "submitOrder", data, 1)
    assert refusal == Refusal("internal", "the order actor of acct-01 is restarting; retry with the same clientOrderId")
    assert refusal.as_error() == {"code": "internal", "message": refusal.message}


def test_algo_when_account_granted_then_sent_to_the_algo_host():
    """A granted account's startAlgo goes to the algo host."""
    forwarder, sent = _forwarder()
    body, data = _body(startAlgo={"jobId": "j-1", "account": "acct-01", "template": "TwapAlgo"})
    assert forwarder.algo(body, data, 9) is None
    assert [path for path, _ in sent] == [ALGO_HOST_PATH]
    assert _command(sent[0][1]) == (SESSION, "trader1", 9, "startAlgo")
    assert forwarder.algo_commands == 1


@pytest.mark.parametrize(("job_id", "account", "code"), [
    ("", "acct-01", "malformed"), ("j" * 65, "acct-01", "malformed"), ("j-1", "acct-02", "forbidden"),
    ("j-1", "acct-09", "forbidden")], ids=["empty_job", "long_job", "not_granted", "unknown"])
def test_algo_when_job_id_or_account_wrong_then_refused_and_nothing_sent(job_id, account, code):
    """An algo command with a bad jobId or an account not granted is refused; nothing is sent."""
    forwarder, sent = _forwarder()
    body, data = _body(stopAlgo={"jobId": job_id, "account": account})
    assert forwarder.algo(body, data, 1).code == code and sent == []


def test_algo_when_no_algo_engine_then_internal():
    """A desk without the algo host answers ``internal``."""
    forwarder, _ = _forwarder(takes=False)
    body, data = _body(pauseAlgo={"jobId": "j-1", "account": "acct-01"})
    assert forwarder.algo(body, data, 1) == Refusal("internal", "the desk runs no algo engine")
