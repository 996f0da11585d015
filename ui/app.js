// The page: sign-in (the overlay of ui/signin.js; no session at all goes to the
// login page), the session's renewal seen from the page (the worker renews:
// ui/hub.js), group picker, one canvas watchlist per subscribed group,
// the desk's panel slots (ui/panels.js: registerPanel) and the metrics HUD. The WebSocket and decoding live in a SharedWorker shared
// by every tab (ui/link.js, ui/hub.js); this thread only copies changed rows
// into each panel and paints on requestAnimationFrame.
//
// The layout (open groups in their order, each watchlist's sort, filter and columns, folded slots)
// is the user's, kept on the server (ui/layout.js): it comes back in a new browser or on another
// machine; named layouts are saved, switched and reset from the sidebar. Hotkeys: ui/hotkeys.js.
// The group list is one tab stop (arrow keys move in it, the filter above narrows it).
//
// For tests, tools and support: window.tickstage = {stats(), samples(), rows(group), groups(),
// watchlist(), view(group), displayed(group), viewport(group), layout()} (watchlist: the user's
// watchlist group, its members, watchlistUpdates sent; view: a panel's sort, filter, columns;
// displayed: its rows in display order; viewport: the rows of a group last reported to the desk as
// shown; columns: its painted columns' x and width in px; layout: the active layout's name, names
// and saves).

import { HUD_INTERVAL_MS, Rates, mountHops, renderHud } from "./hud.js";
import { WorkerLink, deskSocketUrls } from "./link.js";
import { FrameMetrics } from "./metrics.js";
import { dispatchMessage, dispatchSession, dispatchTicks, startPanels } from "./panels.js";
import { FRESH_KEY, TOKEN_KEY, authPost, claimsOf, refreshAccessToken, tokenFromLocation } from "./session.js";
import { mountSignIn } from "./signin.js";
import { Hotkeys } from "./hotkeys.js";
import { DEFAULT_LAYOUT_NAME, Layouts, PrefsClient, emptyLayout } from "./layout.js";
import { NamedLists } from "./named_lists.js";
import { Watchlist } from "./watchlist.js";
import { WatchlistEditor } from "./watchlist_edit.js";

const WARN_BEFORE_S = 60; // a session that cannot be renewed is announced this long before it ends
const REFRESH_URL = new URL("./auth/refresh", location.href).href;
// How bad each group liveness is (actors/market/liveness.py SEVERITY): the header's dot shows the worst watched.
const SEVERITY = { unknown: 0, live: 0, preOpen: 1, closed: 1, ended: 2, stale: 3, sourceDown: 4, restarting: 5, stopped: 6 };

const $ = (selector) => document.querySelector(selector);
const panels = new Map(); // group → Watchlist, in subscription order
let token = null;
let refusedToken = null; // the last token the desk refused: a late echo of it from the worker is not a sign-in
let connection = { state: "idle", detail: "" };
let workerStats = { connected: false, frames: 0, bytes: 0, gaps: 0, decodeErrors: 0 };
let availableGroups = [];
let renewal = null; // the worker's last {type: "renewal", state, code, message} since the token changed
let expiryTimers = [];

const metrics = new FrameMetrics();
const rates = new Rates();
let hudAtMs = -Infinity;

// -- worker messages ----------------------------------------------------------

