"""Issue 14 in a real headless Chromium: each group's liveness badge, the header's dot, and self-healing deltas.

`tickstage run` subprocesses replay recorded ticks; the test drives the
causes through the admin API (stop / restart a group, the simulator's
faults: stall, gateway disconnect, tamper) and reads the page through
``window.tickstage`` and the DOM. Screenshots at 1920×1080 and 1366×768 go
to ui/screenshots/ only with ``TICKSTAGE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import jwt
import pytest
from playwright.async_api import async_playwright

from tests.ui.test_watchlist_browser import JWT_SECRET, REPLAY, SERVER_START_TIMEOUT_S, WAIT_MS, Server, _drain
from tests.ui.ui_frames import REPO, stop_server
from ui.chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser
GROUPS = ("rb", "ni", "cu", "al")


def _start(tmp_path: Path, *args: str) -> Server:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian chromium")
    env = {**os.environ, "TICKSTAGE_STATE_DIR": str(tmp_path / "state")}
    process = subprocess.Popen(
        [sys.executable, "-m", "transport.process.cli", "run", "--port", "0", "--jwt-secret", JWT_SECRET, *args],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    output: list[str] = []
    drain = threading.Thread(target=_drain, args=(process.stdout, lines, output), daemon=True)
    drain.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    url = None
    while url is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            stop_server(process, drain)
            pytest.fail("tickstage run did not print its URL:\n" + "".join(output[-40:]))
        try:
            match = re.search(r"http://127\.0\.0\.1:\d+/", lines.get(timeout=remaining))
        except queue.Empty:
            continue
        url = match.group(0) if match else None
    server = Server(process, url, output)
    server.drain = drain
    return server


def _closed_window() -> str:
    """A one-minute trading window twelve hours from now (exchange time): cu is closed during the test."""
    now = dt.datetime.now(ZoneInfo("Asia/Shanghai")) + dt.timedelta(hours=12)
    later = now + dt.timedelta(minutes=1)
    return f"{now:%H:%M}-{later:%H:%M}"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """`tickstage run` replaying at 20× with cu outside its trading window."""
    tmp_path = tmp_path_factory.mktemp("liveness")
    config = tmp_path / "desk.toml"
    config.write_text(f'[market.trading_windows]\ncu = ["{_closed_window()}"]\n')
    running = _start(tmp_path, "--config", str(config), "--replay", str(REPLAY), "--speed", "20")
    try:
        yield running
    finally:
        stop_server(running.process, running.drain)


def _token(role: str = "trader") -> str:
    now = int(time.time())
    return jwt.encode({"sub": f"liveness-{role}", "role": role, "iat": now, "exp": now + 3600}, JWT_SECRET, "HS256")


async def _admin(http: aiohttp.ClientSession, url: str, route: str, body: dict) -> int:
    async with http.post(f"{url.rstrip('/')}{route}", json=body, headers={"Authorization": f"Bearer {_token('admin')}"}) as answer:
        return answer.status


async def _open_desk(playwright, server: Server, width: int, height: int, groups=GROUPS):
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = await browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{server.url}#token={_token()}")
    for group in groups:
        await page.click(f'button[data-subscribe="{group}"]', timeout=WAIT_MS)
    return browser, page, errors


async def _badge(page, group: str, state: str) -> None:
    await page.wait_for_function(
        """([group, state]) => document.querySelector(`section.panel[data-group="${group}"] .panel-liveness`)
             ?.dataset.state === state""", arg=[group, state], timeout=WAIT_MS)


async def test_liveness_when_group_stopped_stalled_closed_or_venue_down_then_badges_dim_and_header_worst(
        server, screenshot):
    """rb stopped (admin), ni stale (stall fault), cu closed (trading window), al live: each badge says so,
    stale/stopped panels are dimmed, the header's dot shows the worst (stopped); after rb's restart and a
    venue disconnect every group is sourceDown; on reconnect all are live (cu closed) again."""
    async with async_playwright() as playwright, aiohttp.ClientSession() as http:
        browser, page, errors = await _open_desk(playwright, server, 1920, 1080)
        for group in ("rb", "ni", "al"):
            await _badge(page, group, "live")
        await _badge(page, "cu", "closed")
        await page.wait_for_function("() => window.tickstage.rows('al').some((row) => row.last !== null)",
                                     timeout=WAIT_MS)

        assert await _admin(http, server.url, "/admin/stop", {"path": "market/group/rb"}) == 200
        assert await _admin(http, server.url, "/admin/faults", {
            "kind": "stall", "target": "market/group/ni", "duration_ms": 4000}) == 202
        await _badge(page, "rb", "stopped")
        await _badge(page, "ni", "stale")
        await page.wait_for_function("() => document.querySelector('#conn').dataset.state === 'stopped'",
                                     timeout=WAIT_MS)
        await page.wait_for_timeout(600)  # let the badges' data age tick (what the picture shows)
        shown = await page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('section.panel')].map(
            (panel) => [panel.dataset.group, {badge: panel.querySelector('.panel-liveness').textContent,
              title: panel.querySelector('.panel-liveness').title,
              opacity: getComputedStyle(panel.querySelector('canvas')).opacity}]))""")
        header = await page.text_content("#conn-label")
        await page.screenshot(path=str(screenshot("liveness-1920.png")))

        assert await _admin(http, server.url, "/admin/restart", {"path": "market/group/rb"}) == 200
        await _badge(page, "rb", "live")
        await _badge(page, "ni", "live")  # the stall is over: its held frames arrive
        assert await _admin(http, server.url, "/admin/faults", {"kind": "gateway_disconnect", "duration_ms": 3000}) == 202
        for group in GROUPS:
            await _badge(page, group, "sourceDown")
        down_title = await page.get_attribute('section.panel[data-group="al"] .panel-liveness', "title")
        for group in ("rb", "al"):
            await _badge(page, group, "live")
        await _badge(page, "cu", "closed")
        await browser.close()

    assert errors == []
    assert shown["rb"]["badge"].startswith("stopped") and "stopped" in shown["rb"]["title"]
    assert shown["ni"]["badge"].startswith("stale") and "no frame or heartbeat" in shown["ni"]["title"]
    assert shown["cu"]["badge"].startswith("closed") and "trading windows" in shown["cu"]["title"]
    assert shown["al"]["badge"].startswith("live")
    assert float(shown["rb"]["opacity"]) < 1 and float(shown["ni"]["opacity"]) < 1
    assert float(shown["al"]["opacity"]) == 1
    assert header.startswith("stopped") and "rb" in header
    assert "disconnected" in down_title


