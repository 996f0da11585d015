"""The ops console in a real headless Chromium against a desk replaying recorded ticks."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from transport.signin.auth import mint_token
from ui.chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
RB_ROW = 'tr[data-path="market/group/rb"]'


async def _browser(playwright):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian chromium")
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


async def test_ops_console_when_admin_restarts_a_group_then_its_restart_count_increases(desk, jwt_secret, eventually, screenshot):
    """As admin: the tree shows with state colours; Restart on market/group/rb, confirmed, raises its
    restart count; the audit list shows the action."""
    await eventually(lambda: desk.runtime.registry.get("market/group/rb"), timeout_s=20, what="rb group")
    token = mint_token(jwt_secret, "ops-browser", "admin")
    dialogs: list[str] = []
    page_errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await _browser(playwright)
        page = await browser.new_page(viewport={"width": 1400, "height": 820})
        page.on("pageerror", lambda error: page_errors.append(str(error)))

        async def confirm(dialog):
            dialogs.append(dialog.message)
            await dialog.accept()

        page.on("dialog", confirm)
        await page.goto(f"{desk.url}ops#token={token}")
        row = page.locator(RB_ROW)
        await row.wait_for(timeout=WAIT_MS)
        before = await row.get_attribute("data-restarts")
        colour = await row.locator(".state").evaluate("element => getComputedStyle(element).backgroundColor")
        market_indent = await page.locator('tr[data-path="market"] td.path').evaluate(
            "element => parseFloat(getComputedStyle(element).paddingLeft)")
        group_indent = await row.locator("td.path").evaluate(
            "element => parseFloat(getComputedStyle(element).paddingLeft)")
        root_buttons = await page.locator('tr[data-path="root"] button').count()

        await row.locator('button[data-action="restart"]').click()
        await page.wait_for_function(
            """(path) => document.querySelector(`tr[data-path="${path}"]`)?.dataset.restarts === "1"
                      && document.querySelector(`tr[data-path="${path}"]`)?.dataset.state === "running" """,
            arg="market/group/rb", timeout=WAIT_MS)
        await page.locator('#audit tbody tr:has-text("market/group/rb")').wait_for(timeout=WAIT_MS)
        audit_row = await page.locator("#audit tbody tr").first.inner_text()
        refreshes = await page.evaluate("window.tickstageOps.refreshes()")
        url = page.url
        await page.evaluate("document.querySelector('.ops-tree').scrollTop = 0")
        await page.screenshot(path=str(screenshot("ops.png")))
        await browser.close()

    assert page_errors == []
    assert before == "0"
    assert colour == "rgb(38, 194, 129)"  # --up: running
    assert group_indent > market_indent
    assert root_buttons == 0
    assert dialogs == ["Restart market/group/rb and everything under it?"]
    assert audit_row.split() == [audit_row.split()[0], "ops-browser", "restart", "market/group/rb", "restarted"]
    assert refreshes >= 2
    assert "token" not in url
    assert desk.runtime.registry.entry("market/group/rb").restarts == 1


async def test_ops_console_when_trader_token_then_refused_with_a_reason(desk, jwt_secret):
    """A trader's token is refused: the login form shows again with the reason, no tree."""
    async with async_playwright() as playwright:
        browser = await _browser(playwright)
        page = await browser.new_page()
        await page.goto(f"{desk.url}ops")
        await page.fill("#token", mint_token(jwt_secret, "trader1", "trader"))
        await page.click("#login button[type=submit]")
        await page.wait_for_function("() => document.querySelector('#login-message').textContent", timeout=WAIT_MS)
        message = await page.text_content("#login-message")
        session = await page.evaluate("document.body.dataset.session")
        rows = await page.locator("#tree tbody tr").count()
        await browser.close()

    assert "admin token" in message
    assert session == "out" and rows == 0


async def test_ops_console_when_loaded_then_venues_table_shows_each_gateway_state(desk, jwt_secret):
    """The Venues table lists the simulator gateway SIM, contractsReady, with its contracts and subscriptions
    (GET /admin/venues)."""
    token = mint_token(jwt_secret, "ops-browser", "admin")
    page_errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await _browser(playwright)
        page = await browser.new_page(viewport={"width": 1400, "height": 820})
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        await page.goto(f"{desk.url}ops#token={token}")
        row = page.locator('#venues tr[data-gateway="SIM"]')
        await page.wait_for_function(
            """() => document.querySelector('#venues tr[data-gateway="SIM"] .state')?.textContent === "contractsReady" """,
            timeout=WAIT_MS)
        cells = await row.locator("td").all_inner_texts()
        gateway_class = await row.locator("td.name").get_attribute("title")
        await browser.close()
    assert cells[0] == "SIM" and gateway_class == "sim.gateway:SimGateway" and cells[3] == "up"
    assert int(cells[4]) > 0 and int(cells[5]) == int(cells[4])
    assert page_errors == []