function onWorkerMessage(message) {
  const nowMs = performance.now();
  if (message.type === "rows") {
    for (const batch of message.batches) {
      const panel = panels.get(batch.group);
      if (panel === undefined) continue;
      panel.apply(batch, nowMs);
      if (batch.gatewayMs) metrics.ticksApplied(batch.gatewayMs, batch.decodedMs ?? null);
    }
    for (const sample of message.latencyMs) metrics.latencyMs.push(sample, nowMs);
    metrics.hops.pushAll(message.hopsMs, nowMs);
    if (Number.isFinite(message.stats?.clockOffsetMs)) metrics.clockOffsetMs = message.stats.clockOffsetMs;
    for (const [group, heardMs] of Object.entries(message.heardMs ?? {})) {
      const panel = panels.get(group);
      if (panel !== undefined && Number.isFinite(heardMs)) panel.heardMs = heardMs;
    }
    workerStats = message.stats;
  } else if (message.type === "groupStatus") {
    panels.get(message.group)?.setLiveness(message);
  } else if (message.type === "groupInfo") {
    panels.get(message.group)?.setInstruments(message);
    if (message.group === watchlistEditor.group) watchlistEditor.learn(message.instruments);
  } else if (message.type === "status") {
    setConnection(message.state, message.detail);
    workerStats = message.stats;
    // A refusal of a token this tab has already replaced (it signed in again while the worker's retry
    // with the expired token was refused) must not end the new session.
    if (message.state === "authFailed" && (message.token ?? token) === token) {
      sessionEnded(`Log-in refused: ${message.detail || "bad token"}`);
    }
  } else if (message.type === "error") {
    if (message.group) removePanel(message.group);
    toast(`${message.code}: ${message.message}`);
  } else if (message.type === "session") {
    if (message.renewed && message.token) renewed(message.token);
    else if (message.token && message.token !== token && message.token !== refusedToken) adopt(message.token, { restore: false });
    else if (!message.token && token) logout("Logged out in another tab", { local: true });
    else if (!message.token && document.body.dataset.session === "checking") resumeOrSignIn();
  } else if (message.type === "renewal") {
    renewal = message;
    watchExpiry();
  } else if (message.type === "loggedOut") {
    if (token) logout(message.reason || "Logged out in another tab", { local: true });
  } else if (message.type === "message") {
    dispatchMessage(message.member, message.body);
  } else if (message.type === "ticks") {
    dispatchTicks(message);
  } else if (message.type === "workerRestarted" || message.type === "workerSilent") {
    setConnection("reconnecting", message.reason);
  }
}

// {user, role, accounts, groups, state} for the panels (ui/panels.js).
function session() {
  return { ...claimsOf(token ?? ""), state: connection.state, signedIn: token !== null };
}

function showSession() {
  const current = session();
  document.body.dataset.role = current.signedIn ? current.role ?? "" : "";
  $("#user").textContent = current.signedIn ? `${current.user} · ${current.role}` : "";
  dispatchSession(current);
}

// The connection state shows at once (body[data-connection], the HUD dot), not at the next HUD tick.
function setConnection(state, detail = "") {
  const changed = connection.state !== state;
  connection = { state, detail };
  if (document.body.dataset.connection !== state) document.body.dataset.connection = state;
  if (changed) {
    const epochMs = Date.now();
    for (const panel of panels.values()) panel.renderLiveness(epochMs, state); // no group reads "live" offline
    dispatchSession(session());
  }
}

const link = new WorkerLink({ onMessage: onWorkerMessage, socketUrl });

// The page's layout now, as the server keeps it (ui/layout.js).
function captureLayout() {
  return {
    version: 1,
    groups: [...panels.keys()],
    views: Object.fromEntries([...panels].map(([group, panel]) => [group, panel.getView()])),
    collapsed: [...document.querySelectorAll(".slot[data-collapsed='true']")].map((slot) => slot.dataset.slot),
  };
}

const layouts = new Layouts({ prefs: new PrefsClient(() => token), capture: captureLayout, onError: (text) => toast(text) });
let savedViews = {}; // group → view of the layout being applied, for panels subscribed later
let namedLists = null; // the user's named watchlists (ui/named_lists.js), views of the watchlist group

