// What the HUD and window.tickstage.stats() report about this tab: frame rate,
// requestAnimationFrame intervals, dropped frames, tick → paint latency (the
// gateway's receive time of a frame's newest tick → the end of the animation
// frame that painted it: the desk's clock against the browser's, corrected by the
// worker's ping/pong clock offset), latency per hop (ui/hops.js: HopRings, p50/p95/p99
// of each), long tasks. Rolling windows of 10 s; raw samples can also be drained
// (perf/bench_browser.py reads them).
//
// Long tasks come in two counts. `long_tasks`: every main-thread task over
// 50 ms (Long Tasks API), whatever ran in it: garbage collection, style, a
// test harness's evaluate(), or a renderer the OS did not schedule. And
// `app_long_tasks`: scripts of this page's own origin that ran over 50 ms in
// one go (Long Animation Frames API, PerformanceScriptTiming: an event
// handler, a rAF callback, a message from the worker); the desk's budget of
// "no long task attributed to the app" is about these.

import { HOPS, WORKER_HOPS } from "./hops.js";

export const WINDOW_MS = 10_000;
export const LONG_TASK_MS = 50; // the Long Tasks API's threshold
const FRAME_MS = 1000 / 60;
const HIDDEN_GAP_MS = 1000; // a longer rAF gap means the tab was hidden, not slow

export class RollingSamples {
  constructor(capacity, maxAgeMs = WINDOW_MS) {
    this.values = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
    this.next = 0;
    this.count = 0;
    this.maxAgeMs = maxAgeMs;
    this.drained = []; // samples since the last drain(), bounded
  }

  push(value, nowMs) {
    this.values[this.next] = value;
    this.times[this.next] = nowMs;
    this.next = (this.next + 1) % this.values.length;
    this.count = Math.min(this.count + 1, this.values.length);
    if (this.drained.length < 100_000) this.drained.push(value);
  }

