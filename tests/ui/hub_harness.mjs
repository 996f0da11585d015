// Node harness for ui/hub.js (the SharedWorker's hub) with fake ports, a fake WebSocket
// and fake timers, driven by tests/ui/test_hub.py.
//
//   node tests/ui/hub_harness.mjs <script.json>
//
// script: {nowMs, steps: [{do: "hello", tab, token, groups} | {do: "subscribe"|"unsubscribe", tab, groups}
//          | {do: "bye", tab} | {do: "beat", tab} | {do: "login"|"logout", tab, token}
//          | {do: "send", tab, requestId, member, body} | {do: "open"} | {do: "frame", file}
//          | {do: "drop", code} | {do: "fire"} | {do: "flush"} | {do: "advance", ms} | {do: "sweep"}
//          | {do: "raw", tab, message} | {do: "renew"}],
//          refreshReplies: [{status, body}] (renewal on: the fake fetch answers these in turn)}
// Prints {sockets: [{url, sent: [hex...]}], tabs: {name: [posts...]}, timers: [ms...], refs: {group: n}}.
// Posts are summarised: rows → {type, groups: [...], rows: n}, others as sent (BigInt → "12n").

import { readFileSync } from "node:fs";
import { Hub } from "../../ui/hub.js";

const sockets = [];
const timers = [];
class FakeWebSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    sockets.push(this);
  }
  send(bytes) { this.sent.push(Buffer.from(bytes).toString("hex")); }
  close() { this.readyState = 3; }
}
const fakeTimers = {
  setTimeout: (callback, delay) => (delay === 0 ? 0 : timers.push({ callback, delay })), // 0: flushSoon, driven by "flush" steps
  clearTimeout: (id) => { if (timers[id - 1]) timers[id - 1].cancelled = true; },
  setInterval: () => 0,
};

function jsonable(value) {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (ArrayBuffer.isView(value) || Array.isArray(value)) return Array.from(value, jsonable);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, jsonable(item)]));
  }
  return value;
}

const script = JSON.parse(readFileSync(process.argv[2], "utf8"));
let nowMs = script.nowMs;
const out = { tabs: {}, fetches: [] };
const refreshReplies = script.refreshReplies ?? null;
const fakeFetch = async (url, init) => {
  out.fetches.push({ url, method: init.method, headers: init.headers, credentials: init.credentials });
  const reply = refreshReplies.shift();
  return { status: reply.status, text: async () => JSON.stringify(reply.body) };
};
const hub = new Hub({ Socket: FakeWebSocket, timers: fakeTimers, now: () => nowMs,
  ...(refreshReplies ? { refreshUrl: "http://desk/auth/refresh", fetch: fakeFetch } : {}) });
const ports = new Map();
function port(name) {
  if (!ports.has(name)) {
    out.tabs[name] = [];
    const fake = {
      postMessage: (message) => {
        const summary = message.type === "rows"
          ? { type: "rows", groups: message.batches.map((b) => b.group), rows: message.batches.reduce((n, b) => n + b.indexes.length, 0) }
          : message.type === "status" ? { type: "status", state: message.state, tabs: message.stats.tabs }
          : jsonable(message);
        out.tabs[name].push(summary);
      },
    };
    hub.addPort(fake);
    ports.set(name, fake);
  }
  return ports.get(name);
}
const socket = () => sockets.at(-1);
for (const step of script.steps) {
  const p = step.tab === undefined ? null : port(step.tab);
  if (step.do === "hello") hub.onPortMessage(p, { type: "hello", tabId: step.tab, url: "ws://desk/ws", token: step.token ?? null, groups: step.groups ?? [] });
  else if (["subscribe", "unsubscribe"].includes(step.do)) hub.onPortMessage(p, { type: step.do, groups: step.groups });
  else if (["bye", "beat", "logout"].includes(step.do)) hub.onPortMessage(p, { type: step.do });
  else if (step.do === "login") hub.onPortMessage(p, { type: "login", url: "ws://desk/ws", token: step.token });
  else if (step.do === "send") hub.onPortMessage(p, { type: "send", requestId: step.requestId, member: step.member, body: step.body });
  else if (step.do === "raw") hub.onPortMessage(p, step.message);
  else if (step.do === "open") { socket().readyState = 1; socket().onopen(); }
  else if (step.do === "frame") {
    const bytes = readFileSync(step.file);
    socket().onmessage({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  } else if (step.do === "drop") { const s = socket(); s.readyState = 3; s.onclose({ code: step.code, reason: "" }); }
  else if (step.do === "fire") { const timer = timers.filter((t) => !t.cancelled && !t.fired).at(-1); timer.fired = true; timer.callback(); }
  else if (step.do === "flush") hub.feed.flush();
  else if (step.do === "advance") nowMs += step.ms;
  else if (step.do === "sweep") hub.sweep();
  else if (step.do === "renew") await hub.renew();
  else throw new Error(`unknown step ${step.do}`);
}
out.sockets = sockets.map((s) => ({ url: s.url, sent: s.sent }));
out.timers = timers.map((t) => t.delay);
out.refs = Object.fromEntries([...hub.refs].map(([group, holders]) => [group, holders.size]));
out.hubErrors = hub.errors;
process.stdout.write(JSON.stringify(out));
