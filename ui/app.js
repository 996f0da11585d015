// The page: login, group picker, one canvas watchlist per subscribed group,
// and the metrics HUD. The WebSocket and decoding live in a SharedWorker shared
// by every tab (ui/link.js, ui/hub.js); this thread only copies changed rows
// into each panel and paints on requestAnimationFrame.
//
// For tests and tooling: window.tickstage = {stats(), rows(group), groups()}.

import { WorkerLink } from "./link.js";
import { Watchlist } from "./watchlist.js";

const TOKEN_KEY = "tickstage.token";
const GROUPS_KEY = "tickstage.groups";
const HUD_INTERVAL_MS = 250;
const LATENCY_WINDOW = 4096; // samples kept for the rolling percentiles
const LATENCY_MAX_AGE_MS = 10_000;

const $ = (selector) => document.querySelector(selector);
const panels = new Map(); // group → Watchlist, in subscription order
let token = null;
let connection = { state: "idle", detail: "" };
let workerStats = { connected: false, frames: 0, bytes: 0, gaps: 0, decodeErrors: 0 };
let availableGroups = [];

// -- rolling metrics ----------------------------------------------------------

class RollingSamples {
  constructor(capacity, maxAgeMs) {
    this.values = new Float64Array(capacity);
    this.times = new Float64Array(capacity);
    this.next = 0;
    this.count = 0;
    this.maxAgeMs = maxAgeMs;
  }

  push(value, nowMs) {
    this.values[this.next] = value;
    this.times[this.next] = nowMs;
    this.next = (this.next + 1) % this.values.length;
    this.count = Math.min(this.count + 1, this.values.length);
  }

