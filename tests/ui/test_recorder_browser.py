"""The flight recorder page in a real headless Chromium: record a trader's session, replay it into watchlists."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.ui.test_desk_browser import GROUP, ROWS_LIVE, WAIT_MS
from tests.transport.conftest import REPLAY as REPLAY_FILE
from ui.chromium import CHROMIUM, CHROMIUM_ARGS
from transport.signin.auth import mint_token

pytestmark = pytest.mark.browser

REPLAYED = """([group, symbols]) => {
  const state = window.tickstageRecorder.state();
  const rows = window.tickstageRecorder.rows(group);
  return state && !state.playing && state.clockMs >= state.endMs
    && rows.filter((row) => row.bid !== null).length >= 20
    && symbols.every((symbol, i) => rows[i] && rows[i].vtSymbol === symbol);
}"""


async def test_recorder_when_admin_records_a_trader_then_replay_shows_the_traders_rows_and_commands(desk, screenshot):
    """An admin records a live session from /recorder.html, stops it and replays it: the watchlists show
    the trader's groups with their instruments in order, and the command log shows the trader's subscribe."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        trader_context = await browser.new_context()
        trader = await trader_context.new_page()
        await trader.goto(f"{desk.url}#token={mint_token(desk.jwt_secret, 'ann')}")
        await trader.click(f'button[data-subscribe="{GROUP}"]', timeout=WAIT_MS)
        await trader.wait_for_function(ROWS_LIVE, arg=GROUP, timeout=WAIT_MS)

        admin_context = await browser.new_context(viewport={"width": 1600, "height": 1000})
        admin = await admin_context.new_page()
        await admin.goto(f"{desk.url}recorder.html#token={mint_token(desk.jwt_secret, 'ops', 'admin')}")
        session = admin.locator("#sessions tbody tr", has_text="ann (trader)")
        await session.locator('button[data-action="start"]').click(timeout=WAIT_MS)
        await session.locator('button[data-action="stop"]').wait_for(timeout=WAIT_MS)
        await trader.click('button[data-subscribe="rb"]', timeout=WAIT_MS)
        await trader.wait_for_function(
            "() => window.tickstage.rows('rb').filter((row) => row.bid !== null).length >= 5", timeout=WAIT_MS)
        await admin.wait_for_function(
            """() => [...document.querySelectorAll("#sessions tbody tr")].some((tr) =>
                 tr.textContent.includes("ann (trader)") && Number(tr.children[4].textContent) >= 40)""",
            timeout=WAIT_MS)
        await session.locator('button[data-action="stop"]').click()
        await session.locator('button[data-action="replay"]').click(timeout=WAIT_MS)
        await admin.wait_for_function("() => window.tickstageRecorder.groups().length === 2", timeout=WAIT_MS)
        await admin.select_option("#speed", "1000")
        await admin.click("#play")
        symbols = [row["vtSymbol"] for row in await trader.evaluate("(g) => window.tickstage.rows(g)", GROUP)]
        await admin.wait_for_function(REPLAYED, arg=[GROUP, symbols], timeout=WAIT_MS)
        groups = await admin.evaluate("window.tickstageRecorder.groups()")
        commands = await admin.locator("#commands li").all_text_contents()
        state = await admin.evaluate("window.tickstageRecorder.state()")
        await admin.screenshot(path=str(screenshot("recorder.png")))
        await browser.close()

    assert sorted(groups) == sorted([GROUP, "rb"])
    assert any(" subscribe " in line and '"rb"' in line for line in commands)
    assert all("token" not in line for line in commands)
    assert state["stats"]["decodeErrors"] == 0 and state["stats"]["snapshots"] >= 2


ORDER_FIELDS = ("state", "status", "tradedLots", "vtOrderId", "price", "volumeLots")
ORDER_EVENTS = ("orderAccepted", "orderRejected", "orderUpdated", "orderFilled", "outcomeUnknown")
REPLAY_ENDED = """() => {
  const state = window.tickstageRecorder.state();
  return state !== null && !state.playing && state.clockMs >= state.endMs;
}"""


def _as_sent(entries) -> tuple[dict, dict, list[str]]:
    """From a recording's down entries: the last order view per client order id, the last accountStatus of
    acct-01, and every member sent."""
    import schemas

    views, status, members = {}, None, []
    for _, direction, payload in entries:
        if direction != "down":
            continue
        with schemas.stream.ServerMessage.from_bytes(payload) as message:
            member = message.which()
            members.append(member)
            body = getattr(message, member).to_dict()
        if member in ORDER_EVENTS:
            views[body["order"]["clientOrderId"]] = body["order"]
        elif member == "orderStatusReply":
            views.update({view["clientOrderId"]: view for view in body.get("orders", [])})
        elif member == "accountStatus" and body["account"] == "acct-01":
            status = body
    return views, status, members


