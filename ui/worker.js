// Dedicated module worker: owns the WebSocket to /ws and decodes every frame
// off the page's thread (DESIGN.md §10). Protocol state lives in feed.js.
//
// page → worker:  {type: "connect", url, token}   open (or reopen) the socket, auth with token
//                 {type: "subscribe", groups}     {type: "unsubscribe", groups}
//                 {type: "disconnect"}            close, stop reconnecting
// worker → page:  {type: "status", state, detail, stats}   state: connecting | authenticating |
//                     live | disconnected | reconnecting | authFailed
//                 {type: "groupInfo", group, version, reset, instruments: [{vtSymbol, ...}]}
//                 {type: "rows", batches: [{group, indexes: Uint32Array, last, bid, ask, bidVolume,
//                     askVolume, volume, openInterest: Float64Array}], latencyMs: Float64Array, stats}
//                     at most every FLUSH_INTERVAL_MS, typed arrays transferred
//                 {type: "error", group, code, message}

import { Feed } from "./feed.js";

const FLUSH_INTERVAL_MS = 16;
const PING_INTERVAL_MS = 2000;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 8000;

let socket = null;
let target = null; // {url, token} while the page wants a connection
let retryMs = RETRY_FIRST_MS;
let retryTimer = 0;

const feed = new Feed({
  send: (bytes) => {
    if (socket !== null && socket.readyState === WebSocket.OPEN) socket.send(bytes);
  },
  post: (message, transfer = []) => self.postMessage(message, transfer),
});

function open() {
  clearTimeout(retryTimer);
  if (target === null) return;
  feed.status("connecting", target.url);
  let ws;
  try {
    ws = new WebSocket(target.url);
  } catch (error) {
    feed.status("disconnected", String(error));
    return;
  }
  ws.binaryType = "arraybuffer";
  socket = ws;
  ws.onopen = () => {
    if (ws === socket) feed.onOpen(target.token);
  };
  ws.onmessage = (event) => {
    if (ws !== socket) return;
    const wasAuthenticated = feed.authenticated;
    feed.onFrame(event.data);
    if (!wasAuthenticated && feed.authenticated) retryMs = RETRY_FIRST_MS;
  };
  ws.onclose = (event) => {
    if (ws !== socket) return;
    socket = null;
    feed.onClose(event.code, event.reason);
    if (target !== null && !feed.authFailed) retry();
  };
}

function retry() {
  const delayMs = retryMs * (0.8 + 0.4 * Math.random());
  retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  feed.status("reconnecting", `retry in ${Math.round(delayMs)} ms`);
  retryTimer = setTimeout(open, delayMs);
}

function close() {
  clearTimeout(retryTimer);
  const ws = socket;
  socket = null;
  if (ws !== null) {
    ws.close(1000, "client closed");
    feed.onClose(1000, "client closed");
  }
}

self.onmessage = (event) => {
  const request = event.data;
  if (request.type === "connect") {
    close();
    target = { url: request.url, token: request.token };
    retryMs = RETRY_FIRST_MS;
    open();
  } else if (request.type === "subscribe") {
    feed.subscribe(request.groups);
  } else if (request.type === "unsubscribe") {
    feed.unsubscribe(request.groups);
  } else if (request.type === "disconnect") {
    target = null;
    close();
  }
};

setInterval(() => feed.flush(), FLUSH_INTERVAL_MS);
setInterval(() => feed.ping(), PING_INTERVAL_MS);
