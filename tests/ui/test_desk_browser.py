"""The desk in a real headless Chromium against an in-process desk replaying recorded ticks.

One browser context is one user's browser: its tabs share one SharedWorker,
so one WebSocket. The desk runs on the test's loop (the `desk` fixture), so
the server side is read directly: the socket gateway's statistics and the
groups' subscribers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.ui.test_watchlist_browser import CHROMIUM, CHROMIUM_ARGS
from tests.ui.ui_frames import REPO
from transport.auth import mint_token

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
TABS = 5
GROUP = "m_o"  # DCE soybean meal options: 100 instruments
SCREENSHOT = REPO / "ui" / "screenshots" / "desk.png"

HUD_LIVE = """() => {
  const s = window.tickstage.stats();
  return s.paint_p50_ms !== null && s.raf_p50_ms !== null && s.fps > 0 && s.bytes_per_s > 0
    && document.querySelector('[data-metric="paint"]').textContent.includes("/");
}"""
ROWS_LIVE = """(group) => {
  const rows = window.tickstage.rows(group);
  return rows.length > 0 && rows.filter((row) => row.last !== null).length >= Math.min(20, rows.length);
}"""


def _group_subscribers(desk, group: str) -> int:
    entry = desk.runtime.registry.get(f"market/group/{group}")
    return len(entry.instance.subscribers)


async def _open_tabs(context, url: str, token: str, count: int) -> list:
    """Open ``count`` tabs: the first logs in with the token, the others join the shared session."""
    pages = []
    for i in range(count):
        page = await context.new_page()
        page.on("pageerror", lambda error, errors=pages: errors.append(error))
        await page.goto(f"{url}#token={token}" if i == 0 else url)
        await page.wait_for_function("() => document.body.dataset.session === 'in'", timeout=WAIT_MS)
        await page.click(f'button[data-subscribe="{GROUP}"]', timeout=WAIT_MS)
        pages.append(page)
    return pages


async def test_desk_when_five_tabs_of_one_user_subscribe_then_one_server_socket_serves_all_with_rows(desk, eventually):
    """Five tabs in one browser context: exactly one socket and one session server-side; every tab shows live rows."""
    token = mint_token(desk.jwt_secret, "ann")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1500, "height": 900})
        pages = await _open_tabs(context, desk.url, token, TABS)
        for page in pages:
            await page.wait_for_function(ROWS_LIVE, arg=GROUP, timeout=WAIT_MS)
            await page.wait_for_function(HUD_LIVE, timeout=WAIT_MS)
        stats = [await page.evaluate("window.tickstage.stats()") for page in pages]
        counts = [len(await page.evaluate("(g) => window.tickstage.rows(g)", GROUP)) for page in pages]
        await pages[0].screenshot(path=str(SCREENSHOT))
        gateway = desk.sockets.statistics()
        subscribers = _group_subscribers(desk, GROUP)
        await browser.close()

    assert gateway.sockets_open == 1 and gateway.sockets_opened == 1
    assert gateway.users_connected == 1
    assert subscribers == 1
    assert counts == [100] * TABS
    assert {s["worker"] for s in stats} == {"shared"}
    assert all(s["tabs"] == TABS and s["state"] == "live" for s in stats)
    assert all(s["decode_errors"] == 0 for s in stats)
    keys = {"fps", "raf_p50_ms", "raf_p99_ms", "paint_p50_ms", "paint_p99_ms", "bytes_per_s", "gaps",
            "conflations", "dropped_frames", "long_tasks"}
    assert all(keys <= set(s) for s in stats)
    assert all(s["paint_p50_ms"] > 0 for s in stats)  # tick → paint is measured after the gateway stamped it
    assert Path(SCREENSHOT).exists()
