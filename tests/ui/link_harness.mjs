// Node harness for ui/link.js's deskSocketUrls, driven by tests/ui/test_link.py.
//
//   node tests/ui/link_harness.mjs <page href>...
//
// Prints [{href, urls, warnings: [...]}...].

import { deskSocketUrls } from "../../ui/link.js";

const out = process.argv.slice(2).map((href) => {
  const warnings = [];
  const urls = deskSocketUrls(href, (text) => warnings.push(text));
  return { href, urls, warnings };
});
process.stdout.write(JSON.stringify(out));
