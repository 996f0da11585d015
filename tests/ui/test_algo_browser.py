"""The algo panel (ui/algo_panel.js) in a real headless Chromium: a trader starts a TWAP, sees its progress bar
move, and stops it, against a whole desk replaying recorded ticks."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.transport.orders_kit import HIGH_LIMITS, SYMBOL, last_price, venue, venue_setting
from tests.ui.test_orders_browser import WAIT_MS, _signed_in_page, order_desk_factory  # noqa: F401 - fixture
from ui.chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser


async def test_algo_panel_when_twap_started_then_progress_shown_and_stop_ends_it(order_desk_factory):  # noqa: F811
    """Start a TWAP (10 lots over 60 s, 6 s interval) from the panel: its row appears running with a progress bar;
    Stop turns it stopped and disables its buttons; the desk stopped the job."""
    desk = await order_desk_factory(venue_setting(), limits=HIGH_LIMITS)
    price = round(await last_price(desk) * 1.03)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await _signed_in_page(browser, desk)
            await page.click(".algo-new")
            await page.locator("dialog.algo-dialog[open]").wait_for(timeout=WAIT_MS)
            await page.select_option('select[name="algoTemplate"]', "TwapAlgo")
            await page.fill('input[name="algoSymbol"]', SYMBOL)
            await page.fill('input[name="algoPrice"]', str(price))
            await page.fill('input[name="algoLots"]', "10")
            await page.fill('input[name="algoSettings"]', "time=60 interval=6")
            await page.click(".algo-start")
            await page.wait_for_selector('.algo-job[data-status="running"] progress', timeout=WAIT_MS)
            assert not await page.locator("dialog.algo-dialog[open]").count()   # closed on start
            job_id = await page.get_attribute(".algo-job", "data-job")
            assert job_id in desk.algos.jobs
            await page.click('.algo-job button[data-action="stopAlgo"]')
            await page.wait_for_selector('.algo-job[data-status="stopped"]', timeout=WAIT_MS)
            assert await page.is_disabled('.algo-job button[data-action="resumeAlgo"]')
            assert page.errors == []
        finally:
            await browser.close()
    assert desk.algos.jobs[job_id].algo.status.name == "STOPPED"
    assert venue(desk).statistics().orders_received <= 1
