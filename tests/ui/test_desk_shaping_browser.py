"""Issue 17 in a real headless Chromium: watchlists a trader shapes, the option chain, trading from the
keyboard alone, and layouts that come back in a new browser (the server keeps them per user).

The desk runs on the test's loop (the ``desk`` fixture: recorded ticks at 20×, the development order
path, the simulator exchange filling crossing orders), so the server side is read directly.
"""

from __future__ import annotations

import pytest
from playwright.async_api import async_playwright

from tests.ui.test_watchlist_browser import CHROMIUM, CHROMIUM_ARGS
from transport.signin.auth import mint_token

pytestmark = pytest.mark.browser

WAIT_MS = 20_000
ROWS_LIVE = """(group) => {
  const rows = window.tickstage.rows(group);
  return rows.length > 0 && rows.filter((row) => row.last !== null).length >= Math.min(8, rows.length);
}"""


async def _page(browser, desk, *, user: str = "trader1", accounts=("acct-01",), viewport=(1600, 1000)):
    """A page of a new browser context (a new browser, as far as the desk can tell), signed in."""
    context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = await context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(error))
    token = mint_token(desk.jwt_secret, user, "trader", accounts=list(accounts))
    await page.goto(f"{desk.url}#token={token}")
    await page.wait_for_function("() => document.body.dataset.session === 'in' && window.tickstage.layout().loaded",
                                 timeout=WAIT_MS)
    return page


async def _subscribe(page, group: str, live: bool = True) -> None:
    await page.click(f'button[data-subscribe="{group}"]', timeout=WAIT_MS)
    if live:
        await page.wait_for_function(ROWS_LIVE, arg=group, timeout=WAIT_MS)


async def _click_header(page, group: str, key: str) -> None:
    """Click the canvas header cell of column ``key`` in ``group``'s watchlist."""
    viewport = page.locator(f'.panel[data-group="{group}"] .panel-viewport')
    box = await viewport.bounding_box()
    columns = await page.evaluate("(g) => window.tickstage.columns(g)", group)
    column = next(c for c in columns if c["key"] == key)
    await page.mouse.click(box["x"] + column["x"] + column["w"] / 2, box["y"] + 10)


