// The page's orders, by account and client order id: what the blotter shows.
// No DOM. Fed by the ticket (orders it is sending, their replies) and by the
// blotter (order events, orderStatusReply). One instance per tab: `book`.
//
// Row: {account, clientOrderId, vtSymbol, direction, offset, orderType, price,
// volumeLots, state, status, tradedLots, avgPrice, vtOrderId, rejection,
// createdMs, updatedTsNs (BigInt, 0n until the server sent an OrderView),
// reason (outcomeUnknown's), attempts (sends of this id by this tab),
// cancel ({status, detail} of the last cancel request)}.
//
// Order events may arrive out of order (vn.py 4.5: its trade and order
// events come in either order) and twice (a retried id gets its reply again):
// a view older than the row's updatedTsNs is ignored, and a reply never moves
// a row backwards (rank below).

import { FINAL_STATES } from "./order_format.js";

export const MAX_ROWS = 500; // final rows beyond this are dropped, oldest first

const RANK = {
  sending: 0, retrying: 0, noReply: 0, pending: 1, sent: 2, outcomeUnknown: 3, working: 4,
  filled: 5, cancelled: 5, rejected: 5,
};
const VIEW_FIELDS = ["vtSymbol", "direction", "offset", "orderType", "price", "volumeLots", "state", "status",
  "tradedLots", "avgPrice", "vtOrderId", "rejection", "reference", "replaces", "replacedBy"];

export class OrderBook {
  constructor() {
    this.rows = new Map(); // "account\u0000clientOrderId" → row
    this.listeners = new Set();
    this.pendingNotify = false;
  }

  static key(account, clientOrderId) {
    return `${account}\u0000${clientOrderId}`;
  }

  get(account, clientOrderId) {
    return this.rows.get(OrderBook.key(account, clientOrderId));
  }

  // Rows newest first.
  list() {
    return [...this.rows.values()].sort((a, b) => b.createdMs - a.createdMs);
  }

  // fn(book) after changes (batched to one call per microtask); returns off().
  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // An order this tab is sending: order = the submitOrder body; state sending | retrying | noReply.
  local(order, state, attempts) {
    const key = OrderBook.key(order.account, order.clientOrderId);
    let row = this.rows.get(key);
    if (row === undefined) {
      row = this.fresh(order.account, order.clientOrderId);
      Object.assign(row, {
        vtSymbol: order.vtSymbol, direction: order.direction, offset: order.offset, orderType: order.orderType,
        price: order.price, volumeLots: order.volumeLots, reference: order.reference ?? "", state,
      });
      this.rows.set(key, row);
    }
    row.attempts = attempts;
    if (RANK[row.state] === 0) row.state = state; // the server's state, once known, wins
    this.changed();
    return row;
  }

  // An OrderReply (ticket's reply or a late one): decides the state unless events already moved on.
  reply(reply) {
    const row = this.ensure(reply.account, reply.clientOrderId);
    const state = reply.status === "accepted" ? "working" : reply.status === "rejected" ? "rejected" : "outcomeUnknown";
    if (reply.vtOrderId) row.vtOrderId = reply.vtOrderId;
    if (reply.status === "rejected") row.rejection = reply.rejection;
    if (RANK[state] > (RANK[row.state] ?? 0)) row.state = state;
    this.changed();
    return row;
  }

  // An OrderView from an event or orderStatusReply; extra: {reason} of outcomeUnknown, {fill} of orderFilled.
  view(view, extra = {}) {
    const row = this.ensure(view.account, view.clientOrderId);
    const updated = typeof view.updatedTsNs === "bigint" ? view.updatedTsNs : BigInt(view.updatedTsNs ?? 0);
    if (updated < row.updatedTsNs) return row; // older than what we show
    for (const field of VIEW_FIELDS) if (view[field] !== undefined) row[field] = view[field];
    if (view.state !== "rejected") row.rejection = null;
    row.updatedTsNs = updated;
    const created = Number((typeof view.createdTsNs === "bigint" ? view.createdTsNs : BigInt(view.createdTsNs ?? 0)) / 1_000_000n);
    if (created > 0) row.createdMs = created;
    if (extra.reason !== undefined) row.reason = extra.reason;
    else if (view.state !== "outcomeUnknown") row.reason = "";
    if (extra.fill !== undefined) row.lastFill = extra.fill;
    this.trim();
    this.changed();
    return row;
  }

  // The answer to a cancelOrder: {status: sent | unknownOrder | notActive | notSent | error, detail}.
  cancelled(account, clientOrderId, cancel) {
    const row = this.get(account, clientOrderId);
    if (row === undefined) return;
    row.cancel = cancel;
    this.changed();
  }

  // Forget every order (log-out: the next user must not see them).
  clear() {
    this.rows.clear();
    this.changed();
  }

  // Orders not final, of one account (or all).
  open(account = null) {
    return this.list().filter((row) => !FINAL_STATES.has(row.state) && (account === null || row.account === account));
  }

  // -- helpers --------------------------------------------------------------

  ensure(account, clientOrderId) {
    const key = OrderBook.key(account, clientOrderId);
    let row = this.rows.get(key);
    if (row === undefined) {
      row = this.fresh(account, clientOrderId);
      this.rows.set(key, row);
    }
    return row;
  }

  fresh(account, clientOrderId) {
    return {
      account, clientOrderId, vtSymbol: "", direction: "long", offset: "none", orderType: "limit", price: NaN,
      volumeLots: NaN, state: "pending", status: "submitting", tradedLots: 0, avgPrice: 0, vtOrderId: "",
      rejection: null, reference: "", createdMs: Date.now(), updatedTsNs: 0n, reason: "", attempts: 0,
      cancel: null, lastFill: null,
    };
  }

  trim() {
    if (this.rows.size <= MAX_ROWS) return;
    const finals = this.list().filter((row) => FINAL_STATES.has(row.state));
    for (const row of finals.slice(Math.max(0, finals.length - (this.rows.size - MAX_ROWS)))) {
      this.rows.delete(OrderBook.key(row.account, row.clientOrderId));
    }
  }

  changed() {
    if (this.pendingNotify) return;
    this.pendingNotify = true;
    queueMicrotask(() => {
      this.pendingNotify = false;
      for (const fn of this.listeners) {
        try {
          fn(this);
        } catch (error) {
          console.error(error);
        }
      }
    });
  }
}

export const book = new OrderBook();
