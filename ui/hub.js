// The connection hub: ONE WebSocket per browser (per user) shared by every tab.
// Runs inside ui/shared-worker.js (one hub, many MessagePorts) or, where
// SharedWorker is missing, inside ui/worker.js (one hub, one port). Protocol
// state (auth, seq gaps → snapshotRequest, L1 typed arrays) is ui/feed.js; the
// hub adds the socket (reconnect with backoff, resubscribe) and the tabs:
// subscriptions are reference-counted (the server hears subscribe when the
// first tab wants a group and unsubscribe when the last one lets go), a tab
// that joins a live group gets its current rows at once, and each tab gets
// only its own groups' rows.
//
// tab → hub   {type: "hello", tabId, url, token|null, groups}  register (again, after a worker restart);
//                 the token opens the socket only if none is open: the first login wins
//             {type: "login", url, token}      (re)connect with this token (every tab follows)
//             {type: "logout"}                 close the socket; every tab is logged out
//             {type: "subscribe"|"unsubscribe", groups}
//             {type: "subscribeTicks"|"unsubscribeTicks", vtSymbols}   a contract's every tick (detail
//                 panel), reference-counted like groups; hello may carry ticks: [vtSymbol]
//             {type: "viewport", group, rows}   the rows of a group the tab shows (instrument indexes); the
//                 hub sends the desk the union over its tabs (ClientMessage.viewport), on change only
//             {type: "send", requestId, member, body}   any other ClientMessage member (orders ...);
//                 answered by {type: "reply", requestId, member, body} (member "error" on refusal)
//             {type: "beat"} (every few s)     {type: "bye"} (pagehide)
// hub → tab   {type: "session", token|null}    after hello/login: the shared session (null: logged out)
//             {type: "status", state, detail, stats}   connecting | authenticating | live |
//                 disconnected | reconnecting | authFailed; to every tab
//             {type: "groupInfo", group, version, reset, instruments}
//             {type: "groupStatus", group, state, reason, sinceMs, dataMs}   a group's liveness, to its holders
//             {type: "rows", batches: [{group, indexes, last ... openInterest, gatewayMs, decodedMs}], latencyMs,
//              hopsMs, heardMs, stats}
//             {type: "message", member, correlationId, body}  server events (account status, risk ...)
//             {type: "ticks", vtSymbol, history, last, bid, ask, bidVolume, askVolume, volume,
//                 openInterest, exchangeMs}   to the tabs following vtSymbol (history: replace, else append)
//             {type: "error", group, code, message}          {type: "loggedOut", reason}
//             {type: "unknownTab"}             the hub does not know this port (restarted): send hello
//             {type: "session", token, renewed: true}   the hub renewed the token (same socket, same session)
//             {type: "renewal", state: "failed"|"retrying", code, message, expiresS}   renewal impossible
//                 (refresh token expired or revoked, no issuer) or failing for now (desk unreachable)
//
// Renewal (with refreshUrl): at RENEW_AT of the access token's life (iat → exp) the hub asks the issuer
// for a new one (POST /auth/refresh with the HttpOnly cookie, ui/session.js) and sends `refresh` on the
// open socket: the socket, its subscriptions and every tab's panels carry on. One hub per browser does
// this, so one refresh token is never presented twice.

import { Feed } from "./feed.js";
import { claimsOf, refreshAccessToken } from "./session.js";

export const FLUSH_INTERVAL_MS = 16;
export const PING_INTERVAL_MS = 2000;
export const RETRY_FIRST_MS = 250;
export const RETRY_MAX_MS = 8000;
export const TAB_TIMEOUT_MS = 90_000; // a tab silent this long (no beat: closed or frozen) is released
export const SWEEP_INTERVAL_MS = 5000;
const MAX_PENDING_REQUESTS = 4096;
export const RENEW_AT = 0.75; // renew at this fraction of the access token's life
export const RENEW_RETRY_MS = 5000; // a renewal that could not reach the desk is tried again this much later

class Tab {
  constructor(port, id, nowMs) {
    this.port = port;
    this.id = id;
    this.groups = new Set();
    this.ticks = new Set();
    this.viewports = new Map(); // group → rows it shows (instrument indexes)
    this.seenMs = nowMs;
  }
}

// Reference counts of tabs per key (a group, a contract). owned: the tab's own set of keys.
// Returns the keys no tab held before (fresh) and those other tabs already held (joined).
function hold(refs, owned, tab, keys) {
  const fresh = [], joined = [];
  for (const key of keys) {
    if (owned.has(key)) continue;
    owned.add(key);
    let holders = refs.get(key);
    if (holders === undefined) {
      holders = new Set();
      refs.set(key, holders);
      fresh.push(key);
    } else {
      joined.push(key);
    }
    holders.add(tab);
  }
  return { fresh, joined };
}