async def test_watchlist_when_sorted_filtered_and_columns_chosen_then_rows_and_aria_follow(desk):
    """A header click sorts (again: reversed), the filter keeps matching rows, the column menu hides and
    reorders columns; the grid's columnheader says aria-sort."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await _page(browser, desk)
        await _subscribe(page, "rb")

        await _click_header(page, "rb", "volume")
        first = await page.evaluate("window.tickstage.view('rb').sort")
        await page.wait_for_timeout(600)   # a live column is re-sorted at most every 500 ms
        rows = {r["vtSymbol"]: r for r in await page.evaluate("window.tickstage.rows('rb')")}
        shown = await page.evaluate("window.tickstage.displayed('rb')")
        await _click_header(page, "rb", "volume")
        second = await page.evaluate("window.tickstage.view('rb').sort")
        aria_sort = await page.get_attribute('.panel[data-group="rb"] [role="columnheader"]:has-text("Volume")',
                                             "aria-sort")

        await page.fill('.panel[data-group="rb"] .panel-filter', "rb1801")
        filtered = await page.evaluate("window.tickstage.displayed('rb')")
        await page.fill('.panel[data-group="rb"] .panel-filter', "")

        await page.click('.panel[data-group="rb"] .panel-columns')
        await page.uncheck('.column-line[data-column="bidVolume"] input')
        await page.click('.column-line[data-column="volume"] button[data-action="up"]')
        columns = await page.evaluate("window.tickstage.view('rb').columns")
        await page.wait_for_function("""() => window.tickstage.columns('rb').map((c) => c.key).join()
          === ['star', ...window.tickstage.view('rb').columns].join()""", timeout=WAIT_MS)   # the next paint
        painted = [c["key"] for c in await page.evaluate("window.tickstage.columns('rb')")]
        role = await page.get_attribute('.panel[data-group="rb"] .panel-viewport', "role")
        errors = page.errors
        await browser.close()

    assert first == {"key": "volume", "descending": True} and second == {"key": "volume", "descending": False}
    volumes = [rows[s]["volume"] for s in shown if rows[s]["volume"] is not None]
    assert volumes == sorted(volumes, reverse=True) and len(volumes) >= 8
    assert aria_sort == "ascending" and role == "grid"
    assert filtered == ["rb1801.SHFE"]
    assert "bidVolume" not in columns and columns.index("volume") == columns.index("askVolume") - 1
    assert painted == ["star", *columns]
    assert errors == []


async def test_option_chain_when_shown_then_strikes_in_order_calls_left_puts_right_and_atm_marked(desk):
    """m_o's chain: one underlying and expiry, strikes ascending, a call and a put per strike from the
    contract data, and the at-the-money strike marked from the underlying's last price once it is watched."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await _page(browser, desk)
        await _subscribe(page, "m_o")
        await page.click('.panel[data-group="m_o"] .panel-chain')
        chain = page.locator('.panel[data-group="m_o"] .chain-grid')
        await chain.locator("[data-strike-index]").first.wait_for(timeout=WAIT_MS)
        picker = await page.locator('.panel[data-group="m_o"] .chain-picker option').all_inner_texts()
        strikes = [float(s) for s in await chain.locator("[data-strike-index]").evaluate_all(
            "rows => rows.map((row) => row.dataset.strike)")]
        sides = await chain.locator("[data-strike-index]").first.evaluate(
            "row => [...row.children].map((cell) => cell.dataset.side ?? 'strike')")
        await _subscribe(page, "m", live=False)
        await page.wait_for_function("""() => document.querySelector('.chain-atm-note').textContent.startsWith('ATM:')
          && document.querySelectorAll('.chain-grid [data-atm="true"]').length === 1""", timeout=WAIT_MS)
        atm = float(await chain.locator('[data-atm="true"]').get_attribute("data-strike"))
        underlying = next(r["last"] for r in await page.evaluate("window.tickstage.rows('m')")
                          if r["vtSymbol"] == "m1801.DCE")
        chain_view = await page.evaluate("window.tickstage.view('m_o').chain")
        errors = page.errors
        await browser.close()

    assert picker and picker[0].startswith("m1801.DCE · ")
    assert strikes == sorted(strikes) and len(strikes) >= 10 and len(set(strikes)) == len(strikes)
    assert sides == ["call", "call", "call", "strike", "put", "put", "put"]
    assert abs(atm - underlying) == min(abs(s - underlying) for s in strikes)
    assert chain_view is not None
    assert errors == []


