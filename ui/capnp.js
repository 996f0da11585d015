// A small, bounds-checked Cap'n Proto reader and single-segment builder,
// driven by schema_layout.js (generated from schemas/*.capnp by
// `python -m schemas.jslayout`). Unpacked messages only (one per WebSocket frame).
//
// Reading: readMessage(bytes, "ServerMessage") returns a StructReader;
// reader.which() names the active union member, reader.get(field) returns
// numbers (64-bit integers as BigInt), strings, enum names, nested
// StructReaders, and primitive lists as typed-array views over the message
// (Float64Array, Uint32Array, BigInt64Array, ...: no copy). Absent pointers
// read as defaults ("" / empty list / all-default struct), like C++ capnp.
//
// Anything malformed throws CapnpError and nothing else: segment table (at
// most 512 segments, sizes within the input), every pointer target inside its
// segment, far and double-far landing pads, element sizes matching the schema,
// nesting depth, and a traversal budget proportional to the input size, so a
// hostile frame cannot make the reader allocate or loop more than its own size
// implies (zero-sized list elements are charged one word each).

import { ENUMS, STRUCTS } from "./schema_layout.js";

// Typed-array views read the wire's little-endian values natively: true on every
// platform browsers run on; refuse loudly anywhere else rather than misread.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("ui/capnp.js needs a little-endian host");

export class CapnpError extends Error {
  constructor(message) {
    super(message);
    this.name = "CapnpError";
  }
}

export const MAX_SEGMENTS = 512;
export const NESTING_LIMIT = 16;
const TEXT_DECODER = new TextDecoder("utf-8");
const TEXT_ENCODER = new TextEncoder();
const EMPTY = Object.freeze({ seg: 0, word: 0, dataWords: 0, pointerWords: 0 });
// element kind → [list element-size code, bytes, typed-array class]
const PRIMITIVES = {
  int8: [2, 1, Int8Array], uint8: [2, 1, Uint8Array], int16: [3, 2, Int16Array],
  uint16: [3, 2, Uint16Array], enum: [3, 2, Uint16Array], int32: [4, 4, Int32Array],
  uint32: [4, 4, Uint32Array], float32: [4, 4, Float32Array], int64: [5, 8, BigInt64Array],
  uint64: [5, 8, BigUint64Array], float64: [5, 8, Float64Array],
};
const fail = (message) => { throw new CapnpError(message); };
const emptyList = (element) => (PRIMITIVES[element.kind] ? new PRIMITIVES[element.kind][2](0) : []);

class Message {
  constructor(input, options) {
    let bytes;
    if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
    else if (ArrayBuffer.isView(input)) bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    else fail("message must be an ArrayBuffer or a typed array");
    if (bytes.byteOffset % 8 !== 0) bytes = bytes.slice(); // typed-array views need word alignment
    if (bytes.byteLength < 8 || bytes.byteLength % 8 !== 0) fail(`message of ${bytes.byteLength} bytes is not whole words`);
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const count = this.view.getUint32(0, true) + 1;
    if (count > (options.maxSegments ?? MAX_SEGMENTS)) fail(`${count} segments, limit ${options.maxSegments ?? MAX_SEGMENTS}`);
    let offset = 8 * Math.ceil((4 + 4 * count) / 8);
    if (offset > bytes.byteLength) fail("truncated segment table");
    this.starts = [];
    this.words = [];
    for (let i = 0; i < count; i++) {
      const words = this.view.getUint32(4 + 4 * i, true);
      this.starts.push(offset);
      this.words.push(words);
      offset += 8 * words;
      if (offset > bytes.byteLength) fail(`segment ${i} claims bytes past the end of the message`);
    }
    if (offset !== bytes.byteLength) fail(`${bytes.byteLength - offset} trailing bytes after the message`);
    this.budget = options.traversalLimitWords ?? 4 * (bytes.byteLength / 8) + 64;
    this.nestingLimit = options.nestingLimit ?? NESTING_LIMIT;
  }

  charge(words) {
    this.budget -= Math.max(words, 1);
    if (this.budget < 0) fail("traversal limit exceeded");
  }

  check(seg, word, words) {
    if (!(word >= 0 && word + words <= this.words[seg])) fail(`pointer target outside segment ${seg}`);
  }

