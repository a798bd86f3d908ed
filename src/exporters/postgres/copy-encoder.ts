// Flows → COPY text bytes, written straight into one growing byte buffer per chunk of rows.
//
// The output is byte for byte what `encodeFlow` (rows.ts, the reference) gives once UTF-8
// encoded; tests compare the two on ordinary and odd flows. Why a second encoder: building a
// JS string per row (dozens of concatenations, then joining and UTF-8 encoding them) cost more
// than the server's work on the row. Here every value is scanned once, escaped and UTF-8 encoded
// in the same loop, directly into bytes:
// - strings take a fast loop for the common case (no NUL, no surrogate; COPY's escapes inline);
//   anything else rewinds and goes through the reference functions (cleanString, copyEscape,
//   JSON.stringify), so the odd cases share the reference's exact semantics;
// - the attribute keys of a flow usually come in the same order as the previous flow's (reduce
//   and k8sattributes build them the same way), so the key → column plan of the last key
//   sequence is kept and checked key by key (internalised strings: a pointer compare) instead
//   of a map lookup per key; a JSON key's escaped bytes are kept with the plan;
// - flows of one interval share start and end times: the last few formatted timestamps are kept.
import { isIP } from 'node:net';
import { K8S_NODE_NAME, usdText, type AttributeValue, type Flow } from '../../model/index.ts';
import { cidrError } from '../../model/cidr.ts';
import {
  ATTRIBUTE_COLUMNS,
  cleanString,
  copyEscape,
  jsonKey,
  jsonValue,
  timestampText,
  whyNotStorable,
  type Kind,
} from './rows.ts';

const TAB = 0x09;
const NEWLINE = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const COMMA = 0x2c;
const DOT = 0x2e;
const ZERO = 0x30;

const COLUMN_COUNT = ATTRIBUTE_COLUMNS.length;
const COLUMN_OF = new Map<string, number>(ATTRIBUTE_COLUMNS.map(([, key], i) => [key, i]));
const KIND_CODE: Record<Kind, number> = { text: 0, inet: 1, port: 2, bool: 3 };
const COLUMN_KINDS = Int8Array.from(ATTRIBUTE_COLUMNS, ([, , kind]) => KIND_CODE[kind]);
/** Plan slot of the node key (its own column, before the attribute columns). */
const NODE_SLOT = -2;
/** Plan slot of a key with no column: it goes to `attributes`. */
const JSON_SLOT = -1;

/** Worst-case bytes per UTF-16 code unit: a control character in JSON, `\u0001`, COPY-escaped. */
const MAX_BYTES_PER_UNIT = 7;
/** Most bytes of a value beyond its string's units: quotes, a number's text, separators. */
const VALUE_MAX_BYTES = 40;
/** Most bytes of a row's fixed part: timestamps, tabs, NULLs, counters, braces. */
const ROW_FIXED_MAX_BYTES = 512;
const INITIAL_BYTES = 1 << 20;
const SHRINK_ABOVE_BYTES = 1 << 24;

/** Same verdict as node's isIPv4 (four 0..255 segments, no leading zeros), without a regex. */
function isIPv4(s: string): boolean {
  const n = s.length;
  if (n < 7 || n > 15) return false;
  let segments = 0;
  let i = 0;
  for (;;) {
    const first = s.charCodeAt(i) - ZERO;
    if (first < 0 || first > 9) return false;
    let value = first;
    let digits = 1;
    i++;
    while (i < n) {
      const d = s.charCodeAt(i) - ZERO;
      if (d < 0 || d > 9) break;
      if (first === 0 || digits === 3) return false;
      value = value * 10 + d;
      digits++;
      i++;
    }
    if (value > 255) return false;
    segments++;
    if (i === n) return segments === 4;
    if (segments === 4 || s.charCodeAt(i) !== DOT) return false;
    i++;
    if (i === n) return false;
  }
}

/** An IP address, or a prefix (`104.16.3.0/24`): what an inet column holds. */
function isAddress(v: AttributeValue): boolean {
  return typeof v === 'string' && (isIPv4(v) || (v.includes(':') && isIP(v) === 6) || (v.includes('/') && cidrError(v) === undefined));
}

const PORT_TEXT = /^\d{1,5}$/;

/** The port a value stands for, or -1 when it is not one (the reference's `columnValue` rule). */
function portOf(v: AttributeValue): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && PORT_TEXT.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : -1;
}

/** 1 true, 0 false, -1 not a boolean. */
function boolOf(v: AttributeValue): number {
  return v === true || v === 'true' ? 1 : v === false || v === 'false' ? 0 : -1;
}

