"""Whole desks restarted on their journal: a rejected NaN order, orders the venue lost, venue ids."""

from __future__ import annotations

import math

import aiohttp

from tests.transport.orders_kit import last_price, order, orders_config, token, venue, venue_setting


def _is(which: str, **fields):
    return lambda m: m["which"] == which and all(m.get(k) == v for k, v in fields.items())


async def test_submit_order_when_price_is_nan_then_rejected_and_the_desk_restarts_healthy_on_that_journal(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """A NaN price over /ws is rejected (validity); a new desk on the same journal starts with /healthz 200,
    orders/acct-01 never crashed, and the account still trades (the NaN row used to crash-loop it)."""
    config = orders_config(tmp_path)
    first = await desk_factory(orders=config, sim=venue_setting())
    client = await open_socket(first, token(jwt_secret, "trader1", ["acct-01"]))
    await client.send(**order("nan-1", math.nan))
    reply = await client.recv_until(_is("orderReply", clientOrderId="nan-1"), timeout_s=10)
    assert reply["status"] == "rejected" and reply["rejection"]["rule"] == "order_validity"
    await client.ws.close()   # an open socket holds the server's graceful stop for up to a minute
    await first.stop()

    second = await desk_factory(orders=config, sim=venue_setting())
    again = await open_socket(second, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(second)
    await again.send(**order("ok-1", last - 20))
    accepted = await again.recv_until(_is("orderReply", clientOrderId="ok-1"), timeout_s=10)
    await again.send(**order("nan-1", math.nan))
    original = await again.recv_until(_is("orderReply", clientOrderId="nan-1"), timeout_s=10)
    async with aiohttp.ClientSession() as http, http.get(f"{second.url}healthz") as health:
        assert health.status == 200

    assert accepted["status"] == "accepted"
    assert original["status"] == "rejected" and original["decidedTsNs"] == reply["decidedTsNs"]
    assert second.runtime.registry.entry("orders/acct-01").restarts == 0
    assert second.journal.statistics().quarantined == 0


async def test_restart_when_venue_lost_its_book_then_old_order_closed_and_its_cancel_spares_the_new_one(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """A working order, then a desk restart onto a fresh venue (the simulator's book does not survive a process):
    the old order is closed cancelled with the reason (not rejected), a new order gets another vt_orderid, and
    cancelling the old one leaves the new one working at the venue (it used to get SIM.1 again and be cancelled)."""
    config = orders_config(tmp_path, query_interval_s=0.1)
    first = await desk_factory(orders=config, sim=venue_setting())
    client = await open_socket(first, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(first)
    await client.send(**order("old-1", last - 20))
    old = await client.recv_until(_is("orderAccepted"), timeout_s=10)
    await client.ws.close()
    await first.stop()

    second = await desk_factory(orders=config, sim=venue_setting())
    again = await open_socket(second, token(jwt_secret, "trader1", ["acct-01"]))
    closed = await again.recv_until(lambda m: m["which"] == "orderUpdated" and m["order"]["clientOrderId"] == "old-1",
                                    timeout_s=10)
    last = await last_price(second)
    await again.send(**order("new-1", last - 20))
    new = await again.recv_until(_is("orderReply", clientOrderId="new-1"), timeout_s=10)
    await again.send(cancelOrder={"clientOrderId": "old-1", "account": "acct-01"})
    cancel = await again.recv_until(_is("cancelReply", clientOrderId="old-1"), timeout_s=10)
    await again.send(ping={"clientTsNs": 1})
    await again.recv_until(_is("pong"), timeout_s=5)

    assert closed["order"]["state"] == "cancelled"
    assert "venue does not know this order after the desk restarted" in closed["order"]["reason"]
    assert new["status"] == "accepted" and new["vtOrderId"] != old["order"]["vtOrderId"]
    assert cancel["status"] == "notActive"
    assert venue(second).query_order(new["vtOrderId"]).status.name == "NOTTRADED"
    assert venue(second).statistics().cancels == 0


async def test_desk_when_journal_has_unreadable_rows_then_healthy_and_operators_see_the_quarantine(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """A journal with a NULL price, garbage text and an unknown state: the desk starts healthy, the account
    trades, and /admin/tree and /metrics count the quarantined rows."""
    from actors.orders.journal import OrderJournal
    from actors.orders.record import OrderRecord
    from tests.actors.order_kit import damage_rows

    config = orders_config(tmp_path)
    journal = OrderJournal.open(config.journal_path)
    journal.write_orders_now([OrderRecord("seed", "acct-01", "rb1801.SHFE", "long", "open", "limit", 3900.0, 1.0,
                                          state="rejected", reply_status="rejected").row()])
    journal.close()
    damage_rows(config.journal_path, "seed", {"q-1": {"price": None, "state": "working"},
                                              "q-2": {"volume": "lots"}, "q-3": {"state": "teleported"}})

    desk = await desk_factory(orders=config, sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(desk)
    await client.send(**order("ok-1", last - 20))
    accepted = await client.recv_until(_is("orderReply", clientOrderId="ok-1"), timeout_s=10)
    headers = {"Authorization": f"Bearer {token(jwt_secret, 'ops', role='admin')}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{desk.url}healthz") as health:
            assert health.status == 200
        async with http.get(f"{desk.url}admin/tree", headers=headers) as response:
            tree = await response.json()
        async with http.get(f"{desk.url}metrics", headers=headers) as response:
            metrics = await response.text()

    def find(node, path):
        return node if node.get("path") == path else next(
            (hit for child in node.get("children", []) if (hit := find(child, path))), None)

    assert accepted["status"] == "accepted"
    assert find(tree["tree"], "orders/acct-01")["stats"]["quarantined"] == 3
    assert "tickstage_journal_quarantined 3.0" in metrics
    assert 'tickstage_orders_quarantined{kind="OrderActor",path="orders/acct-01"} 3.0' in metrics
