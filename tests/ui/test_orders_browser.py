"""The order panels in a real headless Chromium against a whole desk with orders.

The desk runs on the test's loop (as in test_desk_browser.py) with the order
path configured as tests/transport/orders_kit.py does: two accounts, every risk
rule, a simulator exchange of its own. The trader uses the page only: the
ticket (ui/order_ticket.js), the blotter (ui/blotter.js), the account, risk
and alert panels. The server side (the venue's counts, the order actor's
duplicates) is read directly.
"""

from __future__ import annotations

import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from playwright.async_api import async_playwright

from tests.conftest import JWT_SECRET
from tests.transport.orders_kit import SYMBOL, last_price, orders_config, token, venue, venue_setting
from tests.ui.test_desk_browser import _kill_shared_worker
from tests.ui.test_watchlist_browser import REPLAY
from ui.chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

WAIT_MS = 20_000
GROUP = "rb"  # SHFE rebar: holds SYMBOL
VOLUME_LIMIT_LOTS = 5
AWAY = 100  # a buy this far under the last price stays working (20 under filled within seconds at 20×); the price band is 5 %


@pytest.fixture
async def order_desk_factory(tmp_path, start_desk):
    """Start desks replaying recorded ticks at 20× with the order path of orders_kit; all stopped at the end."""
    from transport.edge.ws import SocketLimits

    count = 0

    async def _start(sim: dict, **orders):
        nonlocal count
        folder = tmp_path / f"desk-{count}"
        count += 1
        config = orders_config(folder, **orders)
        folder.mkdir()
        return await start_desk(replay=(str(REPLAY),), jwt_secret=JWT_SECRET, limits=SocketLimits(auth_timeout_s=2.0),
                                orders=config, sim=sim)

    return _start


async def _signed_in_page(browser, desk, user="trader1", accounts=("acct-01",)):
    """A page of its own browser context (its own socket), signed in, with the order panels mounted."""
    context = await browser.new_context(viewport={"width": 1600, "height": 1000})
    page = await context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    page.errors = errors
    await page.goto(f"{desk.url}#token={token(JWT_SECRET, user, accounts)}")
    await page.wait_for_function("""() => document.body.dataset.connection === 'live'
      && document.querySelector('[data-slot="blotter"]').dataset.mounted === 'true'
      && document.querySelector('select[name="account"]').options.length > 0""", timeout=WAIT_MS)
    return page


async def _send(page, *, price: float, lots: int, symbol: str = SYMBOL) -> str:
    """Fill the ticket and click Send once; return the client order id the ticket chose."""
    await page.fill('input[name="vtSymbol"]', symbol)
    await page.fill('input[name="price"]', str(price))
    await page.fill('input[name="volumeLots"]', str(lots))
    before = await page.get_attribute("[data-ticket-status]", "data-client-order-id")
    await page.click(".ticket-send")
    await page.wait_for_function("""(before) => {
      const id = document.querySelector('[data-ticket-status]').dataset.clientOrderId;
      return id && id !== before;
    }""", arg=before or "", timeout=WAIT_MS)
    return await page.get_attribute("[data-ticket-status]", "data-client-order-id")


async def _ticket_state(page, client_order_id: str, states: tuple[str, ...]) -> str:
    """Wait until the ticket shows a decision for ``client_order_id`` in ``states``; return it."""
    await page.wait_for_function("""([id, states]) => {
      const status = document.querySelector('[data-ticket-status]');
      return status.dataset.clientOrderId === id && states.includes(status.dataset.state);
    }""", arg=[client_order_id, list(states)], timeout=WAIT_MS)
    return await page.get_attribute("[data-ticket-status]", "data-state")


async def _blotter_state(page, client_order_id: str, state: str) -> None:
    """Wait until the blotter shows ``client_order_id`` in ``state``; fail with the blotter's rows."""
    try:
        await page.wait_for_selector(f'.blotter tr[data-order="{client_order_id}"][data-state="{state}"]',
                                     timeout=WAIT_MS)
    except PlaywrightTimeoutError:
        rows = await page.evaluate("""() => [...document.querySelectorAll('[data-slot="blotter"] tr')]
          .map((row) => `${row.dataset.state ?? ''} ${row.textContent}`)""")
        raise AssertionError(f"{client_order_id} not {state} in the blotter: {rows}") from None


