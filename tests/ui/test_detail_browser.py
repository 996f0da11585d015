"""The contract detail panel in a real headless Chromium: a clicked contract's every tick, live chart.

Two tabs of one user (one SharedWorker, one socket) against an in-process
desk replaying recorded CTP ticks at 20×; the server side (the ``ticks``
actor's subscribers) is read directly.
"""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from actors.market.ticks import TICKS_PATH
from tests.ui.test_watchlist_browser import CHROMIUM, CHROMIUM_ARGS
from transport.signin.auth import mint_token

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
GROUP = "rb"
ROW_HEIGHT_PX, HEADER_HEIGHT_PX = 22, 26  # ui/watchlist.js
FOLLOWING = """([symbol, points]) => {
  const detail = window.tickstage.detail();
  return detail.vtSymbol === symbol && detail.points >= points && detail.received >= 1
    && Number.isFinite(detail.last)
    && document.querySelector('[data-slot="detail"] .detail-symbol').textContent === symbol;
}"""


async def _click_row(page, vt_symbol: str) -> None:
    rows = await page.evaluate("(group) => window.tickstage.rows(group)", GROUP)
    index = [row["vtSymbol"] for row in rows].index(vt_symbol)
    viewport = page.locator(f'section.panel[data-group="{GROUP}"] .panel-viewport')
    await viewport.click(position={"x": 60, "y": HEADER_HEIGHT_PX + index * ROW_HEIGHT_PX + ROW_HEIGHT_PX // 2})


def _followers(desk, vt_symbol: str) -> int:
    return len(desk.runtime.registry.entry(TICKS_PATH).instance.subscribers.get(vt_symbol, {}))


async def test_detail_when_rows_clicked_in_two_tabs_then_one_server_subscription_follows_the_ticks(desk, eventually):
    """A clicked row's contract shows its history then live ticks; two tabs on one contract are one server
    subscription; it ends only when neither tab follows it any more."""
    token = mint_token(desk.jwt_secret, "ann")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1600, "height": 900})
        pages = []
        for i in range(2):
            page = await context.new_page()
            await page.goto(f"{desk.url}#token={token}" if i == 0 else desk.url)
            await page.wait_for_function("() => document.body.dataset.session === 'in'", timeout=WAIT_MS)
            await page.click(f'button[data-subscribe="{GROUP}"]', timeout=WAIT_MS)
            await page.wait_for_function("(g) => window.tickstage.rows(g).filter((r) => r.last !== null).length >= 5",
                                         arg=GROUP, timeout=WAIT_MS)
            pages.append(page)
        first, second = pages
        await _click_row(first, "rb1801.SHFE")
        await first.wait_for_function(FOLLOWING, arg=["rb1801.SHFE", 2], timeout=WAIT_MS)
        await _click_row(second, "rb1801.SHFE")
        await second.wait_for_function(FOLLOWING, arg=["rb1801.SHFE", 1], timeout=WAIT_MS)
        shared = _followers(desk, "rb1801.SHFE")
        await _click_row(first, "rb1805.SHFE")
        await first.wait_for_function(FOLLOWING, arg=["rb1805.SHFE", 1], timeout=WAIT_MS)
        still = _followers(desk, "rb1801.SHFE")
        await _click_row(second, "rb1805.SHFE")
        await eventually(lambda: _followers(desk, "rb1801.SHFE") == 0, timeout_s=10,
                         what="rb1801 unfollowed once neither tab shows it")
        detail = await second.evaluate("window.tickstage.detail()")
        now = _followers(desk, "rb1805.SHFE")
        await browser.close()
        await eventually(lambda: _followers(desk, "rb1805.SHFE") == 0, timeout_s=10,
                         what="a closed socket's contracts unfollowed")

    assert shared == 1 and still == 1  # one socket: one subscription, kept while a tab follows
    assert detail["vtSymbol"] == "rb1805.SHFE" and now == 1
