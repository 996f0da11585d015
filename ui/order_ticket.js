// Order entry (slot "orderEntry"): one ticket that sends every order exactly once.
//
// Each click of Send makes a new client order id (≤ 64 bytes) and sends
// submitOrder with it. If no reply comes within TICKET.retryMs (or the socket
// is down), the SAME submitOrder — same client order id — is sent again, until
// a reply comes or TICKET.giveUpMs passes. The order actor answers a seen id
// with the original reply and never sends it twice (actors/README.md), so a retry is
// safe; tests/transport/edge/test_order_storm.py's clients do the same.
//
// The ticket shows "sending…", then "retrying (n)…", then the decision:
// accepted (with the vt_orderid), outcome unknown, or rejected naming the rule,
// its limit and the observed value. Orders go to the blotter (ui/blotter.js)
// through the page's order book (ui/order_book.js).
//
// Clicking a watchlist row (ui/watchlist.js dispatches "tickstage:instrument")
// fills in the symbol and its last price. The buy / sell hotkeys (ui/hotkeys.js,
// "tickstage:trade") fill it in and send at once.

import { book } from "./order_book.js";
import { amount, el, rejectionText, ruleLimit, ruleValue, tradableAccounts } from "./order_format.js";
import { registerPanel } from "./panels.js";

// Timings (ms); tests may lower retryMs: `(await import("./order_ticket.js")).TICKET.retryMs = 300`.
export const TICKET = {
  retryMs: 3000, // no reply this long: send the same order again (the server's answer timeout is 2 s)
  reconnectWaitMs: 1000, // socket down: wait this long before the next try
  giveUpMs: 120_000, // stop retrying; the blotter's orderStatusRequest on reconnect finds the order
};
const RETRYABLE = new Set(["timeout", "notConnected", "rateLimited", "internal"]);
const MAX_ID_BYTES = 64;

// A client order id: "<user>-<ms base 36>-<16 random hex>", at most 64 bytes of ASCII.
export function newClientOrderId(user = "") {
  const random = new Uint8Array(8);
  crypto.getRandomValues(random); // crypto.randomUUID needs a secure context; a LAN desk may be plain http
  const hex = Array.from(random, (byte) => byte.toString(16).padStart(2, "0")).join("");
  const prefix = String(user).replace(/[^A-Za-z0-9_]/g, "").slice(0, 20) || "web";
  return `${prefix}-${Date.now().toString(36)}-${hex}`.slice(0, MAX_ID_BYTES);
}

const FORM = `
  <label>Account<select name="account" required></select></label>
  <label>Symbol<input name="vtSymbol" placeholder="rb1801.SHFE" required autocomplete="off" spellcheck="false"></label>
  <label>Side<select name="direction"><option value="long">Buy (long)</option><option value="short">Sell (short)</option></select></label>
  <label>Offset<select name="offset"><option value="open">open</option><option value="close">close</option>
    <option value="closeToday">close today</option><option value="closeYesterday">close yesterday</option>
    <option value="none">none</option></select></label>
  <label>Type<select name="orderType"><option value="limit">limit</option><option value="market">market</option>
    <option value="fak">FAK</option><option value="fok">FOK</option></select></label>
  <label>Price<input name="price" type="number" step="any" inputmode="decimal" autocomplete="off"></label>
  <label>Lots<input name="volumeLots" type="number" min="1" step="1" value="1" inputmode="numeric"></label>
  <button type="submit" class="ticket-send">Send</button>`;