async def _click_row(page, group: str, vt_symbol: str) -> None:
    """Click the watchlist row of ``vt_symbol`` (scrolled into view) as a trader would."""
    await page.wait_for_function("([g, s]) => window.tickstage.rows(g).some((r) => r.vtSymbol === s && r.last !== null)",
                                 arg=[group, vt_symbol], timeout=WAIT_MS)
    point = await page.evaluate("""([group, symbol]) => {
      const index = window.tickstage.rows(group).findIndex((row) => row.vtSymbol === symbol);
      const viewport = document.querySelector(`[data-group="${group}"] .panel-viewport`);
      viewport.scrollTop = index * 22;
      const box = viewport.getBoundingClientRect();
      return { x: box.x + 60, y: box.y + 26 + index * 22 - viewport.scrollTop + 11 };
    }""", [group, vt_symbol])
    await page.mouse.click(point["x"], point["y"])


async def test_ticket_when_trader_sends_limit_then_blotter_live_rejection_named_and_account_shown(
        order_desk_factory, screenshot):
    """A limit order from the ticket (symbol picked from the watchlist) is accepted and works in the blotter
    until cancelled from it; an order over the volume limit shows rule, limit and observed value in the
    ticket and the alerts; the account panel shows the balance and the risk panel the limit."""
    desk = await order_desk_factory(venue_setting(), limits={"order_volume": {"limit": VOLUME_LIMIT_LOTS}})
    last = await last_price(desk)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await _signed_in_page(browser, desk)
        await page.click(f'button[data-subscribe="{GROUP}"]', timeout=WAIT_MS)
        await _click_row(page, GROUP, SYMBOL)
        picked = await page.input_value('input[name="vtSymbol"]')

        working = await _send(page, price=last - AWAY, lots=1)
        accepted = await _ticket_state(page, working, ("accepted", "rejected", "outcomeUnknown", "error"))
        await _blotter_state(page, working, "working")

        too_big = await _send(page, price=last - AWAY, lots=VOLUME_LIMIT_LOTS * 2)
        refused = await _ticket_state(page, too_big, ("accepted", "rejected", "outcomeUnknown", "error"))
        rejection = await page.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
          '[data-ticket-status] dd[data-field]')].map((dd) => [dd.dataset.field, dd.textContent]))""")
        await _blotter_state(page, too_big, "rejected")
        await page.wait_for_selector('.alerts li[data-rule="order_volume"]', timeout=WAIT_MS)
        alert = await page.text_content('.alerts li[data-rule="order_volume"]')
        await page.wait_for_function("""() => {
          const balance = document.querySelector('[data-account="acct-01"] [data-field="balance"]');
          return balance && balance.textContent !== '–';
        }""", timeout=WAIT_MS)
        balance = await page.text_content('[data-account="acct-01"] [data-field="balance"]')
        await page.wait_for_selector('.risk-card[data-account="acct-01"] tr[data-rule="order_volume"]', timeout=WAIT_MS)
        volume_rule = await page.text_content('.risk-card[data-account="acct-01"] tr[data-rule="order_volume"]')
        venue_rule = await page.evaluate("""() => { const row = document.querySelector(
          '.risk-card[data-account="acct-01"] tr[data-rule="venue"]');
          return row && { cells: [...row.cells].map((td) => td.textContent), near: row.classList.contains("near") }; }""")
        await page.screenshot(path=str(screenshot("orders.png")))

        await page.click(f'.blotter tr[data-order="{working}"] button[data-cancel]')
        await _blotter_state(page, working, "cancelled")
        errors = page.errors
        await browser.close()

    stats = venue(desk).statistics()
    assert picked == SYMBOL
    assert accepted == "accepted" and refused == "rejected"
    assert rejection == {"rule": "order_volume", "limit": "5", "observed": "10",
                         "reason": "10 lots over the 5-lot limit"}
    assert "order_volume" in alert and "10" in alert and "5" in alert
    assert float(balance.replace(",", "")) > 0
    assert "order_volume" in volume_rule and "5" in volume_rule
    # a ready venue reads as such, not as a rule at its limit (it showed "1 / 1", highlighted and first)
    assert venue_rule == {"cells": ["venue", "ready", "on", ""], "near": False}
    assert stats.orders_received == 1  # the rejected order never reached the exchange
    assert stats.cancels == 1
    assert errors == []


async def test_ticket_when_reply_is_late_then_same_order_re_sent_and_exchange_gets_it_once(order_desk_factory):
    """The exchange answers 1.5 s late and the ticket re-sends after 0.3 s: one click sends the same client
    order id several times, the exchange gets one order, and the page shows one working order; a second
    browser of the trader opening later finds it through orderStatusRequest."""
    desk = await order_desk_factory(venue_setting(order_latency_ms=1500))
    last = await last_price(desk)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await _signed_in_page(browser, desk)
        await page.evaluate("async () => { (await import('./order_ticket.js')).TICKET.retryMs = 300; }")

        client_order_id = await _send(page, price=last - AWAY, lots=1)
        await page.wait_for_selector('[data-ticket-status][data-state="retrying"]', timeout=WAIT_MS)
        decided = await _ticket_state(page, client_order_id, ("accepted", "rejected", "outcomeUnknown", "error"))
        attempts = int(await page.get_attribute("[data-ticket-status]", "data-attempts"))
        await _blotter_state(page, client_order_id, "working")
        rows = await page.locator(".blotter tr[data-order]").count()

        later = await _signed_in_page(browser, desk)
        await _blotter_state(later, client_order_id, "working")
        errors = page.errors + later.errors
        await browser.close()

    stats = venue(desk).statistics()
    actor = desk.runtime.registry.entry("orders/acct-01").instance
    assert decided == "accepted"
    assert attempts >= 3  # ~1.5 s of answer over 0.3 s retries
    assert actor.duplicates >= attempts - 1  # every re-send reached the order actor ...
    assert (stats.orders_received, stats.distinct_references, stats.most_per_reference) == (1, 1, 1)  # ... once to the exchange
    assert rows == 1
    assert errors == []


async def test_ticket_when_worker_dies_with_order_in_flight_then_resent_after_reconnect_and_blotter_resynced(
        order_desk_factory):
    """The SharedWorker (and its socket) dies right after Send: the ticket re-sends the same id through the
    new worker's socket, the exchange still gets one order, and the blotter asks the order status again."""
    desk = await order_desk_factory(venue_setting(order_latency_ms=1000))
    last = await last_price(desk)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await _signed_in_page(browser, desk)
        await page.evaluate("async () => { (await import('./order_ticket.js')).TICKET.retryMs = 1000; }")
        requests_before = int(await page.get_attribute("[data-blotter-note]", "data-status-requests"))

        client_order_id = await _send(page, price=last - AWAY, lots=1)
        killed = await _kill_shared_worker(browser)
        decided = await _ticket_state(page, client_order_id, ("accepted", "rejected", "outcomeUnknown", "error"))
        attempts = int(await page.get_attribute("[data-ticket-status]", "data-attempts"))
        await _blotter_state(page, client_order_id, "working")
        await page.wait_for_function("(before) => Number(document.querySelector('[data-blotter-note]')"
                                     ".dataset.statusRequests) > before", arg=requests_before, timeout=WAIT_MS)
        stats = await page.evaluate("window.tickstage.stats()")
        errors = page.errors
        await browser.close()

    exchange = venue(desk).statistics()
    assert killed == 1 and stats["worker_restarts"] >= 1
    assert decided == "accepted" and attempts >= 2
    assert (exchange.orders_received, exchange.distinct_references, exchange.most_per_reference) == (1, 1, 1)
    assert errors == []