  // Values of the last maxAgeMs at the given quantiles (null when empty).
  percentiles(nowMs, ...quantiles) {
    const recent = [];
    for (let i = 0; i < this.count; i++) if (nowMs - this.times[i] <= this.maxAgeMs) recent.push(this.values[i]);
    if (recent.length === 0) return quantiles.map(() => null);
    const sorted = Float64Array.from(recent).sort();
    return quantiles.map((q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  }

  drain() {
    const out = this.drained;
    this.drained = [];
    return out;
  }
}

// One RollingSamples per hop of ui/hops.js HOPS (built → sent is the desk's, from pongs: not sampled here).
export class HopRings {
  constructor(capacity = 4096) {
    this.rings = Object.fromEntries(HOPS.filter((hop) => hop.key !== "built_sent")
      .map((hop) => [hop.key, new RollingSamples(capacity)]));
  }

  push(key, valueMs, nowMs) {
    this.rings[key].push(valueMs, nowMs);
  }

  // The worker's samples of one "rows" post: {hop: Float64Array (ms)}.
  pushAll(hopsMs, nowMs) {
    for (const key of WORKER_HOPS) for (const value of hopsMs?.[key] ?? []) this.rings[key].push(value, nowMs);
  }

  // {hop: {p50_ms, p95_ms, p99_ms, samples}} over the last WINDOW_MS (null percentiles when empty).
  snapshot(nowMs) {
    const out = {};
    for (const [key, ring] of Object.entries(this.rings)) {
      const [p50, p95, p99] = ring.percentiles(nowMs, 0.5, 0.95, 0.99);
      let samples = 0;
      for (let i = 0; i < ring.count; i++) if (nowMs - ring.times[i] <= ring.maxAgeMs) samples += 1;
      out[key] = { p50_ms: p50, p95_ms: p95, p99_ms: p99, samples };
    }
    return out;
  }

  // Raw samples since the last drain: {hop: [ms...]}.
  drain() {
    return Object.fromEntries(Object.entries(this.rings).map(([key, ring]) => [key, ring.drain()]));
  }
}

export class FrameMetrics {
  constructor() {
    this.rafMs = new RollingSamples(1024); // ~17 s at 60 Hz
    this.paintMs = new RollingSamples(8192);
    this.drawMs = new RollingSamples(1024); // main-thread time of one animation frame's callback (draw panels)
    this.latencyMs = new RollingSamples(8192); // tick → worker (socket receive)
    this.fps = 0;
    this.framesThisSecond = 0;
    this.secondStartMs = performance.now();
    this.previousFrameMs = null;
    this.droppedFrames = 0;
    this.pendingTicksMs = []; // gateway receive times (epoch ms) applied since the last paint
    this.pendingDecodedMs = []; // when the worker decoded each of them (browser clock, epoch ms)
    this.hops = new HopRings();
    this.clockOffsetMs = 0; // desk clock − browser clock (the worker's ping/pong estimate), ms
    this.longTasks = 0;
    this.longTaskMaxMs = 0;
    this.longTaskDrain = [];
    this.appLongTasks = 0;
    this.appLongTaskMaxMs = 0;
    this.appLongTaskDrain = []; // {ms, invoker, source}
    this.appLongTasksObserved = false; // the Long Animation Frames API is here: app_long_tasks counts
    this.observeLongTasks();
    this.observeLongAnimationFrames();
  }

  observeLongAnimationFrames() {
    if (typeof PerformanceObserver === "undefined") return;
    const origin = globalThis.location ? globalThis.location.origin : "";
    try {
      new PerformanceObserver((list) => {
        for (const frame of list.getEntries()) {
          for (const script of frame.scripts || []) {
            if (script.duration <= LONG_TASK_MS || !origin || !String(script.sourceURL).startsWith(origin)) continue;
            this.appLongTasks += 1;
            this.appLongTaskMaxMs = Math.max(this.appLongTaskMaxMs, script.duration);
            if (this.appLongTaskDrain.length < 10_000) {
              this.appLongTaskDrain.push({ ms: script.duration, invoker: script.invoker,
                source: `${script.sourceURL}:${script.sourceFunctionName || ""}` });
            }
          }
        }
      }).observe({ type: "long-animation-frame", buffered: true });
      this.appLongTasksObserved = (PerformanceObserver.supportedEntryTypes || []).includes("long-animation-frame");
    } catch {
      // no Long Animation Frames API here: app_long_tasks stays 0 and long_tasks is the only count
    }
  }

  observeLongTasks() {
    if (typeof PerformanceObserver === "undefined") return;
    try {
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          this.longTasks += 1;
          this.longTaskMaxMs = Math.max(this.longTaskMaxMs, entry.duration);
          if (this.longTaskDrain.length < 10_000) this.longTaskDrain.push(entry.duration);
        }
      }).observe({ type: "longtask", buffered: true });
    } catch {
      // no Long Tasks API here
    }
  }

  // Newest-tick gateway times (desk clock, epoch ms) of frames whose rows were just applied, and
  // when the worker decoded each (browser clock; same order, may be absent).
  ticksApplied(gatewayMs, decodedMs = null) {
    for (let i = 0; i < gatewayMs.length; i++) {
      this.pendingTicksMs.push(gatewayMs[i]);
      this.pendingDecodedMs.push(decodedMs !== null && i < decodedMs.length ? decodedMs[i] : NaN);
    }
  }

  // Call at the start of each animation frame with rAF's timestamp.
  frameStarted(nowMs) {
    if (this.previousFrameMs !== null) {
      const interval = nowMs - this.previousFrameMs;
      if (interval < HIDDEN_GAP_MS) {
        this.rafMs.push(interval, nowMs);
        if (interval > 1.5 * FRAME_MS) this.droppedFrames += Math.round(interval / FRAME_MS) - 1;
      }
    }
    this.previousFrameMs = nowMs;
    this.framesThisSecond += 1;
    if (nowMs - this.secondStartMs >= 1000) {
      this.fps = (this.framesThisSecond * 1000) / (nowMs - this.secondStartMs);
      this.framesThisSecond = 0;
      this.secondStartMs = nowMs;
    }
  }

  // Call with how long this frame's callback ran (performance.now() difference), ms.
  drawTook(ms, nowMs) {
    this.drawMs.push(ms, nowMs);
  }

  // Call once the frame's panels are drawn: tick → paint (end to end, corrected by the clock offset)
  // and decoded → painted (browser clock) of every frame applied since the last paint.
  framePainted() {
    if (this.pendingTicksMs.length === 0) return;
    const now = performance.now();
    const paintedMs = performance.timeOrigin + now;
    const offsetMs = this.clockOffsetMs;
    for (let i = 0; i < this.pendingTicksMs.length; i++) {
      const tickPaintedMs = paintedMs + offsetMs - this.pendingTicksMs[i];
      this.paintMs.push(tickPaintedMs, now);
      this.hops.push("tick_painted", tickPaintedMs, now);
      const decodedMs = this.pendingDecodedMs[i];
      if (Number.isFinite(decodedMs)) this.hops.push("decoded_painted", paintedMs - decodedMs, now);
    }
    this.pendingTicksMs.length = 0;
    this.pendingDecodedMs.length = 0;
  }

  snapshot(nowMs) {
    const [rafP50, rafP99] = this.rafMs.percentiles(nowMs, 0.5, 0.99);
    const [paintP50, paintP95, paintP99] = this.paintMs.percentiles(nowMs, 0.5, 0.95, 0.99);
    const [latencyP50, latencyP99] = this.latencyMs.percentiles(nowMs, 0.5, 0.99);
    const [drawP50, drawP99] = this.drawMs.percentiles(nowMs, 0.5, 0.99);
    return {
      draw_p50_ms: drawP50, draw_p99_ms: drawP99,
      fps: this.fps, raf_p50_ms: rafP50, raf_p99_ms: rafP99, paint_p50_ms: paintP50, paint_p95_ms: paintP95, paint_p99_ms: paintP99,
      latency_p50_ms: latencyP50, latency_p99_ms: latencyP99, dropped_frames: this.droppedFrames,
      long_tasks: this.longTasks, long_task_max_ms: this.longTaskMaxMs,
      app_long_tasks: this.appLongTasks, app_long_task_max_ms: this.appLongTaskMaxMs,
      app_long_tasks_observed: this.appLongTasksObserved,
      hops: this.hops.snapshot(nowMs),
    };
  }

  // Raw samples since the last call: {raf_ms, paint_ms, latency_ms, draw_ms, long_task_ms, app_long_tasks,
  // hops: {hop: [ms...]}}.
  drain() {
    const longTasks = this.longTaskDrain;
    const appLongTasks = this.appLongTaskDrain;
    this.longTaskDrain = [];
    this.appLongTaskDrain = [];
    return { raf_ms: this.rafMs.drain(), paint_ms: this.paintMs.drain(), latency_ms: this.latencyMs.drain(),
      draw_ms: this.drawMs.drain(), long_task_ms: longTasks, app_long_tasks: appLongTasks, hops: this.hops.drain() };
  }
}
