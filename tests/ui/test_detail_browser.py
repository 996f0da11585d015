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


CFFEX_DEPTH = "cffex_ctp_depthmd_20160818.csv.gz"
DEPTH_SHOWN = """(symbol) => {
  const detail = window.tickstage.detail();
  return detail.vtSymbol === symbol && detail.depthShown && detail.received >= 2 && detail.depth.bidLevels[0] > 0
    && detail.depthShownMs === detail.latestMs && detail.liveness === "live";
}"""


def _recorded_rows(path, symbol: str, max_gap_s: float) -> dict[float, dict[str, str]]:
    """Exchange time as replayed (ms since epoch, gaps over ``max_gap_s`` compressed) → the recorded CSV row."""
    import csv

    from sim.multiplex import compress_gaps
    from sim.replay import iter_ticks, open_text

    rows = {}
    with open_text(path) as text:
        for raw, tick in zip(csv.DictReader(text), compress_gaps(iter_ticks(path), max_gap_s), strict=True):
            if raw["InstrumentID"] == symbol:
                rows[tick.ts_ns / 1e6] = raw
    return rows


async def test_detail_when_cffex_contract_clicked_then_five_levels_each_side_equal_the_recorded_row(
        start_desk, data_dir):
    """The detail of a recorded CFFEX contract shows 5 levels of bids and asks, each equal to the CTP row
    of the tick shown (levels 2..5 are empty in this recording: shown "–", sent as vn.py's 0), under the
    same liveness mark as the contract's watchlist panel."""
    symbol, group = "T1612", "T"  # a bond future: it trades from 09:15, the index futures from 09:30
    desk = await start_desk(replay=(str(data_dir / CFFEX_DEPTH),), speed=1.0, sim={"max_gap_s": 1.0})
    token = mint_token(desk.jwt_secret, "ann")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1600, "height": 900})
        await page.goto(f"{desk.url}#token={token}")
        await page.wait_for_function("() => document.body.dataset.session === 'in'", timeout=WAIT_MS)
        await page.click(f'button[data-subscribe="{group}"]', timeout=WAIT_MS)
        await page.wait_for_function("([g, s]) => window.tickstage.rows(g).some((r) => r.vtSymbol === s)",
                                     arg=[group, f"{symbol}.CFFEX"], timeout=WAIT_MS)
        rows = await page.evaluate("(group) => window.tickstage.rows(group)", group)
        index = [row["vtSymbol"] for row in rows].index(f"{symbol}.CFFEX")
        viewport = page.locator(f'section.panel[data-group="{group}"] .panel-viewport')
        await viewport.click(position={"x": 60, "y": HEADER_HEIGHT_PX + index * ROW_HEIGHT_PX + ROW_HEIGHT_PX // 2})
        await page.wait_for_function(DEPTH_SHOWN, arg=f"{symbol}.CFFEX", timeout=WAIT_MS)
        detail = await page.evaluate("window.tickstage.detail()")
        panel_state = await page.get_attribute(f'section.panel[data-group="{group}"] .panel-liveness', "data-state")
        await browser.close()

    recorded = _recorded_rows(data_dir / CFFEX_DEPTH, symbol, max_gap_s=1.0)
    row = recorded[detail["depthShownMs"]]
    cells = detail["depthCells"]
    assert all(len(column) == 5 for column in cells.values())
    for level in range(1, 6):
        for key, price, volume in (("bid", f"BidPrice{level}", f"BidVolume{level}"),
                                   ("ask", f"AskPrice{level}", f"AskVolume{level}")):
            shown_price, shown_volume = cells[f"{key}Levels"][level - 1], cells[f"{key}LevelVolumes"][level - 1]
            if row[price]:
                assert float(shown_price) == pytest.approx(float(row[price])), (level, key, row)
                assert int(shown_volume) == int(row[volume]), (level, key, row)
            else:  # CTP's "no value": vn.py's 0, shown as no level
                assert shown_price == "–" and shown_volume == "–", (level, key, row)
    assert row["BidPrice1"] and row["AskPrice1"]  # a live two-sided tick was shown
    assert detail["depth"]["bidLevels"][1:] == [0, 0, 0, 0]  # sent as recorded: empty levels are 0
    assert detail["liveness"] == panel_state == "live"