async def test_keyboard_only_when_trader_finds_buys_and_flattens_then_fills_show(desk):
    """No mouse: Tab to the group finder, subscribe rb, filter to rb1801, arrow to it, b buys at the ask,
    the blotter shows it filled; f (confirmed with Enter) flattens: a closing order fills."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await _page(browser, desk)
        await page.wait_for_function("() => document.querySelector('#group-list button')", timeout=WAIT_MS)
        for _ in range(20):
            if await page.evaluate("document.activeElement?.id") == "group-filter":
                break
            await page.keyboard.press("Tab")
        await page.keyboard.type("rb")
        await page.keyboard.press("ArrowDown")
        focused = await page.evaluate("document.activeElement?.dataset.subscribe")
        await page.keyboard.press("Enter")
        await page.wait_for_function(ROWS_LIVE, arg="rb", timeout=WAIT_MS)
        await page.keyboard.press("Escape")
        await page.evaluate("document.activeElement?.blur()")
        await page.keyboard.press("/")
        await page.keyboard.type("rb1801")
        await page.keyboard.press("Enter")   # into the grid, first row selected
        selected = await page.evaluate("document.activeElement?.getAttribute('aria-activedescendant')")
        await page.wait_for_function("""() => { const r = window.tickstage.rows('rb').find((r) => r.vtSymbol === 'rb1801.SHFE');
          return r && r.ask !== null && r.bid !== null; }""", timeout=WAIT_MS)
        # the replay moves the ask while the order travels: the buy key crosses the touch by 5 ticks, set in
        # the "?" dialog, so the limit is marketable (a limit at the touch may rest, as at a venue)
        await page.keyboard.press("?")
        await page.locator(".hotkeys-dialog[open]").wait_for(timeout=WAIT_MS)
        await page.focus('.hotkeys-dialog input[name="crossTicks"]')
        await page.keyboard.press("Control+A")
        await page.keyboard.type("5")
        await page.focus('.hotkeys-dialog button[data-action="save"]')
        await page.keyboard.press("Enter")
        await page.wait_for_function("() => !document.querySelector('dialog[open]')", timeout=WAIT_MS)
        ask = await page.evaluate("""() => window.tickstage.rows('rb').find((r) => r.vtSymbol === 'rb1801.SHFE').ask""")
        await page.keyboard.press("b")
        await page.wait_for_function("""() => [...document.querySelectorAll('.blotter tr[data-order]')]
          .some((row) => row.dataset.state === 'filled' && row.dataset.direction === 'long')""", timeout=WAIT_MS)
        sent_price = await page.evaluate("""() => Number([...document.querySelectorAll('.blotter tr[data-order]')]
          .find((row) => row.dataset.direction === 'long').dataset.price)""")
        await page.wait_for_function("""() => document.querySelector('[data-position="rb1801.SHFE long"]')""",
                                     timeout=WAIT_MS)
        await page.keyboard.press("f")
        await page.locator("dialog.confirm-dialog[open]").wait_for(timeout=WAIT_MS)
        await page.keyboard.press("Enter")
        await page.wait_for_function("""() => [...document.querySelectorAll('.blotter tr[data-order]')]
          .some((row) => row.dataset.state === 'filled' && row.dataset.direction === 'short')""", timeout=WAIT_MS)
        await page.keyboard.press("?")
        listed = await page.locator(".hotkeys-dialog tr[data-action]").count()
        errors = page.errors
        await browser.close()

    assert focused == "rb" and selected
    assert sent_price >= ask  # at or through the ask on screen when b was pressed
    assert listed >= 10
    assert errors == []


async def test_layout_when_browser_closed_then_a_new_browser_gets_it_and_named_layouts_switch(desk):
    """Groups in their (moved) order, a sort, a filter and hidden columns come back in a NEW browser context (kept on the
    server per user); a named layout is saved and switched with the default; reset empties the active one."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        first = await _page(browser, desk)
        await _subscribe(first, "m_o")
        await _subscribe(first, "rb")
        await _click_header(first, "rb", "last")
        await first.fill('.panel[data-group="m_o"] .panel-filter', "C-")
        await first.click('.panel[data-group="m_o"] .panel-columns')
        await first.uncheck('.panel[data-group="m_o"] .column-line[data-column="openInterest"] input')
        await first.click('[data-slot="algo"] .slot-toggle')
        await first.click('.panel[data-group="rb"] .panel-move[data-move="-1"]')
        await first.wait_for_function("() => window.tickstage.layout().saves >= 1", timeout=WAIT_MS)
        await first.wait_for_timeout(600)   # the last change's debounced save
        views = {g: await first.evaluate("(g) => window.tickstage.view(g)", g) for g in ("m_o", "rb")}
        await first.context.close()

        second = await _page(browser, desk)
        await second.wait_for_function("() => window.tickstage.groups().length === 2", timeout=WAIT_MS)
        groups = await second.evaluate("window.tickstage.groups()")
        restored = {g: await second.evaluate("(g) => window.tickstage.view(g)", g) for g in ("m_o", "rb")}
        collapsed = await second.get_attribute('[data-slot="algo"]', "data-collapsed")
        await second.fill("#layout-new", "night")
        await second.click("#layout-save")
        await second.wait_for_function("() => window.tickstage.layout().name === 'night'", timeout=WAIT_MS)
        await second.click('.panel[data-group="rb"] .panel-close')
        await second.wait_for_function("() => window.tickstage.groups().join() === 'm_o'", timeout=WAIT_MS)
        await second.select_option("#layout-name", "default")
        await second.wait_for_function("() => window.tickstage.groups().length === 2", timeout=WAIT_MS)
        back = await second.evaluate("window.tickstage.groups()")
        await second.select_option("#layout-name", "night")
        await second.wait_for_function("() => window.tickstage.groups().join() === 'm_o'", timeout=WAIT_MS)
        await second.click("#layout-reset")
        await second.wait_for_function("() => window.tickstage.groups().length === 0", timeout=WAIT_MS)
        await second.wait_for_timeout(300)
        await second.reload()
        await second.wait_for_function("() => window.tickstage.layout().loaded", timeout=WAIT_MS)
        after_reset = (await second.evaluate("window.tickstage.groups()"), await second.evaluate("window.tickstage.layout()"))
        errors = second.errors
        await browser.close()

    assert groups == ["rb", "m_o"] == back
    assert after_reset[0] == [] and after_reset[1]["name"] == "night" and after_reset[1]["names"] == ["default", "night"]
    assert restored == views
    assert views["rb"]["sort"] == {"key": "last", "descending": True} and views["m_o"]["filter"] == "C-"
    assert "openInterest" not in views["m_o"]["columns"]
    assert collapsed == "true"
    assert errors == []


