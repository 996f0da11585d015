// The market-data feed behind the worker: protocol state, per-group L1 state
// in typed arrays, sequence checking and batching for the page. No WebSocket
// and no timers here (ui/worker.js wires those), so node can drive it in tests.
//
// Protocol (schemas/stream.capnp, transport/README.md): auth first; after ack(auth)
// one subscribe per wanted group; per group a groupInfo (firstIndex 0 = full
// list, > 0 = appended instruments), then a snapshot, then deltas with seq + 1
// each. A delta whose seq is not last + 1 is a gap: count it, send
// snapshotRequest, and ignore that group's deltas until a snapshot arrives.
// Epochs (issue 16): over NATS each frame carries its aggregator's lease epoch;
// a frame of an older epoch than the group's newest is dropped (staleEpochFrames),
// and a delta of a newer one is handled as a gap (the new leader's seqs are its
// own): a snapshot is asked and the new epoch starts with it. An epoch reset (the lease
// bucket began again from revision 1) is the one lower epoch let in: after the group's
// epoch has been silent for EPOCH_RESET_MS, a lower one is its new epoch (epochResets),
// resynced as a change; the edge node lets it through by the same rule.
// Other ServerMessage members (order replies, account status, risk events)
// are posted as {type: "message", member, correlationId, body} (plain objects).
// Liveness (issue 14): each groupStatus is kept per group and posted as
// {type: "groupStatus", group, state, reason, sinceMs, dataMs}; the gateway receive
// time of the group's newest tick rides with each "rows" post as heardMs, so the
// page shows the age of the data (heartbeats only say the stream is alive).
// Integrity: a frame with stateHashed carries the CRC-32 of the whole group state
// after it (ui/state_hash.js); a different local hash is a mismatch: counted, the
// group's deltas ignored and a snapshot asked; the next matching hash is a heal.
// Contracts followed tick by tick (subscribeTicks, for detail panels) are
// subscribed again after every auth; each tickDetail is posted as
// {type: "ticks", vtSymbol, history, last ... openInterest, exchangeMs} (Float64Arrays).
// Latency per hop (issue 14, ui/hops.js): each delta's newest tick gives one sample of
// exchange → venue (skew-corrected), venue → built and built → decoded (corrected by the
// ping/pong clock offset); they ride with each "rows" post as hopsMs {hop: Float64Array},
// with the decode time of each delta in its batch (decodedMs) for the tab's paint hops.
// Each pong updates the clock offset (stats.clockOffsetMs, clockRoundTripMs) and the
// desk's built → sent figures of this socket (stats.socketSend {p50Ms, p95Ms, p99Ms, samples});
// stats.exchangeSkewMs holds each group's exchange clock skew (ms; venue receive − exchange time).

import { SCHEMA_VERSION } from "./schema_layout.js";
import { buildMessage, readMessage, toPlain } from "./capnp.js";
import { COLUMNS, GroupState, MAX_ROWS } from "./group_state.js";

export const DEPTH_LEVELS = 5;
// tick message key → DepthColumns list (schemas/market.capnp): levels 1..5 of each tick.
const DEPTH_COLUMNS = { bidLevels: "bidPrices", bidLevelVolumes: "bidVolumesLots", askLevels: "askPrices",
  askLevelVolumes: "askVolumesLots" };
import { ClockOffset, WORKER_HOPS, frameHops, nsToMs } from "./hops.js";
import { stateCrc32 } from "./state_hash.js";

export const STATS_INTERVAL_MS = 250; // stats reach the page at least this often
export const EPOCH_RESET_MS = 1000; // a group's epoch silent this long lets a lower one in (an epoch reset; the edge waits ≥ one lease TTL first)
const AUTH_FAILURES = new Set(["unauthenticated", "tokenExpired", "forbidden"]);
// Acks of what the feed sends itself; any other ack (watchlistUpdate ...) answers a tab's request
// and is posted as {type: "message", member: "ack", correlationId, body: {of, detail}}.
const FEED_ACKS = new Set(["auth", "subscribe", "unsubscribe", "refresh", "subscribeTicks", "unsubscribeTicks"]);
const MAX_FRAME_STAMPS = 256; // newest-tick stamps kept per group between two flushes

