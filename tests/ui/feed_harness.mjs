// Node harness for ui/feed.js (the worker's protocol state), driven by tests/ui/test_feed.py.
//
//   node tests/ui/feed_harness.mjs <script.json>
//
// script: {nowMs, steps: [{do: "open", token} | {do: "subscribe"|"unsubscribe", groups}
//          | {do: "frame", file} | {do: "text", data} | {do: "flush"} | {do: "ping"}
//          | {do: "close", code} | {do: "rows", group} | {do: "clock", nowMs}]}
// Prints {sent: [hex ClientMessage...], posts: [...], rows: {group: [...]}, stats}. BigInt → "12n",
// typed arrays → arrays, NaN → "NaN".

import { readFileSync } from "node:fs";
import { Feed } from "../../ui/feed.js";

function jsonable(value) {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  if (ArrayBuffer.isView(value) || Array.isArray(value)) return Array.from(value, jsonable);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, jsonable(item)]));
  }
  return value;
}

const script = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = { sent: [], posts: [], rows: {}, transferred: 0 };
const feed = new Feed({
  send: (bytes) => out.sent.push(Buffer.from(bytes).toString("hex")),
  post: (message, transfer = []) => {
    out.transferred += transfer.length;
    out.posts.push(jsonable(message));
  },
  now: () => script.nowMs,
});
for (const step of script.steps) {
  if (step.do === "open") feed.onOpen(step.token);
  else if (step.do === "subscribe") feed.subscribe(step.groups);
  else if (step.do === "unsubscribe") feed.unsubscribe(step.groups);
  else if (step.do === "frame") {
    const bytes = readFileSync(step.file);
    feed.onFrame(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  } else if (step.do === "text") feed.onFrame(step.data);
  else if (step.do === "flush") feed.flush();
  else if (step.do === "ping") feed.ping();
  else if (step.do === "close") feed.onClose(step.code, "");
  else if (step.do === "rows") out.rows[step.group] = jsonable(feed.rows(step.group));
  else if (step.do === "clock") script.nowMs = step.nowMs;
  else throw new Error(`unknown step ${step.do}`);
}
out.stats = jsonable(feed.stats);
process.stdout.write(JSON.stringify(out));
