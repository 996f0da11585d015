// Node harness for ui/named_lists.js, driven by tests/ui/test_named_lists.py.
//
//   node tests/ui/named_lists_harness.mjs <case.json>
//
// case: {steps: [["create", name] | ["use", name] | ["toggle", vtSymbol] | ["remove", name] | ["load", {name:
// {symbols}}] | ["reset"]]}. The prefs store answers every put 200 and records it; the group editor is a set.
// Prints {lists: {name: [vtSymbol...]}, active, group: [vtSymbol...], puts: [[kind, name, symbols]]}.

import { readFileSync } from "node:fs";
import { NamedLists } from "../../ui/named_lists.js";

const spec = JSON.parse(readFileSync(process.argv[2], "utf8"));
const puts = [];
const prefs = {
  put: async (kind, name, body) => { puts.push([kind, name, body.symbols]); return { status: 200, body: {} }; },
  remove: async (kind, name) => { puts.push([kind, name, null]); return { status: 200, body: {} }; },
};
const group = new Set();
const editor = { has: (s) => group.has(s), toggle: (s) => (group.has(s) ? group.delete(s) : group.add(s)) };
const lists = new NamedLists({ prefs, editor });
for (const [action, argument] of spec.steps) {
  if (action === "create") await lists.create(argument);
  else if (action === "use") lists.use(argument);
  else if (action === "toggle") lists.toggle(argument);
  else if (action === "remove") await lists.remove(argument);
  else if (action === "load") lists.load(argument);
  else if (action === "reset") lists.reset();
}
const shown = Object.fromEntries(lists.names().map((name) => [name, [...lists.symbolsOf(name)].sort()]));
process.stdout.write(JSON.stringify({ lists: shown, active: lists.active, group: [...group].sort(), puts }));
