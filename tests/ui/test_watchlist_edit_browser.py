"""Editing the user's watchlist group from the stars of a watchlist, in a real headless Chromium.

The desk runs in process (the `desk` fixture), so the server side is read
directly: how many watchlistUpdates reached the market-source actor.
"""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.ui.test_watchlist_browser import CHROMIUM, CHROMIUM_ARGS
from transport.signin.auth import mint_token

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
ROW_HEIGHT_PX, HEADER_HEIGHT_PX, STAR_WIDTH_PX = 22, 26, 24  # ui/watchlist.js
SOURCE = "rb"
USER = "stella"
GROUP = f"watch-{USER}"
PRICED = """([group, count]) => window.tickstage.rows(group).slice(0, 8).filter((row) => row.last !== null).length
  >= count"""
SHOWS = """([group, symbols]) => {
  const rows = window.tickstage.rows(group);
  return document.querySelector(`section.panel[data-group="${group}"]`) !== null
    && JSON.stringify(rows.map((row) => row.vtSymbol)) === JSON.stringify(symbols)
    && rows.every((row) => row.last !== null);
}"""


async def _star_points(page, symbols: list[str]) -> list[tuple[float, float]]:
    """Page coordinates of the stars of ``symbols``' rows in the SOURCE panel (visible, not scrolled)."""
    return [tuple(point) for point in await page.evaluate("""([group, symbols, header, row, star]) => {
      const viewport = document.querySelector(`section.panel[data-group="${group}"] .panel-viewport`);
      const box = viewport.getBoundingClientRect();
      const rows = window.tickstage.rows(group).map((item) => item.vtSymbol);
      return symbols.map((symbol) => [box.x + star / 2, box.y + header + rows.indexOf(symbol) * row + row / 2]);
    }""", [SOURCE, symbols, HEADER_HEIGHT_PX, ROW_HEIGHT_PX, STAR_WIDTH_PX])]


def _updates_received(desk) -> int:
    return desk.runtime.registry.get("market-source").instance.statistics().extra["watchlist_edits"]


async def test_stars_when_two_clicked_within_the_debounce_then_one_update_and_the_watch_panel_follows(
        desk, screenshot):
    """Two star clicks within 300 ms send exactly one watchlistUpdate; the watch-<user> panel appears with
    both contracts, priced; clicking one star again leaves the panel with the other one; the user's page in
    another browser shows the group and its star from /api/groups."""
    token = mint_token(desk.jwt_secret, USER)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1500, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{desk.url}#token={token}")
        await page.click(f'button[data-subscribe="{SOURCE}"]', timeout=WAIT_MS)
        await page.wait_for_function(PRICED, arg=[SOURCE, 2], timeout=WAIT_MS)
        rows = await page.evaluate("(group) => window.tickstage.rows(group).slice(0, 8)", SOURCE)
        first, second = [row["vtSymbol"] for row in rows if row["last"] is not None][:2]

        for x, y in await _star_points(page, [first, second]):
            await page.mouse.click(x, y)
        await page.wait_for_function(SHOWS, arg=[GROUP, [first, second]], timeout=WAIT_MS)
        added = await page.evaluate("window.tickstage.watchlist()")
        updates_after_add = _updates_received(desk)
        ticket_symbol = await page.evaluate("document.querySelector('[data-slot=orderEntry] input[name=vtSymbol]')?.value ?? ''")
        await page.screenshot(path=str(screenshot("watchlist_edit.png")))

        [(x, y)] = await _star_points(page, [first])
        await page.mouse.click(x, y)
        await page.wait_for_function(SHOWS, arg=[GROUP, [second]], timeout=WAIT_MS)
        removed = await page.evaluate("window.tickstage.watchlist()")

        later = await (await browser.new_context(viewport={"width": 1500, "height": 900})).new_page()
        later.on("pageerror", lambda error: errors.append(str(error)))
        await later.goto(f"{desk.url}#token={token}")  # another browser: the group comes from /api/groups
        await later.wait_for_function(SHOWS, arg=[GROUP, [second]], timeout=WAIT_MS)
        returned = await later.evaluate("window.tickstage.watchlist()")
        await browser.close()

    assert errors == []
    assert updates_after_add == 1 and added["updates"] == 1
    assert added["group"] == GROUP and added["members"] == sorted([first, second])
    assert ticket_symbol not in (first, second)  # a star click is not a row pick
    assert removed["members"] == [second] and removed["updates"] == 2
    assert returned == {"group": GROUP, "members": [second], "updates": 0}
    assert _updates_received(desk) == 2
    assert desk.bridge.watchlist_members(GROUP) == [second]
