// The desk's panel slots and the small API that fills them (ui/README.md).
//
// ui/index.html has one <section data-slot="..."> per slot: "account" (top right:
// account and strategy status), "orderEntry" and "risk" (middle: order entry,
// risk parameters), "detail" (the clicked contract's ticks), "blotter" (below them, full width: the orders), "algo" and
// "alerts" (bottom right: algo progress, risk alerts). A module fills one by calling
//
//     import { registerPanel } from "./panels.js";
//     registerPanel("orderEntry", (element, desk) => { ... });
//
// and being imported by ui/app.js (or by its own <script type="module"> in
// index.html). mount(element, desk) runs once, after the page started; element
// is the slot's body <div> (placeholder removed). desk is:
//
//   desk.send(member, body, {timeoutMs}) → Promise<{member, body}>: any ClientMessage
//        member (submitOrder, cancelOrder, orderStatusRequest ...) over the user's one
//        shared socket; resolves with the reply correlated to it (orderReply ...),
//        or {member: "error", body: {code, message}} (refused, "notConnected", "timeout"
//        after timeoutMs, default 10 s); a reply that comes after its timeout is
//        delivered to desk.on(member) listeners instead
//   desk.on(member, fn)      → off(): fn(body, member) for every ServerMessage of
//        that member not sent as a reply (accountStatus, riskSummary, riskEvent,
//        orderAccepted, orderFilled ...); member "*" gets every one
//   desk.session()           → {user, role, accounts, groups, state} (role and
//        claims read from the token for display; the server enforces them)
//   desk.onSession(fn)       → off(): fn(session) on log-in, log-out, state change
//   desk.stats()             → window.tickstage.stats()
//   desk.followTicks(vtSymbol, fn) → stop(): fn(ticks) for every tick of one contract
//        ({vtSymbol, history, last, bid, ask, bidVolume, askVolume, volume, openInterest,
//        exchangeMs, bidLevels, bidLevelVolumes, askLevels, askLevelVolumes}: Float64Arrays,
//        oldest first; the *Levels arrays hold levels 1..5 of each tick, tick-major, or are
//        empty when not sent; history true: the recent ticks, replace what you have); the
//        worker follows the contract while any panel of any tab does

export const SLOTS = Object.freeze(["account", "orderEntry", "risk", "detail", "blotter", "algo", "alerts"]);

const pending = []; // [slot, mount] registered before start
const listeners = new Map(); // member → Set<fn>
const sessionListeners = new Set();
const tickListeners = new Map(); // vtSymbol → Set<fn>
let desk = null;

export function registerPanel(slot, mount) {
  if (!SLOTS.includes(slot)) throw new RangeError(`no panel slot ${slot}; slots: ${SLOTS.join(", ")}`);
  if (desk === null) pending.push([slot, mount]);
  else mountInto(slot, mount);
}

function mountInto(slot, mount) {
  const section = document.querySelector(`[data-slot="${slot}"]`);
  if (section === null) return; // a page with a subset of the slots (the flight recorder's replay)
  const body = section.querySelector(".slot-body");
  body.replaceChildren();
  section.dataset.mounted = "true";
  try {
    mount(body, desk);
  } catch (error) {
    body.textContent = `panel failed: ${error.message}`;
    console.error(error);
  }
}

// Called by ui/app.js once: {send, session, stats, follow: {subscribe(vtSymbols), unsubscribe(vtSymbols)}}.
export function startPanels({ send, session, stats, follow }) {
  desk = {
    send,
    session,
    stats,
    followTicks(vtSymbol, fn) {
      if (!tickListeners.has(vtSymbol)) {
        tickListeners.set(vtSymbol, new Set());
        follow?.subscribe([vtSymbol]);
      }
      tickListeners.get(vtSymbol).add(fn);
      return () => {
        const listeners = tickListeners.get(vtSymbol);
        if (!listeners?.delete(fn) || listeners.size > 0) return;
        tickListeners.delete(vtSymbol);
        follow?.unsubscribe([vtSymbol]);
      };
    },
    on(member, fn) {
      if (!listeners.has(member)) listeners.set(member, new Set());
      listeners.get(member).add(fn);
      return () => listeners.get(member)?.delete(fn);
    },
    onSession(fn) {
      sessionListeners.add(fn);
      return () => sessionListeners.delete(fn);
    },
  };
  for (const [slot, mount] of pending.splice(0)) mountInto(slot, mount);
  return desk;
}

// A ServerMessage event from the worker (not a reply).
export function dispatchMessage(member, body) {
  for (const key of [member, "*"]) {
    for (const fn of listeners.get(key) ?? []) {
      try {
        fn(body, member);
      } catch (error) {
        console.error(error);
      }
    }
  }
}

// A {type: "ticks"} message from the worker: to the panels following its contract.
export function dispatchTicks(message) {
  for (const fn of tickListeners.get(message.vtSymbol) ?? []) {
    try {
      fn(message);
    } catch (error) {
      console.error(error);
    }
  }
}

export function dispatchSession(session) {
  for (const fn of sessionListeners) {
    try {
      fn(session);
    } catch (error) {
      console.error(error);
    }
  }
}
