"""The desk in a real headless Chromium against an in-process desk replaying recorded ticks.

One browser context is one user's browser: its tabs share one SharedWorker,
so one WebSocket. The desk runs on the test's loop (the `desk` fixture), so
the server side is read directly: the socket server's statistics and the
groups' subscribers.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.ui.test_detail_browser import FOLLOWING, _click_row
from tests.ui.test_watchlist_browser import CHROMIUM, CHROMIUM_ARGS, REPLAY, SERVER_START_TIMEOUT_S
from tests.ui.ui_frames import REPO, stop_server
from transport.signin.auth import mint_token

pytestmark = pytest.mark.browser

WAIT_MS = 30_000
TABS = 5
GROUP = "m_o"  # DCE soybean meal options: 100 instruments

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
        sockets = desk.sockets.statistics()
        subscribers = _group_subscribers(desk, GROUP)
        await browser.close()

    assert sockets.sockets_open == 1 and sockets.sockets_opened == 1
    assert sockets.users_connected == 1
    assert subscribers == 1
    assert counts == [100] * TABS
    assert {s["worker"] for s in stats} == {"shared"}
    assert all(s["tabs"] == TABS and s["state"] == "live" for s in stats)
    assert all(s["decode_errors"] == 0 for s in stats)
    keys = {"fps", "raf_p50_ms", "raf_p99_ms", "paint_p50_ms", "paint_p99_ms", "bytes_per_s", "gaps",
            "conflations", "dropped_frames", "long_tasks"}
    assert all(keys <= set(s) for s in stats)
    assert all(s["paint_p50_ms"] > 0 for s in stats)  # tick → paint is measured after the gateway stamped it


WATCH_CONNECTION = """() => {
  window.__connectionSeen = [];
  new MutationObserver(() => window.__connectionSeen.push(document.body.dataset.connection))
    .observe(document.body, { attributes: true, attributeFilter: ["data-connection"] });
}"""
BADGE = """(group) => {
  const badge = document.querySelector(`section.panel[data-group="${CSS.escape(group)}"] .panel-liveness`);
  return { text: badge.textContent, state: badge.dataset.state, offline: badge.dataset.offline ?? "" };
}"""
RECOVERED = """(group) => window.__connectionSeen.includes("reconnecting")
  && document.body.dataset.connection === "live"
  && window.tickstage.stats().connected
  && window.tickstage.rows(group).filter((row) => row.bid !== null).length >= 20"""


async def _kill_shared_worker(browser) -> int:
    """Close every SharedWorker target through the browser's DevTools protocol; return how many."""
    cdp = await browser.new_browser_cdp_session()
    targets = (await cdp.send("Target.getTargets"))["targetInfos"]
    workers = [t for t in targets if t["type"] == "shared_worker"]
    for target in workers:
        await cdp.send("Target.closeTarget", {"targetId": target["targetId"]})
    await cdp.detach()
    return len(workers)


async def test_desk_when_shared_worker_is_killed_then_tabs_show_reconnecting_and_recover_with_snapshots(
        desk, eventually):
    """Killing the SharedWorker mid-stream: every tab shows reconnecting, restarts one worker, gets snapshots."""
    token = mint_token(desk.jwt_secret, "ann")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context()
        pages = await _open_tabs(context, desk.url, token, 2)
        for page in pages:
            await page.wait_for_function(ROWS_LIVE, arg=GROUP, timeout=WAIT_MS)
            await page.evaluate(WATCH_CONNECTION)
        killed = await _kill_shared_worker(browser)
        for page in pages:
            await page.wait_for_function(RECOVERED, arg=GROUP, timeout=WAIT_MS)
        stats = [await page.evaluate("window.tickstage.stats()") for page in pages]
        await eventually(lambda: desk.sockets.statistics().sockets_open == 1, timeout_s=10,
                         what="the old worker's socket closed")
        sockets = desk.sockets.statistics()
        await browser.close()

    assert killed == 1
    assert all(s["worker_restarts"] >= 1 and s["tabs"] == 2 for s in stats)
    assert all(s["snapshots"] >= 1 for s in stats)  # the new worker's groups came back as snapshots
    assert sockets.sockets_opened == 2 and sockets.sockets_open == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_desk(port: int, state_dir: Path, secret: str) -> subprocess.Popen:
    """Start `tickstage run` on ``port`` replaying the recorded ticks; return once it listens (bounded)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "transport.process.cli", "run", "--port", str(port), "--replay", str(REPLAY),
         "--speed", "20", "--jwt-secret", secret],
        cwd=REPO, env={**os.environ, "TICKSTAGE_STATE_DIR": str(state_dir)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    process.reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True)
    process.reader.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if f"127.0.0.1:{port}/" in lines.get(timeout=0.5):
                return process
        except queue.Empty:
            continue
    _stop(process)
    pytest.fail("tickstage run did not start")


def _stop(process: subprocess.Popen) -> None:
    stop_server(process, process.reader)


async def test_desk_when_server_is_killed_then_tabs_show_reconnecting_and_recover_after_restart(tmp_path, jwt_secret):
    """SIGKILL the server mid-stream: tabs show reconnecting; a server started again on the port gets the
    same tabs back (one socket), their groups re-subscribed and filled by snapshots."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    desk = _start_desk(port, tmp_path / "first", jwt_secret)
    again = None
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = await browser.new_context()
            pages = await _open_tabs(context, url, mint_token(jwt_secret, "ann"), 2)
            for page in pages:
                await page.wait_for_function(ROWS_LIVE, arg=GROUP, timeout=WAIT_MS)
                await page.evaluate(WATCH_CONNECTION)
            before = await pages[0].evaluate("window.tickstage.stats()")
            desk.kill()
            desk.wait(timeout=10)
            for page in pages:
                await page.wait_for_function("() => window.__connectionSeen.includes('reconnecting')",
                                             timeout=WAIT_MS)
            offline = [await page.evaluate(BADGE, GROUP) for page in pages]   # the desk is down: no group is "live"
            again = _start_desk(port, tmp_path / "second", jwt_secret)
            for page in pages:
                await page.wait_for_function(RECOVERED, arg=GROUP, timeout=WAIT_MS)
                await page.wait_for_function(f"(group) => ({BADGE})(group).state === 'live'", arg=GROUP,
                                             timeout=WAIT_MS)
            online = [await page.evaluate(BADGE, GROUP) for page in pages]
            after = [await page.evaluate("window.tickstage.stats()") for page in pages]
            await browser.close()
    finally:
        for process in (desk, again):
            if process is not None:
                _stop(process)

    assert all(s["reconnects"] >= before["reconnects"] + 1 for s in after)
    assert all(s["snapshots"] > before["snapshots"] for s in after)
    assert all(s["worker_restarts"] == 0 and s["tabs"] == 2 for s in after)  # the worker lived on
    # the panel's badge told the truth: not "live" in live colours while the desk was down, live again after
    assert all(b["offline"] == "true" and b["text"].startswith("stale · ") for b in offline), offline
    assert all(b["offline"] == "false" and b["text"].startswith("live") for b in online), online


