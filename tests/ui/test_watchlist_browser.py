"""The watchlist in a real headless Chromium against `tickstage run` replaying recorded ticks."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from playwright.async_api import async_playwright

from tests.ui.ui_frames import REPO, stop_server
from ui.chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

REPLAY = Path(os.environ.get("TICKSTAGE_DATA_DIR", REPO.parent / "shared" / "data")) / (
    "cn_futopt_l1_20171113_0900-1000.csv.gz"
)
JWT_SECRET = "browser-test-secret-of-at-least-32-bytes"  # PyJWT warns under 32 bytes
SERVER_START_TIMEOUT_S = 60
WAIT_MS = 45_000


@dataclass
class Server:
    """A running `tickstage run` subprocess and its base URL."""

    process: subprocess.Popen
    url: str
    output: list[str]


def _drain(stream, lines: queue.Queue, output: list[str]) -> None:
    for line in stream:
        output.append(line)
        lines.put(line)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """Start `tickstage run --port 0 --replay ... --speed 20` and wait (bounded) for its URL."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (.ci/run does)")
    if not REPLAY.exists():
        pytest.fail(f"recorded data not found: {REPLAY}")
    env = {**os.environ, "TICKSTAGE_STATE_DIR": str(tmp_path_factory.mktemp("desk-state"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "transport.process.cli", "run", "--port", "0", "--replay", str(REPLAY),
         "--speed", "20", "--jwt-secret", JWT_SECRET],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue = queue.Queue()
    output: list[str] = []
    drain = threading.Thread(target=_drain, args=(process.stdout, lines, output), daemon=True)
    drain.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    url = None
    try:
        while url is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                pytest.fail("tickstage run did not print its URL:\n" + "".join(output[-40:]))
            try:
                match = re.search(r"http://127\.0\.0\.1:\d+/", lines.get(timeout=remaining))
            except queue.Empty:
                continue
            url = match.group(0) if match else None
        yield Server(process, url, output)
    finally:
        stop_server(process, drain)


def _token(role: str = "trader", ttl_s: int = 3600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "browser-test", "role": role, "iat": now, "exp": now + ttl_s}, JWT_SECRET, "HS256")


async def _browser(playwright):
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


async def test_watchlist_when_logged_in_and_rb_subscribed_then_rb1801_price_updates_live(server, screenshot):
    """Log in, subscribe rb: rb1801.SHFE appears with a price that then changes; HUD stats are live."""
    async with async_playwright() as playwright:
        browser = await _browser(playwright)
        page = await browser.new_page(viewport={"width": 1280, "height": 760})
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        await page.goto(server.url)
        await page.fill("#token", _token())
        await page.click("#login button[type=submit]")
        await page.click('button[data-subscribe="rb"]', timeout=WAIT_MS)

        first = await page.wait_for_function(
            """() => window.tickstage.rows("rb").find((row) => row.vtSymbol === "rb1801.SHFE" && row.last !== null)""",
            timeout=WAIT_MS,
        )
        first_row = await first.json_value()
        await page.wait_for_function(
            """(before) => {
                 const row = window.tickstage.rows("rb").find((item) => item.vtSymbol === "rb1801.SHFE");
                 return row && (row.last !== before.last || row.volume !== before.volume);
               }""",
            arg=first_row,
            timeout=WAIT_MS,
        )
        await page.wait_for_function(
            "() => window.tickstage.stats().latency_p50_ms !== null && window.tickstage.stats().fps > 0",
            timeout=WAIT_MS,
        )
        stats = await page.evaluate("window.tickstage.stats()")
        panels = await page.locator('section.panel[data-group="rb"] canvas').count()
        await page.screenshot(path=str(screenshot("watchlist.png")))
        await browser.close()

    assert page_errors == []
    assert panels == 1
    assert stats["connected"] is True
    assert stats["frames"] > 0 and stats["bytes"] > 0
    assert stats["decode_errors"] == 0


async def test_page_when_opened_with_token_in_hash_then_connects_and_removes_it_from_the_url(server):
    """#token=... logs in without the form and is scrubbed from location with replaceState."""
    async with async_playwright() as playwright:
        browser = await _browser(playwright)
        page = await browser.new_page()
        await page.goto(f"{server.url}#token={_token()}")
        await page.wait_for_function("() => window.tickstage.stats().connected", timeout=WAIT_MS)
        url = page.url
        session = await page.evaluate("document.body.dataset.session")
        await browser.close()

    assert "token" not in url
    assert session == "in"


async def test_page_when_token_is_refused_then_shows_the_login_form_with_a_reason(server):
    """A token signed with another secret ends in the login form and a visible reason, no reconnect loop."""
    bad = jwt.encode({"sub": "x", "role": "trader", "iat": int(time.time()), "exp": int(time.time()) + 60},
                     "another-secret-also-32-bytes-or-longer", "HS256")
    async with async_playwright() as playwright:
        browser = await _browser(playwright)
        page = await browser.new_page()
        await page.goto(server.url)
        await page.fill("#token", bad)
        await page.click("#login button[type=submit]")
        await page.wait_for_function(
            "() => document.body.dataset.session === 'out' && document.querySelector('#login-message').textContent",
            timeout=WAIT_MS,
        )
        message = await page.text_content("#login-message")
        stats = await page.evaluate("window.tickstage.stats()")
        await browser.close()

    assert "refused" in message
    assert stats["connected"] is False


async def _group_stats(server: Server, group: str) -> dict:
    """The desk's own statistics of market/group/<group> (GET /admin/tree)."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.get(
            f"{server.url}admin/tree", headers={"Authorization": f"Bearer {_token('admin')}"}) as response:
        tree = await response.json()

    def find(node):
        if node["path"] == f"market/group/{group}":
            return node
        return next((found for child in node["children"] if (found := find(child))), None)

    return find(tree["tree"])["stats"]


async def _desk_shows(server: Server, group: str, rows: list[int], timeout_s: float = 20.0) -> dict:
    """Poll (bounded) until the desk's group holds ``rows`` as the viewport; return its statistics."""
    import asyncio

    expected = {"viewport_rows": len(rows), "viewport_first_row": min(rows), "viewport_last_row": max(rows)}
    async with asyncio.timeout(timeout_s):
        while True:
            stats = await _group_stats(server, group)
            if {key: stats.get(key) for key in expected} == expected and stats["viewports"] == 1:
                return stats
            await asyncio.sleep(0.1)


async def test_watchlist_when_scrolled_then_desk_holds_the_visible_rows_as_viewport(server):
    """Issue 18: the watchlist sends ``viewport`` (debounced, on change): the desk's group holds the rows the
    panel shows; scrolled to the end, the desk holds the new rows."""
    async with async_playwright() as playwright:
        browser = await _browser(playwright)
        page = await browser.new_page(viewport={"width": 1280, "height": 760})
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        await page.goto(f"{server.url}#token={_token()}")
        await page.click('button[data-subscribe="m_o"]', timeout=WAIT_MS)
        await page.wait_for_function("() => window.tickstage.viewport('m_o').length > 0", timeout=WAIT_MS)
        top = await page.evaluate("window.tickstage.viewport('m_o')")
        assert 0 < len(top) < 100    # 100 m options: the panel shows some of them
        await _desk_shows(server, "m_o", top)

        await page.evaluate("""() => {
            const box = document.querySelector('section.panel[data-group="m_o"] .panel-viewport');
            box.scrollTop = box.scrollHeight; }""")
        await page.wait_for_function("(before) => window.tickstage.viewport('m_o').join() !== before.join()",
                                     arg=top, timeout=WAIT_MS)
        bottom = await page.evaluate("window.tickstage.viewport('m_o')")
        assert max(bottom) > max(top)
        await _desk_shows(server, "m_o", bottom)
        await browser.close()
    assert page_errors == []
