"""The flight recorder page in a real headless Chromium: record a trader's session, replay it into watchlists."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.ui.test_desk_browser import GROUP, ROWS_LIVE, WAIT_MS
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
