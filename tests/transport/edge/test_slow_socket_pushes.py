"""A socket that does not read: account pushes are conflated like frames (latest status per account wins)."""

from __future__ import annotations

import socket

from tests.conftest import read_server_message
from tests.transport.conftest import wait_groups
from tests.transport.orders_kit import SYMBOL, orders_config, token, venue_setting
from tests.transport.raw_ws import RawWebSocket
from transport.edge.limits import SocketLimits
from transport.edge.client import client_message

HIGH_WATER = 16 * 1024


def _statuses_sent(desk) -> int:
    return sum(desk.runtime.registry.get(f"accounts/{a}").instance.statistics().extra["statuses_sent"]
               for a in ("acct-01", "acct-02"))


async def test_admin_socket_when_not_reading_then_account_pushes_conflated_and_latest_sent_on_drain(
        desk_factory, open_socket, jwt_secret, tmp_path, eventually):
    """Past the high-water mark, 40+ status periods add no bytes to a non-reading admin socket's queue;
    once it reads, it gets the latest AccountStatus and an orderStatusReply for the account whose events it missed."""
    desk = await desk_factory(
        limits=SocketLimits(high_water_bytes=HIGH_WATER, low_water_bytes=4 * 1024, auth_timeout_s=2.0,
                            max_bad_frames=5),
        orders=orders_config(tmp_path, status_interval_s=0.05), sim=venue_setting())
    groups = (await wait_groups(desk, 10))[:20]
    admin = await RawWebSocket.connect(desk.port)
    await admin.send(client_message(1, auth={"token": token(jwt_secret, "ops", role="admin")}))
    assert read_server_message(await admin.recv())["which"] == "ack"
    try:
        await admin.send(client_message(2, subscribe={"groups": groups}))
        (conn,) = [c for c in desk.sockets.connections.values() if c.state.user == "ops"]
        # the kernel would otherwise take up to 4 MiB (tcp_wmem) before the desk's own queue sees anything
        conn.ws.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        await eventually(lambda: conn.outbox.queued_bytes > HIGH_WATER, timeout_s=30, what="the admin socket backed up")
        queued, sent = conn.outbox.queued_bytes, _statuses_sent(desk)
        trader = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
        await trader.send(submitOrder={"clientOrderId": "missed-1", "account": "acct-01", "vtSymbol": SYMBOL,
                                       "direction": "long", "offset": "open", "orderType": "limit", "price": 3000.5,
                                       "volumeLots": 1})
        await trader.recv_until(lambda m: m["which"] == "orderReply", timeout_s=10)
        await eventually(lambda: _statuses_sent(desk) >= sent + 40, timeout_s=30, what="40 status periods")
        grown = conn.outbox.queued_bytes - queued
        assert grown < 4 * 1024, grown  # each period pushes ~4 statuses of ~300 bytes: 40 periods were ~48 KB

        await admin.send(client_message(3, unsubscribe={"groups": groups}))  # then it drains on a loaded machine

        async def next_of(which: str, **fields) -> dict:
            while True:
                message = read_server_message(await admin.recv(timeout_s=30))
                if message["which"] == which and all(message.get(k) == v for k, v in fields.items()):
                    return message

        seen = await next_of("orderStatusReply")
        assert "missed-1" in [o["clientOrderId"] for o in seen["orders"]]
        assert (await next_of("accountStatus", account="acct-01"))["tsNs"] > 0
        session = desk.runtime.registry.get(conn.path).instance.statistics().extra
        assert session["pushes_conflated"] >= 40
    finally:
        admin.close()