async def _star(page, group: str, vt_symbol: str) -> None:
    """Click the star of ``vt_symbol``'s row in ``group``'s watchlist."""
    box = await page.locator(f'.panel[data-group="{group}"] .panel-viewport').bounding_box()
    position = (await page.evaluate("(g) => window.tickstage.displayed(g)", group)).index(vt_symbol)
    await page.mouse.click(box["x"] + 12, box["y"] + 26 + position * 22 + 11)


async def test_named_watchlists_when_made_and_starred_then_each_shows_its_own_and_they_last(desk):
    """Two named lists of the user's watchlist group: a star adds to the chosen list; the group's panel shows
    one list or all; a new browser context gets both lists back from the server."""
    watch = "watch-trader1"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await _page(browser, desk)
        await _subscribe(page, "rb")
        await _star(page, "rb", "rb1801.SHFE")
        await page.locator(f'.panel[data-group="{watch}"] .panel-list-new').wait_for(timeout=WAIT_MS)
        for name, symbol in (("spreads", "rb1805.SHFE"), ("outrights", "rb1810.SHFE")):
            await page.fill(f'.panel[data-group="{watch}"] .panel-list-new', name)
            await page.press(f'.panel[data-group="{watch}"] .panel-list-new', "Enter")
            await page.wait_for_function("(n) => window.tickstage.view('watch-trader1').list === n", arg=name,
                                         timeout=WAIT_MS)
            await _star(page, "rb", symbol)
        await page.wait_for_function("""() => window.tickstage.rows('watch-trader1').length === 3""", timeout=WAIT_MS)
        await page.select_option(f'.panel[data-group="{watch}"] .panel-list', "spreads")
        await page.wait_for_function("() => window.tickstage.displayed('watch-trader1').join() === 'rb1805.SHFE'",
                                     timeout=WAIT_MS)
        await page.select_option(f'.panel[data-group="{watch}"] .panel-list', "")
        await page.wait_for_function("() => window.tickstage.displayed('watch-trader1').length === 3", timeout=WAIT_MS)
        await page.wait_for_timeout(600)   # the layout's debounced save
        await page.context.close()

        again = await _page(browser, desk)
        lists = await again.evaluate("window.tickstage.lists()")
        errors = again.errors
        await browser.close()

    assert lists == {"outrights": ["rb1810.SHFE"], "spreads": ["rb1805.SHFE"]}
    assert errors == []