export class Feed {
  // send(bytes): write a ClientMessage to the socket; post(message, transfer): to the page;
  // now(): wall clock, ms since UNIX epoch (fractional).
  constructor({ send, post, now = () => performance.timeOrigin + performance.now() }) {
    this.send = send;
    this.post = post;
    this.now = now;
    this.groups = new Map(); // wanted groups, in subscription order
    this.pending = new Map(); // subscribe envelope id → group
    this.ticks = new Set(); // contracts followed tick by tick
    this.viewports = new Map(); // group → {rows, key}: the rows the tabs show, last sent
    this.viewportsSent = 0;
    this.nextId = 0;
    this.authenticated = false;
    this.authFailed = false;
    this.token = null; // the token the current connection authenticates with
    this.latencySamplesMs = [];
    this.hopSamplesMs = Object.fromEntries(WORKER_HOPS.map((key) => [key, []]));
    this.clock = new ClockOffset();
    this.lastStatsMs = -Infinity;
    this.stats = {
      connected: false, frames: 0, bytes: 0, gaps: 0, decodeErrors: 0, snapshots: 0,
      ignoredDeltas: 0, staleDeltas: 0, staleEpochFrames: 0, epochChanges: 0, epochResets: 0, reconnects: 0, lastLatencyMs: NaN, rttMs: NaN, lastError: "",
      conflations: 0, messages: 0, integrityChecks: 0, integrityMismatches: 0, integrityHeals: 0,
      lastHealMs: NaN, clockOffsetMs: NaN, clockRoundTripMs: NaN, socketSend: null, exchangeSkewMs: {},
    };
  }

  // -- page requests --------------------------------------------------------

  subscribe(groups) {
    for (const name of groups) {
      if (this.groups.has(name)) continue;
      this.groups.set(name, new GroupState(name));
      if (this.authenticated) this.sendSubscribe(name);
    }
  }

  unsubscribe(groups) {
    for (const name of groups) this.viewports.delete(name);
    const known = groups.filter((name) => this.groups.delete(name));
    if (known.length && this.authenticated) this.message({ unsubscribe: { groups: known } });
  }

  // The rows of a subscribed group the tabs show (sorted instrument indexes); sent on change only, and
  // again after each (re)subscribe: a new session knows none.
  viewport(group, rows) {
    const key = rows.join(",");
    if (!this.groups.has(group) || this.viewports.get(group)?.key === key) return;
    this.viewports.set(group, { rows, key });
    if (this.authenticated) this.sendViewport(group);
  }

  sendViewport(group) {
    const shown = this.viewports.get(group);
    if (shown === undefined) return;
    const { rows } = shown;
    const run = rows.length > 0 && rows[rows.length - 1] - rows[0] === rows.length - 1;
    this.viewportsSent += 1;
    this.message({ viewport: run ? { group, firstRow: rows[0], rowCount: rows.length }
      : { group, firstRow: 0, rowCount: 0, rowIndexes: rows } });
  }

  // again: ask for contracts already followed, so the server sends their history again.
  subscribeTicks(vtSymbols, { again = false } = {}) {
    const fresh = again ? vtSymbols : vtSymbols.filter((symbol) => !this.ticks.has(symbol));
    for (const symbol of fresh) this.ticks.add(symbol);
    if (fresh.length && this.authenticated) this.message({ subscribeTicks: { vtSymbols: fresh } });
  }

  unsubscribeTicks(vtSymbols) {
    const known = vtSymbols.filter((symbol) => this.ticks.delete(symbol));
    if (known.length && this.authenticated) this.message({ unsubscribeTicks: { vtSymbols: known } });
  }

  // -- socket events --------------------------------------------------------

  onOpen(token) {
    this.token = token;
    this.authFailed = false;
    this.status("authenticating");
    this.message({ auth: { token } });
  }

  onClose(code, reason) {
    const wasConnected = this.stats.connected;
    this.authenticated = false;
    this.stats.connected = false;
    this.pending.clear();
    for (const group of this.groups.values()) {
      group.lastSeq = null;
      group.awaitingSnapshot = false;
    }
    if (wasConnected) this.stats.reconnects += 1;
    this.status(this.authFailed ? "authFailed" : "disconnected", reason || `closed (${code})`);
  }

