// The blotter (slot "blotter"): the page's orders with their live state.
//
// Rows come from the order book (ui/order_book.js): orders the ticket is
// sending, and every order event of the user's accounts (orderAccepted,
// orderRejected, orderUpdated, orderFilled, outcomeUnknown, late orderReply).
// On every (re)connect the blotter asks orderStatusRequest per account, so
// orders placed before a reload, another tab's orders and orders whose events
// were missed while the socket was down show their current state. An order in
// outcomeUnknown is drawn apart (amber, with why): it was sent, the exchange
// has not answered, and it must not be entered again. Working orders have a
// Cancel button (cancelOrder; the answer shows in the row) and a Modify button:
// price and lots inline, sent as replaceOrder (the desk cancels the order and
// sends a linked new one; a retry of the same edit reuses its new client order
// id, so it is one replace). The pair shows as "replaces"/"replaced by".
// "Cancel all" sends cancelAll for every account the page may trade.
//
// Keyboard (ui/hotkeys.js): rows are focusable, the arrow keys move between them and the
// focused (or last clicked) row is the selected order: "tickstage:cancel-selected" cancels it,
// "tickstage:cancel-all" {account} sends cancelAll for the account (every account the page may
// trade when none is given), "tickstage:flatten" {account, vtSymbol} runs ui/flatten.js (its
// working orders cancelled, then flattenPosition at the touch). Reasons show in a line under the state and on hover; rows
// are one line high, so at 1920×1080 more than ten orders show.

import { book } from "./order_book.js";
import { FINAL_STATES, STATE_LABELS, clockOfNs, el, lots, price, rejectionText, tradableAccounts } from "./order_format.js";
import { newClientOrderId } from "./order_ticket.js";
import { registerPanel } from "./panels.js";
import { flattenContract } from "./flatten.js";

const EVENTS = ["orderAccepted", "orderRejected", "orderUpdated", "orderFilled", "outcomeUnknown"];
const RECENT_FINAL = 50; // final orders of a status reply shown after a reload, newest first
const CANCELLABLE = new Set(["pending", "sent", "working", "outcomeUnknown"]);
const CANCEL_LABELS = {
  sent: "cancel sent", unknownOrder: "unknown order", notActive: "already final",
  notSent: "not sent yet: cancel again", error: "cancel refused",
};
const REPLACE_LABELS = {
  accepted: "replaced", rejected: "replace rejected", outcomeUnknown: "replace sent, no answer yet",
  unknownOrder: "unknown order", notWorking: "not working", error: "replace refused",
};
const COLUMNS = ["Time", "Account", "Symbol", "Side", "Price", "Lots", "State", "Status", ""];

