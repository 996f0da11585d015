// Flatten one contract of one account: the hook behind the "flatten" hotkey (ui/hotkeys.js).
//
// Until the desk has a flatten message of its own, the page does it with the messages it has:
// one cancelOrder per working order of that account and contract (ui/order_book.js), then, per
// position held (the account's last accountStatus), one closing limit order for the whole
// volume at the price that crosses: sell a long at the bid, buy a short back at the ask. A
// contract with no bid or ask to cross is reported, not guessed. Replace flattenContract's body
// with one flattenPosition message when the server offers it; callers stay as they are.

import { FINAL_STATES } from "./order_format.js";

// Cancel the working orders, then close the positions. Returns {cancelled, closing: [orders], missing: [why]}.
// desk: the panels' desk; book: ui/order_book.js book; positions: AccountStatus.positions of `account`;
// quote: {bid, ask} of the contract now.
export async function flattenContract({ desk, book, account, vtSymbol, positions = [], quote = {} }) {
  // Imported when used: the ticket module registers its panel on import, and pages without a ticket
  // (the flight recorder's replay) load the blotter, hence this module, too.
  const { newClientOrderId, sendOnce } = await import("./order_ticket.js");
  const working = book.list().filter((row) => row.account === account && row.vtSymbol === vtSymbol
    && !FINAL_STATES.has(row.state) && row.vtOrderId);
  const cancels = await Promise.all(working.map((row) => desk.send("cancelOrder", { account, clientOrderId: row.clientOrderId })));
  const result = { cancelled: cancels.filter((reply) => reply.member === "cancelReply").length, closing: [], missing: [] };
  for (const position of positions.filter((item) => item.vtSymbol === vtSymbol && item.volumeLots > 0)) {
    const closeLong = position.direction === "long";
    const price = closeLong ? quote.bid : quote.ask;
    if (!Number.isFinite(price)) {
      result.missing.push(`no ${closeLong ? "bid" : "ask"} to close the ${position.direction} ${position.volumeLots} lots`);
      continue;
    }
    const order = { clientOrderId: newClientOrderId(desk.session().user), account, vtSymbol,
      direction: closeLong ? "short" : "long", offset: "close", orderType: "limit", price,
      volumeLots: position.volumeLots, reference: "flatten" };
    result.closing.push(order);
    sendOnce(desk, order, (state, attempts) => book.local(order, state, attempts))
      .then((reply) => { if (reply.member === "orderReply") book.reply(reply.body); });
  }
  return result;
}