async def test_ops_risk_controls_when_admin_halts_and_changes_a_limit_then_applied_with_who_and_audited(
        desk, jwt_secret, screenshot):
    """From the ops page, with a confirmation each: halt acct-01 (its row says halted, by whom, why), change a
    limit through the form (the desk's limit changes), allow trading again; the audit shows old → new."""
    token = mint_token(jwt_secret, "ops-risk", "admin")
    confirmations: list[str] = []
    async with async_playwright() as playwright:
        browser = await _browser(playwright)
        page = await browser.new_page(viewport={"width": 1600, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        async def confirm(dialog):
            confirmations.append(dialog.message)
            await dialog.accept()

        page.on("dialog", confirm)
        await page.goto(f"{desk.url}ops#token={token}")
        account = page.locator('#kill-switches tr[data-scope="account"][data-target="acct-01"]')
        await account.wait_for(timeout=WAIT_MS)
        label_before = await account.locator(".kill-switch").inner_text()
        await page.fill("#kill-reason", "fat finger")
        await account.locator('button[data-state="halted"]').click()
        await page.wait_for_function("""() => document.querySelector(
          '#kill-switches tr[data-target="acct-01"]')?.dataset.state === 'halted'""", timeout=WAIT_MS)
        halted_text = await account.inner_text()

        await page.locator('#limits tr[data-limit="order_volume/acct-01.limit"] button').click()
        current = await page.locator(".limit-current").inner_text()
        await page.fill('#limit-form input[name="value"]', "3")
        await page.click('#limit-form button[type="submit"]')
        await page.wait_for_function("""() => document.querySelector(
          '#limits tr[data-limit="order_volume/acct-01.limit"] td.num')?.textContent === '3'""", timeout=WAIT_MS)
        hours = await page.locator('#limits tr[data-limit="trading_hours/acct-01.window_1_close"] td.num').inner_text()

        await account.locator('button[data-state="active"]').click()
        await page.wait_for_function("""() => document.querySelector(
          '#kill-switches tr[data-target="acct-01"]')?.dataset.state === 'active'""", timeout=WAIT_MS)
        await page.locator('#audit tbody tr:has-text("halted -> active")').wait_for(timeout=WAIT_MS)
        audit = await page.locator("#audit tbody").inner_text()
        await page.screenshot(path=screenshot("ops-risk.png"))
        await browser.close()

    assert label_before == "trading allowed"
    assert "halted" in halted_text and "ops-risk at " in halted_text and "fat finger" in halted_text
    assert current == "now 500"
    assert hours == "24:00"
    assert desk.limit_store.limits("order_volume", "acct-01")["limit"] == 3.0
    assert desk.limit_store.kill_switch("account", "acct-01") == "active"
    assert [c.split(":")[0] for c in confirmations] == ["Set the kill switch of account acct-01",
                                                        "Change order_volume limit of acct-01 from 500 to 3?",
                                                        "Set the kill switch of account acct-01"]
    assert "changed 500 -> 3" in audit and "active -> halted" in audit
    assert errors == []


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768)], ids=["1920x1080", "1366x768"])
async def test_ops_console_when_1920x1080_or_1366x768_then_no_table_overflows_the_page(desk, jwt_secret, eventually,
                                                                                         screenshot, size):
    """Every table of the ops console (tree, venues, audit) fits the window: the page never scrolls sideways and
    no table sticks out of its section; the screenshot is taken."""
    await eventually(lambda: desk.runtime.registry.get("market/group/rb"), timeout_s=20, what="rb group")
    width, height = size
    async with async_playwright() as playwright:
        browser = await _browser(playwright)
        page = await browser.new_page(viewport={"width": width, "height": height})
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        await page.goto(f"{desk.url}ops#token={mint_token(jwt_secret, 'ops-browser', 'admin')}")
        await page.locator(RB_ROW).wait_for(timeout=WAIT_MS)
        await page.locator("#venues tbody tr").first.wait_for(timeout=WAIT_MS)
        await page.wait_for_timeout(500)
        page_width = await page.evaluate("document.documentElement.scrollWidth")
        sticking_out = await page.evaluate("""() => [...document.querySelectorAll('table')].filter((table) => {
            const box = table.getBoundingClientRect(), parent = table.parentElement.getBoundingClientRect();
            return box.width > 0 && (box.right > parent.right + 1 || box.right > window.innerWidth + 1);
          }).map((table) => table.id || table.parentElement.id || table.className)""")
        await page.screenshot(path=str(screenshot(f"ops-{width}x{height}.png")))
        await browser.close()
    assert page_width <= width and sticking_out == [], (page_width, sticking_out)
    assert page_errors == []
