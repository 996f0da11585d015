// The metrics HUD in the top bar: connection state and the numbers of
// window.tickstage.stats() (ui/app.js), refreshed every HUD_INTERVAL_MS. The dot
// shows the socket's state or, once live, the worst liveness of the watched groups
// (connection: {state, detail, label}). Below it, the latency strip (issue 14): p50 / p95 / p99
// of every hop of ui/hops.js HOPS (⇄ marks a hop across two clocks, corrected as its title says),
// the exchange's clock skew and the browser's clock offset to the desk.

import { HOPS, formatSkew } from "./hops.js";

export const HUD_INTERVAL_MS = 250;

const ms = (value) => (value === null || value === undefined ? "–" : value.toFixed(1));
const triple = (figures) => (figures && figures.samples
  ? `${ms(figures.p50_ms)} / ${ms(figures.p95_ms)} / ${ms(figures.p99_ms)}` : "–");
const kib = (bytes) => (bytes >= 1024 * 1024 ? `${(bytes / 1048576).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);

// Byte and frame rates from the worker's cumulative counters.
export class Rates {
  constructor() {
    this.last = null;
    this.frames = 0;
    this.bytes = 0;
  }

  update(nowMs, frames, bytes) {
    if (this.last !== null && nowMs > this.last.at) {
      const seconds = (nowMs - this.last.at) / 1000;
      this.frames = Math.max(0, frames - this.last.frames) / seconds;
      this.bytes = Math.max(0, bytes - this.last.bytes) / seconds;
    }
    this.last = { at: nowMs, frames, bytes };
  }
}

// Build the latency strip's items once (root: the #hops element; null: nothing to build).
export function mountHops(root) {
  if (root === null || root.childElementCount) return;
  const item = (metric, label, title, cross = false) => {
    const span = document.createElement("span");
    span.className = `hud-item${cross ? " cross" : ""}`;
    span.title = title;
    span.dataset.hop = metric;
    const small = document.createElement("small");
    small.textContent = label;
    const value = document.createElement("b");
    value.dataset.metric = metric;
    value.textContent = "–";
    span.append(small, " ", value);
    return span;
  };
  const title = document.createElement("span");
  title.className = "hops-title";
  title.textContent = "HOPS p50 / p95 / p99 ms";
  title.title = "per hop of a frame's newest tick, last 10 s; ⇄: the hop spans two clocks and is corrected";
  root.append(title, ...HOPS.map((hop) => item(`hop-${hop.key}`, hop.label, `${hop.label}: ${hop.clocks}`, hop.cross)),
    item("skew", "SKEW", "exchange clock → desk clock: venue receive − exchange time, the desk's rolling "
      + "minimum over each exchange's recent ticks (a replay's recorded stamps are years old); per group in stats()"),
    item("clock", "CLOCK", "desk clock − browser clock: the browser's offset to the desk's clock from ping/pong (the exchange of "
      + "least round trip), ± half that round trip; cross-clock hops are corrected by it"));
}

// The skew shown: one value when every watched group agrees within 1 ms or all are a replay's (a day or more:
// the range would say "(replay)" twice), else "min … max".
function skewText(skews) {
  const values = Object.values(skews ?? {}).filter(Number.isFinite);
  if (values.length === 0) return "–";
  const low = Math.min(...values), high = Math.max(...values);
  const replay = Math.min(...values.map(Math.abs)) >= 86_400_000;
  return high - low <= 1 || replay ? formatSkew(high) : `${formatSkew(low)} … ${formatSkew(high)}`;
}

export function renderHud(root, stats, connection) {
  const set = (metric, text) => {
    const cell = root.querySelector(`[data-metric="${metric}"]`);
    if (cell !== null && cell.textContent !== text) cell.textContent = text;
  };
  set("fps", stats.fps.toFixed(0));
  set("raf", `${ms(stats.raf_p50_ms)} / ${ms(stats.raf_p99_ms)}`);
  set("paint", `${ms(stats.paint_p50_ms)} / ${ms(stats.paint_p95_ms)} / ${ms(stats.paint_p99_ms)}`);
  for (const hop of HOPS) set(`hop-${hop.key}`, triple(stats.hops?.[hop.key]));
  set("skew", skewText(stats.exchange_skew_ms));
  set("clock", stats.clock_offset_ms === null || stats.clock_offset_ms === undefined ? "–"
    : `${stats.clock_offset_ms >= 0 ? "+" : "−"}${Math.abs(stats.clock_offset_ms).toFixed(1)} ±${(stats.clock_round_trip_ms / 2).toFixed(1)} ms`);
  set("bytes", kib(stats.bytes_per_s));
  set("gaps", String(stats.gaps));
  set("conflations", String(stats.conflations));
  set("dropped", String(stats.dropped_frames));
  set("long", `${stats.app_long_tasks} / ${stats.long_tasks}`);
  set("errors", String(stats.decode_errors));
  set("tabs", `${stats.tabs} · ${stats.worker}`);
  set("integrity", `${stats.integrity_mismatches} / ${stats.integrity_heals}`);
  const conn = root.querySelector("#conn");
  conn.dataset.state = connection.state;
  conn.title = `${connection.state}${connection.detail ? `: ${connection.detail}` : ""}`;
  const label = connection.label ?? connection.state;
  const labelCell = root.querySelector("#conn-label");
  if (labelCell.textContent !== label) labelCell.textContent = label;
}
