// Node harness for ui/worker.js (the dedicated-worker fallback around ui/hub.js) with a fake WebSocket and fake timers, driven by test_worker.py.
//
//   node tests/ui/worker_harness.mjs <scenario> [ack.bin] [refusal.bin]
//
// scenarios: "reconnect" (socket drops after auth → a retry timer opens a new socket that
// authenticates again) and "refused" (error(tokenExpired) then close 1008 → no retry timer).
// Prints {sockets: [{url, sent}], timers: [delay ms...], pendingTimers, states: [...], intervals: [ms...]}.

import { readFileSync } from "node:fs";

const sockets = [];
const timers = [];
const intervals = [];
class FakeWebSocket {
  static OPEN = 1;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    sockets.push(this);
  }
  send(bytes) { this.sent.push(bytes.length); }
  close() { this.readyState = 3; }
  open() { this.readyState = 1; this.onopen?.(); }
  receive(bytes) { this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }); }
  drop(code) { this.readyState = 3; this.onclose?.({ code, reason: "" }); }
}
const posts = [];
globalThis.self = globalThis;
globalThis.postMessage = (message) => posts.push(message);
globalThis.WebSocket = FakeWebSocket;
globalThis.setTimeout = (callback, delay) => (delay === 0 ? 0 : timers.push({ callback, delay })); // 0: the hub's flushSoon
globalThis.clearTimeout = (id) => { if (timers[id - 1]) timers[id - 1].cancelled = true; };
globalThis.setInterval = (_callback, delay) => intervals.push(delay);

await import("../../ui/worker.js");
const [scenario, ackFile, refusalFile] = process.argv.slice(2);
const ack = readFileSync(ackFile);
self.onmessage({ data: { type: "hello", tabId: "t", url: "ws://desk/ws", token: "T", groups: ["rb"] } });
sockets[0].open();
if (scenario === "reconnect") {
  sockets[0].receive(ack);
  sockets[0].drop(1006);
  const retry = timers.at(-1);
  retry.fired = true;
  retry.callback();
  sockets[1].open();
  sockets[1].receive(ack);
} else {
  sockets[0].receive(readFileSync(refusalFile));
  sockets[0].drop(1008);
}
process.stdout.write(JSON.stringify({
  sockets: sockets.map((socket) => ({ url: socket.url, sent: socket.sent.length })),
  timers: timers.map((timer) => timer.delay), // every timeout scheduled
  pendingTimers: timers.filter((timer) => !timer.cancelled && !timer.fired).length,
  states: posts.filter((post) => post.type === "status").map((post) => post.state),
  intervals,
}));
process.exit(0);
