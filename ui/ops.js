// The ops console: the live actor tree (GET /admin/tree every second), restart and stop
// buttons with a confirmation (POST /admin/restart|stop), the kill switches and risk limits
// (ui/ops_risk.js, every RISK_REFRESH_MS), the audit (GET /admin/audit) and each vn.py
// gateway's connection (GET /admin/venues: state, since, market data, contracts, last error).
// Over NATS, the cluster (GET /admin/cluster, issue 16): every node (role, host, uptime,
// loop lag, groups led) and every group's leading aggregator, lease epoch and lease age; the
// venue-host lease: which venue-host is active (sends orders), its epoch, and the standbys.
// The token comes from #token=… or the login field and is kept in sessionStorage under the
// same key as the watchlist page, so one log-in serves both.
//
// For tests and tooling: window.tickstageOps = {tree(), refreshes(), audit(), risk()}.

import { RiskControls } from "./ops_risk.js";
import { TOKEN_KEY, tokenFromLocation } from "./session.js";

const REFRESH_MS = 1000;
const RISK_REFRESH_MS = 5000;
const ERROR_CHARS = 120;

const $ = (selector) => document.querySelector(selector);
const rows = new Map(); // path → <tr>, kept across refreshes so buttons stay put
let token = null;
let timer = null;
let riskTimer = null;
let lastTree = null;
let lastAudit = [];
let refreshes = 0;
let inFlight = false;

// -- session ---------------------------------------------------------------------


function login(newToken) {
  token = newToken;
  sessionStorage.setItem(TOKEN_KEY, token);
  document.body.dataset.session = "in";
  $("#login-message").textContent = "";
  refresh();
  risk.refresh().catch(() => {});
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
  clearInterval(riskTimer);
  riskTimer = setInterval(() => risk.refresh().catch(() => {}), RISK_REFRESH_MS);
}

function logout(reason = "") {
  token = null;
  clearInterval(timer);
  timer = null;
  clearInterval(riskTimer);
  riskTimer = null;
  sessionStorage.removeItem(TOKEN_KEY);
  document.body.dataset.session = "out";
  $("#login-message").textContent = reason;
}

async function api(method, route, body) {
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(route, init);
  if (response.status === 401) {
    logout("Log-in refused: the token was not accepted");
    throw new Error("unauthenticated");
  }
  if (response.status === 403) {
    logout("Log-in refused: the ops console needs an admin token");
    throw new Error("forbidden");
  }
  const data = await response.json().catch(() => ({}));
  return { status: response.status, data };
}

// -- refresh ----------------------------------------------------------------------

async function refresh() {
  if (!token || inFlight) return;
  inFlight = true;
  try {
    const [tree, audit, venues, cluster] = await Promise.all(
      [api("GET", "./admin/tree"), api("GET", "./admin/audit"), api("GET", "./admin/venues"),
        api("GET", "./admin/cluster")]);
    if (!token) return;
    renderVenues(venues.data.venues || []);
    renderCluster(cluster.status === 200 ? cluster.data : null);
    lastTree = tree.data;
    lastAudit = audit.data.records || [];
    renderStatus(tree.data);
    renderTree(tree.data.tree);
    renderAudit(lastAudit);
    refreshes += 1;
  } catch (error) {
    if (token) setHealth("unreachable", error.message);
  } finally {
    inFlight = false;
  }
}

function setHealth(state, label) {
  $("#health").dataset.state = state;
  $("#health-label").textContent = label;
}

function renderStatus(body) {
  setHealth(body.healthy ? "healthy" : "failed", body.healthy ? "healthy" : "root failed");
  $("#pending").textContent = String(body.runtime.pending);
  $("#updated").textContent = new Date(body.ts_ns / 1e6).toISOString().slice(11, 19);
}

function flatten(node, depth, out) {
  out.push({ node, depth });
  for (const child of node.children) flatten(child, depth + 1, out);
  return out;
}

function cell(className, text) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text;
  return td;
}

