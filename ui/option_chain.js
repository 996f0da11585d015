// The option chain of a watchlist's options (issue 17): per underlying and expiry, calls left,
// strikes in the middle, puts right, in strike order, from the contract data (groupInfo's
// optionStrike, optionExpiryTsNs, optionType, optionUnderlying: vn.py ContractData's option_*).
//
// The at-the-money strike (row[data-atm], marked "ATM") is the strike nearest the underlying's
// last price, read from any open watchlist that holds the underlying (Watchlist.lastOf); while
// none does, the strike where call and put mid prices are closest (put-call parity, "ATM ≈").
// Values refresh at most every REFRESH_MS from the panel's own columns. The table is a grid for
// the keyboard and screen readers: Up/Down move between strikes, Left/Right pick the call or the
// put, Enter opens it (the ticket and the detail panel, as a click on a row does).

const REFRESH_MS = 250;
const SIDES = ["call", "put"];
const CELLS = ["bid", "ask", "last"];

// The chains of `instruments`: [{key, underlying, expiryMs, label, strikes: [{strike, call, put}]}] (rows
// are instrument indexes), sorted by underlying then expiry; strikes ascending.
export function chainsOf(instruments) {
  const chains = new Map();
  instruments.forEach((item, row) => {
    if (!item || item.productClass !== "O" || !(item.optionStrike > 0) || !SIDES.includes(item.optionType)) return;
    const key = `${item.optionUnderlying}|${item.optionExpiryMs || 0}`;
    if (!chains.has(key)) {
      const expiry = item.optionExpiryMs > 0 ? new Date(item.optionExpiryMs).toISOString().slice(0, 10) : "expiry unknown";
      chains.set(key, { key, underlying: item.optionUnderlying, expiryMs: item.optionExpiryMs || 0,
        label: `${item.optionUnderlying || "?"} · ${expiry}`, byStrike: new Map() });
    }
    const strikes = chains.get(key).byStrike;
    if (!strikes.has(item.optionStrike)) strikes.set(item.optionStrike, { strike: item.optionStrike, call: -1, put: -1 });
    strikes.get(item.optionStrike)[item.optionType] = row;
  });
  return [...chains.values()].map(({ byStrike, ...chain }) => ({
    ...chain, strikes: [...byStrike.values()].sort((a, b) => a.strike - b.strike),
  })).sort((a, b) => a.underlying.localeCompare(b.underlying) || a.expiryMs - b.expiryMs);
}

// The index of the strike nearest `price` in ascending `strikes`, or -1.
export function nearestStrike(strikes, price) {
  if (!Number.isFinite(price) || strikes.length === 0) return -1;
  let best = 0;
  for (let i = 1; i < strikes.length; i++) {
    if (Math.abs(strikes[i].strike - price) < Math.abs(strikes[best].strike - price)) best = i;
  }
  return best;
}

export class OptionChain {
  constructor(panel) {
    this.panel = panel;
    this.element = panel.chainView;
    this.refreshedMs = -Infinity;
    this.active = 0; // focused strike row
    this.side = "call";
    this.chains = [];
    this.builtFor = null;
    this.picker = document.createElement("select");
    this.picker.className = "chain-picker";
    this.picker.setAttribute("aria-label", `underlying and expiry of ${panel.group}`);
    this.picker.addEventListener("change", () => {
      this.panel.changeView({ chain: { key: this.picker.value } });
    });
    this.atmNote = document.createElement("span");
    this.atmNote.className = "chain-atm-note";
    this.table = document.createElement("div");
    this.table.className = "chain-grid";
    this.table.tabIndex = 0;
    this.table.setAttribute("role", "grid");
    this.table.setAttribute("aria-label", `option chain of ${panel.group}`);
    this.table.addEventListener("keydown", (event) => this.onKey(event));
    this.table.addEventListener("click", (event) => {
      const cell = event.target.closest("[data-row]");
      if (!cell) return;
      this.active = Number(cell.closest("[data-strike-index]").dataset.strikeIndex);
      this.side = cell.dataset.side;
      this.open();
    });
    const bar = document.createElement("div");
    bar.className = "chain-bar";
    bar.append(this.picker, this.atmNote);
    this.element.replaceChildren(bar, this.table);
  }

  chain() {
    const key = this.panel.view.chain?.key;
    return this.chains.find((chain) => chain.key === key) ?? this.chains[0] ?? null;
  }

