// The flight recorder page (admins): start and stop recording a session
// (POST /admin/recordings), download a recording (GET /admin/recordings/<id>)
// or load a file, and replay it (ui/replay.js) into the desk's own panels —
// watchlists, account status, risk summary, the orders' blotter, risk alerts,
// contract detail — with the commands the session sent alongside, to show what
// a trader saw when they clicked. Every ServerMessage of the recording reaches
// the panels as on the desk (ui/panels.js dispatchMessage); an orderStatusReply
// (a reply on the desk, taken by the blotter) fills the order book the same way.
// The panels are read-only here: a panel's send() is refused with code "replay".
// The token is the desk's (sessionStorage "tickstage.token" or #token=).
//
// For tests: window.tickstageRecorder = {rows(group), groups(), state(), orders(), text(slot)}.

import "./account_panel.js";
import "./blotter.js";
import "./detail.js";
import { book } from "./order_book.js";
import { dispatchMessage, dispatchSession, dispatchTicks, startPanels } from "./panels.js";
import { Player, describeCommand, parseRecording } from "./replay.js";
import "./risk_alerts.js";
import "./risk_panel.js";
import { TOKEN_KEY, tokenFromLocation } from "./session.js";
import { Watchlist } from "./watchlist.js";

const REFRESH_MS = 2000;
const $ = (selector) => document.querySelector(selector);
let token = null;
let player = null;
let panels = new Map(); // group → Watchlist
let lastFrameMs = null;
let shownCommands = -1;
let replayed = { signedIn: false, state: "replay" }; // the recorded session, as the panels see it

startPanels({
  send: async () => ({ member: "error", body: { code: "replay", message: "a replay sends nothing" } }),
  session: () => replayed,
  stats: () => (player === null ? {} : { ...player.feed.stats }),
  follow: { subscribe: () => {}, unsubscribe: () => {} }, // the player follows every recorded contract
});

// -- session and API ---------------------------------------------------------------


function login(newToken) {
  token = newToken;
  sessionStorage.setItem(TOKEN_KEY, token);
  document.body.dataset.session = "in";
  refresh();
}

async function api(method, route, body) {
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(route, init);
  if (response.status === 401 || response.status === 403) {
    document.body.dataset.session = "out";
    $("#login-message").textContent = response.status === 403 ? "admin role required" : "log-in refused";
    throw new Error(`HTTP ${response.status}`);
  }
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error ?? `HTTP ${response.status}`);
  return response;
}

async function refresh() {
  if (!token) return;
  try {
    const { sessions } = await (await api("GET", "./admin/recordings")).json();
    renderSessions(sessions);
  } catch (error) {
    toast(`sessions: ${error.message}`);
  }
}

function renderSessions(sessions) {
  $("#sessions tbody").replaceChildren(...sessions.map((row) => {
    const tr = document.createElement("tr");
    tr.dataset.session = row.session;
    tr.dataset.recording = String(Boolean(row.recording));
    const state = row.recording ? "recording" : row.records !== null ? "recorded" : row.open ? "open" : "closed";
    const cells = [row.session.replace("sessions/", ""), `${row.user} (${row.role})`, row.groups.join(" "), state,
      row.records ?? "", row.payload_bytes === null ? "" : (row.payload_bytes / 1024).toFixed(1)];
    for (const [i, text] of cells.entries()) {
      const td = document.createElement("td");
      td.textContent = String(text);
      if (i >= 4) td.className = "num";
      tr.append(td);
    }
    const actions = document.createElement("td");
    const button = (action, label, onClick) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.action = action;
      b.textContent = label;
      b.addEventListener("click", onClick);
      actions.append(b);
    };
    if (row.open && !row.recording) button("start", "Record", () => command(row.session, "start"));
    if (row.recording) button("stop", "Stop", () => command(row.session, "stop"));
    if (row.records !== null) button("replay", "Replay", () => fetchRecording(row.id));
    tr.append(actions);
    return tr;
  }));
}

async function command(session, action) {
  try {
    await api("POST", "./admin/recordings", { session, action });
  } catch (error) {
    toast(`${action}: ${error.message}`);
  }
  refresh();
}

async function fetchRecording(id) {
  try {
    const response = await api("GET", `./admin/recordings/${encodeURIComponent(id)}`);
    load(await response.arrayBuffer(), `session ${id}`);
  } catch (error) {
    toast(`download: ${error.message}`);
  }
}

// -- replay -------------------------------------------------------------------------------