  // One binary WebSocket frame. A malformed frame is counted, never thrown.
  onFrame(data) {
    const size = data.byteLength ?? data.length ?? 0;
    this.stats.frames += 1;
    this.stats.bytes += size;
    try {
      if (!(data instanceof ArrayBuffer) && !ArrayBuffer.isView(data)) throw new TypeError("text frame");
      const message = readMessage(data, "ServerMessage");
      const member = message.which();
      if (member === "groupFrame") this.onGroupFrame(message.get("groupFrame"), size);
      else if (member === "groupInfo") this.onGroupInfo(message.get("groupInfo"));
      else if (member === "ack") this.onAck(message.get("ack"), message.get("envelope").get("correlationId"));
      else if (member === "error") this.onError(message.get("error"), message.get("envelope").get("correlationId"));
      else if (member === "tickDetail") this.onTickDetail(message.get("tickDetail"));
      else if (member === "groupStatus") this.onGroupStatus(message.get("groupStatus"));
      else if (member === "pong") this.onPong(message.get("pong"), message.get("envelope"));
      else if (member !== null && member !== undefined) this.onOther(member, message);
    } catch (error) {
      this.stats.decodeErrors += 1;
      this.stats.lastError = `${error.name}: ${error.message}`;
    }
  }

  // A pong: the round trip, a clock offset sample, and the desk's built → sent figures of this socket.
  onPong(pong, envelope) {
    const now = this.now();
    const sentMs = nsToMs(pong.get("clientTsNs"));
    this.stats.rttMs = now - sentMs;
    this.clock.observe(sentMs, nsToMs(envelope.get("sentTsNs")), now);
    if (this.clock.known) {
      this.stats.clockOffsetMs = this.clock.offsetMs;
      this.stats.clockRoundTripMs = this.clock.roundTripMs;
    }
    const send = pong.get("socketSend");
    if (send !== null && send !== undefined) {
      this.stats.socketSend = { p50Ms: nsToMs(send.get("p50Ns")), p95Ms: nsToMs(send.get("p95Ns")),
        p99Ms: nsToMs(send.get("p99Ns")), samples: send.get("samples") };
    }
  }

  // Every tick of a followed contract since the last one (history: the recent ticks, once).
  onTickDetail(detail) {
    const vtSymbol = detail.get("vtSymbol");
    if (!this.ticks.has(vtSymbol)) return;
    const rows = detail.get("ticks");
    const n = rows.get("lastPrices").length;
    const message = { type: "ticks", vtSymbol, history: detail.get("history") };
    const transfer = [];
    for (const [key, list] of Object.entries(COLUMNS)) {
      const values = rows.get(list);
      if (values.length !== n) throw new RangeError(`tick column ${key} has ${values.length} rows, not ${n}`);
      message[key] = Float64Array.from(values);
      transfer.push(message[key].buffer);
    }
    const stamps = rows.get("exchangeTsNs");
    if (stamps.length !== n) throw new RangeError(`tick stamps have ${stamps.length} rows, not ${n}`);
    message.exchangeMs = Float64Array.from(stamps, (ns) => Number(ns) / 1e6);
    transfer.push(message.exchangeMs.buffer);
    // Five levels per tick, tick-major (DepthColumns); absent or of another length: not sent.
    const depth = detail.get("depth");
    for (const [key, list] of Object.entries(DEPTH_COLUMNS)) {
      const values = depth ? depth.get(list) : null;
      message[key] = values && values.length === n * DEPTH_LEVELS ? Float64Array.from(values) : new Float64Array(0);
      transfer.push(message[key].buffer);
    }
    this.post(message, transfer);
  }

  // Any other member (order path, accounts, risk): posted as a plain object.
  onOther(member, message) {
    this.stats.messages += 1;
    const correlationId = message.get("envelope").get("correlationId");
    this.post({ type: "message", member, correlationId, body: toPlain(message.get(member)) });
  }

  onAck(ack, correlationId) {
    this.pending.delete(correlationId); // errors for a subscribe come before its ack
    if (!FEED_ACKS.has(ack.get("of"))) {
      this.post({ type: "message", member: "ack", correlationId, body: toPlain(ack) });
      return;
    }
    if (ack.get("of") !== "auth" || this.authenticated) return;
    this.authenticated = true;
    this.stats.connected = true;
    this.status("live");
    for (const name of this.groups.keys()) this.sendSubscribe(name);
    if (this.ticks.size) this.message({ subscribeTicks: { vtSymbols: [...this.ticks] } });
  }

  onError(error, correlationId) {
    const code = error.get("code"), text = error.get("message");
    if (!this.authenticated && AUTH_FAILURES.has(code)) {
      this.authFailed = true;
      this.status("authFailed", text);
      return;
    }
    const group = this.pending.get(correlationId);
    if (group !== undefined && code === "unknownGroup") this.groups.delete(group);
    this.post({ type: "error", group: group ?? null, code: String(code), message: text, correlationId });
  }

