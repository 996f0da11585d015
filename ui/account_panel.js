// Account status (slot "account"): one card per strategy account from the
// accountStatus push (every 1 s per account, schemas/accounts.capnp
// AccountStatus): the strategy account's own balance, available, margin,
// realized and unrealized PnL, then the real account's balance, available and
// margin behind it (shared with other strategy accounts), open orders and trades, and the positions by vt_symbol and direction. A card
// whose last push is older than STALE_MS is greyed out and says how old it is
// (the socket is down or the account actor is restarting).

import { amount, clockOfNs, el, lots, price, sign } from "./order_format.js";
import { registerPanel } from "./panels.js";

export const STALE_MS = 3500; // over 3 pushes missed
const AGE_INTERVAL_MS = 1000;
const FIELDS = [
  ["balance", "Balance"], ["available", "Available"], ["margin", "Margin"],
  ["realizedPnl", "Realized PnL"], ["unrealizedPnl", "Unrealized PnL"],
  ["realBalance", "Real account balance"], ["realAvailable", "Real account available"],
  ["realMargin", "Real account margin"],
];

class AccountPanel {
  constructor(element, desk) {
    this.element = element;
    this.accounts = new Map(); // account → {status, receivedMs, card}
    this.empty = el("p", { className: "slot-empty", text: "no account status yet" });
    this.list = el("div", { className: "accounts" });
    element.append(this.empty, this.list);
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
      entry = { card: el("article", { className: "account-card", data: { account: status.account } }) };
      this.accounts.set(status.account, entry);
      const ordered = [...this.accounts.keys()].sort();
      this.list.replaceChildren(...ordered.map((account) => this.accounts.get(account).card));
      this.empty.hidden = true;
    }
    entry.status = status;
    entry.receivedMs = performance.now();
    this.render(entry);
  }

  render({ card, status }) {
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
    card.replaceChildren(head, figures, this.positions(status.positions ?? []));
    card.dataset.stale = "false";
  }

  positions(positions) {
    if (positions.length === 0) return el("p", { className: "slot-empty", text: "no positions" });
    const head = el("tr", {}, ...["Symbol", "Side", "Lots", "Avg", "Mark", "Realized", "Unrealized"]
      .map((title) => el("th", { text: title })));
    const rows = [...positions]
      .sort((a, b) => a.vtSymbol.localeCompare(b.vtSymbol) || a.direction.localeCompare(b.direction))
      .map((p) => el("tr", { data: { position: `${p.vtSymbol} ${p.direction}` } },
        el("td", { text: p.vtSymbol }), el("td", { className: p.direction === "long" ? "up" : "down", text: p.direction }),
        el("td", { className: "num", text: lots(p.volumeLots) }), el("td", { className: "num", text: price(p.avgPrice) }),
        el("td", { className: "num", text: price(p.markPrice) }),
        el("td", { className: `num ${sign(p.realizedPnl)}`, text: amount(p.realizedPnl) }),
        el("td", { className: `num ${sign(p.unrealizedPnl)}`, text: amount(p.unrealizedPnl) })));
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
