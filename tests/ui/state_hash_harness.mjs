// Node harness for ui/state_hash.js, driven by tests/ui/test_state_hash.py.
//
//   node tests/ui/state_hash_harness.mjs <vectors.json>
//
// vectors: [{n, columns: {last: "<hex of float64 LE bytes>", ...}}]; prints [crc, ...] (unsigned).

import { readFileSync } from "node:fs";
import { HASHED_KEYS, stateCrc32 } from "../../ui/state_hash.js";

const vectors = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = vectors.map(({ n, columns }) => {
  const typed = {};
  for (const key of HASHED_KEYS) {
    const bytes = Buffer.from(columns[key], "hex");
    typed[key] = new Float64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
  return stateCrc32(typed, n);
});
process.stdout.write(JSON.stringify(out));
