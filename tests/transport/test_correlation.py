"""A client's command carries one correlation id through every actor, log line and NATS hop."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from actors.risk.rules.order_volume import OrderVolumeRule
from actors.sessions.state import command_correlation_id, split_correlation_id
from tests.transport.conftest import is_message
from tests.transport.orders_kit import last_price, order, orders_config, token, venue_setting
from transport.cluster.nats_bus import NatsBus
from transport.cluster.nats_orders import CORRELATION_HEADER

SMALL_ORDERS = {"order_volume": {"limit": 3}}
"""order_volume refuses 5 lots."""


def _session_number(desk) -> int:
    (path,) = desk.sockets.connections
    return int(path.rsplit("/", 1)[-1])


def _lines(logs, event: str, path_prefix: str | None = None) -> list[dict]:
    return [line for line in logs if line["event"] == event
            and (path_prefix is None or line.get("actor_path", "").startswith(path_prefix))]


def _ids(lines) -> set:
    return {line.get("correlation_id") for line in lines}


async def test_submit_when_refused_by_a_rule_then_session_order_and_rule_lines_carry_one_correlation_id(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """One submit: the session's, the order actor's and the refusing rule's log lines share a non-null
    correlation id, derived from the session and the envelope id the reply quotes."""
    desk = await desk_factory(orders=orders_config(tmp_path, limits=SMALL_ORDERS), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(desk)

    with capture_logs() as logs:
        envelope_id = await client.send(**order("big-1", last - 20, volume=5))
        reply = await client.recv_until(is_message("orderReply", clientOrderId="big-1"), timeout_s=10)
        await client.recv_until(is_message("riskEvent", rule="order_volume"), timeout_s=10)

    expected = command_correlation_id(_session_number(desk), envelope_id)
    session = _lines(logs, "command_received", "sessions/session/")
    orders = _lines(logs, "order_submitted", "orders/acct-01") + _lines(logs, "order_rejected", "orders/acct-01")
    rule = _lines(logs, "order_refused", "risk/order_volume/acct-01")
    assert reply["status"] == "rejected" and reply["envelope"]["correlationId"] == envelope_id
    assert len(session) == 1 and len(orders) == 2 and len(rule) == 1
    assert _ids(session + orders + rule) == {expected}
    assert expected and split_correlation_id(expected) == (_session_number(desk), envelope_id)
    assert {line["msg_type"] for line in orders} == {"orderCommand"} and rule[0]["msg_type"] == "riskCheck"


async def test_submit_when_accepted_then_vnpy_send_is_logged_under_its_id_and_each_command_gets_its_own(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """The vn.py send_order line carries the submit's id; the next command on the socket gets the next id."""
    desk = await desk_factory(orders=orders_config(tmp_path), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(desk)
    await client.send(ping={"clientTsNs": 1})   # another command first: ids differ per command
    await client.recv_until(is_message("pong"), timeout_s=5)

    with capture_logs() as logs:
        envelope_id = await client.send(**order("ok-1", last - 20))
        await client.recv_until(is_message("orderAccepted"), timeout_s=10)
        await client.send(cancelOrder={"clientOrderId": "nope", "account": "acct-01"})
        await client.recv_until(is_message("cancelReply"), timeout_s=10)

    expected = command_correlation_id(_session_number(desk), envelope_id)
    sent = _lines(logs, "order_sent")
    assert len(sent) == 1 and sent[0]["correlation_id"] == expected
    received = _lines(logs, "command_received", "sessions/session/")
    assert [line["correlation_id"] for line in received] == [expected, expected + 1]


async def test_rule_crash_when_checking_a_clients_order_then_crash_line_carries_its_correlation_id(
        desk_factory, open_socket, jwt_secret, tmp_path, monkeypatch):
    """A rule that raises while checking (in-line) logs actor_crashed with the order's correlation id, not null."""
    def broken(self, order):
        raise RuntimeError("rule bug")

    monkeypatch.setattr(OrderVolumeRule, "check", broken)
    desk = await desk_factory(orders=orders_config(tmp_path), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(desk)

    with capture_logs() as logs:
        envelope_id = await client.send(**order("crash-1", last - 20))
        reply = await client.recv_until(is_message("orderReply", clientOrderId="crash-1"), timeout_s=10)

    crashed = _lines(logs, "actor_crashed", "risk/order_volume/acct-01")
    assert reply["status"] == "rejected"
    assert len(crashed) == 1
    assert crashed[0]["correlation_id"] == command_correlation_id(_session_number(desk), envelope_id)
    assert crashed[0]["msg_type"] == "riskCheck"


@pytest.mark.nats
async def test_submit_when_through_nats_then_both_nodes_log_and_send_one_correlation_id(
        nats_url, data_dir, jwt_secret, start_desk, open_socket, tmp_path):
    """Edge node → order.submit.<account> → venue-host and back: the request's header, the log lines of
    both ends and the host's actors carry the id the edge node's socket gave the command."""
    host = await start_desk(jwt_secret=jwt_secret, role="venue-host", nats=(nats_url,),
                            replay=(str(data_dir / "cn_futopt_l1_20171113_0900-1000.csv.gz"),),
                            orders=orders_config(tmp_path, limits=SMALL_ORDERS), sim=venue_setting())
    edge = await start_desk(jwt_secret=jwt_secret, role="edge", nats=(nats_url,),
                               orders=orders_config(tmp_path / "gw", limits=SMALL_ORDERS))
    watcher = NatsBus([nats_url], name="watcher")
    await watcher.connect()
    headers: list[dict] = []
    await watcher.subscribe("order.submit.*", lambda msg: headers.append(dict(msg.headers or {})))
    try:
        client = await open_socket(edge, token(jwt_secret, "trader1", ["acct-01"]))
        last = await last_price(host)
        with capture_logs() as logs:
            envelope_id = await client.send(**order("nats-1", last - 20, volume=5))
            reply = await client.recv_until(is_message("orderReply", clientOrderId="nats-1"), timeout_s=10)
            async with asyncio.timeout(5):
                while not headers:
                    await asyncio.sleep(0.01)
    finally:
        await watcher.close()

    expected = command_correlation_id(_session_number(edge), envelope_id)
    chain = (_lines(logs, "command_received", "sessions/session/") + _lines(logs, "order_request_sent")
             + _lines(logs, "order_request_received") + _lines(logs, "order_submitted", "orders/acct-01")
             + _lines(logs, "order_refused", "risk/order_volume/acct-01") + _lines(logs, "order_reply_sent")
             + _lines(logs, "order_reply_received"))
    assert reply["status"] == "rejected" and reply["envelope"]["correlationId"] == envelope_id
    assert [line["event"] for line in chain] == [
        "command_received", "order_request_sent", "order_request_received", "order_submitted", "order_refused",
        "order_reply_sent", "order_reply_received"]
    assert _ids(chain) == {expected}
    assert headers[0][CORRELATION_HEADER] == str(expected)
