// Formatting and small DOM helpers shared by the order panels (ui/order_ticket.js,
// ui/blotter.js, ui/account_panel.js, ui/risk_panel.js, ui/risk_alerts.js).
// Values arrive as ui/capnp.js's toPlain() makes them: Float64 as numbers (NaN:
// none), Int64 as BigInt (ns since UNIX epoch), enums as their schema names.

export const DASH = "–";

// Orders in these states never change again (schemas/orders.capnp OrderState).
export const FINAL_STATES = new Set(["filled", "cancelled", "rejected"]);

// The blotter's words for OrderState, plus the ticket's own states before the
// server has the order: sending (first send), retrying (same id sent again),
// noReply (gave up waiting; the order may still exist: ask the blotter).
export const STATE_LABELS = Object.freeze({
  sending: "sending…", retrying: "retrying…", noReply: "no reply",
  pending: "pending", sent: "sent", working: "working", filled: "filled",
  cancelled: "cancelled", rejected: "rejected", outcomeUnknown: "OUTCOME UNKNOWN",
});

// `digits` fixed decimals with thousands separators; NaN, ±Infinity and undefined → "–".
export function amount(value, digits = 2) {
  if (!Number.isFinite(value)) return DASH;
  if (value === 0) value = 0; // -0 → "0.00"
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// A price with as many decimals as it needs (up to 6), or "–".
export function price(value) {
  if (!Number.isFinite(value)) return DASH;
  return String(Number(value.toFixed(6)));
}

// Lots: whole numbers plain, fractions with up to 2 decimals, or "–".
export function lots(value) {
  if (!Number.isFinite(value)) return DASH;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

// "up", "down" or "" for colouring a PnL.
export function sign(value) {
  if (!Number.isFinite(value) || value === 0) return "";
  return value > 0 ? "up" : "down";
}

// A value with its unit-free number for a rule's limit or observed value: "–" for NaN.
export function ruleNumber(value) {
  if (!Number.isFinite(value)) return DASH;
  if (value === 0) return "0"; // also -0
  return Number.isInteger(value) ? value.toLocaleString("en-US") : String(Number(value.toFixed(4)));
}

// What a kill switch's state means to a trader (schemas/accounts.capnp KillSwitchState).
export const KILL_SWITCH_LABELS = Object.freeze({ active: "trading allowed", reduceOnly: "reduce-only", halted: "halted" });

// A rule's limit or observed value as the rule means it: trading_hours counts exchange time as HHMM
// (shown "09:00"), kill_switch the state's rank (0 active, 1 reduceOnly, 2 halted: shown in words);
// every other rule a plain number (ruleNumber).
export function ruleValue(rule, value) {
  if (!Number.isFinite(value)) return DASH;
  if (rule === "trading_hours") {
    const hhmm = Math.round(value);
    return `${String(Math.floor(hhmm / 100)).padStart(2, "0")}:${String(hhmm % 100).padStart(2, "0")}`;
  }
  if (rule === "kill_switch") return Object.values(KILL_SWITCH_LABELS)[Math.round(value)] ?? ruleNumber(value);
  if (rule === "venue") return value >= 1 ? "ready" : "not ready"; // observed 1: the gateway is contractsReady
  return ruleNumber(value);
}

// A rule's limit as the risk panel shows it: the venue rule's limit is a switch (1 on, 0 off), not a bound.
export function ruleLimit(rule, value) {
  if (rule === "venue") return !Number.isFinite(value) ? DASH : value > 0 ? "on" : "off";
  return ruleValue(rule, value);
}

// One line naming who refused an order and why: "order_volume: observed 10, limit 5 — 10 lots over ...";
// a kill switch's refusal is its reason alone (who halted it and when), trading hours' in times.
export function rejectionText(rejection) {
  if (!rejection || !rejection.rule) return "rejected";
  if (rejection.rule === "kill_switch") return `kill switch: ${rejection.reason || "not trading"}`;
  if (rejection.rule === "venue") return `venue: ${rejection.reason || "not ready"}`;
  const numbers = [];
  const hours = rejection.rule === "trading_hours";
  if (Number.isFinite(rejection.observed)) numbers.push(`${hours ? "at" : "observed"} ${ruleValue(rejection.rule, rejection.observed)}`);
  if (Number.isFinite(rejection.limit)) numbers.push(`${hours ? "next open" : "limit"} ${ruleLimit(rejection.rule, rejection.limit)}`);
  const head = numbers.length ? `${rejection.rule}: ${numbers.join(", ")}` : rejection.rule;
  return rejection.reason ? `${head} — ${rejection.reason}` : head;
}

// Local wall-clock time "HH:MM:SS" of a ns-since-epoch BigInt (or number); "" when 0 or missing.
export function clockOfNs(ns) {
  if (ns === undefined || ns === null) return "";
  const ms = Number(typeof ns === "bigint" ? ns / 1_000_000n : ns / 1e6);
  if (!(ms > 0)) return "";
  return new Date(ms).toLocaleTimeString("en-GB", { hour12: false });
}

// Milliseconds since epoch of a ns BigInt (0 when missing), for ordering rows.
export function msOfNs(ns) {
  if (ns === undefined || ns === null) return 0;
  return Number(typeof ns === "bigint" ? ns / 1_000_000n : ns / 1e6);
}

// Build an element: el("td", {className: "x", text: "y", data: {state: "z"}, title: "t"}, ...children).
// Text always goes through textContent: nothing from the server is parsed as HTML.
export function el(tag, options = {}, ...children) {
  const node = document.createElement(tag);
  if (options.className) node.className = options.className;
  if (options.text !== undefined) node.textContent = String(options.text);
  if (options.title) node.title = options.title;
  for (const [key, value] of Object.entries(options.data ?? {})) node.dataset[key] = String(value);
  for (const [key, value] of Object.entries(options.attrs ?? {})) node.setAttribute(key, String(value));
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// The accounts a user may trade: the token's `accounts` claim, else (admins, tokens
// without the claim) the accounts seen in accountStatus pushes. Sorted, unique.
export function tradableAccounts(session, seen = []) {
  const granted = Array.isArray(session?.accounts) ? session.accounts : [];
  return [...new Set([...granted, ...seen])].sort();
}