class Blotter {
  constructor(element, desk) {
    this.desk = desk;
    this.seenAccounts = new Set();
    this.wasLive = false;
    this.statusSupported = true;
    this.filter = el("label", { className: "blotter-filter" },
      el("input", { attrs: { type: "checkbox", name: "openOnly" } }), " open only");
    this.note = el("span", { className: "blotter-note", data: { blotterNote: "" } });
    this.cancelAllButton = el("button", { className: "blotter-cancel-all", text: "Cancel all",
      attrs: { type: "button", title: "cancel every open order of your accounts" } });
    this.cancelAllButton.addEventListener("click", () => this.cancelAll());
    this.editing = null; // {account, clientOrderId, newClientOrderId}: the row whose Modify form is open
    this.body = el("tbody");
    const head = el("tr", {}, ...COLUMNS.map((title) => el("th", { text: title })));
    this.table = el("table", { className: "blotter", attrs: { "aria-label": "orders", role: "grid" } }, el("thead", {}, head), this.body);
    element.append(el("div", { className: "blotter-bar" }, this.filter, this.cancelAllButton, this.note), this.table);
    this.filter.querySelector("input").addEventListener("change", () => this.render());
    this.body.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-cancel]");
      if (button) this.cancel(button.dataset.account, button.dataset.cancel);
      const modify = event.target.closest("button[data-modify]");
      if (modify) this.edit(modify.dataset.account, modify.dataset.modify);
      const abandon = event.target.closest("button[data-modify-cancel]");
      if (abandon) { this.editing = null; this.render(); }
      const row = event.target.closest("tr[data-order]");
      if (row) this.selectRow(row);
    });
    this.body.addEventListener("input", (event) => { // keep what is typed across re-renders (order events)
      const form = event.target.closest("form.blotter-modify");
      if (form && this.editing) this.editing[event.target.name] = event.target.value;
    });
    this.body.addEventListener("submit", (event) => {
      event.preventDefault();
      this.replace(event.target.closest("form"));
    });
    this.body.addEventListener("focusin", (event) => {
      const row = event.target.closest("tr[data-order]");
      if (row) this.selectRow(row);
    });
    this.body.addEventListener("keydown", (event) => this.onKey(event));
    this.selected = null; // {account, clientOrderId}
    document.addEventListener("tickstage:cancel-selected", () => this.cancelSelected());
    document.addEventListener("tickstage:cancel-all", (event) => this.cancelAll(event.detail?.account));
    document.addEventListener("tickstage:flatten", (event) => this.flatten(event.detail ?? {}));

    for (const member of EVENTS) {
      desk.on(member, (body) => book.view(body.order, member === "outcomeUnknown" ? { reason: body.reason }
        : member === "orderFilled" ? { fill: { price: body.price, volumeLots: body.volumeLots, vtTradeId: body.vtTradeId } } : {}));
    }
    desk.on("orderReply", (reply) => book.reply(reply)); // a reply that came after its request timed out
    desk.on("accountStatus", (status) => {
      if (this.seenAccounts.has(status.account)) return;
      this.seenAccounts.add(status.account);
      if (this.wasLive) this.requestStatus([status.account]); // an account learnt after connecting (admins)
    });
    desk.onSession((session) => this.onSession(session));
    book.onChange(() => this.render());
    this.onSession(desk.session());
    this.render();
  }

  onSession(session) {
    if (session.signedIn === false || session.user !== this.user) {
      if (this.user !== undefined) book.clear();
      this.user = session.signedIn === false ? null : session.user;
      this.seenAccounts.clear();
    }
    const live = session.signedIn !== false && session.state === "live";
    if (live && !this.wasLive) this.requestStatus(tradableAccounts(session, [...this.seenAccounts]));
    this.wasLive = live;
  }

  // Ask the order actors what they have: open orders (and the latest final ones) appear or update.
  async requestStatus(accounts) {
    if (!this.statusSupported) return;
    this.note.dataset.statusRequests = String(Number(this.note.dataset.statusRequests ?? 0) + 1);
    for (const account of accounts) {
      const reply = await this.desk.send("orderStatusRequest", { account, clientOrderIds: [], finishedLimit: RECENT_FINAL });
      if (reply.member === "orderStatusReply") {
        this.take(reply.body.orders);
      } else if (reply.body?.code === "unknownMessage") {
        this.statusSupported = false;
        this.note.textContent = "server cannot report order status: the blotter shows orders seen since this page loaded";
        return;
      } else {
        this.note.textContent = `order status of ${account}: ${reply.body?.code ?? reply.member} ${reply.body?.message ?? ""}`;
      }
    }
  }

  take(orders) {
    const finals = [];
    for (const view of orders) {
      if (!FINAL_STATES.has(view.state) || book.get(view.account, view.clientOrderId) !== undefined) book.view(view);
      else finals.push(view);
    }
    finals.sort((a, b) => (b.updatedTsNs > a.updatedTsNs ? 1 : -1));
    for (const view of finals.slice(0, RECENT_FINAL)) book.view(view);
    this.note.textContent = "";
  }

  async cancel(account, clientOrderId) {
    book.cancelled(account, clientOrderId, { status: "sending", detail: "cancelling…" });
    const reply = await this.desk.send("cancelOrder", { account, clientOrderId });
    if (reply.member === "cancelReply") {
      book.cancelled(account, clientOrderId, { status: reply.body.status, detail: CANCEL_LABELS[reply.body.status] ?? reply.body.status });
    } else {
      book.cancelled(account, clientOrderId, { status: "error", detail: `${CANCEL_LABELS.error}: ${reply.body?.message ?? reply.body?.code}` });
    }
  }

  edit(account, clientOrderId) {
    this.editing = { account, clientOrderId, newClientOrderId: newClientOrderId(this.user ?? "") };
    this.render();
  }

  // Send the open Modify form as replaceOrder; a second send of the same edit reuses its new id.
  async replace(form) {
    const edit = this.editing;
    if (!edit || !form) return;
    const price = Number(form.elements.price.value), volumeLots = Number(form.elements.volumeLots.value);
    const show = (status, detail) => book.cancelled(edit.account, edit.clientOrderId, { status, detail });
    if (!(Number.isFinite(price) && price > 0) || !(Number.isInteger(volumeLots) && volumeLots > 0)) {
      show("error", "price must be > 0 and lots a whole number > 0");
      return;
    }
    show("sending", "replacing…");
    const reply = await this.desk.send("replaceOrder", { clientOrderId: edit.clientOrderId, account: edit.account,
      newClientOrderId: edit.newClientOrderId, price, volumeLots });
    if (reply.member === "replaceReply") {
      const body = reply.body;
      const filled = body.filledBeforeLots > 0 ? ` (${lots(body.filledBeforeLots)} filled first, new ${lots(body.volumeLots)})` : "";
      const why = body.status === "rejected" && body.rejection ? `: ${rejectionText(body.rejection)}` : "";
      show(`replace-${body.status}`, `${REPLACE_LABELS[body.status] ?? body.status}${filled}${why}`);
      if (body.status !== "outcomeUnknown") this.editing = null;
      this.render();
    } else {
      show("error", `${REPLACE_LABELS.error}: ${reply.body?.message ?? reply.body?.code}`);
    }
  }

  // cancelAll for `account`, or for every account the page may trade when none is given.
  async cancelAll(account) {
    const accounts = account ? [account] : tradableAccounts(this.desk.session(), [...this.seenAccounts]);
    const requestId = newClientOrderId(this.user ?? "");
    let named = 0;
    this.note.textContent = "cancelling all…";
    for (const account of accounts) {
      const reply = await this.desk.send("cancelAll", { requestId, account, vtSymbol: "", direction: "long", byDirection: false });
      if (reply.member === "cancelAllReply") named += reply.body.clientOrderIds.length;
      else this.note.textContent = `cancel all of ${account}: ${reply.body?.code ?? reply.member} ${reply.body?.message ?? ""}`;
    }
    this.note.dataset.cancelAll = String(named);
    if (this.note.textContent === "cancelling all…") this.note.textContent = `cancel all: ${named} order(s)`;
  }

  selectRow(row) {
    this.selected = { account: row.dataset.account, clientOrderId: row.dataset.order };
    for (const other of this.body.querySelectorAll("tr[aria-selected='true']")) other.setAttribute("aria-selected", "false");
    row.setAttribute("aria-selected", "true");
  }

  onKey(event) {
    const row = event.target.closest("tr[data-order]");
    if (!row || !["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
    event.preventDefault();
    const rows = [...this.body.querySelectorAll("tr[data-order]")];
    const index = rows.indexOf(row);
    const next = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: rows.length - 1 }[event.key];
    rows[Math.max(0, Math.min(rows.length - 1, next))]?.focus();
  }

  cancelSelected() {
    const order = this.selected && book.get(this.selected.account, this.selected.clientOrderId);
    if (!order || !CANCELLABLE.has(order.state)) {
      this.note.textContent = "no working order selected (arrow keys in the blotter, or a click)";
      return;
    }
    this.cancel(order.account, order.clientOrderId);
  }

  async flatten({ account, vtSymbol }) {
    if (!account || !vtSymbol) return;
    const result = await flattenContract({ desk: this.desk, book, account, vtSymbol });
    this.note.textContent = `flatten ${vtSymbol} (${account}): ${result.cancelled} cancelled, `
      + `${result.closing.length} closing order${result.closing.length === 1 ? "" : "s"}`
      + (result.missing.length ? `; ${result.missing.join("; ")}` : "");
  }

  render() {
    const openOnly = this.filter.querySelector("input").checked;
    const rows = book.list().filter((row) => !openOnly || !FINAL_STATES.has(row.state));
    const focused = this.body.contains(document.activeElement) ? document.activeElement.closest("tr[data-order]") : null;
    this.body.replaceChildren(...rows.map((row) => this.row(row)));
    if (focused) {
      const again = [...this.body.querySelectorAll("tr[data-order]")].find((row) =>
        row.dataset.order === focused.dataset.order && row.dataset.account === focused.dataset.account);
      again?.focus({ preventScroll: true });
    }
    if (rows.length === 0) this.body.append(el("tr", {}, el("td", { className: "slot-empty", text: "no orders", attrs: { colspan: COLUMNS.length } })));
  }

  row(order) {
    const state = el("td", { className: "blotter-state", text: STATE_LABELS[order.state] ?? order.state });
    if (order.state === "rejected" && order.rejection) {
      state.title = rejectionText(order.rejection);
      state.append(el("small", { className: "blotter-why", text: rejectionText(order.rejection) }));
    } else if (order.state === "outcomeUnknown") {
      state.title = order.reason || "sent; the exchange has not answered yet";
      state.append(el("small", { className: "blotter-why", text: order.reason || "awaiting the exchange" }));
    } else if (order.attempts > 1 && (order.state === "retrying" || order.state === "sending")) {
      state.append(el("small", { className: "blotter-why", text: `send ${order.attempts}, same id` }));
    }
    const traded = order.tradedLots > 0 ? `${lots(order.tradedLots)}/${lots(order.volumeLots)}` : lots(order.volumeLots);
    const action = el("td", { className: "blotter-action" });
    if (CANCELLABLE.has(order.state) && order.cancel?.status !== "sent") {
      action.append(el("button", { text: "Cancel", data: { cancel: order.clientOrderId, account: order.account },
        attrs: { type: "button", title: `cancel ${order.clientOrderId}` } }));
    }
    if (order.state === "working" && !order.replacedBy && order.cancel?.status !== "sent") {
      action.append(el("button", { text: "Modify", data: { modify: order.clientOrderId, account: order.account },
        attrs: { type: "button", title: `modify ${order.clientOrderId}: new price and/or lots` } }));
    }
    const editing = this.editing;
    if (editing && editing.account === order.account && editing.clientOrderId === order.clientOrderId) {
      const form = el("form", { className: "blotter-modify", data: { modifyFor: order.clientOrderId } },
        el("input", { attrs: { name: "price", type: "number", step: "any", "aria-label": "new price" } }),
        el("input", { attrs: { name: "volumeLots", type: "number", min: "1", step: "1", "aria-label": "new lots" } }),
        el("button", { text: "Replace", attrs: { type: "submit" } }),
        el("button", { text: "×", data: { modifyCancel: "" }, attrs: { type: "button", title: "close" } }));
      form.elements.price.value = editing.price ?? String(order.price);
      form.elements.volumeLots.value = editing.volumeLots ?? String(order.volumeLots);
      action.append(form);
    }
    if (order.cancel) action.append(el("small", { className: "blotter-cancel", text: order.cancel.detail, data: { cancelStatus: order.cancel.status } }));
    if (order.replaces) action.append(el("small", { className: "blotter-link", text: `replaces ${order.replaces}` }));
    if (order.replacedBy) action.append(el("small", { className: "blotter-link", text: `replaced by ${order.replacedBy}` }));
    const time = order.updatedTsNs > 0n ? clockOfNs(order.updatedTsNs) : new Date(order.createdMs).toLocaleTimeString("en-GB", { hour12: false });
    const side = `${order.direction === "long" ? "B" : order.direction === "short" ? "S" : "N"} ${order.offset}`;
    const selected = this.selected?.account === order.account && this.selected?.clientOrderId === order.clientOrderId;
    return el("tr", { data: { order: order.clientOrderId, account: order.account, state: order.state, direction: order.direction, price: String(order.price) },
      title: `${order.clientOrderId}${order.vtOrderId ? ` · ${order.vtOrderId}` : ""}${state.title ? ` — ${state.title}` : ""}`,
      attrs: { tabindex: "0", "aria-selected": String(selected) } },
    el("td", { text: time }), el("td", { text: order.account }), el("td", { text: order.vtSymbol }),
    el("td", { className: "blotter-side", text: side }),
    el("td", { className: "num", text: `${price(order.price)}${order.avgPrice > 0 ? ` (${price(order.avgPrice)})` : ""}` }),
    el("td", { className: "num", text: traded }), state,
    el("td", { className: "blotter-status", text: order.vtOrderId || order.status !== "submitting" ? order.status : "not sent" }),
    action);
  }
}

registerPanel("blotter", (element, desk) => new Blotter(element, desk));
