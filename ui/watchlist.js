// One watchlist panel: a group's L1 rows drawn on a <canvas> with virtual rows.
//
// The page keeps its own copy of the group's state (Float64Array per column,
// filled from the worker's "rows" batches). draw() runs on every animation
// frame and repaints only what changed: the whole canvas after a scroll,
// resize or new instrument list; otherwise only the cells of visible rows
// whose value changed or whose change highlight reached its next fade step
// (the highlight fades in FADE_STEPS steps, so a changed cell is repainted
// FADE_STEPS + 1 times, not on every frame). The symbol column is painted only
// with the whole canvas (perf/bench_browser.py: draw_p99_ms), as is the star
// column left of it: ★ for a contract in the user's watchlist group, ☆ otherwise
// (ui/watchlist_edit.js); a click on a star toggles it, and the editor marks
// every panel dirty (one full repaint) when membership changes.
//
// Liveness (issue 14): a badge in the panel head shows the group's state
// (groupStatus: live, stale, stopped, restarting, sourceDown, closed, preOpen, ended),
// its reason (the badge's title) and the age of the data (since the gateway
// received its newest tick: a quiet market's heartbeats keep it live, not fresh); a panel that is not live is dimmed
// (section[data-liveness], ui/style.css). A contract with no value yet shows
// why in its Last cell ("pre-open": no quote nor trade yet; "no trade": quoted,
// not traded) instead of bare dashes.
//
// A trader shapes each watchlist (issue 17): a click on a column header sorts by it (again: reversed;
// a live column is re-sorted at most every SORT_INTERVAL_MS), the filter box keeps the rows whose
// symbol, vt_symbol, name or product contains every word typed, and the Columns menu shows, hides and
// reorders columns and sorts from the keyboard. getView()/setView() carry {sort, filter, columns, chain}
// for the user's saved layout (ui/layout.js); onViewChange(group) is called after each change.
// The rows are a grid for the keyboard and screen readers: the viewport is focusable (role=grid),
// the arrow keys, Page Up/Down, Home and End move the selected row (document gets
// "tickstage:selected"), Enter opens it (the "tickstage:instrument" of a click). A visually hidden
// mirror holds the header (columnheader, aria-sort) and the selected row (row, gridcell) for screen
// readers; aria-activedescendant points at it.
// An option group can show its chain (ui/option_chain.js) per underlying and expiry instead.

import { OptionChain } from "./option_chain.js";

export const FIELDS = ["last", "bid", "ask", "bidVolume", "askVolume", "volume", "openInterest"];
const ROW_HEIGHT_PX = 22;
const HEADER_HEIGHT_PX = 26;
const FADE_MS = 800;
const FADE_STEPS = 4;
// A paint of fade steps alone waits this long after the last paint: fades ride
// along with the paints new data brings (~30 Hz), so the canvas is not handed
// to the compositor on every animation frame (perf/bench_browser.py, 5 tabs).
const FADE_ONLY_INTERVAL_MS = 50;
const ALL_CELLS = 0xff;
const MIN_BODY_HEIGHT_PX = 120;
const MAX_BODY_HEIGHT_PX = 420;
const FONT = "12px ui-monospace, 'JetBrains Mono', 'DejaVu Sans Mono', Menlo, Consolas, monospace";
const SORT_INTERVAL_MS = 500;
const MIN_SCALE = 0.62; // narrowest columns, × their listed widths
const COLUMNS = [
  { key: "star", title: "", width: 24, align: "left", fixed: true }, // not widened: clicks right of it pick the row
  { key: "symbol", title: "Symbol", width: 140, align: "left" },
  { key: "last", title: "Last", width: 92, price: true },
  { key: "bid", title: "Bid", width: 92, price: true },
  { key: "ask", title: "Ask", width: 92, price: true },
  { key: "bidVolume", title: "Bid vol", width: 72 },
  { key: "askVolume", title: "Ask vol", width: 72 },
  { key: "volume", title: "Volume", width: 92 },
  { key: "openInterest", title: "Open int", width: 92 },
];
export const COLUMN_KEYS = COLUMNS.filter((column) => !column.fixed).map((column) => column.key);
const COLUMN_TITLES = Object.fromEntries(COLUMNS.map((column) => [column.key, column.title]));
const COLORS = {
  selected: "#1d2d44",
  background: "#0d1117", zebra: "#11161e", header: "#161c25", grid: "#1f2733", text: "#c9d1d9",
  dim: "#5c6a7a", star: "#e3b341", up: "#26c281", down: "#f0506e", bid: "#58a6ff", ask: "#f2a65a",
  upFlash: "38, 194, 129", downFlash: "240, 80, 110", flash: "201, 209, 217",
};

// Decimals to show for a price with this minimum step (0.5 → 1, 0.01 → 2; unknown → 2).
export function decimalsFor(priceTick) {
  if (!(priceTick > 0)) return 2;
  return Math.min(6, Math.max(0, Math.ceil(-Math.log10(priceTick) - 1e-9)));
}

const OPEN_PANELS = new Set(); // every Watchlist of this tab, for lastOf()

export const VIEWPORT_DEBOUNCE_MS = 150; // rows shown must hold still this long before a viewport is sent

