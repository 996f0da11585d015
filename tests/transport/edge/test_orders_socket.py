"""Orders over /ws on a whole desk: replies, events, account status, rights, admin limits."""

from __future__ import annotations

import aiohttp

from tests.transport.orders_kit import last_price, order, orders_config, token, venue, venue_setting


def _is(which: str, **fields):
    return lambda m: m["which"] == which and all(m.get(k) == v for k, v in fields.items())


async def test_submit_order_when_account_granted_then_reply_events_and_status_reach_the_trader(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """A granted order is accepted by the simulator; the trader gets the reply, orderAccepted and AccountStatus."""
    desk = await desk_factory(orders=orders_config(tmp_path), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(desk)

    await client.send(**order("o-1", last - 20))
    reply = await client.recv_until(_is("orderReply"), timeout_s=10)
    accepted = await client.recv_until(_is("orderAccepted"), timeout_s=10)
    status = await client.recv_until(_is("accountStatus", account="acct-01"), timeout_s=10)
    summary = await client.recv_until(_is("riskSummary", account="acct-01"), timeout_s=10)

    assert reply["status"] == "accepted" and reply["clientOrderId"] == "o-1"
    assert accepted["order"]["state"] == "working" and accepted["order"]["vtOrderId"] == reply["vtOrderId"]
    assert status["trader"] == "trader1" and status["realBalance"] > 0
    assert summary["killSwitch"] == "active"
    assert venue(desk).statistics().orders_received == 1


async def test_submit_order_when_account_not_granted_then_forbidden_and_nothing_sent(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """A trader cannot submit for another trader's account: error forbidden, nothing reaches the gateway."""
    desk = await desk_factory(orders=orders_config(tmp_path), sim=venue_setting())
    intruder = await open_socket(desk, token(jwt_secret, "trader2", ["acct-02"]))
    last = await last_price(desk)

    await intruder.send(**order("x-1", last - 20, account="acct-01"))
    error = await intruder.recv_until(_is("error"), timeout_s=5)
    await intruder.send(cancelOrder={"clientOrderId": "x-1", "account": "acct-01"})
    error_cancel = await intruder.recv_until(_is("error"), timeout_s=5)
    await intruder.send(orderStatusRequest={"account": "acct-01"})
    error_status = await intruder.recv_until(_is("error"), timeout_s=5)

    assert {error["code"], error_cancel["code"], error_status["code"]} == {"forbidden"}
    assert venue(desk).statistics().orders_received == 0


async def test_order_events_when_another_traders_account_then_not_seen(desk_factory, open_socket, jwt_secret,
                                                                       tmp_path):
    """trader2 sees none of acct-01's replies, events or status; an admin sees them."""
    desk = await desk_factory(orders=orders_config(tmp_path), sim=venue_setting())
    owner = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    other = await open_socket(desk, token(jwt_secret, "trader2", ["acct-02"]))
    admin = await open_socket(desk, token(jwt_secret, "ops", role="admin"))
    last = await last_price(desk)

    await owner.send(**order("o-1", last - 20))
    await owner.recv_until(_is("orderAccepted"), timeout_s=10)
    await admin.recv_until(lambda m: m["which"] == "orderAccepted" and m["order"]["account"] == "acct-01",
                           timeout_s=10)
    await owner.recv_until(_is("accountStatus", account="acct-01"), timeout_s=10)
    await other.recv_until(_is("accountStatus", account="acct-02"), timeout_s=10)
    await other.send(ping={"clientTsNs": 1})
    seen = []
    await other.recv_until(lambda m: seen.append(m) or m["which"] == "pong", timeout_s=5)

    leaked = [m for m in seen if "acct-01" in (m.get("account"), (m.get("order") or {}).get("account"))]
    assert leaked == []


async def test_admin_limits_when_changed_then_journaled_with_who_and_applied(desk_factory, open_socket,
                                                                             jwt_secret, tmp_path):
    """POST /admin/limits journals who and when; the rule refuses the next order naming the new limit."""
    desk = await desk_factory(orders=orders_config(tmp_path), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(desk)
    headers = {"Authorization": f"Bearer {token(jwt_secret, 'ops', role='admin')}"}
    trader_headers = {"Authorization": f"Bearer {token(jwt_secret, 'trader1', ['acct-01'])}"}

    async with aiohttp.ClientSession() as http:
        url = f"{desk.url}admin/limits"
        async with http.post(url, json={"rule": "order_volume", "scope": "acct-01", "name": "limit", "value": 2},
                             headers=trader_headers) as refused:
            assert refused.status == 403
        async with http.post(url, json={"rule": "order_volume", "scope": "acct-01", "name": "limit", "value": 2},
                             headers=headers) as response:
            assert response.status == 200, await response.text()
        async with http.get(url, headers=headers) as response:
            body = await response.json()
    await client.recv_until(_is("limitChanged", rule="order_volume"), timeout_s=5)
    await client.send(**order("o-big", last - 20, volume=3))
    reply = await client.recv_until(_is("orderReply"), timeout_s=10)

    (change,) = body["changes"]
    assert (change["changed_by"], change["old_value"], change["new_value"]) == ("ops", 500.0, 2.0)
    assert body["limits"]["order_volume"]["acct-01"]["limit"] == 2.0
    assert reply["rejection"] == {"rule": "order_volume", "limit": 2.0, "observed": 3.0,
                                  "reason": "3 lots over the 2-lot limit"}


async def test_admin_kill_switch_when_halted_then_open_orders_cancelled_and_new_refused(
        desk_factory, open_socket, jwt_secret, tmp_path):
    """Halting an account's kill switch cancels its working orders and refuses new ones."""
    desk = await desk_factory(orders=orders_config(tmp_path), sim=venue_setting())
    client = await open_socket(desk, token(jwt_secret, "trader1", ["acct-01"]))
    last = await last_price(desk)
    await client.send(**order("o-1", last - 20))
    await client.recv_until(_is("orderAccepted"), timeout_s=10)

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{desk.url}admin/kill-switch", json={
                "scope": "account", "target": "acct-01", "state": "halted", "reason": "test"},
                headers={"Authorization": f"Bearer {token(jwt_secret, 'ops', role='admin')}"}) as response:
            assert response.status == 202
    changed = await client.recv_until(_is("killSwitchChanged"), timeout_s=5)
    cancelled = await client.recv_until(lambda m: m["which"] == "orderUpdated"
                                        and m["order"]["state"] == "cancelled", timeout_s=10)
    await client.send(**order("o-2", last - 20))
    refused = await client.recv_until(_is("orderReply", clientOrderId="o-2"), timeout_s=10)

    assert (changed["state"], changed["changedBy"]) == ("halted", "ops")
    assert cancelled["order"]["clientOrderId"] == "o-1"
    assert refused["rejection"]["rule"] == "kill_switch"