function load(buffer, name) {
  let recording;
  try {
    recording = parseRecording(buffer);
  } catch (error) {
    toast(`cannot read ${name}: ${error.message}`);
    return;
  }
  for (const panel of panels.values()) panel.destroy();
  panels = new Map();
  const { header } = recording;
  replayed = { signedIn: true, user: header.user, role: header.role, accounts: [], groups: [], state: "replay" };
  player = new Player(recording, { post: onFeed, onReset: clearPanels });
  for (const group of player.groups) {
    const panel = new Watchlist(group, { onClose: () => {} });
    panels.set(group, panel);
    $("#replay-panels").append(panel.element);
  }
  $("#replay-title").textContent = `${name} · ${header.user} · ${recording.entries.length} messages`;
  renderCommands();
  $("#play").disabled = false;
  $("#position").disabled = false;
  player.seek(player.startMs);
  updateClock();
}

// The panels forget what they drew (a replay starting again), then take the recorded session; the detail
// panel follows the first contract the session was sent ticks of.
function clearPanels(replaying) {
  dispatchSession({ signedIn: false, state: "replay" });
  book.clear();
  dispatchSession(replayed);
  const [followed] = replaying.detailSymbols;
  if (followed !== undefined) {
    document.dispatchEvent(new CustomEvent("tickstage:instrument", { detail: { vtSymbol: followed } }));
  }
}

function onFeed(message) {
  const nowMs = performance.now();
  if (message.type === "groupInfo") panels.get(message.group)?.setInstruments(message);
  else if (message.type === "rows") for (const batch of message.batches) panels.get(batch.group)?.apply(batch, nowMs);
  else if (message.type === "ticks") dispatchTicks(message);
  else if (message.type === "message") {
    if (message.member === "orderStatusReply") for (const view of message.body.orders) book.view(view);
    else dispatchMessage(message.member, message.body);
  }
}

function renderCommands() {
  const items = player.recording.entries.filter((entry) => entry.direction === "up").map((entry) => {
    const { member, body } = describeCommand(entry.payload);
    const li = document.createElement("li");
    li.dataset.ms = String(entry.ms);
    li.textContent = `${new Date(entry.ms).toISOString().slice(11, 23)} ${member} ${JSON.stringify(body, plain)}`;
    return li;
  });
  $("#commands").replaceChildren(...items);
  shownCommands = -1;
}

const plain = (_key, value) => (typeof value === "bigint" ? value.toString() : ArrayBuffer.isView(value) ? Array.from(value) : value);

function updateClock() {
  const span = Math.max(1, player.endMs - player.startMs);
  $("#position").value = String(Math.round(((player.clockMs - player.startMs) / span) * 1000));
  $("#clock").textContent = `${new Date(player.clockMs).toISOString().slice(11, 23)} UTC · ${((player.clockMs - player.startMs) / 1000).toFixed(1)} / ${(span / 1000).toFixed(1)} s`;
  $("#play").textContent = player.playing ? "Pause" : "Play";
  const past = player.commandsUntil(player.clockMs).length;
  if (past !== shownCommands) {
    shownCommands = past;
    [...$("#commands").children].forEach((li, i) => { li.dataset.past = String(i < past); });
  }
}

function frame(nowMs) {
  if (player !== null) {
    if (lastFrameMs !== null && player.playing) {
      player.advance(nowMs - lastFrameMs);
      updateClock();
    }
    for (const panel of panels.values()) panel.draw(nowMs);
  }
  lastFrameMs = nowMs;
  requestAnimationFrame(frame);
}

function toast(text) {
  const item = document.createElement("div");
  item.className = "toast";
  item.textContent = text;
  $("#toasts").append(item);
  setTimeout(() => item.remove(), 6000);
}

// -- start ----------------------------------------------------------------------------------

$("#play").addEventListener("click", () => {
  if (player.clockMs >= player.endMs) player.seek(player.startMs - 1);
  player.playing = !player.playing;
  player.speed = Number($("#speed").value);
  updateClock();
});
$("#speed").addEventListener("change", () => { if (player) player.speed = Number($("#speed").value); });
$("#position").addEventListener("input", (event) => {
  player.playing = false;
  player.seek(player.startMs + (Number(event.target.value) / 1000) * (player.endMs - player.startMs));
  updateClock();
});
$("#file").addEventListener("change", async (event) => {
  const [file] = event.target.files;
  if (file) load(await file.arrayBuffer(), file.name);
});
$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("#token").value.trim();
  $("#token").value = "";
  if (value) login(value);
});

window.tickstageRecorder = {
  rows: (group) => panels.get(group)?.rows() ?? [],
  groups: () => [...panels.keys()],
  orders: () => JSON.parse(JSON.stringify(book.list(), plain)),
  text: (slot) => document.querySelector(`[data-slot="${slot}"] .slot-body`)?.textContent ?? "",
  state: () => (player === null ? null : {
    playing: player.playing, clockMs: player.clockMs, startMs: player.startMs, endMs: player.endMs,
    fed: player.next, entries: player.recording.entries.length, stats: { ...player.feed.stats },
  }),
};

const initial = tokenFromLocation();
if (initial) login(initial);
setInterval(refresh, REFRESH_MS);
requestAnimationFrame(frame);