PLACE_ORDERS = """async (count) => {
  const row = window.tickstage.rows('rb').find((r) => r.vtSymbol === 'rb1801.SHFE');
  for (let i = 0; i < count; i++) {
    document.dispatchEvent(new CustomEvent('tickstage:trade', { detail: {
      vtSymbol: 'rb1801.SHFE', direction: 'long', price: row.bid - 10 - i, lots: 1, priceTick: 1 } }));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}"""
OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll('.account-figures dd, .account-figures dt')].map((e) => e.getBoundingClientRect());
  let overlaps = 0;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) overlaps += 1;
  }
  return overlaps;
}"""
ORDERS_SHOWN = """() => {
  const body = document.querySelector('[data-slot="blotter"] .slot-body').getBoundingClientRect();
  return [...document.querySelectorAll('.blotter tr[data-order]')].filter((row) => {
    const box = row.getBoundingClientRect();
    return box.top >= body.top && box.bottom <= body.bottom + 1 && box.bottom <= window.innerHeight;
  }).length;
}"""
CLIPPED = """() => {
  const out = [];
  for (const panel of document.querySelectorAll('.panel')) {
    const columns = window.tickstage.columns(panel.dataset.group);
    const width = panel.querySelector('.panel-viewport').clientWidth;
    const last = columns[columns.length - 1];
    if (last && last.x + last.w > width + 1) out.push(panel.dataset.group);
  }
  for (const cell of document.querySelectorAll('.rules td.num, .ticket input, .ticket select, #layout-save, #layout-name')) {
    const box = cell.getBoundingClientRect(), slot = cell.closest('.slot-body, .sidebar')?.getBoundingClientRect();
    if (slot && box.right > slot.right + 1) out.push(cell.name || cell.id || cell.textContent);
  }
  return out;
}"""


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768)], ids=["1920x1080", "1366x768"])
async def test_desk_when_1920x1080_or_1366x768_then_nothing_overlaps_or_clips_and_ten_orders_show(desk, screenshot, size):
    """Account figures never overlap, watchlist columns and the ticket, risk and sidebar controls fit their
    panels, and at 1920×1080 the blotter shows at least ten orders; the README's screenshot is taken."""
    width, height = size
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await _page(browser, desk, viewport=size)
        await _subscribe(page, "rb")
        await _subscribe(page, "m_o")
        await page.wait_for_function("""() => document.querySelector('.account-figures dd')
          && document.querySelector('.rules tbody tr')""", timeout=WAIT_MS)
        await page.evaluate(PLACE_ORDERS, 12)
        await page.wait_for_function("() => document.querySelectorAll('.blotter tr[data-order]').length >= 12",
                                     timeout=WAIT_MS)
        await page.wait_for_timeout(300)
        overlaps = await page.evaluate(OVERLAPS)
        clipped = await page.evaluate(CLIPPED)
        shown = await page.evaluate(ORDERS_SHOWN)
        box = await page.locator('.panel[data-group="rb"] .panel-viewport').bounding_box()
        position = (await page.evaluate("window.tickstage.displayed('rb')")).index("rb1801.SHFE")
        await page.mouse.click(box["x"] + 120, box["y"] + 26 + position * 22 + 11)   # the detail panel follows it
        await page.evaluate("document.querySelector('.sidebar').scrollTop = 0")
        await page.wait_for_timeout(1500)
        await page.screenshot(path=screenshot(f"desk-{width}x{height}.png"))
        errors = page.errors
        await browser.close()

    assert overlaps == 0
    assert clipped == []
    if height >= 1080:
        assert shown >= 10
    assert errors == []
