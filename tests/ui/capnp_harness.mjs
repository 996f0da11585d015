// Node harness for ui/capnp.js, driven by tests/ui/test_decoder.py and test_fuzz.py.
//
//   node tests/ui/capnp_harness.mjs decode <Root> <file>...        → JSON array, one entry per file
//   node tests/ui/capnp_harness.mjs build <specs.json>              → JSON array of hex messages
//   node tests/ui/capnp_harness.mjs fuzz <seed> <count> <file>...   → JSON summary
//
// JSON conventions: BigInt → "123n", typed arrays → arrays, non-finite floats →
// "NaN" / "Infinity" / "-Infinity". In build specs, strings like "123n" become BigInt.

import { readFileSync } from "node:fs";
import { CapnpError, buildMessage, readMessage, toPlain } from "../../ui/capnp.js";

function jsonable(value) {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (ArrayBuffer.isView(value) || Array.isArray(value)) return Array.from(value, jsonable);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, jsonable(item)]));
  }
  return value;
}

function decode(root, files) {
  return files.map((file) => {
    try {
      return { file, ok: true, value: jsonable(toPlain(readMessage(readFileSync(file), root))) };
    } catch (error) {
      return { file, ok: false, error: error.name, message: error.message };
    }
  });
}

function build(specFile) {
  const specs = JSON.parse(readFileSync(specFile, "utf8"), (_, value) =>
    typeof value === "string" && /^-?\d+n$/.test(value) ? BigInt(value.slice(0, -1)) : value);
  return specs.map(({ root, value }) => Buffer.from(buildMessage(root, value)).toString("hex"));
}

// mulberry32: small seeded PRNG so a failing input can be reproduced from its seed.
function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(random, corpus) {
  const int = (n) => Math.floor(random() * n);
  const base = corpus[int(corpus.length)];
  const strategy = int(8);
  if (strategy === 0) return base.slice(0, int(base.length + 1)); // truncate anywhere
  if (strategy === 1) { // random bytes
    const out = new Uint8Array(int(4) === 0 ? 8 * int(40) : int(300));
    for (let i = 0; i < out.length; i++) out[i] = int(256);
    return out;
  }
  const out = base.slice();
  if (out.length < 8) return out;
  const view = new DataView(out.buffer);
  const word = () => 8 * int(out.length / 8);
  const flips = 1 + int(8);
  for (let n = 0; n < flips; n++) {
    if (strategy === 2) { const bit = int(out.length * 8); out[bit >> 3] ^= 1 << (bit & 7); }
    else if (strategy === 3) { const at = word(); view.setUint32(at, int(2 ** 32), true); view.setUint32(at + 4, int(2 ** 32), true); }
    else if (strategy === 4) { // a plausible pointer: any kind, small or huge offsets, far to any segment
      const at = word(), kind = int(4), offset = int(3) === 0 ? int(2 ** 30) : int(64) - 32;
      view.setUint32(at, ((offset << 2) | kind) >>> 0, true);
      view.setUint32(at + 4, int(2) ? int(2 ** 32) : int(8) | (int(2 ** 20) << 3), true);
    } else if (strategy === 5) view.setUint32(0, int(3) === 0 ? int(2 ** 32) : int(8), true); // segment count
    else if (strategy === 6) { const count = Math.min(view.getUint32(0, true) + 1, (out.length - 4) / 4); view.setUint32(4 + 4 * int(Math.max(count, 1)), int(2) ? int(2 ** 32) : int(4096), true); }
    else { const at = word(); out.copyWithin(at, word(), Math.min(out.length, word() + 8 * (1 + int(16)))); } // splice
  }
  return out;
}

function fuzz(seed, count, files) {
  const corpus = files.map((file) => new Uint8Array(readFileSync(file)));
  const random = prng(seed);
  const summary = { runs: 0, decoded: 0, capnpErrors: 0, failures: [], slowestMs: 0 };
  for (let i = 0; i < count; i++) {
    const input = mutate(random, corpus);
    const root = i % 2 === 0 ? "ServerMessage" : "ClientMessage";
    const started = performance.now();
    try {
      toPlain(readMessage(input, root));
      summary.decoded += 1;
    } catch (error) {
      if (error instanceof CapnpError) summary.capnpErrors += 1;
      else if (summary.failures.push({ index: i, root, error: String(error), stack: error?.stack, input: Buffer.from(input).toString("hex").slice(0, 2000) }) > 20) break;
    }
    summary.slowestMs = Math.max(summary.slowestMs, performance.now() - started);
    summary.runs += 1;
  }
  return summary;
}

const [mode, ...args] = process.argv.slice(2);
let result;
if (mode === "decode") result = decode(args[0], args.slice(1));
else if (mode === "build") result = build(args[0]);
else if (mode === "fuzz") result = fuzz(Number(args[0]), Number(args[1]), args.slice(2));
else { console.error("usage: capnp_harness.mjs decode|build|fuzz ..."); process.exit(2); }
process.stdout.write(JSON.stringify(result));