function newRow(path, isRoot) {
  const tr = document.createElement("tr");
  tr.dataset.path = path;
  tr.append(cell("path", path), cell("kind", ""), cell("state-cell", ""), cell("num restarts", ""),
            cell("num mailbox", ""), cell("num rate", ""), cell("num p99", ""), cell("error", ""),
            cell("actions", ""));
  const state = document.createElement("span");
  state.className = "state";
  tr.children[2].append(state);
  if (!isRoot) {
    for (const action of ["restart", "stop"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.action = action;
      button.textContent = action === "restart" ? "Restart" : "Stop";
      button.addEventListener("click", () => command(action, path));
      tr.children[8].append(button);
    }
  }
  return tr;
}

function renderTree(root) {
  const body = $("#tree tbody");
  if (!root) {
    body.replaceChildren();
    rows.clear();
    return;
  }
  const filter = $("#filter").value.trim();
  const flat = flatten(root, 0, []);
  $("#actor-count").textContent = String(flat.length);
  const seen = new Set();
  const ordered = [];
  for (const { node, depth } of flat) {
    seen.add(node.path);
    let tr = rows.get(node.path);
    if (!tr) {
      tr = newRow(node.path, depth === 0);
      rows.set(node.path, tr);
    }
    const [pathCell, kind, stateCell, restarts, mailbox, rate, p99, error] = tr.children;
    pathCell.style.paddingLeft = `${8 + depth * 16}px`;
    kind.textContent = node.kind;
    pathCell.title = node.kind;   // the kind column is hidden in a narrow window
    const badge = stateCell.firstChild;
    badge.textContent = node.state;
    badge.className = `state state-${node.state}`;
    // A market group's liveness beside its actor state (live, stopped, restarting, sourceDown, closed, preOpen, ended).
    let live = stateCell.querySelector(".liveness");
    if (node.liveness && !live) {
      live = document.createElement("span");
      stateCell.append(" ", live);
    }
    if (live) {
      live.textContent = node.liveness ?? "";
      live.className = `liveness liveness-${node.liveness ?? "none"}`;
      tr.dataset.liveness = node.liveness ?? "";
    }
    tr.classList.toggle("changed", tr.dataset.restarts !== undefined && tr.dataset.restarts !== String(node.restarts));
    tr.dataset.state = node.state;
    tr.dataset.restarts = String(node.restarts);
    restarts.textContent = String(node.restarts);
    mailbox.textContent = String(node.mailbox);
    rate.textContent = node.msgs_per_s.toFixed(0);
    p99.textContent = node.handler_p99_ms === null ? "–" : node.handler_p99_ms.toFixed(2);
    const text = node.last_error ? `${node.last_error.type}: ${node.last_error.message}` : "";
    error.textContent = text.length > ERROR_CHARS ? `${text.slice(0, ERROR_CHARS - 1)}…` : text;
    error.title = node.last_error
      ? `${text}\n${new Date(node.last_error.ts_ns / 1e6).toISOString()}`
      : "";
    tr.hidden = Boolean(filter) && !node.path.includes(filter);
    ordered.push(tr);
  }
  for (const [path, tr] of rows) {
    if (!seen.has(path)) {
      tr.remove();
      rows.delete(path);
    }
  }
  body.replaceChildren(...ordered);
}

function renderVenues(venues) {
  const body = $("#venues tbody");
  body.replaceChildren(...venues.map((venue) => {
    const tr = document.createElement("tr");
    tr.dataset.gateway = venue.name;
    const name = cell("name", venue.name);
    name.title = venue.class;   // the gateway's class (sim.gateway:SimGateway, vnpy_ctp:CtpGateway)
    tr.append(name,
              cell(`state state-${venue.state}`, venue.state),
              cell("ts", new Date(venue.sinceTsNs / 1e6).toISOString().slice(11, 19)),
              cell("market-data", venue.marketData ? "up" : "down"), cell("num", String(venue.contracts)),
              cell("num", String(venue.subscriptions)), cell("num", String(venue.connects)),
              cell("error", venue.lastError));
    return tr;
  }));
}

function renderCluster(body) {
  const section = $("#cluster");
  section.hidden = !(body && body.nats);
  if (section.hidden) return;
  $("#cluster-nodes tbody").replaceChildren(...body.nodes.map((node) => {
    const tr = document.createElement("tr");
    tr.dataset.node = node.node;
    tr.dataset.state = node.state;
    tr.append(cell("node", node.node + (node.node === body.node ? " (this)" : "")), cell("role", node.role),
              cell("host", node.host), cell("num", node.uptimeS.toFixed(0)), cell("num", node.lagMs.toFixed(1)),
              cell(`state state-${node.state}`, node.state), cell("groups", node.groupsLed.join(" ")));
    return tr;
  }));
  const venue = $("#cluster-venue-host");
  const host = body.venueHost;
  venue.hidden = !host;
  if (host) {
    const standby = host.standby.length ? host.standby.join(", ") : "none";
    venue.dataset.state = host.active ? "active" : "none";
    venue.textContent = host.active
      ? `Venue host: ${host.active} active (epoch ${host.epoch}, held ${(host.heldS ?? 0).toFixed(0)} s, `
        + `renewed ${(host.ageS ?? 0).toFixed(2)} s ago) · standby: ${standby}`
      : `Venue host: none holds the lease: no order is sent until one takes it · standby: ${standby}`;
  }
  const errors = Object.entries(body.leaseErrors || {});
  const unread = $("#cluster-lease-errors");
  unread.hidden = errors.length === 0;
  unread.textContent = errors.map(([bucket, reason]) => `Leases (${bucket}) not readable now: ${reason}`).join(" · ");
  $("#cluster-groups tbody").replaceChildren(...body.groups.map((lease) => {
    const tr = document.createElement("tr");
    tr.dataset.group = lease.group;
    const age = lease.ageS === null ? "–" : lease.ageS.toFixed(2);
    const held = lease.heldS === null ? "–" : lease.heldS.toFixed(0);
    tr.append(cell("group", lease.group), cell("node", lease.leader), cell("num", String(lease.epoch)),
              cell("num", age), cell("num", held));
    return tr;
  }));
}

function renderAudit(records) {
  const body = $("#audit tbody");
  body.replaceChildren(...records.slice().reverse().map((record) => {
    const tr = document.createElement("tr");
    tr.append(cell("ts", record.ts.slice(11, 19)), cell("user", record.user), cell("action", record.action),
              cell("target", record.target), cell(`result result-${record.result}`, record.result));
    tr.title = record.ts;
    return tr;
  }));
}

// -- commands ---------------------------------------------------------------------

async function command(action, path) {
  const what = action === "restart"
    ? `Restart ${path} and everything under it?`
    : `Stop ${path} and everything under it? It stays stopped until restarted.`;
  if (!window.confirm(what)) return;
  try {
    const { status, data } = await api("POST", `./admin/${action}`, { path });
    toast(`${action} ${path}: ${data.result || `HTTP ${status}`}${data.message ? ` (${data.message})` : ""}`,
          status < 300);
  } catch (error) {
    toast(`${action} ${path} failed: ${error.message}`, false);
  }
  refresh();
}

function toast(text, ok) {
  const item = document.createElement("div");
  item.className = ok ? "toast info" : "toast";
  item.textContent = text;
  $("#toasts").append(item);
  setTimeout(() => item.remove(), 6000);
}

// -- start ------------------------------------------------------------------------

const risk = new RiskControls($("#risk-controls"), { api, toast, onChange: () => refresh() });

window.tickstageOps = {
  risk: () => risk.data,
  tree: () => lastTree,
  audit: () => lastAudit,
  refreshes: () => refreshes,
};

$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("#token").value.trim();
  $("#token").value = "";
  if (value) login(value);
});
$("#logout").addEventListener("click", () => logout());
$("#filter").addEventListener("input", () => lastTree && renderTree(lastTree.tree));

const initial = tokenFromLocation();
if (initial) login(initial);
