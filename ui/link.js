// The tab's end of the worker: starts (or joins) the SharedWorker that owns the
// WebSocket (ui/shared-worker.js), or a dedicated Worker (ui/worker.js) where
// SharedWorker is missing or `?worker=dedicated` asks for it. Protocol: ui/hub.js.
//
// If the worker goes silent (it posts stats at least every 250 ms) for
// WATCHDOG_MS (the tab shows "reconnecting" after SILENT_MS), it is presumed dead (crashed, killed, hung on a bad frame) and
// replaced: the tab bumps a generation in localStorage, so every tab of the
// origin moves to one fresh SharedWorker named for it, and says hello again
// with its token and groups; the new worker reconnects and resubscribes, and
// the groups come back with snapshots.

const GENERATION_KEY = "tickstage.worker.generation";
export const SILENT_MS = 1000; // silent this long: the tab shows "reconnecting"
export const WATCHDOG_MS = 3000; // silent this long: the worker is replaced
export const BEAT_INTERVAL_MS = 2000;
export const REQUEST_TIMEOUT_MS = 10_000;

// The desk's socket URLs, comma-separated, for the hub: this page's own /ws first, then the desk's
// other edge nodes from ?edges=ws://a/ws,wss://b/ws (tried in turn when a socket drops: ui/hub.js).
// ?gateways= is the old name of ?edges= ("gateway" now means the vn.py gateway only): still read when
// ?edges= is absent, with a deprecation note through warn (the console).
export function deskSocketUrls(pageHref, warn = (text) => console.warn(text)) {
  const page = new URL(pageHref);
  const own = new URL("./ws", page);
  own.protocol = own.protocol === "https:" ? "wss:" : "ws:";
  own.hash = "";
  own.search = "";
  let edges = page.searchParams.get("edges");
  if (page.searchParams.has("gateways")) {
    warn("tickstage: the ?gateways= URL parameter is deprecated, use ?edges= (the desk's other edge nodes)"
      + (edges === null ? "" : "; ?gateways= ignored, ?edges= given"));
    edges ??= page.searchParams.get("gateways");
  }
  const others = (edges ?? "").split(",").filter((item) => /^wss?:\/\//.test(item));
  return [own.href, ...others].join(",");
}

export class WorkerLink {
  // onMessage(message): every hub → tab message, plus {type: "workerSilent" | "workerRestarted", reason}.
  constructor({ onMessage, socketUrl, kind = preferredKind() }) {
    this.onMessage = onMessage;
    this.socketUrl = socketUrl;
    this.kind = kind;
    this.tabId = Math.random().toString(36).slice(2, 10);
    this.token = null;
    this.groups = new Set();
    this.ticks = new Set(); // contracts this tab follows tick by tick (detail panel)
    this.generation = storedGeneration();
    this.worker = null;
    this.port = null;
    this.lastHeardMs = performance.now();
    this.nextRequest = 0;
    this.requests = new Map(); // requestId → {resolve, timer}
    this.restarts = 0;
    this.silent = false;
  }

  start() {
    this.spawn();
    setInterval(() => this.post({ type: "beat" }), BEAT_INTERVAL_MS);
    setInterval(() => this.watch(), 500);
    addEventListener("pagehide", () => this.post({ type: "bye" }));
    addEventListener("storage", (event) => {
      if (event.key === GENERATION_KEY && Number(event.newValue) > this.generation) {
        this.generation = Number(event.newValue);
        this.respawn("another tab restarted the worker");
      }
    });
  }

  spawn() {
    const name = `tickstage/${this.generation}`;
    if (this.kind === "shared") {
      try {
        this.worker = new SharedWorker(new URL("./shared-worker.js", import.meta.url), { type: "module", name });
        this.port = this.worker.port;
        this.worker.onerror = () => this.fallBack();
      } catch {
        this.kind = "dedicated";
      }
    }
    if (this.kind === "dedicated") {
      this.worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name });
      this.port = this.worker;
      this.worker.onerror = (event) => this.respawn(`worker error: ${event.message ?? "unknown"}`);
    }
    this.port.onmessage = ({ data }) => this.receive(data);
    this.lastHeardMs = performance.now();
    this.hello();
  }

  fallBack() {
    if (this.kind !== "shared") return;
    this.kind = "dedicated";
    this.respawn("SharedWorker failed to start; using a dedicated worker");
  }

  hello() {
    this.post({ type: "hello", tabId: this.tabId, url: this.socketUrl(), token: this.token, groups: [...this.groups],
      ticks: [...this.ticks] });
  }

  receive(message) {
    this.lastHeardMs = performance.now();
    this.silent = false;
    if (message.type === "unknownTab") {
      this.hello();
      return;
    }
    if (message.type === "session") this.token = message.token;
    if (message.type === "reply") {
      const request = this.requests.get(message.requestId);
      if (request === undefined) {
        // Its request timed out: still news (a late orderReply decides an order), so pass it on as an event.
        if (message.member !== "error") this.onMessage({ type: "message", member: message.member, body: message.body });
        return;
      }
      this.requests.delete(message.requestId);
      clearTimeout(request.timer);
      request.resolve({ member: message.member, body: message.body });
      return;
    }
    if (message.type === "error" && message.group) this.groups.delete(message.group);
    this.onMessage(message);
  }

  watch() {
    const silentMs = performance.now() - this.lastHeardMs;
    if (silentMs > WATCHDOG_MS) {
      this.restart(`worker silent for ${Math.round(silentMs)} ms`);
    } else if (silentMs > SILENT_MS && !this.silent) {
      this.silent = true;
      this.onMessage({ type: "workerSilent", reason: "worker not responding" });
    }
  }

  // Replace a dead worker: a new generation for every tab of the origin.
  restart(reason) {
    this.generation = Math.max(storedGeneration(), this.generation + 1);
    try {
      localStorage.setItem(GENERATION_KEY, String(this.generation));
    } catch {
      // storage refused (private mode): this tab restarts alone
    }
    this.respawn(reason);
  }

  respawn(reason) {
    this.restarts += 1;
    try {
      this.port?.close?.();
      if (this.kind === "dedicated") this.worker?.terminate();
    } catch {
      // already gone
    }
    this.onMessage({ type: "workerRestarted", reason });
    this.spawn();
  }

  post(message) {
    this.port?.postMessage(message);
  }

  login(token) {
    this.token = token;
    this.post({ type: "login", url: this.socketUrl(), token });
  }

  logout(reason = "") {
    this.token = null;
    this.groups.clear();
    this.ticks.clear();
    this.post({ type: "logout", reason });
  }

  subscribe(groups) {
    for (const group of groups) this.groups.add(group);
    this.post({ type: "subscribe", groups });
  }

  unsubscribe(groups) {
    for (const group of groups) this.groups.delete(group);
    this.post({ type: "unsubscribe", groups });
  }

  // The rows of `group` this tab shows (instrument indexes): the hub tells the desk (ClientMessage.viewport).
  viewport(group, rows) {
    this.post({ type: "viewport", group, rows: [...rows] });
  }

  // Follow every tick of these contracts ({type: "ticks"} messages; history first).
  subscribeTicks(vtSymbols) {
    for (const symbol of vtSymbols) this.ticks.add(symbol);
    this.post({ type: "subscribeTicks", vtSymbols });
  }

  unsubscribeTicks(vtSymbols) {
    for (const symbol of vtSymbols) this.ticks.delete(symbol);
    this.post({ type: "unsubscribeTicks", vtSymbols });
  }

  // Send any ClientMessage member through the shared socket; resolves {member, body}
  // with the reply (member "error" on refusal or timeout).
  request(member, body, { timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
    this.nextRequest += 1;
    const requestId = this.nextRequest;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.requests.delete(requestId);
        resolve({ member: "error", body: { code: "timeout", message: `no reply within ${timeoutMs} ms` } });
      }, timeoutMs);
      this.requests.set(requestId, { resolve, timer });
      this.post({ type: "send", requestId, member, body });
    });
  }
}

function preferredKind() {
  const asked = new URLSearchParams(location.search).get("worker");
  if (asked === "dedicated" || typeof SharedWorker === "undefined") return "dedicated";
  return "shared";
}

function storedGeneration() {
  try {
    return Number(localStorage.getItem(GENERATION_KEY)) || 0;
  } catch {
    return 0;
  }
}
