// The canonical hash of a group's L1 state, as schemas/state_hash.py computes it
// (GroupFrame.stateCrc32, layout in schemas/market.capnp): CRC-32 (IEEE 802.3,
// zlib's) over n as uint32 little-endian, then per column (last, bid, ask,
// bidVolume, askVolume, volume, openInterest = lastPrices ... openInterestsLots)
// n float64 little-endian values, NaN written as 0x7FF8000000000000. Plain JS:
// WebCrypto is missing on plain-http LAN origins, and it has no CRC-32 anyway.
// Little-endian hosts only, as ui/capnp.js.

export const HASHED_KEYS = Object.freeze(["last", "bid", "ask", "bidVolume", "askVolume", "volume", "openInterest"]);

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

// CRC-32 of bytes (Uint8Array), continuing from crc (as zlib.crc32(bytes, crc)).
export function crc32(bytes, crc = 0) {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

let scratch = new Float64Array(0);

// CRC-32 of rows 0..n-1 of columns ({last: Float64Array, ...}); rows past a column's length count as NaN.
export function stateCrc32(columns, n) {
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, n, true);
  let crc = crc32(head);
  if (scratch.length < n) scratch = new Float64Array(n);
  const values = scratch.subarray(0, n);
  const words = new Uint32Array(values.buffer, values.byteOffset, n * 2);
  const bytes = new Uint8Array(values.buffer, values.byteOffset, n * 8);
  for (const key of HASHED_KEYS) {
    const column = columns[key];
    const known = Math.min(n, column.length);
    values.set(column.subarray(0, known));
    values.fill(NaN, known);
    for (let i = 0; i < n; i++) {
      if (values[i] !== values[i]) {
        words[2 * i] = 0;
        words[2 * i + 1] = 0x7ff80000;
      }
    }
    crc = crc32(bytes, crc);
  }
  return crc;
}