  at(seg, word) { return this.starts[seg] + 8 * word; } // absolute byte offset

  // Follow the pointer at (seg, word): null, or {seg, word, lo, hi} where word is
  // the object's first word and lo/hi the pointer (or far tag) describing it.
  resolve(seg, word) {
    this.check(seg, word, 1);
    const lo = this.view.getUint32(this.at(seg, word), true);
    const hi = this.view.getUint32(this.at(seg, word) + 4, true);
    if (lo === 0 && hi === 0) return null;
    const kind = lo & 3;
    if (kind === 3) fail("capability pointers are not supported");
    if (kind !== 2) return { seg, word: word + 1 + (lo >> 2), lo, hi };
    const padSeg = hi, padWord = lo >>> 3, double = (lo & 4) !== 0;
    if (padSeg >= this.words.length) fail(`far pointer to missing segment ${padSeg}`);
    this.check(padSeg, padWord, double ? 2 : 1);
    const plo = this.view.getUint32(this.at(padSeg, padWord), true);
    const phi = this.view.getUint32(this.at(padSeg, padWord) + 4, true);
    if (!double) {
      if ((plo & 3) === 2 || (plo & 3) === 3 || (plo === 0 && phi === 0)) fail("bad far-pointer landing pad");
      return { seg: padSeg, word: padWord + 1 + (plo >> 2), lo: plo, hi: phi };
    }
    if ((plo & 7) !== 2) fail("double-far landing pad is not a single far pointer");
    if (phi >= this.words.length) fail(`double-far pointer to missing segment ${phi}`);
    const tlo = this.view.getUint32(this.at(padSeg, padWord + 1), true);
    const thi = this.view.getUint32(this.at(padSeg, padWord + 1) + 4, true);
    if ((tlo & 3) >= 2) fail("double-far tag is not a struct or list pointer");
    return { seg: phi, word: plo >>> 3, lo: tlo, hi: thi };
  }

  struct(seg, word, layout, depth) {
    if (depth > this.nestingLimit) fail("nesting limit exceeded");
    const ptr = this.resolve(seg, word);
    if (ptr === null) return new StructReader(this, layout, EMPTY, depth);
    if ((ptr.lo & 3) !== 0) fail("expected a struct pointer");
    const shape = { seg: ptr.seg, word: ptr.word, dataWords: ptr.hi & 0xffff, pointerWords: ptr.hi >>> 16 };
    this.check(shape.seg, shape.word, shape.dataWords + shape.pointerWords);
    this.charge(shape.dataWords + shape.pointerWords);
    return new StructReader(this, layout, shape, depth);
  }

  list(seg, word, element, depth) {
    if (depth > this.nestingLimit) fail("nesting limit exceeded");
    const ptr = this.resolve(seg, word);
    const kind = element.kind;
    if (ptr === null) return emptyList(element);
    if ((ptr.lo & 3) !== 1) fail("expected a list pointer");
    const code = ptr.hi & 7, count = ptr.hi >>> 3;
    if (kind === "struct") return this.structList(ptr, code, count, STRUCTS[element.struct], depth);
    if (kind === "void") {
      if (code !== 0) fail("List(Void) with a non-void element size");
      this.charge(count);
      return new Array(count).fill(null);
    }
    if (kind === "bool") {
      if (code !== 1) fail("List(Bool) with a non-bit element size");
      this.check(ptr.seg, ptr.word, Math.ceil(count / 64));
      this.charge(Math.ceil(count / 64));
      const base = this.at(ptr.seg, ptr.word);
      return Uint8Array.from({ length: count }, (_, i) => (this.bytes[base + (i >> 3)] >> (i & 7)) & 1);
    }
    if (kind === "text" || kind === "data" || kind === "list") {
      if (code !== 6) fail("List of pointers with a non-pointer element size");
      this.check(ptr.seg, ptr.word, count);
      this.charge(count);
      const read = (i) => kind === "text" ? this.text(ptr.seg, ptr.word + i) : kind === "data" ? this.data(ptr.seg, ptr.word + i)
        : this.list(ptr.seg, ptr.word + i, element.element, depth + 1);
      return Array.from({ length: count }, (_, i) => read(i));
    }
    const [expected, size, Typed] = PRIMITIVES[kind];
    if (code !== expected) fail(`List(${kind}) with element size code ${code}`);
    const words = Math.ceil((count * size) / 8);
    this.check(ptr.seg, ptr.word, words);
    this.charge(words);
    return new Typed(this.bytes.buffer, this.bytes.byteOffset + this.at(ptr.seg, ptr.word), count);
  }

