// Account status (slot "account"): one card per strategy account from the
// accountStatus push (every 1 s per account, schemas/accounts.capnp
// AccountStatus): the strategy account's own balance, available, margin,
// realized and unrealized PnL, then the real account's balance, available and
// margin behind it (shared with other strategy accounts), open orders and trades, and the positions by vt_symbol and direction. A card
// whose last push is older than STALE_MS is greyed out and says how old it is
// (the socket is down or the account actor is restarting). Each card has a
// Flatten bar (aggressiveness passive / touch / cross with ticks beyond the
// touch, "Flatten all") and each position row a Flatten button: they send
// flattenPosition (schemas/orders.capnp FlattenPosition; the desk sends one
// closing order per contract, side and offset, and a retry of the same click
// reuses its client order id, so it is one flatten). The answer shows in the bar.

import { amount, clockOfNs, el, lots, price, rejectionText, sign } from "./order_format.js";
import { newClientOrderId } from "./order_ticket.js";
import { registerPanel } from "./panels.js";

export const STALE_MS = 3500; // over 3 pushes missed
const AGE_INTERVAL_MS = 1000;
const FIELDS = [
  ["balance", "Balance"], ["available", "Available"], ["margin", "Margin"],
  ["realizedPnl", "Realized PnL"], ["unrealizedPnl", "Unrealized PnL"],
  ["realBalance", "Real account balance"], ["realAvailable", "Real account available"],
  ["realMargin", "Real account margin"],
];
const FLATTEN_LABELS = { sent: "closing orders sent", nothingHeld: "nothing held", rejected: "flatten refused" };