// Show `layout`: its groups in order with their views, its folded slots; the rest closed.
// close: also close the panels the layout does not list (a switch or a reset; not the first load,
// which keeps what the page opened meanwhile).
function applyLayout(layout, { close = true } = {}) {
  savedViews = { ...layout.views };
  if (close) for (const group of [...panels.keys()]) if (!layout.groups.includes(group)) unsubscribe(group, { quiet: true });
  for (const group of layout.groups) subscribe(group, { quiet: true });
  for (const group of layout.groups) {
    const panel = panels.get(group);
    if (panel && savedViews[group]) panel.setView(savedViews[group]);
    if (panel) $("#panels").append(panel.element); // the layout's order
  }
  for (const group of layout.groups) { // the panels map in the layout's order too (saved as it is)
    const panel = panels.get(group);
    if (panel) {
      panels.delete(group);
      panels.set(group, panel);
    }
  }
  for (const slot of document.querySelectorAll(".slot")) setCollapsed(slot, layout.collapsed.includes(slot.dataset.slot));
  renderLayoutBar();
}

function setCollapsed(slot, collapsed) {
  slot.dataset.collapsed = String(collapsed);
  slot.querySelector(".slot-toggle")?.setAttribute("aria-expanded", String(!collapsed));
}

async function loadLayout(restore) {
  const layout = await layouts.load();
  if (token === null) return;
  namedLists.load(layouts.watchlists);
  if (!restore) return;
  layouts.track = true;
  applyLayout(layout, { close: false });
}

function renderLayoutBar() {
  const select = $("#layout-name");
  const names = [...new Set([DEFAULT_LAYOUT_NAME, ...layouts.names, layouts.name])].sort();
  select.replaceChildren(...names.map((name) => {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    return option;
  }));
  select.value = layouts.name;
}

// The user's watchlist group (watch-<user>): stars in every panel; an applied edit shows its panel.
const watchlistEditor = new WatchlistEditor({
  send: (member, body, options) => link.request(member, body, options),
  onChange: () => { for (const panel of panels.values()) panel.dirty = true; },
  onApplied: (group) => {
    subscribe(group);
    if (!availableGroups.some(({ name }) => name === group)) loadGroups(); // a new group: list it
  },
  onError: (text) => toast(text),
});
namedLists = new NamedLists({ prefs: layouts.prefs, editor: watchlistEditor, onError: (text) => toast(text),
  onChange: () => { for (const panel of panels.values()) { panel.dirty = true; panel.orderDirty = true; panel.renderLists(); } } });

// -- session ------------------------------------------------------------------

// This desk's /ws, then any ?edges=ws://a/ws,ws://b/ws (other edge nodes of the desk, tried in turn
// when a socket drops: ui/hub.js); read once per page, so a deprecated ?gateways= is noted once.
function socketUrl() {
  socketUrl.urls ??= deskSocketUrls(location.href);
  return socketUrl.urls;
}


// Log in this tab with a token it was given: every tab follows (one socket).
function login(newToken) {
  refusedToken = null; // signing in again with the same token is the trader's choice
  adopt(newToken);
  link.login(newToken);
}

// The worker renewed the token on the open socket: nothing else changes.
function renewed(newToken) {
  token = newToken;
  link.token = newToken;
  sessionStorage.setItem(TOKEN_KEY, newToken);
  renewal = null;
  watchExpiry();
  showSession();
}

// No token in this tab and none in the worker: a refresh cookie (a reload) resumes, else the login page.
let resuming = false;
async function resumeOrSignIn() {
  if (resuming) return;
  resuming = true;
  const { status, body } = await refreshAccessToken(REFRESH_URL);
  resuming = false;
  // Signed in on this page's own form while the refresh was in flight: that sign-in wins, no redirect.
  if (document.body.dataset.session !== "checking") return;
  if (status === 200 && body.access_token) login(body.access_token);
  else location.replace(new URL("./login", location.href).href);
}