  structList(ptr, code, count, layout, depth) {
    let elementCount = count, dataWords, pointerWords, stepWords, first = ptr.word;
    if (code === 7) {
      this.check(ptr.seg, ptr.word, 1 + count);
      const tlo = this.view.getUint32(this.at(ptr.seg, ptr.word), true);
      const thi = this.view.getUint32(this.at(ptr.seg, ptr.word) + 4, true);
      if ((tlo & 3) !== 0) fail("inline-composite tag is not a struct");
      elementCount = tlo >>> 2;
      dataWords = thi & 0xffff;
      pointerWords = thi >>> 16;
      stepWords = dataWords + pointerWords;
      if (elementCount * stepWords > count) fail("inline-composite elements overrun the list");
      first = ptr.word + 1;
      this.charge(stepWords === 0 ? elementCount : count);
    } else if (code === 6 || code === 5 || code === 0) {
      [dataWords, pointerWords, stepWords] = code === 6 ? [0, 1, 1] : code === 5 ? [1, 0, 1] : [0, 0, 0];
      this.check(ptr.seg, ptr.word, count * stepWords);
      this.charge(code === 0 ? count : count * stepWords);
    } else {
      fail(`List(struct) with sub-word element size code ${code}`);
    }
    return Array.from({ length: elementCount }, (_, i) =>
      new StructReader(this, layout, { seg: ptr.seg, word: first + i * stepWords, dataWords, pointerWords }, depth + 1));
  }

  bytesOf(seg, word, what) {
    const ptr = this.resolve(seg, word);
    if (ptr === null) return null;
    if ((ptr.lo & 3) !== 1 || (ptr.hi & 7) !== 2) fail(`${what} is not a list of bytes`);
    const count = ptr.hi >>> 3;
    this.check(ptr.seg, ptr.word, Math.ceil(count / 8));
    this.charge(Math.ceil(count / 8));
    return this.bytes.subarray(this.at(ptr.seg, ptr.word), this.at(ptr.seg, ptr.word) + count);
  }

  text(seg, word) {
    const bytes = this.bytesOf(seg, word, "Text");
    if (bytes === null) return "";
    if (bytes.length === 0 || bytes[bytes.length - 1] !== 0) fail("Text is not NUL-terminated");
    return TEXT_DECODER.decode(bytes.subarray(0, bytes.length - 1));
  }

  data(seg, word) { return this.bytesOf(seg, word, "Data") ?? new Uint8Array(0); }
}

export class StructReader {
  constructor(message, layout, shape, depth) {
    this.message = message;
    this.layout = layout;
    this.shape = shape;
    this.depth = depth;
  }

  // Name of the active union member; null for an ordinal this schema does not know.
  which() {
    const offset = this.layout.discriminantByteOffset;
    if (offset === null) return undefined;
    return this.layout.union[this.uint(offset, 2)] ?? null;
  }

  uint(byteOffset, size) {
    const { message, shape } = this;
    if (byteOffset + size > shape.dataWords * 8) return size === 8 ? 0n : 0;
    const at = message.at(shape.seg, shape.word) + byteOffset;
    return size === 1 ? message.view.getUint8(at) : size === 2 ? message.view.getUint16(at, true)
      : size === 4 ? message.view.getUint32(at, true) : message.view.getBigUint64(at, true);
  }

  has(name) {
    const field = this.field(name);
    if (field.pointer === undefined) return true;
    if (field.pointer >= this.shape.pointerWords) return false;
    const at = this.message.at(this.shape.seg, this.shape.word + this.shape.dataWords + field.pointer);
    return this.message.view.getUint32(at, true) !== 0 || this.message.view.getUint32(at + 4, true) !== 0;
  }

