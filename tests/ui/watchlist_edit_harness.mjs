// Node harness for ui/watchlist_edit.js (the page's watchlist group editor) with fake timers
// and a fake desk.send, driven by tests/ui/test_watchlist_edit.py.
//
//   node tests/ui/watchlist_edit_harness.mjs <script.json>
//
// script: {symbols: [...], steps: [{do: "toggle", vtSymbol} | {do: "fire"} (the newest live timer)
//          | {do: "reply", member, body} (answers the oldest unanswered send) | {do: "learn", vtSymbols}
//          | {do: "reset"}]}
// Prints {sent: [{member, body}], timers: [ms...], stars: [{symbol: bool} after each step], applied: [group...],
//         errors: [text...], changes: n, group, updates}.

import { readFileSync } from "node:fs";
import { WatchlistEditor } from "../../ui/watchlist_edit.js";

const script = JSON.parse(readFileSync(process.argv[2], "utf8"));
const timers = [];
const fakeTimers = {
  setTimeout: (callback, delay) => timers.push({ callback, delay }),
  clearTimeout: (id) => { if (timers[id - 1]) timers[id - 1].cancelled = true; },
};
const sent = [], waiting = [], applied = [], errors = [];
let changes = 0;
const editor = new WatchlistEditor({
  send: (member, body) => new Promise((resolve) => { sent.push({ member, body }); waiting.push(resolve); }),
  onChange: () => { changes += 1; },
  onApplied: (group) => applied.push(group),
  onError: (text) => errors.push(text),
  timers: fakeTimers,
});
const settle = () => new Promise((resolve) => setImmediate(resolve));
const stars = [];
for (const step of script.steps) {
  if (step.do === "toggle") editor.toggle(step.vtSymbol);
  else if (step.do === "fire") {
    const timer = timers.filter((t) => !t.cancelled && !t.fired).at(-1);
    timer.fired = true;
    timer.callback();
  } else if (step.do === "reply") waiting.shift()({ member: step.member, body: step.body });
  else if (step.do === "learn") editor.learn(step.vtSymbols.map((vtSymbol) => ({ vtSymbol })));
  else if (step.do === "reset") editor.reset();
  await settle();
  stars.push(Object.fromEntries(script.symbols.map((symbol) => [symbol, editor.has(symbol)])));
}
console.log(JSON.stringify({ sent, timers: timers.map((t) => t.delay), stars, applied, errors, changes,
  group: editor.group, updates: editor.updates }));