  // Rebuild the rows (instruments or the chosen chain changed).
  render() {
    this.chains = chainsOf(this.panel.instruments);
    this.builtFor = this.panel.instruments;
    this.picker.replaceChildren(...this.chains.map((chain) => {
      const option = document.createElement("option");
      option.value = chain.key;
      option.textContent = `${chain.label} (${chain.strikes.length} strikes)`;
      return option;
    }));
    const chain = this.chain();
    if (chain) this.picker.value = chain.key;
    const header = row("header", 1);
    const titles = [...CELLS.map((c) => `Call ${c}`), "Strike", ...[...CELLS].reverse().map((c) => `Put ${c}`)];
    for (const title of titles) {
      const cell = document.createElement("span");
      cell.setAttribute("role", "columnheader");
      cell.textContent = title;
      if (title === "Strike") cell.setAttribute("aria-sort", "ascending");
      header.append(cell);
    }
    const rows = (chain?.strikes ?? []).map((strike, index) => {
      const line = row("strike", index + 2);
      line.dataset.strikeIndex = String(index);
      line.dataset.strike = String(strike.strike);
      line.id = `chain-${this.panel.group}-${index}`.replace(/[^A-Za-z0-9_-]/g, "_");
      const cells = [...CELLS.map((c) => ["call", c]), ["strike", "strike"], ...[...CELLS].reverse().map((c) => ["put", c])];
      for (const [side, field] of cells) {
        const cell = document.createElement("span");
        cell.setAttribute("role", "gridcell");
        cell.className = `chain-${side === "strike" ? "strike" : field}`;
        if (side !== "strike") {
          cell.dataset.side = side;
          cell.dataset.field = field;
          cell.dataset.row = String(strike[side]);
        } else {
          cell.textContent = String(strike.strike);
        }
        line.append(cell);
      }
      return line;
    });
    this.table.setAttribute("aria-rowcount", String(rows.length + 1));
    this.table.replaceChildren(header, ...rows);
    this.active = Math.min(this.active, Math.max(0, rows.length - 1));
    this.refreshedMs = -Infinity;
    this.draw(performance.now());
  }

  // Copy the panel's values into the cells and mark the ATM strike (at most every REFRESH_MS).
  draw(nowMs) {
    if (this.builtFor !== this.panel.instruments) this.render();
    if (nowMs - this.refreshedMs < REFRESH_MS) return;
    this.refreshedMs = nowMs;
    const chain = this.chain();
    if (!chain) {
      this.atmNote.textContent = "no options with strike and expiry in this group";
      return;
    }
    const values = this.panel.values, capacity = this.panel.capacity;
    const at = (key, r) => (r >= 0 && r < capacity ? values[key][r] : NaN);
    for (const cell of this.table.querySelectorAll("[data-row]")) {
      const value = at(cell.dataset.field, Number(cell.dataset.row));
      const text = Number.isFinite(value) ? String(Number(value.toFixed(4))) : "–";
      if (cell.textContent !== text) cell.textContent = text;
    }
    const underlying = this.panel.lastOf(chain.underlying);
    let atm = nearestStrike(chain.strikes, underlying), how = `ATM: ${chain.underlying} last ${underlying}`;
    if (atm < 0) {
      let best = Infinity;
      chain.strikes.forEach((strike, index) => {
        const mid = (r) => (at("bid", r) + at("ask", r)) / 2;
        const gap = Math.abs(mid(strike.call) - mid(strike.put));
        if (gap < best) {
          best = gap;
          atm = index;
        }
      });
      how = atm >= 0 ? `ATM ≈ by put-call parity (${chain.underlying} not watched)` : `${chain.underlying} not watched`;
    }
    this.atmNote.textContent = how;
    for (const line of this.table.querySelectorAll("[data-strike-index]")) {
      const isAtm = Number(line.dataset.strikeIndex) === atm;
      if ((line.dataset.atm === "true") !== isAtm) line.dataset.atm = String(isAtm);
    }
    this.highlight();
  }

  highlight() {
    const line = this.table.querySelector(`[data-strike-index="${this.active}"]`);
    for (const selected of this.table.querySelectorAll("[aria-selected='true']")) selected.setAttribute("aria-selected", "false");
    if (!line) return;
    line.setAttribute("aria-selected", "true");
    line.dataset.side = this.side;
    this.table.setAttribute("aria-activedescendant", line.id);
  }

  onKey(event) {
    const count = this.table.querySelectorAll("[data-strike-index]").length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      this.active = Math.max(0, Math.min(count - 1, this.active + (event.key === "ArrowDown" ? 1 : -1)));
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      this.side = event.key === "ArrowLeft" ? "call" : "put";
    } else if (event.key === "Enter") {
      this.open();
    } else {
      return;
    }
    event.preventDefault();
    this.highlight();
    this.table.querySelector(`[data-strike-index="${this.active}"]`)?.scrollIntoView({ block: "nearest" });
  }

  // Open the active strike's call or put: selected for the hotkeys, filled into the ticket.
  open() {
    const strike = this.chain()?.strikes[this.active];
    const row = strike?.[this.side] ?? -1;
    if (row < 0) return;
    this.highlight();
    document.dispatchEvent(new CustomEvent("tickstage:selected", { detail: { ...this.panel.detailOf(row), panel: this.panel } }));
    this.panel.open(row);
  }
}

function row(kind, index) {
  const line = document.createElement("div");
  line.setAttribute("role", "row");
  line.setAttribute("aria-rowindex", String(index));
  line.className = `chain-row chain-${kind}`;
  return line;
}
