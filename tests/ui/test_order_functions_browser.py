"""The blotter's Modify and Cancel all in a real headless Chromium against a whole desk with orders."""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.transport.orders_kit import HIGH_LIMITS, last_price, venue, venue_setting
from tests.ui.test_orders_browser import AWAY, WAIT_MS, _blotter_state, _send, _signed_in_page, order_desk_factory  # noqa: F401
from ui.chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser


async def test_blotter_when_trader_modifies_then_cancels_all_then_one_replace_and_every_order_cancelled(
        order_desk_factory):
    """The ticket shows the contract's default size; Modify of a working order (price and lots inline) replaces
    it by one linked order at the venue, shown as the pair in the blotter; Cancel all then cancels every open
    order of the trader's account."""
    desk = await order_desk_factory(venue_setting(), limits=HIGH_LIMITS, default_lots={"rb": 4})
    last = await last_price(desk)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await _signed_in_page(browser, desk)
            await page.fill('input[name="vtSymbol"]', "rb1801.SHFE")
            await page.dispatch_event('input[name="vtSymbol"]', "change")
            await page.wait_for_function("() => document.querySelector('input[name=\"volumeLots\"]').value === '4'",
                                         timeout=WAIT_MS)   # [orders] default_lots: rb → 4 lots
            first = await _send(page, price=last - AWAY, lots=2)
            other = await _send(page, price=last - AWAY - 1, lots=1)
            await _blotter_state(page, first, "working")
            await _blotter_state(page, other, "working")

            await page.click(f'.blotter tr[data-order="{first}"] button[data-modify]')
            form = f'.blotter form[data-modify-for="{first}"]'
            await page.fill(f'{form} input[name="price"]', str(last - AWAY - 2))
            await page.fill(f'{form} input[name="volumeLots"]', "3")
            await page.click(f'{form} button[type="submit"]')
            await page.wait_for_selector(f'.blotter tr[data-order="{first}"] [data-cancel-status="replace-accepted"]',
                                         timeout=WAIT_MS)
            await _blotter_state(page, first, "cancelled")
            new = await page.evaluate("""(id) => [...document.querySelectorAll('.blotter tr[data-order]')]
              .find((row) => row.textContent.includes(`replaces ${id}`))?.dataset.order""", first)
            assert new, "no blotter row replaces the modified order"
            await _blotter_state(page, new, "working")
            row = await page.text_content(f'.blotter tr[data-order="{new}"]')
            assert f"{last - AWAY - 2:g}" in row.replace(",", "") and "3" in row

            await page.click(".blotter-cancel-all")
            await page.wait_for_function("() => document.querySelector('[data-blotter-note]').dataset.cancelAll === '2'",
                                         timeout=WAIT_MS)
            await _blotter_state(page, new, "cancelled")
            await _blotter_state(page, other, "cancelled")
            assert page.errors == []
        finally:
            await browser.close()

    stats = venue(desk).statistics()
    assert (stats.orders_received, stats.cancel_requests, stats.cancels) == (3, 3, 3)


async def test_account_panel_when_trader_clicks_flatten_then_one_close_today_order_at_the_venue(order_desk_factory):
    """A long bought today shows in the account panel with a Flatten button; a click sends flattenPosition
    (touch): one closing sell of its lots with CLOSETODAY reaches the venue, and the card's bar says so."""
    from datetime import datetime

    from vnpy.trader.constant import Direction, Exchange, Offset
    from vnpy.trader.object import TickData

    desk = await order_desk_factory(venue_setting(), limits=HIGH_LIMITS)
    last = await last_price(desk)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await _signed_in_page(browser, desk)
            bought = await _send(page, price=last + 20, lots=2)
            venue(desk).on_tick(TickData(symbol="rb1801", exchange=Exchange.SHFE, datetime=datetime.now().astimezone(),
                                         gateway_name="SIM", last_price=last, bid_price_1=last - 1, ask_price_1=last,
                                         bid_volume_1=1, ask_volume_1=2))
            await _blotter_state(page, bought, "filled")
            button = '[data-account="acct-01"] tr[data-position="rb1801.SHFE long"] button[data-flatten="rb1801.SHFE"]'
            await page.wait_for_selector(button, timeout=WAIT_MS)
            await page.click(button)
            note = '[data-account="acct-01"] [data-flatten-status="sent"][data-flatten-orders="1"]'
            await page.wait_for_selector(note, timeout=WAIT_MS)
            (child,) = (await page.get_attribute(note, "data-flatten-order-ids")).split()
            assert page.errors == []
        finally:
            await browser.close()

    closing = venue(desk).query_order(reference=f"tickstage:acct-01:{child}")
    assert closing is not None and venue(desk).statistics().orders_received == 2
    assert (closing.direction, closing.offset, closing.volume) == (Direction.SHORT, Offset.CLOSETODAY, 2)