class OrderTicket {
  constructor(element, desk) {
    this.desk = desk;
    this.seenAccounts = new Set();
    this.form = el("form", { className: "ticket", attrs: { autocomplete: "off", "aria-label": "order ticket" } });
    this.form.innerHTML = FORM; // static markup only; values are set through properties below
    this.status = el("div", { className: "ticket-status", data: { ticketStatus: "", state: "idle" }, attrs: { role: "status" } });
    element.append(this.form, this.status);
    this.fields = Object.fromEntries([...this.form.elements].filter((f) => f.name).map((f) => [f.name, f]));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.fields.direction.addEventListener("change", () => { this.form.dataset.direction = this.fields.direction.value; });
    this.form.dataset.direction = "long";
    desk.onSession((session) => {
      if (session.signedIn === false) this.seenAccounts.clear();
      this.renderAccounts();
    });
    desk.on("accountStatus", (status) => {
      if (this.seenAccounts.has(status.account)) return;
      this.seenAccounts.add(status.account);
      this.renderAccounts();
    });
    this.defaultLots = {}; // vt_symbol or product → lots (GET /api/order-defaults)
    document.addEventListener("tickstage:order-defaults", (event) => {
      this.defaultLots = event.detail?.defaultLots ?? {};
      this.applyDefaultLots();
    });
    this.fields.vtSymbol.addEventListener("change", () => this.applyDefaultLots());
    document.addEventListener("tickstage:instrument", (event) => this.prefill(event.detail));
    document.addEventListener("tickstage:trade", (event) => this.trade(event.detail));
    this.renderAccounts();
  }

  renderAccounts() {
    const select = this.fields.account;
    const accounts = tradableAccounts(this.desk.session(), [...this.seenAccounts]);
    const current = select.value;
    if (accounts.join("\u0000") === [...select.options].map((o) => o.value).join("\u0000")) return;
    select.replaceChildren(...accounts.map((account) => el("option", { text: account, attrs: { value: account } })));
    if (accounts.includes(current)) select.value = current;
  }

  // The contract's default size: its vt_symbol's entry, else its product's ("rb" of "rb1801.SHFE"), else 1.
  applyDefaultLots() {
    const vtSymbol = this.fields.vtSymbol.value.trim();
    const product = vtSymbol.split(".")[0].replace(/\d.*$/, "");
    const lots = this.defaultLots[vtSymbol] ?? this.defaultLots[product] ?? 1;
    this.fields.volumeLots.value = String(lots);
    this.form.dataset.defaultLots = String(lots);
  }

  // {vtSymbol, last, bid, ask, priceTick} of a clicked watchlist row.
  prefill({ vtSymbol, last, bid, ask, priceTick } = {}) {
    if (!vtSymbol) return;
    this.fields.vtSymbol.value = vtSymbol;
    this.applyDefaultLots();
    const reference = Number.isFinite(last) ? last : this.fields.direction.value === "long" ? ask : bid;
    if (Number.isFinite(reference)) this.fields.price.value = String(reference);
    this.fields.price.step = priceTick > 0 ? String(priceTick) : "any";
    this.fields.price.focus({ preventScroll: true });
  }

  // A hotkey's order (ui/hotkeys.js): {vtSymbol, direction, price, lots}, an opening limit order sent
  // at once from this ticket (its status and exactly-once retries as for Send).
  trade({ vtSymbol, direction, price, lots, priceTick }) {
    const f = this.fields;
    f.vtSymbol.value = vtSymbol;
    f.direction.value = direction;
    this.form.dataset.direction = direction;
    f.offset.value = "open";
    f.orderType.value = "limit";
    f.price.value = String(price);
    f.price.step = priceTick > 0 ? String(priceTick) : "any";
    f.volumeLots.value = String(lots);
    return this.submit();
  }

  // The submitOrder body from the form, or throws RangeError naming the bad field.
  order() {
    const f = this.fields;
    const account = f.account.value, vtSymbol = f.vtSymbol.value.trim();
    const price = f.price.value === "" ? NaN : Number(f.price.value), volumeLots = Number(f.volumeLots.value);
    if (!account) throw new RangeError("no account: the token grants none");
    if (!/^[^.\s]+\.[A-Z0-9_]+$/.test(vtSymbol)) throw new RangeError("symbol must be a vt_symbol, \"rb1801.SHFE\"");
    if (!(Number.isInteger(volumeLots) && volumeLots > 0)) throw new RangeError("lots must be a whole number > 0");
    const priced = f.orderType.value !== "market";
    if (priced && !(Number.isFinite(price) && price > 0)) throw new RangeError("price must be a number > 0");
    return {
      clientOrderId: newClientOrderId(this.desk.session().user), account, vtSymbol,
      direction: f.direction.value, offset: f.offset.value, orderType: f.orderType.value,
      price: priced ? price : 0, volumeLots, reference: "ticket",
    };
  }