  percentiles(nowMs, ...quantiles) {
    const recent = [];
    for (let i = 0; i < this.count; i++) if (nowMs - this.times[i] <= this.maxAgeMs) recent.push(this.values[i]);
    if (recent.length === 0) return quantiles.map(() => null);
    const sorted = Float64Array.from(recent).sort();
    return quantiles.map((q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  }
}

const latency = new RollingSamples(LATENCY_WINDOW, LATENCY_MAX_AGE_MS);
const meter = { fps: 0, frames: 0, since: performance.now(), rates: { frames: 0, bytes: 0 }, last: null };

// -- worker messages ----------------------------------------------------------

function onWorkerMessage(message) {
  const nowMs = performance.now();
  if (message.type === "rows") {
    for (const batch of message.batches) panels.get(batch.group)?.apply(batch, nowMs);
    for (const sample of message.latencyMs) latency.push(sample, nowMs);
    workerStats = message.stats;
  } else if (message.type === "groupInfo") {
    panels.get(message.group)?.setInstruments(message);
  } else if (message.type === "status") {
    connection = { state: message.state, detail: message.detail };
    workerStats = message.stats;
    if (message.state === "authFailed") logout(`Log-in refused: ${message.detail || "bad token"}`);
  } else if (message.type === "error") {
    if (message.group) removePanel(message.group);
    toast(`${message.code}: ${message.message}`);
  } else if (message.type === "session") {
    if (message.token && message.token !== token) adopt(message.token);
    else if (!message.token && token) logout("Logged out in another tab", { local: true });
  } else if (message.type === "loggedOut") {
    if (token) logout(message.reason || "Logged out in another tab", { local: true });
  } else if (message.type === "workerRestarted") {
    connection = { state: "reconnecting", detail: message.reason };
  }
}

const link = new WorkerLink({ onMessage: onWorkerMessage, socketUrl });

// -- session ------------------------------------------------------------------

function socketUrl() {
  const url = new URL("./ws", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  url.search = "";
  return url.href;
}

function tokenFromLocation() {
  const params = new URLSearchParams(location.hash.slice(1));
  const fromHash = params.get("token");
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(null, "", location.pathname + location.search);
    return fromHash;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

// Log in this tab with a token it was given: every tab follows (one socket).
function login(newToken) {
  adopt(newToken);
  link.login(newToken);
}

// Show the desk for a session: this tab's token, or the shared worker's.
function adopt(newToken) {
  token = newToken;
  link.token = newToken;
  sessionStorage.setItem(TOKEN_KEY, token);
  document.body.dataset.session = "in";
  $("#login-message").textContent = "";
  const saved = JSON.parse(sessionStorage.getItem(GROUPS_KEY) || "[]");
  for (const group of saved) subscribe(group);
  loadGroups();
}

function logout(reason = "", { local = false } = {}) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  if (!local) link.logout(reason);
  for (const group of [...panels.keys()]) removePanel(group, { keepSaved: true });
  document.body.dataset.session = "out";
  $("#login-message").textContent = reason;
  availableGroups = [];
  renderPicker();
}

async function loadGroups() {
  const note = $("#groups-note");
  note.textContent = "loading…";
  try {
    const response = await fetch("./api/groups", { headers: { Authorization: `Bearer ${token}` } });
    if (response.status === 401) {
      logout("Log-in refused: the token was not accepted");
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    availableGroups = (await response.json()).groups;
    note.textContent = availableGroups.length ? "" : "no groups";
  } catch (error) {
    note.textContent = `cannot load groups (${error.message})`;
  }
  renderPicker();
}

// -- panels -------------------------------------------------------------------

function subscribe(group) {
  if (panels.has(group)) return;
  const panel = new Watchlist(group, { onClose: unsubscribe });
  panels.set(group, panel);
  $("#panels").append(panel.element);
  link.subscribe([group]);
  saveGroups();
  renderPicker();
}

function unsubscribe(group) {
  if (!panels.has(group)) return;
  link.unsubscribe([group]);
  removePanel(group);
}

function removePanel(group, { keepSaved = false } = {}) {
  panels.get(group)?.destroy();
  panels.delete(group);
  if (!keepSaved) saveGroups();
  renderPicker();
}

function saveGroups() {
  sessionStorage.setItem(GROUPS_KEY, JSON.stringify([...panels.keys()]));
}

function renderPicker() {
  const list = $("#group-list");
  list.replaceChildren(...availableGroups.map(({ name, instruments }) => {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "group-name";
    label.textContent = name;
    const count = document.createElement("span");
    count.className = "group-count";
    count.textContent = instruments;
    const button = document.createElement("button");
    button.type = "button";
    const subscribed = panels.has(name);
    button.dataset.subscribe = name;
    button.className = subscribed ? "subscribed" : "";
    button.textContent = subscribed ? "Unsubscribe" : "Subscribe";
    button.addEventListener("click", () => (panels.has(name) ? unsubscribe(name) : subscribe(name)));
    item.append(label, count, button);
    return item;
  }));
}

function toast(text) {
  const item = document.createElement("div");
  item.className = "toast";
  item.textContent = text;
  $("#toasts").append(item);
  setTimeout(() => item.remove(), 6000);
}

// -- metrics and painting -------------------------------------------------------

function stats() {
  const [p50, p99] = latency.percentiles(performance.now(), 0.5, 0.99);
  return {
    fps: meter.fps,
    latency_p50_ms: p50,
    latency_p99_ms: p99,
    frames: workerStats.frames,
    bytes: workerStats.bytes,
    gaps: workerStats.gaps,
    decode_errors: workerStats.decodeErrors,
    frames_per_s: meter.rates.frames,
    bytes_per_s: meter.rates.bytes,
    rtt_ms: Number.isFinite(workerStats.rttMs) ? workerStats.rttMs : null,
    connected: Boolean(workerStats.connected),
    state: connection.state,
    worker: link.kind,
    tabs: workerStats.tabs ?? 1,
  };
}

function updateHud(nowMs) {
  if (meter.last !== null) {
    const seconds = (nowMs - meter.last.at) / 1000;
    meter.rates.frames = (workerStats.frames - meter.last.frames) / seconds;
    meter.rates.bytes = (workerStats.bytes - meter.last.bytes) / seconds;
  }
  meter.last = { at: nowMs, frames: workerStats.frames, bytes: workerStats.bytes };
  const current = stats();
  const ms = (value) => (value === null ? "–" : value.toFixed(1));
  const set = (metric, text) => { document.querySelector(`[data-metric="${metric}"]`).textContent = text; };
  set("fps", current.fps.toFixed(0));
  set("latency", `${ms(current.latency_p50_ms)} / ${ms(current.latency_p99_ms)}`);
  set("frames", current.frames_per_s.toFixed(0));
  set("bytes", `${(current.bytes_per_s / 1024).toFixed(1)} KiB`);
  set("gaps", String(current.gaps));
  set("errors", String(current.decode_errors));
  const conn = $("#conn");
  conn.dataset.state = connection.state;
  conn.title = `${connection.state}${connection.detail ? `: ${connection.detail}` : ""}`;
  $("#conn-label").textContent = connection.state;
}

function paint(nowMs) {
  meter.frames += 1;
  if (nowMs - meter.since >= 1000) {
    meter.fps = (meter.frames * 1000) / (nowMs - meter.since);
    meter.frames = 0;
    meter.since = nowMs;
  }
  for (const panel of panels.values()) panel.draw(nowMs);
  if (meter.last === null || nowMs - meter.last.at >= HUD_INTERVAL_MS) updateHud(nowMs);
  requestAnimationFrame(paint);
}

// -- start ------------------------------------------------------------------------

window.tickstage = {
  stats,
  rows: (group) => panels.get(group)?.rows() ?? [],
  groups: () => [...panels.keys()],
};

$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("#token").value.trim();
  $("#token").value = "";
  if (value) login(value);
});
$("#logout").addEventListener("click", () => {
  sessionStorage.removeItem(GROUPS_KEY);
  logout();
});
$("#refresh-groups").addEventListener("click", () => token && loadGroups());

const fromHash = new URLSearchParams(location.hash.slice(1)).has("token");
const initial = tokenFromLocation();
link.token = initial;
link.start();
if (initial && fromHash) login(initial);
else if (initial) adopt(initial);
else document.body.dataset.session = "out";
requestAnimationFrame(paint);