// A session that cannot be renewed: warn WARN_BEFORE_S ahead, and at exp show the sign-in overlay
// over the kept layout (the server closes the socket then).
function watchExpiry() {
  for (const timer of expiryTimers) clearTimeout(timer);
  expiryTimers = [];
  $("#session-warning").hidden = true;
  if (token === null || renewal?.state !== "failed") return;
  const { expiresS } = claimsOf(token);
  if (expiresS === null) return;
  const leftMs = expiresS * 1000 - Date.now();
  const warn = () => {
    $("#session-warning-text").textContent = `Your session ends at ${new Date(expiresS * 1000).toLocaleTimeString()} `
      + `and cannot be renewed (${renewal?.message || renewal?.code || "refused"}): sign in again to keep working.`;
    $("#session-warning").hidden = false;
  };
  expiryTimers.push(setTimeout(warn, Math.max(0, leftMs - WARN_BEFORE_S * 1000)));
  expiryTimers.push(setTimeout(() => sessionEnded("Your session has ended. Sign in again: your layout is kept."),
    Math.max(0, leftMs)));
}

// Signed out without a sign-out (token refused or expired): keep the panels, show the sign-in overlay.
function sessionEnded(reason) {
  if (token === null && document.body.dataset.session === "out") return; // already ended: keep its reason
  refusedToken = token;
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  watchExpiry();
  document.body.dataset.session = "out";
  signIn.show(reason);
  showSession();
}

// Show the desk for a session: this tab's token, or the shared worker's. restore: show the user's saved
// layout and keep it saved as it changes (a sign-in in this tab, or its reload); a tab that joins the
// session another tab opened starts empty and saves nothing until a layout is chosen in it, so two
// tabs never overwrite each other's arrangement.
function adopt(newToken, { restore = true } = {}) {
  token = newToken;
  link.token = newToken;
  sessionStorage.setItem(TOKEN_KEY, token);
  document.body.dataset.session = "in";
  signIn.hide();
  renewal = null;
  watchExpiry();
  showSession();
  loadLayout(restore);
  loadGroups();
  loadOrderDefaults();
}

function logout(reason = "", { local = false } = {}) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  if (!local) link.logout(reason);
  layouts.flush();
  layouts.reset();
  namedLists.reset();
  for (const group of [...panels.keys()]) removePanel(group, { keepSaved: true });
  watchlistEditor.reset();
  watchExpiry();
  document.body.dataset.session = "out";
  signIn.show(reason);
  showSession();
  availableGroups = [];
  renderPicker();
}

