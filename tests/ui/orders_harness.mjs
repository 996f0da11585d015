// Node harness for the order panels' logic without a page: ui/order_book.js (the
// blotter's rows) and sendOnce of ui/order_ticket.js (same client order id until a
// reply), driven by tests/ui/test_order_panels.py.
//
//   node tests/ui/orders_harness.mjs <script.json>
//
// script: {book: [{do: "local", order, state, attempts} | {do: "reply", reply} | {do: "view", view, reason}],
//          send: {order, replies: [{member, body}...], retryMs, reconnectWaitMs, giveUpMs}}
// Prints {rows: [row...] (newest first, BigInt → string), send: {result, sent: [{member, body, timeoutMs}], progress}}.

import { readFileSync } from "node:fs";
import { OrderBook } from "../../ui/order_book.js";
import { TICKET, sendOnce } from "../../ui/order_ticket.js";

const script = JSON.parse(readFileSync(process.argv[2], "utf-8"));
const plain = (value) => JSON.parse(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
const ns = (view) => ({ ...view, createdTsNs: BigInt(view.createdTsNs ?? 0), updatedTsNs: BigInt(view.updatedTsNs ?? 0) });

const book = new OrderBook();
for (const step of script.book ?? []) {
  if (step.do === "local") book.local(step.order, step.state, step.attempts ?? 1);
  else if (step.do === "reply") book.reply(step.reply);
  else if (step.do === "view") book.view(ns(step.view), step.reason === undefined ? {} : { reason: step.reason });
}
const out = { rows: plain(book.list()) };

if (script.send) {
  Object.assign(TICKET, { retryMs: script.send.retryMs ?? 50, reconnectWaitMs: script.send.reconnectWaitMs ?? 20,
    giveUpMs: script.send.giveUpMs ?? 10_000 });
  const replies = [...script.send.replies];
  const sent = [];
  const desk = {
    send(member, body, options) {
      sent.push({ member, body: structuredClone(body), timeoutMs: options?.timeoutMs });
      return Promise.resolve(replies.length ? replies.shift() : { member: "error", body: { code: "timeout", message: "" } });
    },
  };
  const progress = [];
  const result = await sendOnce(desk, script.send.order, (state, attempts) => progress.push([state, attempts]));
  out.send = { result: plain(result), sent, progress };
}
process.stdout.write(JSON.stringify(out));