async def test_recorder_when_trader_traded_then_replay_shows_orders_and_account_status_as_sent(
        start_desk, data_dir, tmp_path, screenshot):
    """A trader's session that traded (an order resting, one refused by a rule, one filled) is recorded and
    replayed: the replay's blotter holds every order in the state it was last sent, the account card shows
    the last AccountStatus sent, and the risk alert of the refusal is there."""
    import aiohttp

    from tests.conftest import WsClient
    from tests.transport.orders_kit import last_price, order, orders_config, venue_setting
    from transport.admin.flight import read_recording

    desk = await start_desk(replay=(str(data_dir / REPLAY_FILE),), sim=venue_setting(),
                            orders=orders_config(tmp_path, limits={"order_volume": {"limit": 3}}))
    admin_headers = {"Authorization": f"Bearer {mint_token(desk.jwt_secret, 'ops', 'admin')}"}
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{desk.port}") as http:
        trader = WsClient(await http.ws_connect("/ws"))
        await trader.send(auth={"token": mint_token(desk.jwt_secret, "ann", accounts=["acct-01"])})
        session = (await trader.recv())["detail"]
        last = await last_price(desk)
        await trader.send(**order("before-1", last - 30))   # placed before the recording starts
        await trader.recv_until(lambda m: m["which"] == "orderAccepted", timeout_s=10)
        async with http.post("/admin/recordings", headers=admin_headers,
                             json={"session": session, "action": "start"}) as response:
            assert response.status == 200
        await trader.send(**order("rest-1", last - 20))
        await trader.send(**order("big-1", last - 20, volume=5))
        await trader.send(**order("fill-1", last + 20))
        await trader.recv_until(lambda m: m["which"] == "orderFilled", timeout_s=15)
        await trader.recv_until(lambda m: m["which"] == "accountStatus" and m["trades"] >= 1, timeout_s=10)
        async with http.post("/admin/recordings", headers=admin_headers,
                             json={"session": session, "action": "stop"}) as response:
            assert response.status == 200
        async with http.get(f"/admin/recordings/{session.rsplit('/', 1)[-1]}", headers=admin_headers) as response:
            _, entries = read_recording(await response.read())
        await trader.ws.close()
    views, status, members = _as_sent(entries)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        admin = await (await browser.new_context(viewport={"width": 1600, "height": 1200})).new_page()
        await admin.goto(f"{desk.url}recorder.html#token={mint_token(desk.jwt_secret, 'ops', 'admin')}")
        await admin.locator("#sessions tbody tr", has_text="ann (trader)").locator(
            'button[data-action="replay"]').click(timeout=WAIT_MS)
        await admin.wait_for_function("() => window.tickstageRecorder.state() !== null", timeout=WAIT_MS)
        await admin.select_option("#speed", "1000")
        await admin.click("#play")
        await admin.wait_for_function(REPLAY_ENDED, timeout=WAIT_MS)
        replayed = await admin.evaluate("window.tickstageRecorder.orders()")
        account_text = await admin.evaluate("window.tickstageRecorder.text('account')")
        alerts_text = await admin.evaluate("window.tickstageRecorder.text('alerts')")
        risk_text = await admin.evaluate("window.tickstageRecorder.text('risk')")
        await admin.screenshot(path=str(screenshot("recorder-orders.png")), full_page=True)
        await browser.close()

    assert {"orderStatusReply", "orderAccepted", "orderRejected", "orderFilled", "accountStatus", "riskSummary",
            "riskEvent", "orderReply"} <= set(members)
    assert set(views) == {"before-1", "rest-1", "big-1", "fill-1"}
    shown = {row["clientOrderId"]: row for row in replayed}
    assert set(shown) == set(views)
    for client_order_id, view in views.items():
        assert {k: shown[client_order_id][k] for k in ORDER_FIELDS} == {k: view[k] for k in ORDER_FIELDS}
    assert shown["big-1"]["rejection"]["rule"] == "order_volume"
    assert shown["fill-1"]["state"] == "filled" and shown["before-1"]["state"] == "working"
    assert status is not None and "acct-01" in account_text
    assert f"{status['openOrders']} open · {status['trades']} trades" in account_text
    assert "order_volume" in alerts_text and "acct-01" in risk_text