// The ticket's default size per contract ([orders] default_lots): handed to the ticket as an event.
async function loadOrderDefaults() {
  try {
    const response = await fetch("./api/order-defaults", { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) return; // the ticket keeps 1 lot
    document.dispatchEvent(new CustomEvent("tickstage:order-defaults", { detail: await response.json() }));
  } catch {
    // the ticket keeps 1 lot
  }
}

async function loadGroups() {
  const note = $("#groups-note");
  note.textContent = "loading…";
  try {
    const response = await fetch("./api/groups", { headers: { Authorization: `Bearer ${token}` } });
    if (response.status === 401) {
      sessionEnded("Log-in refused: the token was not accepted");
      return;
    }
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    availableGroups = body.groups;
    const firstLoad = watchlistEditor.group === null;
    watchlistEditor.group = body.watchlist ?? watchlistEditor.group;
    // The user's watchlist group from an earlier visit: shown once per log-in, its GroupInfo sets the stars.
    if (firstLoad && availableGroups.some(({ name }) => name === body.watchlist)) subscribe(body.watchlist);
    note.textContent = availableGroups.length ? "" : "no groups";
  } catch (error) {
    note.textContent = `cannot load groups (${error.message})`;
  }
  renderPicker();
}

// -- panels -------------------------------------------------------------------

function subscribe(group, { quiet = false } = {}) {
  if (panels.has(group)) return;
  const own = group.startsWith("watch-") && (watchlistEditor.group === null || group === watchlistEditor.group);
  const panel = new Watchlist(group, { onClose: unsubscribe, starred: namedLists, onViewChange: () => layouts.changed(),
    lists: own ? namedLists : null, onMove: movePanel, onViewport: (name, rows) => link.viewport(name, rows) });
  if (savedViews[group]) panel.setView(savedViews[group]);
  panels.set(group, panel);
  $("#panels").append(panel.element);
  link.subscribe([group]);
  if (!quiet) layouts.changed();
  renderPicker();
}

// Move a watchlist up (-1) or down (+1): the page's order is the layout's.
function movePanel(group, delta) {
  const order = [...panels.keys()];
  const index = order.indexOf(group);
  const target = index + delta;
  if (index < 0 || target < 0 || target >= order.length) return;
  [order[index], order[target]] = [order[target], order[index]];
  const moved = new Map(order.map((name) => [name, panels.get(name)]));
  panels.clear();
  for (const [name, panel] of moved) {
    panels.set(name, panel);
    $("#panels").append(panel.element);
  }
  panels.get(group).element.querySelector(`.panel-move[data-move="${delta}"]`)?.focus();
  layouts.changed();
}

function unsubscribe(group, { quiet = false } = {}) {
  if (!panels.has(group)) return;
  link.unsubscribe([group]);
  removePanel(group, { keepSaved: quiet });
}

function removePanel(group, { keepSaved = false } = {}) {
  panels.get(group)?.destroy();
  panels.delete(group);
  if (!keepSaved) layouts.changed();
  renderPicker();
}

// The group list: one tab stop (roving tabindex); the arrow keys move, Enter or Space subscribes.
function renderPicker() {
  const list = $("#group-list");
  const words = ($("#group-filter")?.value ?? "").trim().toLowerCase();
  const focused = list.contains(document.activeElement) ? document.activeElement.dataset.subscribe : null;
  const shown = availableGroups.filter(({ name }) => !words || name.toLowerCase().includes(words));
  list.replaceChildren(...shown.map(({ name, instruments }) => {
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
    button.tabIndex = -1;
    button.setAttribute("aria-label", `${subscribed ? "Unsubscribe" : "Subscribe"} ${name}`);
    button.addEventListener("click", () => (panels.has(name) ? unsubscribe(name) : subscribe(name)));
    item.append(label, count, button);
    return item;
  }));
  const buttons = [...list.querySelectorAll("button")];
  const current = buttons.find((button) => button.dataset.subscribe === (focused ?? pickerAt)) ?? buttons[0];
  if (current) current.tabIndex = 0;
  if (focused && current) current.focus();
}

let pickerAt = null; // the group list's tab stop
function onPickerKey(event) {
  const buttons = [...$("#group-list").querySelectorAll("button")];
  const index = buttons.indexOf(document.activeElement);
  if (index < 0) return;
  const next = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: buttons.length - 1 }[event.key];
  if (next === undefined) return;
  event.preventDefault();
  const target = buttons[Math.max(0, Math.min(buttons.length - 1, next))];
  for (const button of buttons) button.tabIndex = button === target ? 0 : -1;
  pickerAt = target.dataset.subscribe;
  target.focus();
}

function toast(text) {
  const item = document.createElement("div");
  item.className = "toast";
  item.textContent = text;
  $("#toasts").append(item);
  setTimeout(() => item.remove(), 6000);
}

// -- metrics and painting -------------------------------------------------------