// Release keys of one tab; return those no tab holds any more.
function letGo(refs, owned, tab, keys) {
  const last = [];
  for (const key of keys) {
    if (!owned.delete(key)) continue;
    const holders = refs.get(key);
    holders?.delete(tab);
    if (holders !== undefined && holders.size === 0) {
      refs.delete(key);
      last.push(key);
    }
  }
  return last;
}

export class Hub {
  // timers: {setTimeout, clearTimeout, setInterval}; Socket: the WebSocket class; now(): epoch ms.
  // refreshUrl: the issuer's /auth/refresh (null: no renewal); fetch: for it.
  constructor({ Socket = globalThis.WebSocket, timers = globalThis, now, refreshUrl = null,
    fetch = globalThis.fetch } = {}) {
    this.Socket = Socket;
    this.timers = timers;
    this.refreshUrl = refreshUrl;
    this.fetch = fetch;
    this.renewTimer = 0;
    this.renewals = 0;
    this.tabs = new Map(); // port → Tab
    this.refs = new Map(); // group → Set<Tab>
    this.tickRefs = new Map(); // vtSymbol → Set<Tab>
    this.requests = new Map(); // envelope id → {tab, requestId}
    this.socket = null;
    this.target = null; // {url, token} while some tab wants a connection
    this.retryMs = RETRY_FIRST_MS;
    this.retryTimer = 0;
    this.lastStatus = { type: "status", state: "idle", detail: "", stats: {} };
    this.errors = 0; // exceptions caught while handling a tab's message
    this.flushPending = false;
    this.feed = new Feed({
      send: (bytes) => {
        if (this.socket !== null && this.socket.readyState === 1) this.socket.send(bytes);
      },
      post: (message, transfer) => this.route(message, transfer),
      ...(now ? { now } : {}),
    });
    timers.setInterval(() => this.feed.flush(), FLUSH_INTERVAL_MS);
    timers.setInterval(() => this.feed.ping(), PING_INTERVAL_MS);
    timers.setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
  }

  // -- tabs ---------------------------------------------------------------

  addPort(port, { expires = true } = {}) {
    port.expires = expires;
  }

  removePort(port) {
    const tab = this.tabs.get(port);
    if (tab === undefined) return;
    this.tabs.delete(port);
    this.release(tab, [...tab.groups]);
    this.releaseTicks(tab, [...tab.ticks]);
  }

  // One message from a tab; never throws (a bad message must not stop the hub).
  onPortMessage(port, request) {
    try {
      this.take(port, request ?? {});
    } catch (error) {
      this.errors += 1;
      this.feed.stats.lastError = `hub: ${error.name}: ${error.message}`;
    }
  }

  take(port, request) {
    const now = this.feed.now();
    if (request.type === "hello") {
      this.removePort(port);
      const tab = new Tab(port, String(request.tabId ?? ""), now);
      this.tabs.set(port, tab);
      if (this.target === null && request.token) this.connect(request.url, request.token);
      port.postMessage({ type: "session", token: this.target?.token ?? null });
      port.postMessage(this.lastStatus);
      this.acquire(tab, request.groups ?? []);
      this.acquireTicks(tab, request.ticks ?? []);
      return;
    }
    const tab = this.tabs.get(port);
    if (tab === undefined) {
      if (request.type !== "bye") port.postMessage({ type: "unknownTab" });
      return;
    }
    tab.seenMs = now;
    switch (request.type) {
      case "beat": return;
      case "bye": this.removePort(port); return;
      case "subscribe": this.acquire(tab, request.groups); return;
      case "unsubscribe": this.release(tab, request.groups); return;
      case "subscribeTicks": this.acquireTicks(tab, request.vtSymbols ?? []); return;
      case "unsubscribeTicks": this.releaseTicks(tab, request.vtSymbols ?? []); return;
      case "viewport": this.viewport(tab, String(request.group), request.rows ?? []); return;
      case "login":
        if (this.target?.token !== request.token || this.target?.url !== request.url || this.feed.authFailed) {
          this.connect(request.url, request.token);
        }
        this.broadcast({ type: "session", token: request.token });
        return;
      case "logout": this.logout(request.reason ?? ""); return;
      case "send": this.send(tab, request); return;
      default: port.postMessage({ type: "error", group: null, code: "unknownRequest", message: String(request.type) });
    }
  }

  acquire(tab, groups) {
    const { fresh, joined } = hold(this.refs, tab.groups, tab, groups);
    for (const group of joined) {
      const current = this.feed.current(group);
      if (current !== null) {
        tab.port.postMessage(current.info);
        tab.port.postMessage({ type: "rows", batches: [current.batch], latencyMs: new Float64Array(0), stats: this.stats() });
        if (current.liveness) tab.port.postMessage(current.liveness);
      }
    }
    if (fresh.length) this.feed.subscribe(fresh);
  }

