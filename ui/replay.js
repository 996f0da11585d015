// Replays a flight recording (schemas/flight.capnp, written by transport/admin/flight.py):
// every ServerMessage the server sent one session goes through the same Feed the
// worker uses (seq checks, snapshots, typed-array L1 state for group frames; every
// other member — order replies and events, account status, risk summary and
// events, contract detail, group status — posted as {type: "message", member,
// correlationId, body} exactly as a tab gets it), at the recorded pace or faster,
// so the desk's own panels show what the trader had at every moment.
// No DOM here: ui/recorder.js draws.

import { readMessage, toPlain } from "./capnp.js";
import { Feed } from "./feed.js";

const MAGIC = "tkflight";
const MAX_RECORDS = 1_000_000;

export class RecordingError extends Error {
  constructor(message) {
    super(message);
    this.name = "RecordingError";
  }
}

// Parse a recording file: {header, entries: [{ms, direction: "down"|"up", payload: Uint8Array}]},
// ms = epoch milliseconds. Throws RecordingError (or CapnpError) on anything malformed.
export function parseRecording(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 8 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new RecordingError("not a tickstage flight recording");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 8, header = null;
  const entries = [];
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) throw new RecordingError(`truncated length at byte ${offset}`);
    const size = view.getUint32(offset, true);
    offset += 4;
    if (offset + size > bytes.length) throw new RecordingError(`truncated record at byte ${offset}`);
    if (entries.length >= MAX_RECORDS) throw new RecordingError(`more than ${MAX_RECORDS} records`);
    const record = readMessage(bytes.slice(offset, offset + size), "FlightRecord");
    offset += size;
    if (record.which() === "header") {
      header = toPlain(record.get("header"));
    } else if (record.which() === "entry") {
      const entry = record.get("entry");
      entries.push({ ms: Number(entry.get("tsNs")) / 1e6, direction: entry.get("direction"),
        payload: entry.get("payload").slice() });
    }
  }
  if (header === null) throw new RecordingError("recording without a header");
  return { header, entries };
}

// What an up entry (ClientMessage) asked for, for the command log: {member, body} (plain values).
export function describeCommand(payload) {
  try {
    const message = readMessage(payload, "ClientMessage");
    const member = message.which();
    return { member: member ?? "unknown", body: member ? toPlain(message.get(member)) : null };
  } catch (error) {
    return { member: "undecodable", body: String(error.message) };
  }
}

function groupOf(payload) {
  try {
    const message = readMessage(payload, "ServerMessage");
    const member = message.which();
    return member === "groupFrame" || member === "groupInfo" ? message.get(member).get("group") : null;
  } catch {
    return null;
  }
}

function detailSymbolOf(payload) {
  try {
    const message = readMessage(payload, "ServerMessage");
    return message.which() === "tickDetail" ? message.get("tickDetail").get("vtSymbol") : null;
  } catch {
    return null;
  }
}

// Drives a recording through a Feed. post(message) gets the Feed's page messages
// ("groupInfo", "rows", "status", "error") exactly as a tab would from the worker.
// onReset(player) runs before the replay starts from the first entry (at construction and on a seek
// backwards): clear what was drawn.
export class Player {
  constructor(recording, { post, onReset = () => {} }) {
    this.recording = recording;
    this.post = post;
    this.onReset = onReset;
    const down = recording.entries.filter((e) => e.direction === "down");
    this.groups = [...new Set(down.map((e) => groupOf(e.payload)).filter((group) => group))];
    // contracts whose every tick the session was sent (contract detail), in order of first tick
    this.detailSymbols = [...new Set(down.map((e) => detailSymbolOf(e.payload)).filter((symbol) => symbol))];
    this.startMs = recording.entries.length ? recording.entries[0].ms : 0;
    this.endMs = recording.entries.length ? recording.entries.at(-1).ms : 0;
    this.speed = 1;
    this.playing = false;
    this.reset();
  }

  reset() {
    this.onReset(this);
    this.clockMs = this.startMs;
    this.next = 0; // index of the next entry to feed
    this.feed = new Feed({ send: () => {}, post: (message) => this.post(message), now: () => this.clockMs });
    this.feed.subscribe(this.groups);
    if (this.detailSymbols.length) this.feed.subscribeTicks(this.detailSymbols);
  }

  // Feed every entry up to epochMs (going back replays from the start); return the entries fed.
  seek(epochMs) {
    if (epochMs < this.clockMs) this.reset();
    const entries = this.recording.entries;
    let fed = 0;
    while (this.next < entries.length && entries[this.next].ms <= epochMs) {
      const entry = entries[this.next++];
      this.clockMs = entry.ms;
      if (entry.direction === "down") this.feed.onFrame(entry.payload);
      fed += 1;
    }
    this.clockMs = Math.max(this.clockMs, Math.min(epochMs, this.endMs));
    this.feed.flush();
    return fed;
  }

  // Advance by elapsedMs of wall time × speed while playing (call on each animation frame).
  advance(elapsedMs) {
    if (!this.playing) return 0;
    const fed = this.seek(this.clockMs + elapsedMs * this.speed);
    if (this.clockMs >= this.endMs) this.playing = false;
    return fed;
  }

  // The up entries (commands) fed so far, newest last.
  commandsUntil(epochMs) {
    return this.recording.entries.filter((entry) => entry.direction === "up" && entry.ms <= epochMs);
  }
}
