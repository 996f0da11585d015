// What the HUD and window.tickstage.stats() report about this tab: frame rate,
// requestAnimationFrame intervals, dropped frames, tick → paint latency (the
// gateway's receive time of a frame's newest tick → the end of the animation
// frame that painted it, both on the wall clock), long tasks. Rolling windows
// of 10 s; raw samples can also be drained (perf/bench_browser.py reads them).
//
// Long tasks come in two counts. `long_tasks`: every main-thread task over
// 50 ms (Long Tasks API), whatever ran in it: garbage collection, style, a
// test harness's evaluate(), or a renderer the OS did not schedule. And
// `app_long_tasks`: scripts of this page's own origin that ran over 50 ms in
// one go (Long Animation Frames API, PerformanceScriptTiming: an event
// handler, a rAF callback, a message from the worker); the desk's budget of
// "no long task attributed to the app" is about these.

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

  // Newest-tick gateway times (epoch ms) of frames whose rows were just applied.
  ticksApplied(gatewayMs) {
    for (let i = 0; i < gatewayMs.length; i++) this.pendingTicksMs.push(gatewayMs[i]);
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

  // Call once the frame's panels are drawn.
  framePainted() {
    if (this.pendingTicksMs.length === 0) return;
    const now = performance.now();
    const paintedMs = performance.timeOrigin + now;
    for (const tickMs of this.pendingTicksMs) this.paintMs.push(paintedMs - tickMs, now);
    this.pendingTicksMs.length = 0;
  }

  snapshot(nowMs) {
    const [rafP50, rafP99] = this.rafMs.percentiles(nowMs, 0.5, 0.99);
    const [paintP50, paintP99] = this.paintMs.percentiles(nowMs, 0.5, 0.99);
    const [latencyP50, latencyP99] = this.latencyMs.percentiles(nowMs, 0.5, 0.99);
    const [drawP50, drawP99] = this.drawMs.percentiles(nowMs, 0.5, 0.99);
    return {
      draw_p50_ms: drawP50, draw_p99_ms: drawP99,
      fps: this.fps, raf_p50_ms: rafP50, raf_p99_ms: rafP99, paint_p50_ms: paintP50, paint_p99_ms: paintP99,
      latency_p50_ms: latencyP50, latency_p99_ms: latencyP99, dropped_frames: this.droppedFrames,
      long_tasks: this.longTasks, long_task_max_ms: this.longTaskMaxMs,
      app_long_tasks: this.appLongTasks, app_long_task_max_ms: this.appLongTaskMaxMs,
      app_long_tasks_observed: this.appLongTasksObserved,
    };
  }

  // Raw samples since the last call: {raf_ms, paint_ms, latency_ms, draw_ms, long_task_ms, app_long_tasks}.
  drain() {
    const longTasks = this.longTaskDrain;
    const appLongTasks = this.appLongTaskDrain;
    this.longTaskDrain = [];
    this.appLongTaskDrain = [];
    return { raf_ms: this.rafMs.drain(), paint_ms: this.paintMs.drain(), latency_ms: this.latencyMs.drain(),
      draw_ms: this.drawMs.drain(), long_task_ms: longTasks, app_long_tasks: appLongTasks };
  }
}
