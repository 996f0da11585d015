// The desk's hotkeys (issue 17): trade, cancel and move around without a mouse.
//
// Each action has a key (HOTKEYS below; the user's own keys are kept in the server-side settings,
// ui/layout.js) and "?" lists them in a dialog where they can be changed. A key is ignored while
// typing in a field, with Ctrl/Alt/Meta held, or while a dialog is open. The actions act on the
// contract selected in a watchlist (arrow keys or a click: "tickstage:selected") and the order
// selected in the blotter; they go through the panels' own paths by DOM events:
//
//   buyAsk / sellBid   "tickstage:trade" {vtSymbol, direction, price, lots}: the order ticket sends it
//                      (same exactly-once retries as its Send button), buy at the ask, sell at the bid,
//                      or crossTicks price ticks beyond it (the user's setting, 0 by default: a limit at
//                      the touch rests when the market moves away before it arrives; a few ticks through
//                      the touch make it marketable, still bounded by its limit price)
//   cancelSelected     "tickstage:cancel-selected": the blotter cancels its selected order
//   cancelAll          "tickstage:cancel-all" {account}: the blotter sends one cancelOrder per working
//                      order of the ticket's account (until the desk has a cancelAll message)
//   flatten            "tickstage:flatten" {account, vtSymbol}: ui/flatten.js (the hook: cancels the
//                      contract's working orders and closes its positions with limit orders)
//
// Destructive actions (DESTRUCTIVE) ask for a confirmation first (Enter confirms, Escape backs out),
// unless the user turned it off for that action in the "?" dialog.

export const HOTKEYS = Object.freeze({
  buyAsk: { key: "b", title: "Buy at the ask (default size)" },
  sellBid: { key: "s", title: "Sell at the bid (default size)" },
  cancelSelected: { key: "x", title: "Cancel the selected order" },
  cancelAll: { key: "X", title: "Cancel all working orders of the account" },
  flatten: { key: "f", title: "Flatten the selected contract" },
  focusTicket: { key: "t", title: "Focus the order ticket" },
  focusWatchlist: { key: "w", title: "Focus the first watchlist" },
  focusFilter: { key: "/", title: "Filter the first watchlist" },
  focusBlotter: { key: "o", title: "Focus the orders (blotter)" },
  help: { key: "?", title: "List the hotkeys" },
});
export const DESTRUCTIVE = Object.freeze(["cancelSelected", "cancelAll", "flatten"]);
export const MAX_CROSS_TICKS = 50;
const TYPING = new Set(["INPUT", "SELECT", "TEXTAREA"]);

export class Hotkeys {
  // settings(): the user's {hotkeys, confirm, lots}; save(change): keep a settings change; toast(text).
  constructor({ settings, save, toast }) {
    this.settings = settings;
    this.save = save;
    this.toast = toast;
    this.selected = null; // {vtSymbol, panel, ...} of the last selected watchlist row
    this.dialog = this.buildDialog();
    document.addEventListener("tickstage:selected", (event) => { this.selected = event.detail; });
    document.addEventListener("tickstage:instrument", (event) => {
      if (!this.selected || this.selected.vtSymbol !== event.detail.vtSymbol) this.selected = event.detail;
    });
    document.addEventListener("keydown", (event) => this.onKey(event));
  }

  keys() {
    const own = this.settings().hotkeys ?? {};
    return Object.fromEntries(Object.entries(HOTKEYS).map(([action, { key }]) => [action,
      typeof own[action] === "string" && own[action].length === 1 ? own[action] : key]));
  }

  confirms(action) {
    return DESTRUCTIVE.includes(action) && (this.settings().confirm ?? {})[action] !== false;
  }

  lots() {
    const lots = Number(this.settings().lots);
    return Number.isInteger(lots) && lots > 0 ? lots : 1;
  }

  // Price ticks beyond the touch for buyAsk / sellBid (an integer 0..MAX_CROSS_TICKS, 0 by default).
  crossTicks() {
    const ticks = Number(this.settings().crossTicks);
    return Number.isInteger(ticks) && ticks >= 0 && ticks <= MAX_CROSS_TICKS ? ticks : 0;
  }