  field(name) {
    const field = this.layout.fields[name];
    if (field === undefined) throw new TypeError(`no field ${name}`);
    if (field.discriminant !== undefined && this.uint(this.layout.discriminantByteOffset, 2) !== field.discriminant) {
      fail(`${name} is not the active union member`);
    }
    return field;
  }

  get(name) {
    const field = this.field(name);
    const { message, shape, depth } = this;
    const kind = field.kind;
    if (field.pointer !== undefined) {
      if (field.pointer >= shape.pointerWords) {
        if (kind === "struct") return new StructReader(message, STRUCTS[field.struct], EMPTY, depth + 1);
        return kind === "text" ? "" : kind === "data" ? new Uint8Array(0) : emptyList(field.element);
      }
      const word = shape.word + shape.dataWords + field.pointer;
      if (kind === "struct") return message.struct(shape.seg, word, STRUCTS[field.struct], depth + 1);
      if (kind === "text") return message.text(shape.seg, word);
      if (kind === "data") return message.data(shape.seg, word);
      return message.list(shape.seg, word, field.element, depth + 1);
    }
    if (kind === "void") return null;
    if (kind === "bool") {
      const byte = field.bitOffset >>> 3;
      return byte < shape.dataWords * 8 && ((this.uint(byte, 1) >> (field.bitOffset & 7)) & 1) === 1;
    }
    const [, size] = PRIMITIVES[kind];
    const raw = this.uint(field.byteOffset, size);
    switch (kind) {
      case "int8": return (raw << 24) >> 24;
      case "int16": return (raw << 16) >> 16;
      case "int32": return raw | 0;
      case "int64": return BigInt.asIntN(64, raw);
      case "float32": return new Float32Array(new Uint32Array([raw]).buffer)[0];
      case "float64": return new Float64Array(new BigUint64Array([raw]).buffer)[0];
      case "enum": return ENUMS[field.enum][raw] ?? raw;
      default: return raw;
    }
  }
}

// Decode one unpacked message. options: maxSegments, traversalLimitWords, nestingLimit.
export function readMessage(input, rootName, options = {}) {
  const layout = STRUCTS[rootName];
  if (layout === undefined) throw new TypeError(`no struct ${rootName}`);
  const message = new Message(input, options);
  if (message.words[0] < 1) fail("segment 0 has no root pointer");
  return message.struct(0, 0, layout, 0);
}

// Deep-copy a reader into plain objects (all non-union fields and the active
// union member; typed arrays stay typed arrays). For tests and debugging.
export function toPlain(reader) {
  if (!(reader instanceof StructReader)) {
    return Array.isArray(reader) ? reader.map(toPlain) : reader;
  }
  const active = reader.which();
  const out = {};
  for (const [name, field] of Object.entries(reader.layout.fields)) {
    if (field.discriminant !== undefined && name !== active) continue;
    out[name] = toPlain(reader.get(name));
  }
  return out;
}

// ---- Builder: one segment, enough for ClientMessage (auth, subscribe, ping, ...). ----
// buildMessage("ClientMessage", {ping: {clientTsNs: 5n}, envelope: {id: 1n, ...}})
// returns the unpacked message as a Uint8Array. Fields not given stay default;
// 64-bit integers take BigInt or safe-integer numbers, enums take names or ordinals.
class Builder {
  constructor() {
    this.bytes = new Uint8Array(512);
    this.view = new DataView(this.bytes.buffer);
    this.used = 0; // words
  }