// The HUD's numbers as one object (tests, support): latencies in ms, rates per s.
// hops: {hop: {p50_ms, p95_ms, p99_ms, samples}} for every hop of ui/hops.js HOPS (built_sent: the desk's
// figures for this socket, from the last pong); exchange_skew_ms: {group: ms}; clock_offset_ms: desk − browser.
function stats() {
  const nowMs = performance.now();
  const snapshot = metrics.snapshot(nowMs);
  const send = workerStats.socketSend;
  const hops = {
    exchange_venue: snapshot.hops.exchange_venue, venue_built: snapshot.hops.venue_built,
    built_sent: send ? { p50_ms: send.p50Ms, p95_ms: send.p95Ms, p99_ms: send.p99Ms, samples: send.samples }
      : { p50_ms: null, p95_ms: null, p99_ms: null, samples: 0 },
    built_decoded: snapshot.hops.built_decoded, decoded_painted: snapshot.hops.decoded_painted,
    tick_painted: snapshot.hops.tick_painted,
  };
  return {
    ...snapshot,
    hops,
    exchange_skew_ms: { ...(workerStats.exchangeSkewMs ?? {}) },
    clock_offset_ms: Number.isFinite(workerStats.clockOffsetMs) ? workerStats.clockOffsetMs : null,
    clock_round_trip_ms: Number.isFinite(workerStats.clockRoundTripMs) ? workerStats.clockRoundTripMs : null,
    frames: workerStats.frames,
    bytes: workerStats.bytes,
    gaps: workerStats.gaps,
    conflations: workerStats.conflations ?? 0,
    decode_errors: workerStats.decodeErrors,
    frames_per_s: rates.frames,
    bytes_per_s: rates.bytes,
    rtt_ms: Number.isFinite(workerStats.rttMs) ? workerStats.rttMs : null,
    reconnects: workerStats.reconnects ?? 0,
    snapshots: workerStats.snapshots ?? 0,
    connected: Boolean(workerStats.connected),
    state: connection.state,
    worker: link.kind,
    worker_restarts: link.restarts,
    tabs: workerStats.tabs ?? 1,
    renewals: workerStats.renewals ?? 0,
    token_expires_s: token ? claimsOf(token).expiresS : null,
    integrity_checks: workerStats.integrityChecks ?? 0,
    integrity_mismatches: workerStats.integrityMismatches ?? 0,
    integrity_heals: workerStats.integrityHeals ?? 0,
    last_heal_ms: Number.isFinite(workerStats.lastHealMs) ? workerStats.lastHealMs : null,
    liveness: Object.fromEntries([...panels].map(([group, panel]) => [group, panel.liveness.state])),
    header: headerState(),
  };
}

// The header's dot: the socket's state, or once it is live the worst liveness of the watched groups.
function headerState() {
  if (connection.state !== "live") return connection;
  let worst = "live";
  const named = [];
  for (const [group, panel] of panels) {
    const state = panel.liveness.state;
    if (SEVERITY[state] > SEVERITY[worst]) {
      worst = state;
      named.length = 0;
    }
    if (state === worst && state !== "live") named.push(group);
  }
  if (worst === "live") return connection;
  return { state: worst, detail: `${named.join(", ")} ${worst}`, label: `${worst} · ${named.join(", ")}` };
}

function paint(nowMs) {
  const began = performance.now();
  metrics.frameStarted(nowMs);
  for (const panel of panels.values()) panel.draw(nowMs);
  metrics.framePainted();
  if (nowMs - hudAtMs >= HUD_INTERVAL_MS) {
    hudAtMs = nowMs;
    rates.update(nowMs, workerStats.frames, workerStats.bytes);
    const epochMs = Date.now();
    for (const panel of panels.values()) panel.renderLiveness(epochMs, connection.state);
    const header = headerState();
    if (document.body.dataset.liveness !== header.state) document.body.dataset.liveness = header.state;
    renderHud(document, stats(), header);
  }
  metrics.drawTook(performance.now() - began, nowMs);
  requestAnimationFrame(paint);
}

// -- start ------------------------------------------------------------------------