  onGroupInfo(info) {
    const group = this.groups.get(info.get("group"));
    if (group === undefined) return;
    const firstIndex = info.get("firstIndex");
    const list = info.get("instruments");
    if (firstIndex + list.length > MAX_ROWS) throw new RangeError(`groupInfo reaches row ${firstIndex + list.length}, over ${MAX_ROWS}`);
    const instruments = list.map((item) => ({
      vtSymbol: item.get("vtSymbol"), symbol: item.get("symbol"), exchange: item.get("exchange"),
      product: item.get("product"), productClass: item.get("productClass"),
      priceTick: item.get("priceTick"), multiplier: item.get("multiplier"), name: item.get("name"),
      optionStrike: item.get("optionStrike"), optionExpiryMs: Number(item.get("optionExpiryTsNs") / 1_000_000n),
      optionType: item.get("optionType"), optionUnderlying: item.get("optionUnderlying"),
    }));
    if (firstIndex === 0) {
      group.instruments = instruments;
      group.reset();
    } else {
      group.instruments.length = Math.max(group.instruments.length, firstIndex);
      group.instruments.splice(firstIndex, instruments.length, ...instruments);
    }
    group.version = info.get("version");
    group.ensure(group.instruments.length);
    this.post(group.infoMessage(firstIndex === 0));
  }

  onGroupStatus(status) {
    const group = this.groups.get(status.get("group"));
    if (group === undefined) return;
    const dataNs = Number(status.get("dataTsNs"));
    group.liveness = { type: "groupStatus", group: group.name, state: String(status.get("state")),
      reason: status.get("reason"), sinceMs: Number(status.get("sinceTsNs")) / 1e6, dataMs: dataNs ? dataNs / 1e6 : NaN };
    this.post({ ...group.liveness });
  }

  // After applying a hashed frame: compare the state's CRC-32 with the server's.
  checkIntegrity(group, frame) {
    if (frame.get("infoVersion") !== group.version) return; // rows of an instrument list not seen yet
    this.stats.integrityChecks += 1;
    const expected = frame.get("stateCrc32") >>> 0;
    if (stateCrc32(group.columns, group.instruments.length) === expected) {
      if (group.mismatchMs !== null) {
        this.stats.integrityHeals += 1;
        this.stats.lastHealMs = this.now() - group.mismatchMs;
        group.mismatchMs = null;
      }
      return;
    }
    this.stats.integrityMismatches += 1;
    this.stats.lastError = `integrity: ${group.name} state differs from the server's at seq ${frame.get("seq")}`;
    if (group.mismatchMs === null) group.mismatchMs = this.now();
    group.awaitingSnapshot = true;
    this.message({ snapshotRequest: { group: group.name } });
  }

  onGroupFrame(frame, size = 0) {
    const group = this.groups.get(frame.get("group"));
    if (group === undefined) return; // a frame for a group unsubscribed meanwhile
    group.bytes += size;
    const seq = frame.get("seq");
    const epoch = frame.get("epoch");
    const now = this.now();
    const reset = epoch < group.epoch && now - group.epochHeardMs >= EPOCH_RESET_MS;
    if (epoch < group.epoch && !reset) {
      this.stats.staleEpochFrames += 1; // an old leader still speaking
      return;
    }
    group.epochHeardMs = now;
    if (reset) this.stats.epochResets += 1;
    if (epoch > group.epoch || reset) {
      const hadState = group.lastSeq !== null;
      if (group.epoch !== 0n) this.stats.epochChanges += 1;
      group.epoch = epoch;
      if (hadState && frame.get("kind") !== "snapshot") { // the new leader's seqs are not ours: resync as on a gap
        group.awaitingSnapshot = true;
        this.message({ snapshotRequest: { group: group.name } });
        return;
      }
    }
    if (frame.get("kind") === "snapshot") {
      this.stats.snapshots += 1;
      group.awaitingSnapshot = false;
    } else if (group.awaitingSnapshot || group.lastSeq === null) {
      this.stats.ignoredDeltas += 1;
      return;
    } else if (seq <= group.lastSeq) {
      this.stats.staleDeltas += 1;
      return;
    } else if (seq !== group.lastSeq + 1n) {
      this.stats.gaps += 1;
      group.awaitingSnapshot = true;
      this.message({ snapshotRequest: { group: group.name } });
      return;
    }
    const isDelta = frame.get("kind") === "delta";
    const conflatedBefore = group.conflated;
    const newestMs = group.apply(frame.get("rows"));
    if (Number.isFinite(newestMs) && !(group.heardMs >= newestMs)) group.heardMs = newestMs;
    this.stats.conflations += group.conflated - conflatedBefore;
    group.lastSeq = seq;
    const skewMs = nsToMs(frame.get("exchangeSkewNs"));
    if (skewMs !== 0) this.stats.exchangeSkewMs[group.name] = skewMs;
    if (frame.get("stateHashed")) this.checkIntegrity(group, frame);
    // Latency sample: deltas only. A snapshot carries every row, so its newest
    // tick can be arbitrarily old in a quiet group and would say nothing about delivery.
    if (isDelta && Number.isFinite(newestMs)) {
      const decodedMs = this.now();
      const latencyMs = decodedMs - newestMs;
      this.stats.lastLatencyMs = latencyMs;
      this.latencySamplesMs.push(latencyMs);
      if (group.frameMs.length < MAX_FRAME_STAMPS) {
        group.frameMs.push(newestMs);
        group.frameDecodedMs.push(decodedMs);
      }
      const hops = frameHops({ exchangeMs: group.newestExchangeMs, venueMs: newestMs, skewMs,
        builtMs: nsToMs(frame.get("builtTsNs")), decodedMs, offsetMs: this.clock.offsetMs });
      for (const key of WORKER_HOPS) if (Number.isFinite(hops[key])) this.hopSamplesMs[key].push(hops[key]);
    }
  }

