// Flatten one contract of one account: the hook behind the "flatten" hotkey (ui/hotkeys.js).
//
// One cancelOrder per working order of that account and contract (ui/order_book.js), then one
// flattenPosition at the touch (sell a long at the bid, buy a short back at the ask): the desk
// works out what is held, splits close-today / close-yesterday where the exchange needs it, sends
// the closing orders through the risk rules and answers flattenReply (actors/orders/flatten.py).
// The closing orders show in the blotter through their order events.

import { FINAL_STATES } from "./order_format.js";

// Cancel the working orders, then flatten. Returns {cancelled, closing: [client order ids], missing: [why]}.
// desk: the panels' desk; book: ui/order_book.js book.
export async function flattenContract({ desk, book, account, vtSymbol }) {
  // Imported when used: the ticket module registers its panel on import, and pages without a ticket
  // (the flight recorder's replay) load the blotter, hence this module, too.
  const { newClientOrderId } = await import("./order_ticket.js");
  const working = book.list().filter((row) => row.account === account && row.vtSymbol === vtSymbol
    && !FINAL_STATES.has(row.state) && row.vtOrderId);
  const cancels = await Promise.all(working.map((row) => desk.send("cancelOrder", { account, clientOrderId: row.clientOrderId })));
  const result = { cancelled: cancels.filter((reply) => reply.member === "cancelReply").length, closing: [], missing: [] };
  const reply = await desk.send("flattenPosition", { clientOrderId: newClientOrderId(desk.session().user), account,
    vtSymbol, aggressiveness: "touch", ticks: 0 });
  if (reply.member !== "flattenReply") {
    result.missing.push(`flatten refused: ${reply.body?.message ?? reply.body?.code ?? reply.member}`);
  } else if (reply.body.status === "rejected") {
    result.missing.push(`flatten rejected: ${reply.body.rejection?.reason ?? ""}`);
  } else if (reply.body.status === "nothingHeld") {
    result.missing.push("nothing held");
  } else {
    result.closing = [...reply.body.clientOrderIds];
  }
  return result;
}