function sameRows(a, b) {
  if (a === b) return true;
  if (a === null || b === null || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Watchlist {
  // starred: {has(vtSymbol), toggle(vtSymbol)} (ui/watchlist_edit.js WatchlistEditor), or null: no stars.
  // lists: the user's named watchlists (ui/named_lists.js) for the user's own watchlist group's panel,
  // which then shows one list at a time (view.list; null: the whole group); null for other groups.
  // onMove(group, delta): move this panel up (-1) or down (+1) among the watchlists.
  // onViewport(group, rows): the rows (instrument indexes, display order) the panel shows changed and
  // held still for VIEWPORT_DEBOUNCE_MS (scroll, resize, sort, filter): the page sends a `viewport`.
  constructor(group, { onClose, starred = null, onViewChange = () => {}, lists = null, onMove = () => {},
    onViewport = () => {} }) {
    this.group = group;
    this.onViewChange = onViewChange;
    this.onViewport = onViewport;
    this.viewportSent = null; // Int32Array of the rows last reported (null: none yet)
    this.viewportTimer = null;
    this.lists = lists;
    this.view = { sort: null, filter: "", columns: [...COLUMN_KEYS], chain: null, list: null };
    this.order = new Int32Array(0); // display position → row (instrument index), filtered and sorted
    this.orderDirty = true;
    this.sortedAtMs = -Infinity;
    this.selected = null; // vtSymbol of the selected row
    this.rowByVtSymbol = new Map();
    OPEN_PANELS.add(this);
    this.starred = starred;
    this.version = 0;
    this.instruments = [];
    this.decimals = [];
    this.capacity = 0;
    this.values = Object.fromEntries(FIELDS.map((key) => [key, new Float64Array(0)]));
    this.changedAt = new Float64Array(0); // performance.now() of the row's last change
    this.changedMask = new Uint8Array(0); // bit i: FIELDS[i] changed then
    this.direction = new Int8Array(0); // last price: +1 up, -1 down
    this.cellDirty = new Uint8Array(0); // bit i: FIELDS[i] changed since the row was painted
    this.paintedStep = new Uint8Array(0); // fade step the row was painted with
    this.paintedMask = new Uint8Array(0); // cells painted highlighted (bits of FIELDS)
    this.dirty = true; // repaint everything
    this.rowsDirty = false; // some row needs a repaint
    this.fadingUntil = 0;
    this.paintedAtMs = -Infinity; // last paint of any rows
    this.visible = [0, -1]; // first, last row index painted by the previous draw

    this.element = document.createElement("section");
    this.element.className = "panel";
    this.element.dataset.group = group;
    this.element.innerHTML = `
      <header class="panel-head">
        <h2></h2><span class="panel-liveness" data-state="unknown" title="waiting for the group's status">…</span>
        <span class="panel-meta">waiting for instruments…</span>
        <input type="search" class="panel-filter" placeholder="filter" autocomplete="off" spellcheck="false">
        <button type="button" class="panel-columns" aria-haspopup="true" aria-expanded="false">Columns</button>
        <button type="button" class="panel-chain" hidden aria-pressed="false">Chain</button>
        <span class="panel-lists" hidden><select class="panel-list"></select>
          <input class="panel-list-new" placeholder="new list" maxlength="64" autocomplete="off">
          <button type="button" class="panel-list-add">Add list</button></span>
        <button type="button" class="panel-move" data-move="-1" title="Move up">↑</button>
        <button type="button" class="panel-move" data-move="1" title="Move down">↓</button>
        <button type="button" class="panel-close" title="Unsubscribe">×</button>
      </header>
      <div class="column-menu" role="group" hidden></div>
      <div class="panel-chain-view" hidden></div>
      <div class="panel-body">
        <div class="panel-viewport" tabindex="0" role="grid"><div class="panel-spacer" role="presentation"></div>
          <div class="sr-only panel-aria"></div></div>
        <canvas class="panel-canvas" aria-hidden="true"></canvas>
      </div>`;
    this.element.querySelector("h2").textContent = group;
    this.filterInput = this.element.querySelector(".panel-filter");
    this.filterInput.setAttribute("aria-label", `filter ${group}`);
    this.filterInput.addEventListener("input", () => this.changeView({ filter: this.filterInput.value }));
    this.filterInput.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "Enter") {
        event.preventDefault();
        this.viewport.focus();
        if (this.selectedPosition() < 0) this.moveSelection(0, true);
      }
    });
    this.columnsButton = this.element.querySelector(".panel-columns");
    this.columnMenu = this.element.querySelector(".column-menu");
    this.columnMenu.setAttribute("aria-label", `columns of ${group}`);
    this.columnsButton.addEventListener("click", () => this.toggleColumnMenu());
    this.chainButton = this.element.querySelector(".panel-chain");
    this.chainView = this.element.querySelector(".panel-chain-view");
    this.chainButton.addEventListener("click", () => this.changeView({ chain: this.view.chain ? null : {} }));
    this.aria = this.element.querySelector(".panel-aria");
    this.listSelect = this.element.querySelector(".panel-list");
    this.listSelect.setAttribute("aria-label", `named watchlist shown in ${group}`);
    this.element.querySelector(".panel-list-new").setAttribute("aria-label", "new watchlist name");
    if (this.lists !== null) {
      this.element.querySelector(".panel-lists").hidden = false;
      this.listSelect.addEventListener("change", () => this.changeView({ list: this.listSelect.value || null }));
      const input = this.element.querySelector(".panel-list-new");
      const add = async () => {
        const name = input.value.trim();
        if (!name) return;
        if (await this.lists.create(name)) {
          input.value = "";
          this.changeView({ list: name });
        }
      };
      this.element.querySelector(".panel-list-add").addEventListener("click", add);
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter") {
          event.preventDefault();
          add();
        }
      });
      this.renderLists();
    }
    this.meta = this.element.querySelector(".panel-meta");
    this.badge = this.element.querySelector(".panel-liveness");
    this.liveness = { state: "unknown", reason: "", sinceMs: NaN, dataMs: NaN };
    this.connection = "live"; // the page's socket state, as app.js last told renderLiveness
    this.heardMs = NaN; // gateway receive time of the group's newest tick, ms since epoch
    this.body = this.element.querySelector(".panel-body");
    this.viewport = this.element.querySelector(".panel-viewport");
    this.spacer = this.element.querySelector(".panel-spacer");
    this.canvas = this.element.querySelector("canvas");
    this.context = this.canvas.getContext("2d", { alpha: false, desynchronized: true });
    this.element.querySelector(".panel-close").addEventListener("click", () => onClose(group));
    this.element.querySelector(".panel-close").setAttribute("aria-label", `unsubscribe ${group}`);
    for (const button of this.element.querySelectorAll(".panel-move")) {
      button.setAttribute("aria-label", `move ${group} ${button.dataset.move === "1" ? "down" : "up"}`);
      button.addEventListener("click", () => onMove(group, Number(button.dataset.move)));
    }
    this.viewport.addEventListener("scroll", () => { this.dirty = true; }, { passive: true });
    this.viewport.addEventListener("click", (event) => this.pick(event));
    this.viewport.setAttribute("aria-label", `${group} watchlist`);
    this.viewport.addEventListener("keydown", (event) => this.onKey(event));
    this.resizeObserver = new ResizeObserver(() => { this.dirty = true; });
    this.resizeObserver.observe(this.body);
  }

  destroy() {
    OPEN_PANELS.delete(this);
    clearTimeout(this.viewportTimer);
    this.resizeObserver.disconnect();
    this.element.remove();
  }

  ensure(rows) {
    if (rows <= this.capacity) return;
    const capacity = Math.max(rows, this.capacity * 2, 16);
    const grow = (old, Typed, fill) => {
      const grown = new Typed(capacity);
      if (fill !== undefined) grown.fill(fill);
      grown.set(old);
      return grown;
    };
    for (const key of FIELDS) this.values[key] = grow(this.values[key], Float64Array, NaN);
    this.changedAt = grow(this.changedAt, Float64Array);
    this.changedMask = grow(this.changedMask, Uint8Array);
    this.direction = grow(this.direction, Int8Array);
    this.cellDirty = grow(this.cellDirty, Uint8Array);
    this.paintedStep = grow(this.paintedStep, Uint8Array);
    this.paintedMask = grow(this.paintedMask, Uint8Array);
    this.capacity = capacity;
  }

  setInstruments({ version, instruments, reset }) {
    this.version = version;
    this.instruments = instruments;
    this.decimals = instruments.map((item) => decimalsFor(item?.priceTick));
    this.rowByVtSymbol = new Map(instruments.map((item, row) => [item?.vtSymbol, row]));
    this.ensure(instruments.length);
    if (reset) {
      for (const key of FIELDS) this.values[key].fill(NaN);
      this.changedMask.fill(0);
      this.direction.fill(0);
    }
    this.meta.textContent = `${instruments.length} instruments · v${version}`;
    this.chainButton.hidden = !instruments.some((item) => item?.productClass === "O");
    this.orderDirty = true;
    this.refreshOrder(performance.now());
    if (reset) {
      const fitted = HEADER_HEIGHT_PX + instruments.length * ROW_HEIGHT_PX + 2;
      this.body.style.height = `${Math.min(MAX_BODY_HEIGHT_PX, Math.max(MIN_BODY_HEIGHT_PX, fitted))}px`;
    }
    this.dirty = true;
  }

  // A groupStatus from the worker: {state, reason, sinceMs, dataMs} (ms since epoch).
  setLiveness({ state, reason, sinceMs, dataMs }) {
    const changed = state !== this.liveness.state;
    this.liveness = { state, reason, sinceMs, dataMs };
    this.element.dataset.liveness = state;
    this.badge.dataset.state = state;
    this.badge.title = reason ? `${state}: ${reason}` : state;
    if (changed) this.dirty = true; // pre-open / closed texts depend on it
    this.renderLiveness(Date.now(), this.connection);
  }

  // Refresh the badge's text: the state and the age of the data; epochMs = Date.now(). connection: the page's
  // socket state (app.js); while it is not live the desk cannot tell the group's state, so the badge never says
  // "live": it reads "stale" in the stale colours (data-offline; its title names the connection's state and the
  // desk's last word), whatever the desk said last.
  renderLiveness(epochMs, connection = this.connection) {
    this.connection = connection;
    const { state } = this.liveness;
    const offline = connection !== "live" && state !== "unknown";
    const ageS = Number.isFinite(this.heardMs) ? Math.max(0, (epochMs - this.heardMs) / 1000) : NaN;
    const age = !Number.isFinite(ageS) ? "no data yet" : ageS < 1 ? "updated < 1 s ago"
      : `updated ${ageS < 60 ? `${ageS.toFixed(1)} s` : `${Math.round(ageS / 60)} min`} ago`;
    const text = state === "unknown" ? "…" : offline ? `stale · ${age}`
      : state === "live" ? `live · ${age}` : `${state} · ${age}`;
    if (this.badge.textContent !== text) this.badge.textContent = text;
    if ((this.badge.dataset.offline === "true") !== offline) {
      this.badge.dataset.offline = String(offline);
      const { reason } = this.liveness;
      this.badge.title = offline ? `the page is ${connection}: the desk's last word was ${state}`
        : reason ? `${state}: ${reason}` : state;
    }
  }

  // Apply one worker batch ({indexes, last, bid, ...}); nowMs = performance.now().
  apply(batch, nowMs) {
    const { indexes } = batch;
    let maxIndex = -1;
    for (let i = 0; i < indexes.length; i++) if (indexes[i] > maxIndex) maxIndex = indexes[i];
    this.ensure(maxIndex + 1);
    for (let i = 0; i < indexes.length; i++) {
      const row = indexes[i];
      let changed = 0, mask = 0;
      for (let f = 0; f < FIELDS.length; f++) {
        const column = this.values[FIELDS[f]], before = column[row], after = batch[FIELDS[f]][i];
        if (before === after || (before !== before && after !== after)) continue; // NaN === NaN here
        column[row] = after;
        changed |= 1 << f;
        if (before !== before) continue; // a first value is not a change worth a highlight
        mask |= 1 << f;
        if (f === 0 && Number.isFinite(after)) this.direction[row] = after > before ? 1 : -1;
      }
      if (mask !== 0) {
        this.changedAt[row] = nowMs;
        this.changedMask[row] = mask;
      }
      if (changed !== 0) {
        this.cellDirty[row] |= changed;
        this.rowsDirty = true;
        if (mask !== 0) this.fadingUntil = nowMs + FADE_MS;
      }
    }
  }

  // Paint if something visible changed; return whether it painted.
  draw(nowMs) {
    const width = this.viewport.clientWidth, height = this.body.clientHeight; // leave the scrollbar visible
    const ratio = window.devicePixelRatio || 1;
    const pixelWidth = Math.max(1, Math.round(width * ratio)), pixelHeight = Math.max(1, Math.round(height * ratio));
    if (this.canvas.width !== pixelWidth || this.canvas.height !== pixelHeight) {
      this.canvas.width = pixelWidth;
      this.canvas.height = pixelHeight;
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
      this.dirty = true;
    }
    const live = this.view.sort !== null && this.view.sort.key !== "symbol";
    if (this.orderDirty || (live && this.rowsDirty && nowMs - this.sortedAtMs >= SORT_INTERVAL_MS)) {
      this.refreshOrder(nowMs);
    }
    if (this.view.chain) this.chain?.draw(nowMs);
    const ctx = this.context;
    if (this.dirty) {
      this.dirty = false;
      this.rowsDirty = false;
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.fillStyle = COLORS.background;
      ctx.fillRect(0, 0, width, height);
      ctx.font = FONT;
      ctx.textBaseline = "middle";
      this.columns = this.layout(width);
      this.drawRows(ctx, width, height, nowMs, true);
      this.drawHeader(ctx, this.columns, width);
      return true;
    }
    if (!this.rowsDirty && nowMs > this.fadingUntil + FADE_MS / FADE_STEPS) return false;
    if (!this.rowsDirty && nowMs - this.paintedAtMs < FADE_ONLY_INTERVAL_MS) return false;
    this.rowsDirty = false;
    const painted = this.drawRows(ctx, width, height, nowMs, false) > 0;
    if (painted) this.paintedAtMs = nowMs;
    return painted;
  }

  // The columns shown, in the trader's order (the star always first), placed across `width` px.
  layout(width) {
    const shown = [COLUMNS[0], ...this.view.columns.map((key) => COLUMNS.find((column) => column.key === key))
      .filter((column) => column && !column.fixed)];
    const fixed = shown.reduce((sum, column) => sum + (column.fixed ? column.width : 0), 0);
    const flexible = shown.reduce((sum, column) => sum + (column.fixed ? 0 : column.width), 0) || 1;
    // Wider panels widen the columns; narrower ones (1366×768) shrink the number columns to fit, down
    // to MIN_SCALE, and keep the symbol's width (an option's "m1801-C-2550 DCE" must stay readable).
    let scale = (width - fixed) / flexible;
    const keep = scale < 1 ? shown.filter((column) => column.key === "symbol").reduce((sum, column) => sum + column.width, 0) : 0;
    if (keep > 0) scale = (width - fixed - keep) / (flexible - keep);
    scale = Math.max(MIN_SCALE, scale);
    let x = 0;
    return shown.map((column) => {
      const w = column.fixed ? column.width : keep > 0 && column.key === "symbol" ? column.width : column.width * scale;
      const placed = { ...column, x, w, field: FIELDS.indexOf(column.key) };
      x += placed.w;
      return placed;
    });
  }

  drawHeader(ctx, columns, width) {
    ctx.fillStyle = COLORS.header;
    ctx.fillRect(0, 0, width, HEADER_HEIGHT_PX);
    ctx.fillStyle = COLORS.grid;
    ctx.fillRect(0, HEADER_HEIGHT_PX - 1, width, 1);
    const sort = this.view.sort;
    for (const column of columns) {
      const sorted = sort !== null && sort.key === column.key;
      ctx.fillStyle = sorted ? COLORS.text : COLORS.dim;
      ctx.textAlign = column.align === "left" ? "left" : "right";
      const title = column.title.toUpperCase() + (sorted ? (sort.descending ? " ▼" : " ▲") : "");
      // a title wider than its narrowed column is condensed into it (fillText's maxWidth), never drawn over
      // its neighbour's ("ASK" touched "BID VOL" at 1366 px)
      ctx.fillText(title, column.align === "left" ? column.x + 10 : column.x + column.w - 10, HEADER_HEIGHT_PX / 2,
                   Math.max(1, column.w - 16));
    }
  }

  // Paint the visible rows (all, or only those changed / at a new fade step); return how many.
  drawRows(ctx, width, height, nowMs, all) {
    const scrollTop = this.viewport.scrollTop;
    const first = Math.floor(scrollTop / ROW_HEIGHT_PX);
    const count = Math.ceil((height - HEADER_HEIGHT_PX) / ROW_HEIGHT_PX) + 1;
    const last = Math.min(this.order.length - 1, first + count);
    this.visible = [first, last];
    this.noteViewport();
    const selectedRow = this.selectedRow();
    let painted = 0;
    for (let position = first; position <= last; position++) {
      const row = this.order[position];
      const age = nowMs - this.changedAt[row];
      const step = age >= FADE_MS || this.changedMask[row] === 0 ? 0 : Math.ceil((1 - age / FADE_MS) * FADE_STEPS);
      const highlight = step > 0 ? this.changedMask[row] : 0;
      let cells = ALL_CELLS;
      if (!all) {
        cells = this.cellDirty[row];
        if (step !== this.paintedStep[row] || highlight !== this.paintedMask[row]) cells |= highlight | this.paintedMask[row];
        if (cells === 0) continue;
      }
      if (painted === 0) {
        ctx.save();
        ctx.beginPath();
        ctx.rect(0, HEADER_HEIGHT_PX, width, height - HEADER_HEIGHT_PX);
        ctx.clip();
      }
      painted += 1;
      this.cellDirty[row] = 0;
      this.paintedStep[row] = step;
      this.paintedMask[row] = highlight;
      const y = HEADER_HEIGHT_PX + position * ROW_HEIGHT_PX - scrollTop;
      const background = row === selectedRow ? COLORS.selected : position % 2 === 1 ? COLORS.zebra : COLORS.background;
      const fade = step / FADE_STEPS;
      const direction = this.direction[row];
      if (all) {
        ctx.fillStyle = background;
        ctx.fillRect(0, y, width, ROW_HEIGHT_PX);
      }
      for (const column of this.columns) {
        if (column.field < 0 ? !all : (cells & (1 << column.field)) === 0) continue;
        if (!all) {
          ctx.fillStyle = background;
          ctx.fillRect(column.x, y, column.w, ROW_HEIGHT_PX);
        }
        this.drawCell(ctx, column, row, y, highlight, fade, direction);
      }
    }
    if (painted > 0) ctx.restore();
    return painted;
  }

  drawCell(ctx, column, row, y, mask, fade, direction) {
    const field = column.field;
    if (field >= 0 && (mask & (1 << field)) !== 0) {
      const tint = field === 0 && direction !== 0 ? (direction > 0 ? COLORS.upFlash : COLORS.downFlash) : COLORS.flash;
      ctx.fillStyle = `rgba(${tint}, ${(field === 0 ? 0.45 : 0.16) * fade})`;
      ctx.fillRect(column.x + 2, y + 1, column.w - 4, ROW_HEIGHT_PX - 2);
    }
    const midY = y + ROW_HEIGHT_PX / 2;
    if (column.key === "star") {
      const vtSymbol = this.instruments[row]?.vtSymbol;
      if (this.starred === null || !vtSymbol) return;
      const starred = this.starred.has(vtSymbol);
      ctx.textAlign = "center";
      ctx.fillStyle = starred ? COLORS.star : COLORS.dim;
      ctx.fillText(starred ? "★" : "☆", column.x + column.w / 2, midY);
      return;
    }
    if (field < 0) {
      const instrument = this.instruments[row];
      ctx.textAlign = "left";
      ctx.fillStyle = COLORS.text;
      const symbol = instrument?.symbol || instrument?.vtSymbol || `#${row}`;
      ctx.fillText(symbol, column.x + 10, midY);
      const exchange = instrument?.exchange ?? "";
      const at = column.x + 10 + ctx.measureText(symbol).width + 6;
      if (at + ctx.measureText(exchange).width <= column.x + column.w - 4) { // the exchange only where it fits
        ctx.fillStyle = COLORS.dim;
        ctx.fillText(exchange, at, midY);
      }
      return;
    }
    const value = this.values[column.key][row];
    ctx.textAlign = "right";
    if (!Number.isFinite(value)) {
      ctx.fillStyle = COLORS.dim;
      ctx.fillText(column.key === "last" ? this.whyEmpty(row) : "–", column.x + column.w - 10, midY);
      return;
    }
    ctx.fillStyle = column.key === "last" ? (direction > 0 ? COLORS.up : direction < 0 ? COLORS.down : COLORS.text)
      : column.key === "bid" ? COLORS.bid : column.key === "ask" ? COLORS.ask : COLORS.text;
    const text = column.price ? value.toFixed(this.decimals[row] ?? 2) : String(Math.round(value));
    ctx.fillText(text, column.x + column.w - 10, midY);
  }

  // The rows shown now (instrument indexes, display order); once they differ from the last reported and
  // stay so for VIEWPORT_DEBOUNCE_MS, report them (only on change: a scroll of 1 px that shows the same
  // rows sends nothing).
  noteViewport() {
    if (this.viewportTimer !== null || sameRows(this.shownRows(), this.viewportSent)) return;
    this.viewportTimer = setTimeout(() => {
      this.viewportTimer = null;
      const rows = this.shownRows();
      if (sameRows(rows, this.viewportSent)) return;
      this.viewportSent = rows;
      this.onViewport(this.group, rows);
    }, VIEWPORT_DEBOUNCE_MS);
  }

  shownRows() {
    const [first, last] = this.visible;
    return this.order.slice(first, Math.max(first, last + 1));
  }

  // Why a contract's Last is empty: "pre-open" (no quote nor trade yet), "no trade" (quoted only),
  // "closed" (its group is outside its contracts' trading sessions), "pre-open" too when the group is
  // preOpen (none of its contracts has opened yet this trading day).
  whyEmpty(row) {
    if (this.liveness.state === "closed") return "closed";
    if (this.liveness.state === "preOpen") return "pre-open";
    const quoted = Number.isFinite(this.values.bid[row]) || Number.isFinite(this.values.ask[row]);
    return quoted ? "no trade" : "pre-open";
  }

  // A click on a row: document gets "tickstage:instrument" {group, vtSymbol, last, bid, ask, priceTick}
  // (the order ticket, ui/order_ticket.js, fills itself in). A click on its star toggles the contract
  // in the user's watchlist group instead.
  pick(event) {
    const box = this.viewport.getBoundingClientRect();
    const y = event.clientY - box.top;
    const x = event.clientX - box.left;
    if (y < HEADER_HEIGHT_PX) {
      const column = this.columns?.find((placed) => x >= placed.x && x < placed.x + placed.w);
      if (column && !column.fixed) this.sortBy(column.key);
      return;
    }
    const position = Math.floor((y - HEADER_HEIGHT_PX + this.viewport.scrollTop) / ROW_HEIGHT_PX);
    const row = position >= 0 && position < this.order.length ? this.order[position] : -1;
    const instrument = this.instruments[row];
    if (row < 0 || !instrument?.vtSymbol) return;
    const star = this.columns?.[0];
    if (this.starred !== null && star?.key === "star" && x >= star.x && x < star.x + star.w) {
      this.starred.toggle(instrument.vtSymbol);
      return;
    }
    this.select(position);
    this.open(row);
  }

  // The instrument detail a row hands to the ticket, the detail panel and the hotkeys.
  detailOf(row) {
    const instrument = this.instruments[row];
    const value = (key) => (row < this.capacity ? this.values[key][row] : NaN);
    return { group: this.group, vtSymbol: instrument.vtSymbol, last: value("last"), bid: value("bid"),
      ask: value("ask"), priceTick: instrument.priceTick };
  }

  // Open a row: the order ticket fills itself in and the detail panel follows it.
  open(row) {
    if (!this.instruments[row]?.vtSymbol) return;
    document.dispatchEvent(new CustomEvent("tickstage:instrument", { detail: this.detailOf(row) }));
  }

  // -- view: sort, filter, columns, chain --------------------------------------------

  getView() {
    return { sort: this.view.sort && { ...this.view.sort }, filter: this.view.filter,
      columns: [...this.view.columns], chain: this.view.chain && { ...this.view.chain }, list: this.view.list };
  }

  // The named lists in the head's select ("all" first); the lists changed or one was chosen.
  renderLists() {
    if (this.lists === null) return;
    const names = this.lists.names();
    const wanted = ["", ...names];
    if ([...this.listSelect.options].map((o) => o.value).join("\u0000") !== wanted.join("\u0000")) {
      this.listSelect.replaceChildren(...wanted.map((name) => {
        const option = document.createElement("option");
        option.value = name;
        option.textContent = name || "all (the whole group)";
        return option;
      }));
    }
    if (this.view.list !== null && !names.includes(this.view.list)) this.view.list = null;
    this.listSelect.value = this.view.list ?? "";
    this.orderDirty = true;
  }

  // Apply a saved view; unknown columns are dropped, a bad sort ignored.
  setView(view = {}) {
    const columns = Array.isArray(view.columns) ? view.columns.filter((key) => COLUMN_KEYS.includes(key)) : null;
    const sort = view.sort && COLUMN_KEYS.includes(view.sort.key) ? { key: view.sort.key, descending: Boolean(view.sort.descending) } : null;
    this.view = { sort, filter: typeof view.filter === "string" ? view.filter.slice(0, 100) : "",
      columns: columns && columns.length ? [...new Set(columns)] : [...COLUMN_KEYS],
      chain: view.chain && typeof view.chain === "object" ? { ...view.chain } : null,
      list: typeof view.list === "string" && view.list ? view.list : null };
    this.filterInput.value = this.view.filter;
    this.viewChanged(false);
  }

  changeView(change) {
    this.view = { ...this.view, ...change };
    this.viewChanged(true);
  }

  viewChanged(notify) {
    this.orderDirty = true;
    if (this.lists !== null) {
      this.lists.use(this.view.list);
      this.renderLists();
    }
    this.dirty = true;
    if (!this.columnMenu.hidden) this.renderColumnMenu();
    this.renderAriaHeader();
    this.showChain();
    if (notify) this.onViewChange(this.group);
  }

  // A header click: sort by `key`; the same column again reverses it; a third time, as listed.
  sortBy(key) {
    const sort = this.view.sort;
    const next = sort?.key !== key ? { key, descending: key !== "symbol" }
      : sort.descending === (key !== "symbol") ? { key, descending: !sort.descending } : null;
    this.changeView({ sort: next });
  }

  // Rebuild the display order: filter rows by every word of the filter, then sort (NaN last).
  refreshOrder(nowMs) {
    const words = this.view.filter.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const listed = this.lists !== null && this.view.list !== null ? this.lists.symbolsOf(this.view.list) : null;
    const rows = [];
    for (let row = 0; row < this.instruments.length; row++) {
      const item = this.instruments[row];
      if (!item) continue;
      if (listed !== null && !listed.has(item.vtSymbol)) continue;
      if (words.length) {
        const text = `${item.symbol ?? ""} ${item.vtSymbol ?? ""} ${item.name ?? ""} ${item.product ?? ""}`.toLowerCase();
        if (!words.every((word) => text.includes(word))) continue;
      }
      rows.push(row);
    }
    const sort = this.view.sort;
    if (sort !== null) {
      const sign = sort.descending ? -1 : 1;
      if (sort.key === "symbol") {
        rows.sort((a, b) => sign * String(this.instruments[a].symbol || this.instruments[a].vtSymbol)
          .localeCompare(String(this.instruments[b].symbol || this.instruments[b].vtSymbol), "en", { numeric: true }));
      } else {
        const column = this.values[sort.key];
        const at = (row) => (row < this.capacity ? column[row] : NaN);
        rows.sort((a, b) => {
          const x = at(a), y = at(b);
          if (x !== x) return y !== y ? a - b : 1;
          if (y !== y) return -1;
          return sign * (x - y) || a - b;
        });
      }
    }
    const changed = rows.length !== this.order.length || rows.some((row, i) => row !== this.order[i]);
    this.orderDirty = false;
    this.sortedAtMs = nowMs;
    if (!changed) return;
    this.order = Int32Array.from(rows);
    this.spacer.style.height = `${HEADER_HEIGHT_PX + this.order.length * ROW_HEIGHT_PX}px`;
    this.viewport.setAttribute("aria-rowcount", String(this.order.length + 1));
    this.dirty = true;
    this.renderAriaRow();
  }

  toggleColumnMenu() {
    const open = this.columnMenu.hidden;
    this.columnMenu.hidden = !open;
    this.columnsButton.setAttribute("aria-expanded", String(open));
    if (open) {
      this.renderColumnMenu();
      this.columnMenu.querySelector("input")?.focus();
    }
  }

  // One line per column: shown (checkbox), move earlier / later, sort by it.
  renderColumnMenu() {
    const shown = this.view.columns;
    const order = [...shown, ...COLUMN_KEYS.filter((key) => !shown.includes(key))];
    const focusedKey = document.activeElement?.closest?.("[data-column]")?.dataset.column;
    const focusedAction = document.activeElement?.dataset?.action;
    this.columnMenu.replaceChildren(...order.map((key) => {
      const line = document.createElement("div");
      line.className = "column-line";
      line.dataset.column = key;
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = shown.includes(key);
      box.dataset.action = "show";
      box.addEventListener("change", () => {
        const columns = box.checked ? [...this.view.columns, key] : this.view.columns.filter((item) => item !== key);
        if (columns.length) this.changeView({ columns });
        else box.checked = true; // one column at least
      });
      label.append(box, ` ${COLUMN_TITLES[key]}`);
      const button = (text, action, title, handler) => {
        const item = document.createElement("button");
        item.type = "button";
        item.textContent = text;
        item.title = title;
        item.dataset.action = action;
        item.setAttribute("aria-label", `${title}: ${COLUMN_TITLES[key]}`);
        item.addEventListener("click", handler);
        return item;
      };
      const move = (delta) => () => {
        const columns = [...this.view.columns];
        const index = columns.indexOf(key);
        const target = index + delta;
        if (index < 0 || target < 0 || target >= columns.length) return;
        [columns[index], columns[target]] = [columns[target], columns[index]];
        this.changeView({ columns });
      };
      const sort = this.view.sort?.key === key ? (this.view.sort.descending ? " ▼" : " ▲") : "";
      line.append(label, button("↑", "up", "move earlier", move(-1)), button("↓", "down", "move later", move(1)),
        button(`sort${sort}`, "sort", "sort by", () => this.sortBy(key)));
      return line;
    }));
    if (focusedKey) {
      this.columnMenu.querySelector(`[data-column="${focusedKey}"] [data-action="${focusedAction}"]`)?.focus();
    }
  }

  // -- selection and keyboard ------------------------------------------------------------

  selectedRow() {
    if (this.selected === null) return -1;
    return this.instruments.findIndex((item) => item?.vtSymbol === this.selected);
  }

  selectedPosition() {
    const row = this.selectedRow();
    return row < 0 ? -1 : this.order.indexOf(row);
  }

  // Select the row at display `position` (scrolled into view); document gets "tickstage:selected".
  select(position) {
    if (this.order.length === 0) return;
    const clamped = Math.max(0, Math.min(this.order.length - 1, position));
    const row = this.order[clamped];
    this.selected = this.instruments[row]?.vtSymbol ?? null;
    const top = clamped * ROW_HEIGHT_PX;
    const room = this.body.clientHeight - HEADER_HEIGHT_PX;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (top + ROW_HEIGHT_PX > this.viewport.scrollTop + room) this.viewport.scrollTop = top + ROW_HEIGHT_PX - room;
    this.dirty = true;
    this.renderAriaRow();
    if (this.selected !== null) {
      document.dispatchEvent(new CustomEvent("tickstage:selected", { detail: { ...this.detailOf(row), panel: this } }));
    }
  }

  moveSelection(delta, absolute = false) {
    const current = this.selectedPosition();
    this.select(absolute ? delta : current < 0 ? 0 : current + delta);
  }

  onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const page = Math.max(1, Math.floor((this.body.clientHeight - HEADER_HEIGHT_PX) / ROW_HEIGHT_PX) - 1);
    const moves = { ArrowDown: [1], ArrowUp: [-1], PageDown: [page], PageUp: [-page], Home: [0, true],
      End: [this.order.length - 1, true] };
    if (moves[event.key]) {
      event.preventDefault();
      this.moveSelection(...moves[event.key]);
    } else if (event.key === "Enter") {
      event.preventDefault();
      const row = this.selectedRow();
      if (row >= 0) this.open(row);
    } else if (event.key === "*") {
      event.preventDefault();
      const row = this.selectedRow();
      if (row >= 0 && this.starred !== null) this.starred.toggle(this.instruments[row].vtSymbol);
    }
  }

  // The screen readers' copy: the header (aria-sort) and the selected row.
  renderAriaHeader() {
    const header = document.createElement("div");
    header.setAttribute("role", "row");
    header.setAttribute("aria-rowindex", "1");
    for (const key of ["symbol", ...this.view.columns.filter((item) => item !== "symbol")]) {
      const cell = document.createElement("span");
      cell.setAttribute("role", "columnheader");
      cell.textContent = COLUMN_TITLES[key];
      const sort = this.view.sort;
      cell.setAttribute("aria-sort", sort?.key === key ? (sort.descending ? "descending" : "ascending") : "none");
      header.append(cell);
    }
    this.viewport.setAttribute("aria-colcount", String(header.children.length));
    this.aria.replaceChildren(header, ...[...this.aria.children].slice(1));
  }

  renderAriaRow() {
    if (this.aria.children.length === 0) this.renderAriaHeader();
    const position = this.selectedPosition();
    const rows = [this.aria.children[0]];
    if (position >= 0) {
      const row = this.order[position];
      const line = document.createElement("div");
      line.setAttribute("role", "row");
      line.id = `row-${this.group}-${row}`.replace(/[^A-Za-z0-9_-]/g, "_");
      line.setAttribute("aria-rowindex", String(position + 2));
      line.setAttribute("aria-selected", "true");
      const item = this.instruments[row];
      for (const key of ["symbol", ...this.view.columns.filter((column) => column !== "symbol")]) {
        const cell = document.createElement("span");
        cell.setAttribute("role", "gridcell");
        const value = key === "symbol" ? NaN : this.values[key][row];
        cell.textContent = key === "symbol" ? item?.vtSymbol ?? "" : Number.isFinite(value)
          ? (COLUMNS.find((column) => column.key === key)?.price ? value.toFixed(this.decimals[row] ?? 2) : String(Math.round(value)))
          : "none";
        line.append(cell);
      }
      rows.push(line);
      this.viewport.setAttribute("aria-activedescendant", line.id);
    } else {
      this.viewport.removeAttribute("aria-activedescendant");
    }
    this.aria.replaceChildren(...rows);
  }

  // -- option chain ------------------------------------------------------------------------

  // Show the chain instead of the rows while view.chain is set (ui/option_chain.js draws it).
  showChain() {
    const on = Boolean(this.view.chain);
    this.chainButton.setAttribute("aria-pressed", String(on));
    this.chainView.hidden = !on;
    this.body.hidden = on;
    if (on) {
      this.chain ??= new OptionChain(this);
      this.chain.render();
    }
  }

  // The last price of `vtSymbol` in any open watchlist of this tab (NaN when none holds it).
  lastOf(vtSymbol) {
    for (const panel of OPEN_PANELS) {
      const row = panel.rowByVtSymbol.get(vtSymbol);
      if (row !== undefined && row < panel.capacity && Number.isFinite(panel.values.last[row])) return panel.values.last[row];
    }
    return NaN;
  }

  // Rows wholly inside the canvas now (header excluded).
  visibleRows() {
    const height = this.body.clientHeight - HEADER_HEIGHT_PX;
    return Math.max(0, Math.min(this.order.length, Math.floor(height / ROW_HEIGHT_PX)));
  }

  // The rows in display order (filtered, sorted): vtSymbols, for tests and tools.
  displayed() {
    if (this.orderDirty) this.refreshOrder(performance.now()); // a view change not yet painted
    return Array.from(this.order, (row) => this.instruments[row]?.vtSymbol ?? null);
  }

  // Current state as plain rows (window.tickstage.rows): NaN → null.
  rows() {
    return this.instruments.map((instrument, row) => {
      const out = { vtSymbol: instrument?.vtSymbol ?? null, symbol: instrument?.symbol ?? null };
      for (const key of FIELDS) {
        const value = row < this.capacity ? this.values[key][row] : NaN;
        out[key] = Number.isFinite(value) ? value : null;
      }
      return out;
    });
  }
}
