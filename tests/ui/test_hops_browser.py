"""Latency per hop in a real headless Chromium (issue 14): the HUD's latency strip and window.tickstage.stats().

A `tickstage run` subprocess replays recorded ticks at 20×; the page subscribes two groups and, once the
worker has pinged, shows p50 / p95 / p99 for every hop (exchange → venue, venue → built, built → sent,
built → decoded, decoded → painted, tick → paint end to end), the exchange's clock skew (the 2017 tape is
years behind the desk's clock) and the browser's clock offset to the desk. The screenshot at 1920×1080
goes to ui/screenshots/ only with ``TICKSTAGE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.async_api import async_playwright

from tests.ui.test_liveness_browser import _open_desk, _start
from tests.ui.test_watchlist_browser import REPLAY, WAIT_MS, Server
from tests.ui.ui_frames import stop_server

pytestmark = pytest.mark.browser
HOP_KEYS = ("exchange_venue", "venue_built", "built_sent", "built_decoded", "decoded_painted", "tick_painted")
CROSS_CLOCK = {"exchange_venue", "built_decoded", "tick_painted"}
TRIPLE = re.compile(r"^-?\d+\.\d / -?\d+\.\d / -?\d+\.\d$")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """`tickstage run` replaying the recorded tape at 20×."""
    running = _start(tmp_path_factory.mktemp("hops"), "--replay", str(REPLAY), "--speed", "20")
    try:
        yield running
    finally:
        stop_server(running.process, running.drain)


async def test_hud_when_streaming_then_shows_p50_p95_p99_per_hop_skew_and_clock_offset(server, screenshot):
    """Every hop shows three figures in order, cross-clock hops are marked, the skew reads in days (the
    replay's stamps) and the clock offset with its ± bound; stats() has the same figures incl. p95."""
    async with async_playwright() as playwright:
        browser, page, errors = await _open_desk(playwright, server, 1920, 1080, groups=("rb", "cu"))
        await page.wait_for_function(
            """(keys) => { const s = window.tickstage.stats();
                 return keys.every((key) => s.hops[key].samples > 0) && s.clock_offset_ms !== null; }""",
            arg=list(HOP_KEYS), timeout=WAIT_MS)
        await page.wait_for_timeout(600)  # two more HUD refreshes with the figures in
        stats = await page.evaluate("window.tickstage.stats()")
        shown = await page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#hops [data-hop]')]
            .map((item) => [item.dataset.hop, {label: item.querySelector('small').textContent,
              value: item.querySelector('b').textContent, title: item.title,
              cross: item.classList.contains('cross')}]))""")
        paint = await page.text_content('[data-metric="paint"]')
        await page.screenshot(path=str(screenshot("hops-1920.png")))
        await browser.close()

    assert errors == []
    for key in HOP_KEYS:
        figures = stats["hops"][key]
        assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"], (key, figures)
        item = shown[f"hop-{key}"]
        assert TRIPLE.match(item["value"]), (key, item)
        assert item["cross"] == (key in CROSS_CLOCK), (key, item)
        if key in CROSS_CLOCK:
            assert "corrected" in item["title"], item
    assert stats["hops"]["venue_built"]["p50_ms"] >= 0, "one clock: never negative"
    assert stats["hops"]["exchange_venue"]["p50_ms"] >= 0, "skew-corrected by a rolling minimum"
    assert TRIPLE.match(paint) and stats["paint_p95_ms"] is not None
    assert set(stats["exchange_skew_ms"]) == {"rb", "cu"}
    assert all(skew > 8 * 365 * 86_400_000 for skew in stats["exchange_skew_ms"].values())
    assert re.match(r"^\+\d{4} d \d\d:\d\d:\d\d", shown["skew"]["value"]), shown["skew"]
    assert re.match(r"^[+−]\d+\.\d ±\d+\.\d ms$", shown["clock"]["value"]), shown["clock"]
    assert abs(stats["clock_offset_ms"]) <= stats["clock_round_trip_ms"] / 2 + 1, "one machine: one clock"
    print({key: stats["hops"][key] for key in HOP_KEYS}, shown["skew"]["value"], shown["clock"]["value"])
