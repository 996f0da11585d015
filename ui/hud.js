// The metrics HUD in the top bar: connection state and the numbers of
// window.tickstage.stats() (ui/app.js), refreshed every HUD_INTERVAL_MS. The dot
// shows the socket's state or, once live, the worst liveness of the watched groups
// (connection: {state, detail, label}).

export const HUD_INTERVAL_MS = 250;

const ms = (value) => (value === null || value === undefined ? "–" : value.toFixed(1));
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

export function renderHud(root, stats, connection) {
  const set = (metric, text) => {
    const cell = root.querySelector(`[data-metric="${metric}"]`);
    if (cell !== null && cell.textContent !== text) cell.textContent = text;
  };
  set("fps", stats.fps.toFixed(0));
  set("raf", `${ms(stats.raf_p50_ms)} / ${ms(stats.raf_p99_ms)}`);
  set("paint", `${ms(stats.paint_p50_ms)} / ${ms(stats.paint_p99_ms)}`);
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
