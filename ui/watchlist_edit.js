// The user's own watchlist group (watch-<user>, issue 8): which contracts are in it,
// and the page's edits to it.
//
// A click on a watchlist row's star (ui/watchlist.js) toggles the contract at once
// (optimistic). Clicks are batched: WATCHLIST_DEBOUNCE_MS after the last one, ONE
// watchlistUpdate{add, remove} goes out through desk.send (the tab's share of the one
// socket, ui/link.js request); one batch is in flight at a time, later clicks wait for
// its reply. The ack names the group: the page subscribes it, so its panel appears.
// An error reverts the batch and is shown. The truth is the group's own GroupInfo:
// learn() takes its instruments whenever one arrives, the unanswered clicks laid over it.

export const WATCHLIST_DEBOUNCE_MS = 300;

export class WatchlistEditor {
  // send(member, body) → Promise<{member, body}> (member "error": body {code, message});
  // onChange(): membership changed, repaint the stars; onApplied(group): the group
  // exists, subscribe it; onError(text): show a refusal. timers: {setTimeout, clearTimeout}.
  constructor({ send, onChange = () => {}, onApplied = () => {}, onError = () => {}, timers = globalThis }) {
    this.send = send;
    this.onChange = onChange;
    this.onApplied = onApplied;
    this.onError = onError;
    this.timers = timers;
    this.group = null; // "watch-<user>" once known (/api/groups "watchlist", or an ack)
    this.members = new Set(); // vt_symbols in the group, as the server last said
    this.pending = new Map(); // vtSymbol → wanted (true: in the group), not sent yet
    this.inflight = new Map(); // the batch sent and not answered yet
    this.timer = 0;
    this.updates = 0; // watchlistUpdate messages sent
    this.generation = 0; // bumped by reset(): a reply to an older batch is ignored
  }

  // Whether the page shows vtSymbol as in the group (the user's unanswered clicks included).
  has(vtSymbol) {
    if (this.pending.has(vtSymbol)) return this.pending.get(vtSymbol);
    if (this.inflight.has(vtSymbol)) return this.inflight.get(vtSymbol);
    return this.members.has(vtSymbol);
  }

  toggle(vtSymbol) {
    const wanted = !this.has(vtSymbol);
    const settled = this.inflight.has(vtSymbol) ? this.inflight.get(vtSymbol) : this.members.has(vtSymbol);
    if (wanted === settled) this.pending.delete(vtSymbol); // toggled back before it was sent
    else this.pending.set(vtSymbol, wanted);
    this.onChange();
    this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => this.flush(), WATCHLIST_DEBOUNCE_MS);
  }

  // The group's GroupInfo ({instruments: [{vtSymbol ...}]}) arrived: that is the membership now.
  learn(instruments) {
    this.members = new Set(instruments.map((item) => item?.vtSymbol).filter(Boolean));
    this.onChange();
  }

  // Send the batched clicks as one watchlistUpdate (after the one in flight is answered).
  async flush() {
    this.timer = 0;
    if (this.pending.size === 0 || this.inflight.size > 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.inflight = batch;
    const add = [], remove = [];
    for (const [vtSymbol, wanted] of batch) (wanted ? add : remove).push(vtSymbol);
    this.updates += 1;
    const generation = this.generation;
    let reply;
    try {
      reply = await this.send("watchlistUpdate", { add, remove });
    } catch (error) {
      reply = { member: "error", body: { code: "internal", message: String(error?.message ?? error) } };
    }
    if (generation !== this.generation) return; // logged out meanwhile
    this.inflight = new Map();
    if (reply.member === "ack") {
      for (const [vtSymbol, wanted] of batch) {
        if (wanted) this.members.add(vtSymbol);
        else this.members.delete(vtSymbol);
      }
      this.group = reply.body?.detail || this.group;
      if (this.group) this.onApplied(this.group);
    } else {
      const { code = "error", message = "" } = reply.body ?? {};
      this.onError(`watchlist not changed: ${code}: ${message}`);
      if (code === "unknownContract" && this.group) this.onApplied(this.group); // the known ones were applied
    }
    this.onChange();
    if (this.pending.size > 0 && this.timer === 0) this.flush();
  }

  // Logged out: forget everything.
  reset() {
    this.generation += 1;
    this.timers.clearTimeout(this.timer);
    this.timer = 0;
    this.group = null;
    this.members = new Set();
    this.pending = new Map();
    this.inflight = new Map();
    this.onChange();
  }
}