/** Whether the value goes into its column (else it stays in `attributes`). */
function fitsColumn(v: AttributeValue, kind: number): boolean {
  switch (kind) {
    case 0:
      return true;
    case 1:
      return isAddress(v);
    case 2:
      return portOf(v) >= 0;
    default:
      return boolOf(v) >= 0;
  }
}

/** Writes the 4 UTF-8 bytes of a surrogate pair at `p`; returns the position after them. */
function utf8Pair(b: Uint8Array, p: number, high: number, low: number): number {
  const cp = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
  b[p] = 0xf0 | (cp >> 18);
  b[p + 1] = 0x80 | ((cp >> 12) & 0x3f);
  b[p + 2] = 0x80 | ((cp >> 6) & 0x3f);
  b[p + 3] = 0x80 | (cp & 0x3f);
  return p + 4;
}

/**
 * Writes the UTF-8 of the non-ASCII code unit `c` = `s[i]` at `p` (with the low surrogate that
 * follows a high one); returns the position after it, or -1 for a lone surrogate, which the
 * callers send down the reference path. A pair consumed two code units: see `isHighSurrogate`.
 */
function writeNonAscii(b: Uint8Array, p: number, s: string, i: number, c: number): number {
  if (c < 0x800) {
    b[p] = 0xc0 | (c >> 6);
    b[p + 1] = 0x80 | (c & 0x3f);
    return p + 2;
  }
  if (c >= 0xd800 && c <= 0xdfff) {
    const low = c <= 0xdbff ? s.charCodeAt(i + 1) : 0;
    return low >= 0xdc00 && low <= 0xdfff ? utf8Pair(b, p, c, low) : -1;
  }
  b[p] = 0xe0 | (c >> 12);
  b[p + 1] = 0x80 | ((c >> 6) & 0x3f);
  b[p + 2] = 0x80 | (c & 0x3f);
  return p + 3;
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;

// NUL characters the reference path (cleanString) replaced by U+FFFD in the row being encoded:
// module state is safe because a row is encoded synchronously; `encode` collects it per row.
let rowNuls = 0;

function countNuls(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\0'); i >= 0; i = s.indexOf('\0', i + 1)) n++;
  return n;
}

// `"key":` of attribute keys, JSON and COPY escaped, as bytes (bounded: keys are a small set).
const JSON_KEY_BYTES = new Map<string, Uint8Array>();
const JSON_KEY_BYTES_MAX = 4096;
const UTF8 = new TextEncoder();

function jsonKeyBytes(key: string): Uint8Array {
  let bytes = JSON_KEY_BYTES.get(key);
  if (bytes === undefined) {
    bytes = UTF8.encode(copyEscape(jsonKey(key)));
    if (JSON_KEY_BYTES.size < JSON_KEY_BYTES_MAX) JSON_KEY_BYTES.set(key, bytes);
  }
  return bytes;
}

/** Rows in COPY text: whole lines, each ended by a newline. */
export interface EncodedChunk {
  bytes: Buffer;
  rows: number;
  /** UTC days (`YYYY-MM-DD`) of the rows' start times: the partitions they go to. */
  days: string[];
  /** NUL characters replaced by U+FFFD in these rows (PostgreSQL text and jsonb cannot hold NUL). */
  nulsReplaced: number;
}

interface CachedTime {
  unixNano: bigint;
  text: string;
  day: string;
}

export class CopyEncoder {
  #bytes = new Uint8Array(INITIAL_BYTES);
  #pos = 0;
  // The key → slot plan of the last key sequence; JSON keys' bytes (`"key":` COPY-escaped) by position.
  #planKeys: string[] = [];
  #planSlots: number[] = [];
  #planJsonKeys: Array<Uint8Array | undefined> = [];
  /** NULs in the plan's JSON keys by position (set with #planJsonKeys). */
  #planKeyNuls: number[] = [];
  // Per flow, scratch filled by #sortAttributes: column values by column, the row's keys and
  // slots by position, the positions of the keys that go to `attributes`, the node attribute.
  readonly #values: Array<AttributeValue | undefined> = new Array(COLUMN_COUNT).fill(undefined);
  readonly #rowKeys: string[] = [];
  readonly #rowSlots: number[] = [];
  readonly #jsonAt: number[] = [];
  #jsonCount = 0;
  #node: AttributeValue | undefined;

  #times: CachedTime[] = [];
  /** UTC days (`YYYY-MM-DD`) of the rows written since the last `take`. */
  readonly days = new Set<string>();
  /** Rows written since the last `take`. */
  rows = 0;
  /** NUL characters replaced since the last `take`. */
  #nulsReplaced = 0;

  /**
   * Appends one flow's row; returns why it cannot be stored instead (nothing written then).
   * `reportingNode` fills `node` when the flow has no `k8s.node.name`.
   */
  encode(flow: Flow, reportingNode?: string): string | undefined {
    const invalid = whyNotStorable(flow);
    if (invalid !== undefined) return invalid;
    const cost = flow.costZeptoUsd;
    // A cost too big for the in-place digits is formatted as text (its length bounds the row).
    const costText = cost === undefined || (cost >= 0n && cost <= MAX_SAFE_ZEPTO_USD) ? undefined : usdText(cost);
    let maxBytes = ROW_FIXED_MAX_BYTES + (costText?.length ?? 0) + this.#sortAttributes(flow.attributes);
    const startTime = this.#time(flow.startTimeUnixNano);
    const endTime = this.#time(flow.timeUnixNano);
    const node = this.#node;
    const nodeText = node === undefined ? reportingNode : typeof node === 'string' ? node : String(node);
    if (nodeText !== undefined) maxBytes += MAX_BYTES_PER_UNIT * nodeText.length;
    // Room for the most the row can take, so the writers below need no bounds checks.
    const b = this.#reserve(maxBytes);
    rowNuls = 0;
    let p = writeTimesAndNode(b, this.#pos, startTime.text, endTime.text, nodeText);
    p = writeAttributeColumns(b, p, this.#values);
    p = writeCounters(b, p, flow);
    b[p++] = TAB;
    if (costText !== undefined) p = writeAscii(b, p, costText);
    else p = cost === undefined ? writeNull(b, p) : writeSmallUsd(b, p, cost);
    p = this.#writeAttributesJson(b, p, flow.attributes);
    b[p++] = NEWLINE;
    this.#pos = p;
    this.#nulsReplaced += rowNuls;
    this.days.add(startTime.day);
    this.rows++;
    return undefined;
  }

  /**
   * Sorts the attributes into column values (#values), JSON entries (#jsonAt, #jsonCount) and
   * the node (#node), following the plan while the keys match it; returns the most bytes they
   * can take in the row.
   */
  #sortAttributes(attrs: Flow['attributes']): number {
    const values = this.#values;
    for (let i = 0; i < COLUMN_COUNT; i++) values[i] = undefined;
    const planKeys = this.#planKeys;
    const planSlots = this.#planSlots;
    const rowKeys = this.#rowKeys;
    const rowSlots = this.#rowSlots;
    const jsonAt = this.#jsonAt;
    let keyCount = 0;
    let jsonCount = 0;
    let onPlan = true;
    let node: AttributeValue | undefined;
    let maxBytes = 0;
    for (const key in attrs) {
      let slot: number;
      if (onPlan && keyCount < planKeys.length && planKeys[keyCount] === key) {
        slot = planSlots[keyCount]!;
      } else {
        onPlan = false;
        slot = key === K8S_NODE_NAME ? NODE_SLOT : (COLUMN_OF.get(key) ?? JSON_SLOT);
      }
      rowKeys[keyCount] = key;
      rowSlots[keyCount] = slot;
      const v = attrs[key]!;
      maxBytes += typeof v === 'string' ? MAX_BYTES_PER_UNIT * v.length + VALUE_MAX_BYTES : VALUE_MAX_BYTES;
      if (slot >= 0 && fitsColumn(v, COLUMN_KINDS[slot]!)) values[slot] = v;
      else if (slot === NODE_SLOT) node = v;
      else {
        jsonAt[jsonCount++] = keyCount;
        maxBytes += MAX_BYTES_PER_UNIT * key.length + VALUE_MAX_BYTES;
      }
      keyCount++;
    }
    if (!onPlan || keyCount !== planKeys.length) this.#newPlan(keyCount);
    this.#jsonCount = jsonCount;
    this.#node = node;
    return maxBytes;
  }

  /** The `attributes` column: the entries #sortAttributes put aside, as a JSON object. */
  #writeAttributesJson(b: Uint8Array, p: number, attrs: Flow['attributes']): number {
    const jsonKeys = this.#planJsonKeys;
    const rowKeys = this.#rowKeys;
    const jsonAt = this.#jsonAt;
    const jsonCount = this.#jsonCount;
    b[p++] = TAB;
    b[p++] = 0x7b; // {
    for (let j = 0; j < jsonCount; j++) {
      const k = jsonAt[j]!;
      let keyBytes = jsonKeys[k];
      if (keyBytes === undefined) {
        keyBytes = jsonKeys[k] = jsonKeyBytes(rowKeys[k]!);
        this.#planKeyNuls[k] = countNuls(rowKeys[k]!);
      }
      rowNuls += this.#planKeyNuls[k]!;
      if (j > 0) b[p++] = COMMA;
      for (let i = 0; i < keyBytes.length; i++) b[p++] = keyBytes[i]!;
      p = writeJsonValue(b, p, attrs[rowKeys[k]!]!);
    }
    b[p++] = 0x7d; // }
    return p;
  }

  /** The rows written since the last take (their bytes copied out), and starts over. */
  take(): EncodedChunk {
    const bytes = Buffer.allocUnsafe(this.#pos);
    bytes.set(this.#bytes.subarray(0, this.#pos));
    const chunk = { bytes, rows: this.rows, days: [...this.days], nulsReplaced: this.#nulsReplaced };
    // One huge value should not pin a huge buffer for the life of the process.
    if (this.#bytes.length > SHRINK_ABOVE_BYTES) this.#bytes = new Uint8Array(INITIAL_BYTES);
    this.#pos = 0;
    this.rows = 0;
    this.#nulsReplaced = 0;
    this.days.clear();
    return chunk;
  }

  #newPlan(keyCount: number): void {
    this.#planKeys = this.#rowKeys.slice(0, keyCount);
    this.#planSlots = this.#rowSlots.slice(0, keyCount);
    this.#planJsonKeys = new Array(keyCount).fill(undefined); // filled on first use
    this.#planKeyNuls = new Array(keyCount).fill(0);
  }

  #time(unixNano: bigint): CachedTime {
    const times = this.#times;
    for (let i = 0; i < times.length; i++) if (times[i]!.unixNano === unixNano) return times[i]!;
    const text = timestampText(unixNano);
    const t = { unixNano, text, day: text.slice(0, 10) };
    if (times.length >= 4) times.pop();
    times.unshift(t);
    return t;
  }

  /** The buffer, with room for `n` more bytes after the current position. */
  #reserve(n: number): Uint8Array {
    if (this.#pos + n <= this.#bytes.length) return this.#bytes;
    let size = this.#bytes.length * 2;
    while (size < this.#pos + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#bytes.subarray(0, this.#pos));
    this.#bytes = grown;
    return grown;
  }
}

// The writers below put bytes at `p` and return the position after them; the caller has made
// room (encode reserves the most a row can take before writing it).

/** start_time, end_time, node. */
function writeTimesAndNode(b: Uint8Array, p: number, startText: string, endText: string, nodeText: string | undefined): number {
  p = writeAscii(b, p, startText);
  b[p++] = TAB;
  p = writeAscii(b, p, endText);
  b[p++] = TAB;
  return nodeText === undefined ? writeNull(b, p) : writeText(b, p, nodeText);
}

/** The attribute columns, each preceded by its tab: NULL where the flow has no value that fits. */
function writeAttributeColumns(b: Uint8Array, p: number, values: ReadonlyArray<AttributeValue | undefined>): number {
  for (let i = 0; i < COLUMN_COUNT; i++) {
    b[p++] = TAB;
    const v = values[i];
    if (v === undefined) {
      p = writeNull(b, p);
      continue;
    }
    switch (COLUMN_KINDS[i]) {
      case 0:
        p = writeText(b, p, typeof v === 'string' ? v : String(v));
        break;
      case 1:
        p = writeAscii(b, p, v as string); // an IP address: ASCII, nothing to escape
        break;
      case 2:
        p = writeInteger(b, p, portOf(v));
        break;
      default:
        b[p++] = boolOf(v) === 1 ? 0x74 : 0x66; // t / f
    }
  }
  return p;
}

/** tx_bytes, rx_bytes, tx_packets, rx_packets, connections, each preceded by its tab. */
function writeCounters(b: Uint8Array, p: number, flow: Flow): number {
  b[p++] = TAB;
  p = writeInteger(b, p, flow.txBytes);
  b[p++] = TAB;
  p = writeInteger(b, p, flow.rxBytes);
  b[p++] = TAB;
  p = writeInteger(b, p, flow.txPackets);
  b[p++] = TAB;
  p = writeInteger(b, p, flow.rxPackets);
  b[p++] = TAB;
  return writeInteger(b, p, flow.connections);
}

function writeNull(b: Uint8Array, p: number): number {
  b[p] = BACKSLASH;
  b[p + 1] = 0x4e; // N
  return p + 2;
}

/** A string known to be ASCII with nothing to escape (timestamps, IP addresses, numbers). */
function writeAscii(b: Uint8Array, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
  return p;
}

/** Costs up to this many zepto-USD (under $0.00001: nearly every flow's) are written by writeSmallUsd. */
const MAX_SAFE_ZEPTO_USD = BigInt(Number.MAX_SAFE_INTEGER);
const ZEPTO_DIGITS = 21;

/**
 * usdText(zeptoUsd) written in place, for 0 <= zeptoUsd <= 2^53 - 1 (exact as a double, and
 * under one dollar): `0`, or `0.` and the 21 fraction digits less their trailing zeros (at most
 * 23 bytes). Saves the bigint division and the strings of usdText on every row.
 */
function writeSmallUsd(b: Uint8Array, p: number, zeptoUsd: bigint): number {
  let n = Number(zeptoUsd);
  if (n === 0) {
    b[p] = 0x30;
    return p + 1;
  }
  let digits = ZEPTO_DIGITS;
  while (n % 10 === 0) {
    n /= 10;
    digits--;
  }
  b[p++] = 0x30;
  b[p++] = 0x2e; // .
  const end = p + digits;
  for (let i = end - 1; i >= p; i--) {
    const rest = Math.floor(n / 10);
    b[i] = 0x30 + (n - rest * 10);
    n = rest;
  }
  return end;
}

/** A safe integer in decimal (at most 17 bytes). */
function writeInteger(b: Uint8Array, p: number, n: number): number {
  if (n < 0) {
    b[p++] = 0x2d; // -
    n = -n;
  }
  if (n < 10) {
    b[p] = ZERO + n;
    return p + 1;
  }
  let digits = 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
  const after = p + digits;
  let q = after;
  while (n >= 10) {
    const next = Math.floor(n / 10);
    b[--q] = ZERO + (n - next * 10);
    n = next;
  }
  b[--q] = ZERO + n;
  return after;
}

/** Any well-formed string, UTF-8 encoded as is. */
function writeUtf8(b: Uint8Array, p: number, s: string): number {
  return p + UTF8.encodeInto(s, b.subarray(p)).written;
}

/** A text column value: UTF-8, COPY-escaped; NUL and lone surrogates take the reference path. */
function writeText(b: Uint8Array, p: number, s: string): number {
  const start = p;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c >= 0x20 && c !== BACKSLASH) {
        b[p++] = c;
      } else if (c === BACKSLASH) {
        b[p++] = BACKSLASH;
        b[p++] = BACKSLASH;
      } else if (c === TAB) {
        b[p++] = BACKSLASH;
        b[p++] = 0x74;
      } else if (c === NEWLINE) {
        b[p++] = BACKSLASH;
        b[p++] = 0x6e;
      } else if (c === CR) {
        b[p++] = BACKSLASH;
        b[p++] = 0x72;
      } else if (c === 0) {
        rowNuls += countNuls(s);
        return writeUtf8(b, start, copyEscape(cleanString(s)));
      } else {
        b[p++] = c; // other control characters need no escape in COPY text
      }
    } else {
      p = writeNonAscii(b, p, s, i, c);
      if (p < 0) {
        rowNuls += countNuls(s);
        return writeUtf8(b, start, copyEscape(cleanString(s)));
      }
      if (isHighSurrogate(c)) i++;
    }
  }
  return p;
}

/** An attribute value in `attributes`: JSON, COPY-escaped (JSON escapes hold backslashes). */
function writeJsonValue(b: Uint8Array, p: number, v: AttributeValue): number {
  if (typeof v !== 'string') return typeof v === 'number' && Number.isSafeInteger(v) ? writeInteger(b, p, v) : writeAscii(b, p, jsonValue(v));
  const start = p;
  b[p++] = QUOTE;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x80) {
      if (c < 0x20 || c === QUOTE || c === BACKSLASH) {
        rowNuls += countNuls(v);
        return writeUtf8(b, start, copyEscape(jsonValue(v)));
      }
      b[p++] = c;
    } else {
      p = writeNonAscii(b, p, v, i, c);
      if (p < 0) {
        rowNuls += countNuls(v);
        return writeUtf8(b, start, copyEscape(jsonValue(v)));
      }
      if (isHighSurrogate(c)) i++;
    }
  }
  b[p++] = QUOTE;
  return p;
}