  onKey(event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented) return;
    if (TYPING.has(event.target?.tagName) || event.target?.isContentEditable) return;
    if (document.querySelector("dialog[open]")) return;
    const action = Object.entries(this.keys()).find(([, key]) => key === event.key)?.[0];
    if (!action) return;
    event.preventDefault();
    this.run(action);
  }

  async run(action) {
    if (this.confirms(action) && !(await this.confirm(this.describe(action)))) return;
    this[action]();
  }

  describe(action) {
    const account = ticketAccount();
    if (action === "cancelAll") return `Cancel every working order of ${account || "the account"}?`;
    if (action === "flatten") return `Flatten ${this.selected?.vtSymbol ?? "the selected contract"} in ${account || "the account"}?`;
    return "Cancel the selected order?";
  }

  // The selected row's prices now (the panel's live values), else the event's.
  quote() {
    const selected = this.selected;
    if (!selected) return null;
    const panel = selected.panel;
    const row = panel?.instruments?.findIndex((item) => item?.vtSymbol === selected.vtSymbol) ?? -1;
    return row >= 0 ? panel.detailOf(row) : selected;
  }

  trade(direction) {
    const quote = this.quote();
    if (!quote) {
      this.toast("select a contract first (a watchlist row: arrow keys or a click)");
      return;
    }
    const touch = direction === "long" ? quote.ask : quote.bid;
    if (!Number.isFinite(touch)) {
      this.toast(`${quote.vtSymbol}: no ${direction === "long" ? "ask" : "bid"} to trade at`);
      return;
    }
    const tick = Number.isFinite(quote.priceTick) && quote.priceTick > 0 ? quote.priceTick : 0;
    const beyond = (direction === "long" ? 1 : -1) * this.crossTicks() * tick;
    // on the tick grid: the venue refuses a price that is not a multiple of the tick
    const price = tick ? Math.round((touch + beyond) / tick) * tick : touch;
    document.dispatchEvent(new CustomEvent("tickstage:trade", { detail: {
      vtSymbol: quote.vtSymbol, direction, price, lots: this.lots(), priceTick: quote.priceTick } }));
  }

  buyAsk() { this.trade("long"); }

  sellBid() { this.trade("short"); }

  cancelSelected() { document.dispatchEvent(new CustomEvent("tickstage:cancel-selected")); }

  cancelAll() { document.dispatchEvent(new CustomEvent("tickstage:cancel-all", { detail: { account: ticketAccount() } })); }

  flatten() {
    if (!this.selected) {
      this.toast("select a contract first");
      return;
    }
    document.dispatchEvent(new CustomEvent("tickstage:flatten", { detail: {
      account: ticketAccount(), vtSymbol: this.selected.vtSymbol, quote: this.quote() } }));
  }

  focusTicket() { document.querySelector('[data-slot="orderEntry"] select, [data-slot="orderEntry"] input')?.focus(); }

  focusWatchlist() { document.querySelector(".panel .panel-viewport")?.focus(); }

  focusFilter() { document.querySelector(".panel .panel-filter")?.focus(); }

  focusBlotter() {
    (document.querySelector(".blotter tbody tr[tabindex]") ?? document.querySelector('[data-slot="blotter"] input'))?.focus();
  }

  // -- dialogs -----------------------------------------------------------------------------

  // Ask; resolves true on Confirm (Enter), false on Escape or Back.
  confirm(text) {
    const dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    dialog.setAttribute("aria-label", "confirm");
    const message = document.createElement("p");
    message.textContent = text;
    const yes = button("Confirm", "confirm");
    const no = button("Back", "back");
    const buttons = document.createElement("div");
    buttons.className = "dialog-buttons";
    buttons.append(yes, no);
    dialog.append(message, buttons);
    document.body.append(dialog);
    return new Promise((resolve) => {
      const done = (answer) => {
        dialog.close();
        dialog.remove();
        resolve(answer);
      };
      yes.addEventListener("click", () => done(true));
      no.addEventListener("click", () => done(false));
      dialog.addEventListener("cancel", (event) => {
        event.preventDefault();
        done(false);
      });
      dialog.showModal();
      yes.focus();
    });
  }

  buildDialog() {
    const dialog = document.createElement("dialog");
    dialog.className = "hotkeys-dialog";
    dialog.setAttribute("aria-labelledby", "hotkeys-title");
    document.body.append(dialog);
    return dialog;
  }

  // "?": the hotkeys, each key editable, and the confirmations on or off.
  help() {
    const keys = this.keys();
    const title = document.createElement("h2");
    title.id = "hotkeys-title";
    title.textContent = "Hotkeys";
    const table = document.createElement("table");
    table.className = "hotkeys";
    const head = document.createElement("tr");
    for (const text of ["Key", "Action", "Confirm"]) {
      const cell = document.createElement("th");
      cell.textContent = text;
      head.append(cell);
    }
    table.append(head);
    const inputs = {}, boxes = {};
    for (const [action, { title: what }] of Object.entries(HOTKEYS)) {
      const row = document.createElement("tr");
      row.dataset.action = action;
      const input = document.createElement("input");
      input.value = keys[action];
      input.maxLength = 1;
      input.size = 2;
      input.setAttribute("aria-label", `key for: ${what}`);
      inputs[action] = input;
      const name = document.createElement("td");
      name.textContent = what;
      const confirmCell = document.createElement("td");
      if (DESTRUCTIVE.includes(action)) {
        const box = document.createElement("input");
        box.type = "checkbox";
        box.checked = this.confirms(action);
        box.setAttribute("aria-label", `confirm before: ${what}`);
        boxes[action] = box;
        confirmCell.append(box);
      }
      const keyCell = document.createElement("td");
      keyCell.append(input);
      row.append(keyCell, name, confirmCell);
      table.append(row);
    }
    const lots = document.createElement("input");
    lots.type = "number";
    lots.min = "1";
    lots.step = "1";
    lots.value = String(this.lots());
    lots.name = "lots";
    const lotsLabel = document.createElement("label");
    lotsLabel.append("Default size (lots) ", lots);
    const cross = document.createElement("input");
    cross.type = "number";
    cross.min = "0";
    cross.max = String(MAX_CROSS_TICKS);
    cross.step = "1";
    cross.value = String(this.crossTicks());
    cross.name = "crossTicks";
    const crossLabel = document.createElement("label");
    crossLabel.append(" Buy/sell keys cross the touch by (ticks) ", cross);
    const save = button("Save", "save");
    const close = button("Close", "close");
    const buttons = document.createElement("div");
    buttons.className = "dialog-buttons";
    buttons.append(save, close);
    this.dialog.replaceChildren(title, table, lotsLabel, crossLabel, buttons);
    save.addEventListener("click", async () => {
      const hotkeys = Object.fromEntries(Object.entries(inputs).map(([action, input]) => [action, input.value || HOTKEYS[action].key]));
      const used = Object.values(hotkeys);
      if (new Set(used).size !== used.length) {
        this.toast("two actions share a key: give each its own");
        return;
      }
      const confirm = Object.fromEntries(Object.entries(boxes).map(([action, box]) => [action, box.checked]));
      const crossTicks = Math.min(MAX_CROSS_TICKS, Math.max(0, Math.round(Number(cross.value) || 0)));
      await this.save({ hotkeys, confirm, lots: Math.max(1, Math.round(Number(lots.value) || 1)), crossTicks });
      this.dialog.close();
    });
    close.addEventListener("click", () => this.dialog.close());
    this.dialog.showModal();
    close.focus();
  }
}

function button(text, action) {
  const item = document.createElement("button");
  item.type = "button";
  item.textContent = text;
  item.dataset.action = action;
  return item;
}

// The account chosen in the order ticket.
function ticketAccount() {
  return document.querySelector('[data-slot="orderEntry"] select[name="account"]')?.value ?? "";
}
