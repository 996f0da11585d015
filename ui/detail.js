// Contract detail (slot "detail"): every tick of the contract last clicked in a
// watchlist, with a small live chart of its last price and the bid/ask band.
//
// Clicking a row (ui/watchlist.js dispatches "tickstage:instrument") follows
// that contract through desk.followTicks (ui/panels.js → the worker's
// subscribeTicks: one subscription per contract for every tab of the user) and
// stops following the previous one. The server sends the recent ticks first
// (history, up to 600) and then each tick as the gateway gets it; the chart keeps
// the last MAX_POINTS and is redrawn on the next animation frame after new ticks,
// not on every frame. window.tickstage.detail() returns what the panel shows.
//
// Depth: when the venue sends five levels (vn.py TickData bid_price_1..5 ...), a ladder
// shows the latest tick's levels 1..5 of bids and asks ("–" where the venue has no such
// level, or the user's token is not entitled to depth); beside the symbol, the same
// liveness mark as the contract's watchlist panel (its group's state, mirrored).

import { registerPanel } from "./panels.js";
import { decimalsFor } from "./watchlist.js";

export const MAX_POINTS = 600;
const CHART_HEIGHT_PX = 110;
const FIELDS = ["last", "bid", "ask", "volume", "openInterest", "exchangeMs"];
const DEPTH_LEVELS = 5;
const DEPTH_KEYS = ["bidLevels", "bidLevelVolumes", "askLevels", "askLevelVolumes"];
const COLORS = { background: "#0d1117", grid: "#1f2733", last: "#c9d1d9", bid: "#58a6ff", ask: "#f2a65a", dim: "#5c6a7a" };

// A fixed-size window of the newest ticks, oldest first.
export class TickSeries {
  constructor(capacity = MAX_POINTS) {
    this.capacity = capacity;
    this.columns = Object.fromEntries(FIELDS.map((key) => [key, new Float64Array(capacity)]));
    this.length = 0;
    this.received = 0;
  }

  // ticks: {history, last, bid, ...} from the worker; history replaces what was kept.
  add(ticks) {
    if (ticks.history) this.length = 0;
    const n = ticks.last.length;
    const keep = Math.min(n, this.capacity);
    const shift = Math.max(0, this.length + keep - this.capacity);
    for (const key of FIELDS) {
      const column = this.columns[key];
      if (shift > 0) column.copyWithin(0, shift, this.length);
      column.set(ticks[key].subarray(n - keep), this.length - shift);
    }
    this.length = this.length - shift + keep;
    this.received += ticks.history ? 0 : n;
  }

  latest(key) {
    return this.length ? this.columns[key][this.length - 1] : NaN;
  }
}

class DetailPanel {
  constructor(element, desk) {
    this.desk = desk;
    this.vtSymbol = null;
    this.decimals = 2;
    this.series = new TickSeries();
    this.stop = null;
    this.dirty = false;
    this.depth = null; // {bidLevels, bidLevelVolumes, askLevels, askLevelVolumes}: arrays of 5, latest tick
    this.watching = null; // MutationObserver of the group panel's liveness mark
    const ladder = Array.from({ length: DEPTH_LEVELS }, (_, i) => `<tr data-level="${i + 1}">
      <td data-d="bidLevelVolumes">–</td><td data-d="bidLevels">–</td><th>${i + 1}</th>
      <td data-d="askLevels">–</td><td data-d="askLevelVolumes">–</td></tr>`).join("");
    element.innerHTML = `
      <div class="detail-head"><span class="panel-liveness detail-liveness" data-state="unknown">…</span>
        <b class="detail-symbol">–</b>
        <span class="detail-figures"><span data-k="last">–</span> <small>bid</small> <span data-k="bid">–</span>
        <small>ask</small> <span data-k="ask">–</span> <small>vol</small> <span data-k="volume">–</span>
        <small>OI</small> <span data-k="openInterest">–</span> <small data-k="ticks">0 ticks</small></span></div>
      <table class="detail-depth" hidden><thead><tr><th>bid vol</th><th>bid</th><th>lvl</th><th>ask</th>
        <th>ask vol</th></tr></thead><tbody>${ladder}</tbody></table>
      <canvas class="detail-chart" height="${CHART_HEIGHT_PX}"></canvas>
      <p class="slot-empty detail-note">click a watchlist row to follow its ticks</p>`;
    this.element = element;
    this.canvas = element.querySelector("canvas");
    this.context = this.canvas.getContext("2d", { alpha: false });
    document.addEventListener("tickstage:instrument", (event) => this.follow(event.detail));
    desk.onSession((session) => {
      if (!session.signedIn) this.follow(null);
    });
  }

  follow(instrument) {
    const vtSymbol = instrument?.vtSymbol ?? null;
    if (vtSymbol === this.vtSymbol) return;
    this.stop?.();
    this.stop = null;
    this.vtSymbol = vtSymbol;
    this.series = new TickSeries();
    this.depth = null;
    this.depthMs = this.depthShownMs = NaN; // exchange time of the tick whose levels are kept / on screen
    this.mirrorLiveness(instrument?.group ?? null);
    this.decimals = decimalsFor(instrument?.priceTick);
    this.element.querySelector(".detail-symbol").textContent = vtSymbol ?? "–";
    this.element.querySelector(".detail-note").hidden = vtSymbol !== null;
    if (vtSymbol !== null) this.stop = this.desk.followTicks(vtSymbol, (ticks) => this.take(ticks));
    this.schedule();
  }