async def test_tamper_when_delta_altered_in_flight_then_page_heals_and_hud_counts_it(server, screenshot):
    """The tamper fault changes prices in deltas on their way to the sessions (seq intact): the worker's
    state hash disagrees, it asks a snapshot and heals; the HUD counts mismatches / heals and the rows end
    equal to a fresh page's."""
    async with async_playwright() as playwright, aiohttp.ClientSession() as http:
        browser, page, errors = await _open_desk(playwright, server, 1366, 768, groups=("rb", "al"))
        await page.wait_for_function("() => window.tickstage.stats().integrity_checks >= 4", timeout=WAIT_MS)
        before = await page.evaluate("window.tickstage.stats()")
        assert await _admin(http, server.url, "/admin/faults", {
            "kind": "tamper", "target": "sessions/session/*", "duration_ms": 200}) == 202
        await page.wait_for_function(
            """() => { const s = window.tickstage.stats();
                       return s.integrity_mismatches > 0 && s.integrity_heals > 0; }""", timeout=WAIT_MS)
        await page.wait_for_timeout(1500)  # the fault is over; a later mismatch would be a bug
        shown = """() => { const s = window.tickstage.stats();   // the HUD repaints on its own beat
                           return document.querySelector('[data-metric="integrity"]').textContent
                             === `${s.integrity_mismatches} / ${s.integrity_heals}`; }"""
        await page.wait_for_function(shown, timeout=WAIT_MS)
        after, hud = await page.evaluate("""() => [window.tickstage.stats(),
                                                 document.querySelector('[data-metric="integrity"]').textContent]""")
        await page.screenshot(path=str(screenshot("liveness-integrity-1366.png")))
        await browser.close()

    assert errors == []
    assert before["integrity_mismatches"] == 0
    assert after["integrity_mismatches"] >= 1 and after["gaps"] == before["gaps"]
    assert after["integrity_heals"] >= 1
    assert hud == f"{after['integrity_mismatches']} / {after['integrity_heals']}"
    print(f"integrity: {after['integrity_mismatches']} mismatches, {after['integrity_heals']} heals, "
          f"last heal {after['last_heal_ms']} ms")


@pytest.fixture
def ended_server(tmp_path) -> Iterator[Server]:
    """`tickstage run` replaying the first 3,000 rows of the tape at 5×: it ends a few seconds in."""
    tape = tmp_path / "short.csv"
    with gzip.open(REPLAY, "rt") as source, open(tape, "w") as target:
        for _, line in zip(range(3001), source, strict=False):
            target.write(line)
    running = _start(tmp_path, "--replay", str(tape), "--speed", "5")
    try:
        yield running
    finally:
        stop_server(running.process, running.drain)


async def test_replay_end_when_tape_finished_then_badge_ended_and_header_ended(ended_server, screenshot):
    """A finished replay: rb's badge says ended (why: the tape finished) and how old its data are, its last
    prices stay shown, the header's dot is ended."""
    async with async_playwright() as playwright:
        browser, page, errors = await _open_desk(playwright, ended_server, 1366, 768, groups=("rb",))
        await _badge(page, "rb", "ended")
        await page.wait_for_function("() => document.querySelector('#conn').dataset.state === 'ended'",
                                     timeout=WAIT_MS)
        await page.wait_for_function(  # heartbeats keep it from stale; the data's age still grows
            """() => /updated [0-9.]+ s ago/.test(document.querySelector(
                 'section.panel[data-group="rb"] .panel-liveness').textContent)""", timeout=WAIT_MS)
        title = await page.get_attribute('section.panel[data-group="rb"] .panel-liveness', "title")
        rows = await page.evaluate("window.tickstage.rows('rb')")
        await page.screenshot(path=str(screenshot("liveness-ended-1366.png")))
        await browser.close()

    assert errors == []
    assert "finished" in title
    assert any(row["last"] is not None for row in rows)