  alloc(words) {
    const at = this.used;
    this.used += words;
    if (this.used * 8 > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.used * 8));
      grown.set(this.bytes);
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    return at;
  }

  pointer(word, target, kind, hi) {
    this.view.setUint32(word * 8, (((target - word - 1) << 2) | kind) >>> 0, true);
    this.view.setUint32(word * 8 + 4, hi >>> 0, true);
  }

  struct(pointerWord, layout, value) {
    const at = this.alloc(layout.dataWords + layout.pointerWords);
    this.pointer(pointerWord, at, 0, layout.dataWords | (layout.pointerWords << 16));
    this.fill(at, layout, value);
  }

  fill(at, layout, value) {
    let member = null;
    for (const [name, fieldValue] of Object.entries(value)) {
      const field = layout.fields[name];
      if (field === undefined) throw new TypeError(`no field ${name}`);
      if (field.discriminant !== undefined) {
        if (member !== null) throw new TypeError(`union members ${member} and ${name} both set`);
        member = name;
        this.view.setUint16(at * 8 + layout.discriminantByteOffset, field.discriminant, true);
      }
      if (field.pointer !== undefined) this.pointerField(at + layout.dataWords + field.pointer, field, fieldValue);
      else this.scalar(at * 8, field, fieldValue);
    }
  }

  pointerField(word, type, value) {
    if (type.kind === "struct") this.struct(word, STRUCTS[type.struct], value);
    else if (type.kind === "text") this.byteList(word, [...TEXT_ENCODER.encode(value), 0]);
    else if (type.kind === "data") this.byteList(word, value);
    else this.list(word, type.element, value);
  }

  byteList(word, bytes) {
    const at = this.alloc(Math.ceil(bytes.length / 8));
    this.pointer(word, at, 1, 2 | (bytes.length << 3));
    this.bytes.set(bytes, at * 8);
  }

  list(word, element, values) {
    const count = values.length;
    if (count >= 2 ** 29) throw new RangeError("list too long");
    if (element.kind === "struct") {
      const layout = STRUCTS[element.struct], step = layout.dataWords + layout.pointerWords;
      const at = this.alloc(1 + count * step);
      this.pointer(word, at, 1, 7 | ((count * step) << 3));
      this.view.setUint32(at * 8, count << 2, true);
      this.view.setUint32(at * 8 + 4, layout.dataWords | (layout.pointerWords << 16), true);
      for (let i = 0; i < count; i++) this.fill(at + 1 + i * step, layout, values[i]);
    } else if (element.kind === "text" || element.kind === "data" || element.kind === "list") {
      const at = this.alloc(count);
      this.pointer(word, at, 1, 6 | (count << 3));
      for (let i = 0; i < count; i++) this.pointerField(at + i, element, values[i]);
    } else if (PRIMITIVES[element.kind]) {
      const [code, size] = PRIMITIVES[element.kind];
      const at = this.alloc(Math.ceil((count * size) / 8));
      this.pointer(word, at, 1, code | (count << 3));
      for (let i = 0; i < count; i++) this.scalar(at * 8 + i * size, { kind: element.kind, enum: element.enum, byteOffset: 0 }, values[i]);
    } else {
      throw new TypeError(`cannot build List(${element.kind})`);
    }
  }

  scalar(base, field, value) {
    const at = base + (field.byteOffset ?? 0), v = this.view;
    switch (field.kind) {
      case "void": return;
      case "bool": if (value) this.bytes[base + (field.bitOffset >>> 3)] |= 1 << (field.bitOffset & 7); return;
      case "int8": case "uint8": v.setUint8(at, Number(value) & 0xff); return;
      case "int16": case "uint16": v.setUint16(at, Number(value) & 0xffff, true); return;
      case "int32": case "uint32": v.setUint32(at, Number(value) >>> 0, true); return;
      case "float32": v.setFloat32(at, value, true); return;
      case "float64": v.setFloat64(at, value, true); return;
      case "int64": case "uint64": v.setBigUint64(at, BigInt.asUintN(64, BigInt(value)), true); return;
      case "enum": {
        const ordinal = typeof value === "string" ? ENUMS[field.enum].indexOf(value) : value;
        if (!(ordinal >= 0)) throw new TypeError(`no ${field.enum} named ${value}`);
        v.setUint16(at, ordinal, true);
        return;
      }
      default: throw new TypeError(`cannot build a ${field.kind} field`);
    }
  }

  toBytes() {
    const out = new Uint8Array(8 + this.used * 8);
    const header = new DataView(out.buffer);
    header.setUint32(0, 0, true); // one segment
    header.setUint32(4, this.used, true);
    out.set(this.bytes.subarray(0, this.used * 8), 8);
    return out;
  }
}

export function buildMessage(rootName, value) {
  const layout = STRUCTS[rootName];
  if (layout === undefined) throw new TypeError(`no struct ${rootName}`);
  const builder = new Builder();
  builder.alloc(1);
  builder.struct(0, layout, value);
  return builder.toBytes();
}