  release(tab, groups) {
    const last = letGo(this.refs, tab.groups, tab, groups);
    for (const group of groups) {
      if (tab.viewports.delete(group) && !last.includes(group)) this.sendViewport(group);
    }
    if (last.length) this.feed.unsubscribe(last);
  }

  // A tab shows these rows of a group it holds: the desk keeps the union over the tabs first in a cut frame.
  viewport(tab, group, rows) {
    if (!tab.groups.has(group)) return;
    tab.viewports.set(group, Array.from(rows, Number).filter((row) => Number.isInteger(row) && row >= 0));
    this.sendViewport(group);
  }

  sendViewport(group) {
    const union = new Set();
    for (const tab of this.tabs.values()) for (const row of tab.viewports.get(group) ?? []) union.add(row);
    this.feed.viewport(group, [...union].sort((a, b) => a - b));
  }

  acquireTicks(tab, vtSymbols) {
    const { fresh, joined } = hold(this.tickRefs, tab.ticks, tab, vtSymbols);
    if (fresh.length) this.feed.subscribeTicks(fresh);
    if (joined.length) this.feed.subscribeTicks(joined, { again: true }); // the server sends the history again
  }

  releaseTicks(tab, vtSymbols) {
    const last = letGo(this.tickRefs, tab.ticks, tab, vtSymbols);
    if (last.length) this.feed.unsubscribeTicks(last);
  }

  sweep() {
    const now = this.feed.now();
    for (const [port, tab] of this.tabs) if (port.expires && now - tab.seenMs > TAB_TIMEOUT_MS) this.removePort(port);
  }

  send(tab, { requestId, member, body }) {
    if (!this.feed.authenticated) {
      tab.port.postMessage({ type: "reply", requestId, member: "error",
        body: { code: "notConnected", message: `not connected (${this.lastStatus.state})` } });
      return;
    }
    const id = this.feed.message({ [member]: body });
    if (this.requests.size >= MAX_PENDING_REQUESTS) this.requests.delete(this.requests.keys().next().value);
    this.requests.set(id, { tab, requestId });
  }

  // -- feed → tabs ----------------------------------------------------------

  stats() {
    return { ...this.feed.stats, tabs: this.tabs.size, groups: this.refs.size, hubErrors: this.errors,
      renewals: this.renewals };
  }

  route(message, transfer = []) {
    switch (message.type) {
      case "status":
        message.stats = this.stats();
        this.lastStatus = message;
        this.broadcast(message);
        return;
      case "rows": return this.routeRows(message, transfer);
      case "groupInfo": case "groupStatus": return this.toHolders(message.group, message);
      case "ticks":
        for (const tab of this.tickRefs.get(message.vtSymbol) ?? []) tab.port.postMessage(message);
        return;
      case "message": case "error": {
        const request = this.requests.get(message.correlationId);
        if (request !== undefined && this.tabs.has(request.tab.port)) {
          this.requests.delete(message.correlationId);
          const body = message.type === "error" ? { code: message.code, message: message.message } : message.body;
          request.tab.port.postMessage({ type: "reply", requestId: request.requestId,
            member: message.type === "error" ? "error" : message.member, body });
          return;
        }
        if (message.type === "error" && message.group !== null) {
          const holders = this.refs.get(message.group);
          if (!this.feed.groups.has(message.group)) this.refs.delete(message.group); // refused for good
          for (const tab of holders ?? []) {
            tab.groups.delete(message.group);
            tab.port.postMessage(message);
          }
          return;
        }
        this.broadcast(message);
        return;
      }
      default: this.broadcast(message);
    }
  }

  routeRows(message, transfer) {
    const stats = this.stats();
    if (this.tabs.size === 1) {
      const [tab] = this.tabs.values();
      message.stats = stats;
      message.batches = message.batches.filter((batch) => tab.groups.has(batch.group));
      tab.port.postMessage(message, transfer);
      return;
    }
    for (const tab of this.tabs.values()) {
      const batches = message.batches.filter((batch) => tab.groups.has(batch.group));
      tab.port.postMessage({ type: "rows", batches, latencyMs: message.latencyMs, hopsMs: message.hopsMs,
        heardMs: message.heardMs, stats }); // cloned per tab
    }
  }

  toHolders(group, message) {
    for (const tab of this.refs.get(group) ?? []) tab.port.postMessage(message);
  }

  broadcast(message) {
    for (const tab of this.tabs.values()) tab.port.postMessage(message);
  }

  // -- socket -------------------------------------------------------------------

