// One group's L1 state in the worker (ui/feed.js): typed-array columns, the rows
// changed since the tabs last took them, and the group's sequence state.

// Page-side column name → L1Columns list (schemas/market.capnp). All float64, NaN = no value yet.
export const COLUMNS = Object.freeze({
  last: "lastPrices", bid: "bidPrices", ask: "askPrices", bidVolume: "bidVolumesLots",
  askVolume: "askVolumesLots", volume: "volumesLots", openInterest: "openInterestsLots",
});
export const MAX_ROWS = 1 << 20; // a row index past this is treated as malformed

export class GroupState {
  constructor(name) {
    this.name = name;
    this.version = 0;
    this.instruments = [];
    this.capacity = 0;
    this.columns = Object.fromEntries(Object.keys(COLUMNS).map((key) => [key, new Float64Array(0)]));
    this.dirty = new Uint8Array(0);
    this.dirtyRows = [];
    this.frameMs = []; // newest gateway receive time (ms since epoch) of each delta since the last take
    this.frameDecodedMs = []; // when the worker decoded each of those deltas (browser clock, ms since epoch)
    this.newestExchangeMs = NaN; // exchange time of the last applied frame's newest tick (exchange clock, ms)
    this.conflated = 0; // row updates superseded before they reached a tab
    this.bytes = 0; // frame bytes received for this group
    this.lastSeq = null; // BigInt of the last applied frame; null until a snapshot
    this.awaitingSnapshot = false;
    this.epoch = 0n; // BigInt: the newest aggregator lease epoch seen (GroupFrame.epoch; 0 in process)
    this.epochHeardMs = NaN; // browser clock of the last frame of that epoch (ms since epoch): an epoch reset's silence
    this.liveness = null; // the last groupStatus, as posted to the page
    this.heardMs = NaN; // gateway receive time of the newest tick applied, ms since epoch
    this.mismatchMs = null; // when an integrity mismatch was seen and not yet healed, ms since epoch
  }

  ensure(rows) {
    if (rows <= this.capacity) return;
    const capacity = Math.max(rows, Math.min(MAX_ROWS, this.capacity * 2), 16);
    for (const key of Object.keys(this.columns)) {
      const grown = new Float64Array(capacity).fill(NaN);
      grown.set(this.columns[key]);
      this.columns[key] = grown;
    }
    const dirty = new Uint8Array(capacity);
    dirty.set(this.dirty);
    this.dirty = dirty;
    this.capacity = capacity;
  }

  reset() {
    for (const column of Object.values(this.columns)) column.fill(NaN);
    this.dirty.fill(0);
    this.dirtyRows.length = 0;
  }

  // Apply one frame's L1Columns; return the newest gateway timestamp (ms since epoch) or NaN,
  // and keep that tick's exchange time in newestExchangeMs (NaN without one).
  apply(rows) {
    const indexes = rows.get("indexes");
    const n = indexes.length;
    const wire = Object.entries(COLUMNS).map(([key, list]) => [key, rows.get(list)]);
    const gateway = rows.get("gatewayRecvTsNs");
    let maxIndex = -1;
    for (let i = 0; i < n; i++) if (indexes[i] > maxIndex) maxIndex = indexes[i];
    for (const [key, values] of wire) {
      if (values.length !== n) throw new RangeError(`column ${key} has ${values.length} rows, indexes ${n}`);
    }
    if (maxIndex >= MAX_ROWS) throw new RangeError(`row index ${maxIndex} over ${MAX_ROWS}`);
    this.ensure(maxIndex + 1);
    for (const [key, values] of wire) {
      const column = this.columns[key];
      for (let i = 0; i < n; i++) column[indexes[i]] = values[i];
    }
    for (let i = 0; i < n; i++) {
      const row = indexes[i];
      if (this.dirty[row] === 0) {
        this.dirty[row] = 1;
        this.dirtyRows.push(row);
      } else {
        this.conflated += 1;
      }
    }
    const newest = gateway.length === n ? newestIndex(gateway) : -1;
    const exchange = rows.get("exchangeTsNs");
    this.newestExchangeMs = newest >= 0 && exchange.length === n ? msAt(exchange, newest) : NaN;
    return newest >= 0 ? msAt(gateway, newest) : NaN;
  }

  // Take the changed rows as compact typed arrays (transferable) and clear the dirty set.
  // gatewayMs: newest tick's gateway receive time (ms since epoch) of each delta merged in;
  // decodedMs: when the worker decoded each of those deltas (browser clock, same order).
  takeChanges() {
    const rows = this.dirtyRows;
    const batch = this.batchOf(rows);
    batch.gatewayMs = Float64Array.from(this.frameMs);
    batch.decodedMs = Float64Array.from(this.frameDecodedMs);
    for (const row of rows) this.dirty[row] = 0;
    this.dirtyRows = [];
    this.frameMs = [];
    this.frameDecodedMs = [];
    return batch;
  }

  // Every row with a value, as one batch (for a tab that joins a group already live).
  takeAll() {
    const rows = [];
    const last = this.columns.last, bid = this.columns.bid;
    for (let row = 0; row < Math.min(this.capacity, this.instruments.length); row++) {
      if (last[row] === last[row] || bid[row] === bid[row]) rows.push(row);
    }
    const batch = this.batchOf(rows);
    batch.gatewayMs = new Float64Array(0);
    batch.decodedMs = new Float64Array(0);
    return batch;
  }

  batchOf(rows) {
    const batch = { group: this.name, indexes: Uint32Array.from(rows) };
    for (const [key, column] of Object.entries(this.columns)) {
      const values = new Float64Array(rows.length);
      for (let i = 0; i < rows.length; i++) values[i] = column[rows[i]];
      batch[key] = values;
    }
    return batch;
  }

  infoMessage(reset) {
    return { type: "groupInfo", group: this.name, version: this.version, reset,
      instruments: Array.from(this.instruments, (item) => item ?? null) };
  }
}

// Index of the newest non-zero Int64 ns timestamp (-1: none). Reads the BigInt64Array's
// bytes as int32 pairs to avoid allocating a BigInt per row (ms precision is plenty;
// ui/capnp.js only runs on little-endian hosts).
function newestIndex(timestamps) {
  let newest = -Infinity, index = -1;
  const pairs = new Int32Array(timestamps.buffer, timestamps.byteOffset, timestamps.length * 2); // little-endian: low, high
  for (let i = 0; i < pairs.length; i += 2) {
    const ns = pairs[i + 1] * 4294967296 + (pairs[i] >>> 0);
    if (ns > newest && ns !== 0) {
      newest = ns;
      index = i / 2;
    }
  }
  return index;
}

// One Int64 ns timestamp of a BigInt64Array as ms since epoch (NaN for 0: not stamped).
function msAt(timestamps, i) {
  const pairs = new Int32Array(timestamps.buffer, timestamps.byteOffset + i * 8, 2);
  const ns = pairs[1] * 4294967296 + (pairs[0] >>> 0);
  return ns === 0 ? NaN : ns / 1e6;
}