MOUNT_PANEL = """async () => {
  const { registerPanel } = await import("./panels.js");
  const seen = { mounted: false, session: null };
  registerPanel("alerts", (element, desk) => {
    seen.mounted = element.closest("[data-slot]").dataset.slot;
    element.textContent = "mounted by the test";
    seen.session = desk.session();
    window.__desk = desk;
  });
  const reply = await window.__desk.send("snapshotRequest", { group: "zz" });
  return { ...seen, reply };
}"""
BOXES = """() => Object.fromEntries([...document.querySelectorAll("[data-slot]")].map((slot) => {
  const box = slot.getBoundingClientRect();
  return [slot.dataset.slot, { x: box.x, y: box.y, width: box.width, height: box.height }];
}))"""


async def test_desk_layout_when_admin_signs_in_then_slots_sit_in_place_and_panels_mount_and_send(desk, screenshot):
    """Watchlists left, account top right, order entry and risk in the middle, contract detail beside algo and
    alerts, the blotter below them all (it takes the height left); registerPanel mounts into a slot; desk.send
    gets its correlated reply; ops only for admins."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1600, "height": 900})
        page = await context.new_page()
        await page.goto(f"{desk.url}#token={mint_token(desk.jwt_secret, 'ops', 'admin')}")
        for group in (GROUP, "rb"):
            await page.click(f'button[data-subscribe="{group}"]', timeout=WAIT_MS)
        await page.wait_for_function(ROWS_LIVE, arg=GROUP, timeout=WAIT_MS)
        mounted = await page.evaluate(MOUNT_PANEL)
        boxes = await page.evaluate(BOXES)
        admin_links = await page.locator(".admin-only").evaluate_all("(links) => links.map((a) => a.offsetWidth > 0)")
        await page.wait_for_function(HUD_LIVE, timeout=WAIT_MS)
        await _click_row(page, "rb1801.SHFE")  # the contract detail panel follows it, with its chart
        await page.wait_for_function(FOLLOWING, arg=["rb1801.SHFE", 3], timeout=WAIT_MS)
        await page.screenshot(path=str(screenshot("desk.png")))
        trader = await context.new_page()
        await trader.goto(f"{desk.url}?worker=dedicated#token={mint_token(desk.jwt_secret, 'ann')}")
        await trader.wait_for_function("() => document.body.dataset.role === 'trader'", timeout=WAIT_MS)
        trader_links = await trader.locator(".admin-only").evaluate_all("(links) => links.map((a) => a.offsetWidth > 0)")
        await browser.close()

    watch, account, entry, risk = boxes["watchlists"], boxes["account"], boxes["orderEntry"], boxes["risk"]
    algo, alerts, detail, blotter = boxes["algo"], boxes["alerts"], boxes["detail"], boxes["blotter"]
    assert watch["x"] + watch["width"] <= account["x"]  # watchlists left of everything else
    assert account["y"] < entry["y"] == risk["y"] < detail["y"] == algo["y"] < alerts["y"] < blotter["y"]
    assert entry["x"] < risk["x"] and detail["x"] < algo["x"] == alerts["x"]
    assert blotter["y"] >= detail["y"] + detail["height"]
    assert mounted["mounted"] == "alerts"
    assert mounted["session"]["user"] == "ops" and mounted["session"]["role"] == "admin"
    assert mounted["reply"] == {"member": "error", "body": {"code": "unknownGroup", "message": "not subscribed to 'zz'"}}
    assert admin_links == [True, True] and trader_links == [False, False]