  take(ticks) {
    if (ticks.vtSymbol !== this.vtSymbol) return;
    this.series.add(ticks);
    const n = ticks.last.length;
    if (n > 0 && ticks.bidLevels?.length === n * DEPTH_LEVELS) {
      const from = (n - 1) * DEPTH_LEVELS;
      this.depth = Object.fromEntries(DEPTH_KEYS.map((key) => [key, Array.from(ticks[key].subarray(from, from + DEPTH_LEVELS))]));
      this.depthMs = ticks.exchangeMs[n - 1];
    }
    this.schedule();
  }

  schedule() {
    if (this.dirty) return;
    this.dirty = true;
    requestAnimationFrame(() => {
      this.dirty = false;
      this.render();
    });
  }

  render() {
    const series = this.series;
    const price = (value) => (Number.isFinite(value) ? value.toFixed(this.decimals) : "–");
    const count = (value) => (Number.isFinite(value) ? String(Math.round(value)) : "–");
    for (const key of ["last", "bid", "ask"]) this.set(key, price(series.latest(key)));
    this.set("volume", count(series.latest("volume")));
    this.set("openInterest", count(series.latest("openInterest")));
    this.set("ticks", `${series.length} ticks`);
    this.renderDepth(price, count);
    this.drawChart();
  }

  // The latest tick's five levels; a price or volume of 0 (no such level) or NaN (unknown) is "–".
  renderDepth(price, count) {
    const table = this.element.querySelector(".detail-depth");
    table.hidden = this.depth === null;
    this.depthShownMs = this.depth === null ? NaN : this.depthMs;
    if (this.depth === null) return;
    for (let level = 0; level < DEPTH_LEVELS; level++) {
      const row = table.tBodies[0].rows[level];
      for (const key of DEPTH_KEYS) {
        const value = this.depth[key][level];
        const text = !(value > 0) ? "–" : key.endsWith("Volumes") ? count(value) : price(value);
        const cell = row.querySelector(`[data-d="${key}"]`);
        if (cell.textContent !== text) cell.textContent = text;
      }
    }
  }

  // Show the liveness mark of the group's watchlist panel (ui/watchlist.js keeps it) beside the symbol.
  mirrorLiveness(group) {
    this.watching?.disconnect();
    this.watching = null;
    const mark = this.element.querySelector(".detail-liveness");
    const copy = (source) => {
      mark.dataset.state = source?.dataset.state ?? "unknown";
      mark.title = source?.title ?? "";
      mark.textContent = source?.textContent ?? "…";
    };
    const source = group === null ? null
      : document.querySelector(`section.panel[data-group="${CSS.escape(group)}"] .panel-liveness`);
    copy(source);
    if (source === null) return;
    this.watching = new MutationObserver(() => copy(source));
    this.watching.observe(source, { attributes: true, childList: true, characterData: true, subtree: true });
  }

  set(key, text) {
    const cell = this.element.querySelector(`[data-k="${key}"]`);
    if (cell.textContent !== text) cell.textContent = text;
  }

  drawChart() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, this.canvas.clientWidth), height = CHART_HEIGHT_PX;
    if (this.canvas.width !== Math.round(width * ratio)) {
      this.canvas.width = Math.round(width * ratio);
      this.canvas.height = Math.round(height * ratio);
    }
    const ctx = this.context;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, width, height);
    const { length, columns } = this.series;
    let low = Infinity, high = -Infinity;
    for (const key of ["last", "bid", "ask"]) {
      const column = columns[key];
      for (let i = 0; i < length; i++) {
        const value = column[i];
        if (Number.isFinite(value) && value > 0) {
          if (value < low) low = value;
          if (value > high) high = value;
        }
      }
    }
    if (!(high >= low)) return;
    const pad = Math.max((high - low) * 0.1, 1e-9);
    low -= pad;
    high += pad;
    const x = (i) => (length < 2 ? width / 2 : (i / (length - 1)) * (width - 60));
    const y = (value) => height - 6 - ((value - low) / (high - low)) * (height - 12);
    ctx.fillStyle = COLORS.dim;
    ctx.font = "11px ui-monospace, monospace";
    ctx.textAlign = "right";
    ctx.fillText(high.toFixed(this.decimals), width - 2, 10);
    ctx.fillText(low.toFixed(this.decimals), width - 2, height - 4);
    for (const key of ["bid", "ask", "last"]) {
      const column = columns[key];
      ctx.strokeStyle = COLORS[key];
      ctx.lineWidth = key === "last" ? 1.5 : 1;
      ctx.beginPath();
      let drawing = false;
      for (let i = 0; i < length; i++) {
        const value = column[i];
        if (!(Number.isFinite(value) && value > 0)) {
          drawing = false;
          continue;
        }
        if (drawing) ctx.lineTo(x(i), y(value));
        else ctx.moveTo(x(i), y(value));
        drawing = true;
      }
      ctx.stroke();
    }
  }

  snapshot() {
    const { series } = this;
    const cells = (key) => [...this.element.querySelectorAll(`.detail-depth [data-d="${key}"]`)].map((cell) => cell.textContent);
    return { vtSymbol: this.vtSymbol, points: series.length, received: series.received,
      last: series.latest("last"), bid: series.latest("bid"), ask: series.latest("ask"),
      depth: this.depth, depthShown: !this.element.querySelector(".detail-depth").hidden,
      depthCells: Object.fromEntries(DEPTH_KEYS.map((key) => [key, cells(key)])), depthShownMs: this.depthShownMs,
      latestMs: series.latest("exchangeMs"),
      liveness: this.element.querySelector(".detail-liveness").dataset.state };
  }
}

registerPanel("detail", (element, desk) => {
  const panel = new DetailPanel(element, desk);
  if (globalThis.window?.tickstage) window.tickstage.detail = () => panel.snapshot();
});