  // url: one socket URL, or several separated by commas (edge nodes of one desk):
  // each retry after a drop goes to the next one, so a dead edge node's clients move on.
  connect(url, token) {
    this.close();
    this.target = { url, token };
    this.urlIndex = 0;
    this.retryMs = RETRY_FIRST_MS;
    this.open();
    this.scheduleRenewal();
  }

  // -- renewal ----------------------------------------------------------------------

  scheduleRenewal(delayMs = null) {
    this.timers.clearTimeout(this.renewTimer);
    if (this.refreshUrl === null || this.target === null) return;
    const { expiresS, issuedS } = claimsOf(this.target.token ?? "");
    if (expiresS === null) return;
    const nowMs = this.feed.now();
    const fromMs = (issuedS ?? nowMs / 1000) * 1000;
    const atMs = fromMs + RENEW_AT * (expiresS * 1000 - fromMs);
    this.renewTimer = this.timers.setTimeout(() => this.renew(), delayMs ?? Math.max(0, atMs - nowMs));
  }

  async renew() {
    const target = this.target;
    if (target === null) return;
    const { status, body } = await refreshAccessToken(this.refreshUrl, this.fetch);
    if (this.target !== target) return; // logged out or in again meanwhile
    if (status === 200 && typeof body.access_token === "string") {
      this.renewals += 1;
      this.target = { ...target, token: body.access_token }; // a reconnect uses the new token
      if (this.feed.authenticated) this.feed.message({ refresh: { token: body.access_token } });
      this.broadcast({ type: "session", token: body.access_token, renewed: true });
      this.scheduleRenewal();
      return;
    }
    const { expiresS } = claimsOf(target.token ?? "");
    const retrying = (status === 0 || status >= 500) && expiresS !== null
      && this.feed.now() + RENEW_RETRY_MS < expiresS * 1000;
    this.broadcast({ type: "renewal", state: retrying ? "retrying" : "failed", code: String(body.error ?? status),
      message: String(body.message ?? ""), expiresS });
    if (retrying) this.scheduleRenewal(RENEW_RETRY_MS);
  }

  logout(reason) {
    this.timers.clearTimeout(this.renewTimer);
    this.target = null;
    this.close();
    for (const tab of this.tabs.values()) {
      tab.groups.clear();
      tab.ticks.clear();
    }
    this.refs.clear();
    this.tickRefs.clear();
    this.feed.unsubscribeTicks([...this.feed.ticks]);
    this.feed.unsubscribe([...this.feed.groups.keys()]);
    this.broadcast({ type: "session", token: null });
    this.broadcast({ type: "loggedOut", reason });
  }

  open() {
    this.timers.clearTimeout(this.retryTimer);
    if (this.target === null) return;
    const { token } = this.target;
    const urls = String(this.target.url).split(",").map((item) => item.trim()).filter(Boolean);
    const url = urls[(this.urlIndex ?? 0) % urls.length] ?? this.target.url;
    this.feed.status("connecting", url);
    let ws;
    try {
      ws = new this.Socket(url);
    } catch (error) {
      this.feed.status("disconnected", String(error));
      this.retry();
      return;
    }
    ws.binaryType = "arraybuffer";
    this.socket = ws;
    ws.onopen = () => {
      if (ws === this.socket) this.feed.onOpen(token);
    };
    ws.onmessage = (event) => {
      if (ws !== this.socket) return;
      const wasAuthenticated = this.feed.authenticated;
      this.feed.onFrame(event.data);
      if (!wasAuthenticated && this.feed.authenticated) this.retryMs = RETRY_FIRST_MS;
      this.flushSoon();
    };
    ws.onclose = (event) => {
      if (ws !== this.socket) return;
      this.socket = null;
      this.feed.onClose(event.code, event.reason);
      if (this.target !== null && !this.feed.authFailed) this.retry();
    };
  }

  // Post changed rows once the frames queued right now are decoded (one post for a
  // burst), rather than waiting up to FLUSH_INTERVAL_MS: it is on the tick → paint path.
  flushSoon() {
    if (this.flushPending) return;
    this.flushPending = true;
    this.timers.setTimeout(() => {
      this.flushPending = false;
      this.feed.flush();
    }, 0);
  }

  retry() {
    this.urlIndex = (this.urlIndex ?? 0) + 1;
    const delayMs = this.retryMs * (0.8 + 0.4 * Math.random());
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    this.feed.status("reconnecting", `retry in ${Math.round(delayMs)} ms`);
    this.retryTimer = this.timers.setTimeout(() => this.open(), delayMs);
  }

  close() {
    this.timers.clearTimeout(this.retryTimer);
    const ws = this.socket;
    this.socket = null;
    if (ws !== null) {
      ws.close(1000, "client closed");
      this.feed.onClose(1000, "client closed");
    }
  }
}