class AccountPanel {
  constructor(element, desk) {
    this.element = element;
    this.desk = desk;
    this.accounts = new Map(); // account → {status, receivedMs, card}
    this.empty = el("p", { className: "slot-empty", text: "no account status yet" });
    this.list = el("div", { className: "accounts" });
    element.append(this.empty, this.list);
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-flatten]");
      const card = button?.closest("[data-account]");
      if (card) this.flatten(card.dataset.account, button.dataset.flatten);
    });
    desk.on("accountStatus", (status) => this.update(status));
    desk.onSession((session) => {
      if (session.signedIn === false) this.clear();
    });
    setInterval(() => this.age(), AGE_INTERVAL_MS);
  }

  clear() {
    this.accounts.clear();
    this.list.replaceChildren();
    this.empty.hidden = false;
  }

  update(status) {
    let entry = this.accounts.get(status.account);
    if (entry === undefined) {
      entry = { card: el("article", { className: "account-card", data: { account: status.account } }),
        flattenBar: this.flattenBar() };
      this.accounts.set(status.account, entry);
      const ordered = [...this.accounts.keys()].sort();
      this.list.replaceChildren(...ordered.map((account) => this.accounts.get(account).card));
      this.empty.hidden = true;
    }
    entry.status = status;
    entry.receivedMs = performance.now();
    this.render(entry);
  }

  // The card's Flatten controls: kept across renders (the 1 s push redraws the rest of the card).
  flattenBar() {
    const aggressiveness = el("select", { attrs: { name: "aggressiveness", title: "closing price" } },
      ...[["touch", "touch (opposite best)"], ["passive", "passive (own side)"], ["cross", "cross (ticks beyond)"]]
        .map(([value, text]) => el("option", { text, attrs: { value } })));
    const ticks = el("input", { attrs: { name: "ticks", type: "number", min: "0", step: "1", value: "1",
      title: "ticks beyond the touch (cross)", "aria-label": "ticks" } });
    const all = el("button", { text: "Flatten all", data: { flatten: "" },
      attrs: { type: "button", title: "close every position of this account" } });
    const note = el("span", { className: "flatten-note", data: { flattenNote: "" } });
    return el("div", { className: "flatten-bar" }, aggressiveness, ticks, all, note);
  }

  // Send flattenPosition for one contract ("" : every contract held); a retry of the same click while its
  // answer is outstanding reuses its id.
  async flatten(account, vtSymbol) {
    const entry = this.accounts.get(account);
    if (!entry) return;
    const bar = entry.flattenBar;
    const note = bar.querySelector("[data-flatten-note]");
    const aggressiveness = bar.querySelector('select[name="aggressiveness"]').value;
    const ticks = aggressiveness === "cross" ? Number(bar.querySelector('input[name="ticks"]').value) : 0;
    if (!(Number.isInteger(ticks) && ticks >= 0)) {
      note.textContent = "ticks must be a whole number >= 0";
      return;
    }
    const key = `${vtSymbol}|${aggressiveness}|${ticks}`;
    if (entry.flattening?.key !== key) entry.flattening = { key, id: newClientOrderId(this.desk.session().user) };
    const clientOrderId = entry.flattening.id;
    note.textContent = `flattening ${vtSymbol || "all"}…`;
    const reply = await this.desk.send("flattenPosition", { clientOrderId, account, vtSymbol, aggressiveness, ticks });
    if (reply.member === "flattenReply") {
      const body = reply.body;
      const why = body.status === "rejected" && body.rejection ? `: ${rejectionText(body.rejection)}` : "";
      const orders = body.clientOrderIds.length ? ` (${body.clientOrderIds.length})` : "";
      note.textContent = `${FLATTEN_LABELS[body.status] ?? body.status}${orders}${why}`;
      note.dataset.flattenStatus = body.status;
      note.dataset.flattenOrders = String(body.clientOrderIds.length);
      note.dataset.flattenOrderIds = body.clientOrderIds.join(" ");
      entry.flattening = null;
    } else {
      note.textContent = `flatten refused: ${reply.body?.message ?? reply.body?.code ?? reply.member}`;
      note.dataset.flattenStatus = "error";
    }
  }

  render({ card, status, flattenBar }) {
    const real = status.realAccounts?.length ? ` · ${status.realAccounts.join(", ")}` : "";
    const head = el("header", { className: "account-head" },
      el("b", { text: status.account }),
      el("span", { className: "account-meta", text: `${status.trader}${real}` }),
      el("span", { className: "account-meta", text: `${status.openOrders} open · ${status.trades} trades` }),
      el("span", { className: "account-age", data: { age: "" }, text: clockOfNs(status.tsNs) }));
    const figures = el("dl", { className: "account-figures" });
    for (const [field, label] of FIELDS) {
      const value = status[field];
      const pnl = field.endsWith("Pnl");
      figures.append(el("div", {}, el("dt", { text: label }),
        el("dd", { className: pnl ? sign(value) : "", text: amount(value), data: { field } })));
    }
    card.replaceChildren(head, figures, flattenBar, this.positions(status.positions ?? []));
    card.dataset.stale = "false";
  }

  positions(positions) {
    if (positions.length === 0) return el("p", { className: "slot-empty", text: "no positions" });
    const head = el("tr", {}, ...["Symbol", "Side", "Lots", "Avg", "Mark", "Realized", "Unrealized", ""]
      .map((title) => el("th", { text: title })));
    const rows = [...positions]
      .sort((a, b) => a.vtSymbol.localeCompare(b.vtSymbol) || a.direction.localeCompare(b.direction))
      .map((p) => el("tr", { data: { position: `${p.vtSymbol} ${p.direction}` } },
        el("td", { text: p.vtSymbol }), el("td", { className: p.direction === "long" ? "up" : "down", text: p.direction }),
        el("td", { className: "num", text: lots(p.volumeLots) }), el("td", { className: "num", text: price(p.avgPrice) }),
        el("td", { className: "num", text: price(p.markPrice) }),
        el("td", { className: `num ${sign(p.realizedPnl)}`, text: amount(p.realizedPnl) }),
        el("td", { className: `num ${sign(p.unrealizedPnl)}`, text: amount(p.unrealizedPnl) }),
        el("td", {}, p.volumeLots > 0 ? el("button", { text: "Flatten", data: { flatten: p.vtSymbol },
          attrs: { type: "button", title: `close ${p.vtSymbol}` } }) : null)));
    return el("table", { className: "positions" }, el("thead", {}, head), el("tbody", {}, ...rows));
  }

  age() {
    const now = performance.now();
    for (const { card, receivedMs } of this.accounts.values()) {
      const stale = now - receivedMs > STALE_MS;
      if (card.dataset.stale !== String(stale)) card.dataset.stale = String(stale);
      if (stale) card.querySelector("[data-age]").textContent = `stale: ${Math.round((now - receivedMs) / 1000)} s old`;
    }
  }
}

registerPanel("account", (element, desk) => new AccountPanel(element, desk));