window.tickstage = {
  stats,
  samples: () => metrics.drain(),
  rows: (group) => panels.get(group)?.rows() ?? [],
  visibleRows: () => [...panels.values()].reduce((n, panel) => n + panel.visibleRows(), 0),
  fitRows: (heightPx) => { for (const panel of panels.values()) panel.body.style.height = `${heightPx}px`; },
  groups: () => [...panels.keys()],
  view: (group) => panels.get(group)?.getView() ?? null,
  displayed: (group) => panels.get(group)?.displayed() ?? [],
  viewport: (group) => [...(panels.get(group)?.viewportSent ?? [])],
  columns: (group) => (panels.get(group)?.columns ?? []).map(({ key, x, w }) => ({ key, x, w })),
  layout: () => ({ name: layouts.name, names: [...layouts.names], saves: layouts.saves, loaded: layouts.loaded }),
  lists: () => Object.fromEntries(namedLists.names().map((name) => [name, [...namedLists.symbolsOf(name)].sort()])),
  watchlist: () => ({ group: watchlistEditor.group, members: [...watchlistEditor.members].sort(),
    updates: watchlistEditor.updates }),
};

mountHops(document.querySelector("#hops"));
const signIn = mountSignIn($("#signin-overlay"), { onToken: login, title: "Sign in to the desk" });
$("#session-signin").addEventListener("click", () => {
  document.body.dataset.session = "out";
  signIn.show("Sign in again before your session ends; your layout is kept.");
});
$("#logout").addEventListener("click", async () => {
  logout();
  await authPost(new URL("./auth/logout", location.href).href); // revoke the refresh cookie's sign-in
  location.replace(new URL("./login", location.href).href);
});
$("#refresh-groups").addEventListener("click", () => token && loadGroups());
$("#group-list").addEventListener("keydown", onPickerKey);
$("#group-filter").addEventListener("input", () => renderPicker());
$("#group-filter").addEventListener("keydown", (event) => {
  if (event.key !== "ArrowDown" && event.key !== "Enter") return;
  event.preventDefault();
  $("#group-list button[tabindex='0']")?.focus();
});
$("#layout-name").addEventListener("change", async (event) => {
  if (layouts.track) await layouts.saveNow(); // keep the layout being left
  layouts.track = true;
  applyLayout(await layouts.use(event.target.value));
});
$("#layout-save").addEventListener("click", async () => {
  const name = $("#layout-new").value.trim();
  if (!name) {
    toast("give the new layout a name");
    return;
  }
  if (await layouts.saveNow(name)) {
    layouts.track = true;
    await layouts.use(name);
    $("#layout-new").value = "";
    renderLayoutBar();
  }
});
$("#layout-reset").addEventListener("click", async () => {
  layouts.track = true;
  applyLayout({ ...emptyLayout() });
  await layouts.saveNow();
});
// Each desk slot folds to its title (kept in the layout); the title is a button.
for (const slot of document.querySelectorAll(".slot")) {
  const title = slot.querySelector("h2");
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "slot-toggle";
  toggle.setAttribute("aria-expanded", "true");
  toggle.textContent = title.textContent;
  title.replaceChildren(toggle);
  toggle.addEventListener("click", () => {
    setCollapsed(slot, slot.dataset.collapsed !== "true");
    layouts.changed();
  });
}
addEventListener("pagehide", () => layouts.flush());
const hotkeys = new Hotkeys({ settings: () => layouts.settings, save: (change) => layouts.saveSettings(change), toast });
$("#hotkeys-help").addEventListener("click", () => hotkeys.help());

startPanels({
  send: (member, body, options) => link.request(member, body, options),
  session,
  stats,
  follow: { subscribe: (vtSymbols) => link.subscribeTicks(vtSymbols), unsubscribe: (vtSymbols) => link.unsubscribeTicks(vtSymbols) },
});

const fromHash = new URLSearchParams(location.hash.slice(1)).has("token");
const initial = tokenFromLocation();
const fresh = sessionStorage.getItem(FRESH_KEY) === "1"; // just signed in on the login page
sessionStorage.removeItem(FRESH_KEY);
link.token = initial;
link.start();
if (initial && (fromHash || fresh)) login(initial);
else if (initial) adopt(initial);
else document.body.dataset.session = "checking"; // the worker's session, a refresh cookie, or the login page
requestAnimationFrame(paint);