  // -- timers (driven by ui/worker.js) -------------------------------------

  // Post changed rows (typed arrays, transferred) and stats; at most once per call.
  // Each batch: {group, indexes: Uint32Array, last...openInterest: Float64Array, gatewayMs, decodedMs: Float64Array}.
  flush() {
    const batches = [], transfer = [];
    for (const group of this.groups.values()) {
      if (group.dirtyRows.length === 0) continue;
      const batch = group.takeChanges();
      batches.push(batch);
      for (const value of Object.values(batch)) if (ArrayBuffer.isView(value)) transfer.push(value.buffer);
    }
    const now = this.now();
    if (batches.length === 0 && this.latencySamplesMs.length === 0 && now - this.lastStatsMs < STATS_INTERVAL_MS) return;
    const latencyMs = Float64Array.from(this.latencySamplesMs);
    this.latencySamplesMs = [];
    this.lastStatsMs = now;
    transfer.push(latencyMs.buffer);
    const hopsMs = {};
    for (const key of WORKER_HOPS) {
      hopsMs[key] = Float64Array.from(this.hopSamplesMs[key]);
      this.hopSamplesMs[key] = [];
      transfer.push(hopsMs[key].buffer);
    }
    const heardMs = Object.fromEntries([...this.groups.values()].map((group) => [group.name, group.heardMs]));
    this.post({ type: "rows", batches, latencyMs, hopsMs, heardMs,
      stats: { ...this.stats, exchangeSkewMs: { ...this.stats.exchangeSkewMs } } }, transfer);
  }

  ping() {
    if (this.authenticated) this.message({ ping: { clientTsNs: BigInt(Math.round(this.now() * 1e6)) } });
  }

  // -- helpers --------------------------------------------------------------

  // token: the one this connection authenticates with, so a tab that has signed in again since can tell
  // a refusal of its old token (still in flight from the worker) from one of its new token.
  status(state, detail = "") {
    this.post({ type: "status", state, detail, token: this.token, stats: { ...this.stats } });
  }

  sendSubscribe(name) {
    const id = this.message({ subscribe: { groups: [name] } });
    this.pending.set(id, name);
    this.sendViewport(name);
  }

  message(body) {
    this.nextId += 1;
    const id = BigInt(this.nextId);
    this.send(buildMessage("ClientMessage", {
      ...body,
      envelope: { id, sentTsNs: BigInt(Math.round(this.now() * 1e6)), schemaVersion: SCHEMA_VERSION, source: "web" },
    }));
    return id;
  }

  // The groupInfo message and every known row of a group, for a tab that joins it late.
  current(name) {
    const group = this.groups.get(name);
    if (group === undefined || group.instruments.length === 0) return null;
    return { info: group.infoMessage(true), batch: group.takeAll(), liveness: group.liveness };
  }

  // Bytes received per group (frames only), {group: bytes}.
  groupBytes() {
    return Object.fromEntries([...this.groups.values()].map((group) => [group.name, group.bytes]));
  }

  // Current state of one group as plain rows (tests, debugging).
  rows(name) {
    const group = this.groups.get(name);
    if (group === undefined) return [];
    return group.instruments.map((instrument, row) => ({
      vtSymbol: instrument?.vtSymbol ?? null,
      ...Object.fromEntries(Object.keys(COLUMNS).map((key) => [key, row < group.capacity ? group.columns[key][row] : NaN])),
    }));
  }
}