  async submit() {
    let order;
    try {
      order = this.order();
    } catch (error) {
      this.show("invalid", error.message);
      return;
    }
    this.current = order.clientOrderId;
    const reply = await sendOnce(this.desk, order, (state, attempts) => {
      book.local(order, state, attempts);
      if (this.current === order.clientOrderId) {
        this.show(state, state === "sending" ? "sending…" : `retrying (send ${attempts}, same order id)…`, order, attempts);
      }
    });
    if (reply.member === "orderReply") book.reply(reply.body);
    if (this.current === order.clientOrderId) this.showReply(order, reply);
  }

  showReply(order, { member, body, attempts }) {
    const where = `${order.direction === "long" ? "buy" : "sell"} ${order.volumeLots} ${order.vtSymbol}`;
    if (member === "orderReply" && body.status === "accepted") {
      this.show("accepted", `accepted: ${where} @ ${amount(order.price, 2)} · ${body.vtOrderId}`, order, attempts);
    } else if (member === "orderReply" && body.status === "outcomeUnknown") {
      this.show("outcomeUnknown", `outcome unknown: ${where} was sent, the exchange has not answered; `
        + "watch the blotter (never re-enter it)", order, attempts);
    } else if (member === "orderReply") {
      this.show("rejected", `rejected: ${where}`, order, attempts);
      this.status.append(rejectionDetails(body.rejection));
    } else if (member === "noReply") {
      this.show("noReply", `no reply after ${attempts} sends: the order may exist; the blotter asks the `
        + "server on reconnect (do not re-enter it)", order, attempts);
    } else {
      this.show("error", `refused (${body?.code ?? "error"}): ${body?.message ?? ""}`, order, attempts);
    }
  }

  show(state, text, order = null, attempts = 0) {
    this.status.dataset.state = state;
    this.status.dataset.clientOrderId = order?.clientOrderId ?? "";
    this.status.dataset.attempts = String(attempts);
    this.status.replaceChildren(el("span", { className: "ticket-status-text", text }));
    if (order) this.status.append(el("small", { className: "ticket-id", text: order.clientOrderId }));
  }
}

// Send `order` until a reply decides it: resolves {member, body, attempts}, member
// orderReply, error (refused for good: forbidden, malformed ...) or noReply (gave up).
// progress(state, attempts) is called before each send: "sending", then "retrying".
export async function sendOnce(desk, order, progress = () => {}) {
  const deadline = performance.now() + TICKET.giveUpMs;
  for (let attempts = 1; ; attempts++) {
    progress(attempts === 1 ? "sending" : "retrying", attempts);
    const started = performance.now();
    const reply = await desk.send("submitOrder", order, { timeoutMs: TICKET.retryMs });
    if (reply.member === "orderReply") return { ...reply, attempts };
    if (reply.member !== "error" || !RETRYABLE.has(reply.body?.code)) return { ...reply, attempts };
    if (performance.now() >= deadline) {
      book.local(order, "noReply", attempts);
      return { member: "noReply", body: reply.body, attempts };
    }
    const waited = performance.now() - started;
    if (reply.body.code !== "timeout" && waited < TICKET.reconnectWaitMs) {
      await sleep(TICKET.reconnectWaitMs - waited); // refused at once (socket down, rate limit): do not spin
    }
  }
}

function rejectionDetails(rejection) {
  const list = el("dl", { className: "rejection", data: { rule: rejection?.rule ?? "" } });
  const rule = rejection?.rule ?? "";
  const rows = rule === "kill_switch" ? [["Rule", "kill switch"], ["Reason", rejection?.reason || "–"]]
    : [["Rule", rule || "–"], [rule === "trading_hours" ? "Next open" : "Limit", ruleLimit(rule, rejection?.limit)],
      [rule === "trading_hours" ? "At" : "Observed", ruleValue(rule, rejection?.observed)], ["Reason", rejection?.reason || "–"]];
  for (const [term, value] of rows) {
    list.append(el("dt", { text: term }), el("dd", { text: value, data: { field: term.toLowerCase().replace(" ", "-") } }));
  }
  list.title = rejectionText(rejection);
  return list;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

registerPanel("orderEntry", (element, desk) => new OrderTicket(element, desk));
