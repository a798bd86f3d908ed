// A protobuf ExportMetricsServiceRequest → flows, read field by field with protobufjs's wire
// Reader (no message objects), into the FlowAssembler.
//
// Message layout (opentelemetry-proto collector/metrics/v1, metrics/v1, common/v1; what is not
// listed is skipped):
//
//   ExportMetricsServiceRequest  1: ResourceMetrics (repeated)
//   ResourceMetrics              1: Resource { 1: KeyValue attributes (repeated) }  2: ScopeMetrics (repeated)
//   ScopeMetrics                 2: Metric (repeated)
//   Metric                       1: name  5: Gauge  7: Sum  9: Histogram  10: ExponentialHistogram  11: Summary
//   Sum                          1: NumberDataPoint (repeated)  2: aggregation_temporality (varint)  3: is_monotonic (varint)
//   NumberDataPoint              2: start_time_unix_nano fixed64  3: time_unix_nano fixed64
//                                4: as_double double (network.flow.cost's USD)  6: as_int sfixed64
//                                7: KeyValue attributes (repeated)
//   KeyValue                     1: key string  2: AnyValue { 1: string  2: bool  3: int64  4: double
//                                                               5: array  6: kvlist  7: bytes }
//
// A Sum's temporality and monotonicity may follow its points on the wire, so points are read
// after the Sum's own fields (its body is scanned twice).
import protobuf from 'protobufjs';
import type { Attributes, AttributeValue } from '../../model/index.ts';
import { compileAttributesLiteral, type AttributesLiteral } from '../../model/attributes-literal.ts';
import { DIRECTION_RECEIVE, DIRECTION_TRANSMIT, NETWORK_IO_DIRECTION } from '../../model/flow-metrics.ts';
import { FlowAssembler, flowMetricOf, notAFlowMetric, OtlpInputError, setAttribute, temporalityOf, type FlowMetric, type PointAttributes, type ReceivedBatch } from './flow-assembler.ts';

const TWO_32 = 4_294_967_296;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;

type Reader = protobuf.Reader;

const utf8Slice = Buffer.prototype.utf8Slice as (this: Uint8Array, start: number, end: number) => string;
const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

/** The end of a length-delimited field that starts at the reader's position, checked against `limit`. */
function subEnd(r: Reader, limit: number, where: Where): number {
  const end = r.uint32() + r.pos;
  if (end > limit) throw new OtlpInputError('malformed', placeOf(where), `length runs past the end of its message (${end} > ${limit})`);
  return end;
}

function expectWire(wireType: number, want: number, where: Where, field: string): void {
  if (wireType !== want) throw new OtlpInputError('malformed', placeOf(where), `${field} has wire type ${wireType}, expected ${want}`);
}

/**
 * An int64 varint: read here while it has at most 7 bytes (below 2^49, every port and count),
 * else by protobufjs (negative values are 10 bytes; a Long is made there).
 */
function int64Value(r: Reader): number {
  const buf = r.buf;
  let pos = r.pos;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7 && pos < r.len; i++) {
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      r.pos = pos;
      return value;
    }
    scale *= 128;
  }
  const v = r.int64();
  return typeof v === 'number' ? v : Number(BigInt.asIntN(64, (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0)));
}

/**
 * Where the decoder is, for errors: a string, or the state's current data point (and attribute),
 * whose path is built only when an error needs it (a string per point costs more than the point).
 */
type Where = string | DecodeState;

function placeOf(where: Where): string {
  if (typeof where === 'string') return where;
  const point = `${where.sumPlace}.dataPoints[${where.point}]`;
  return where.attribute < 0 ? point : `${point}.attributes[${where.attribute}]`;
}

/** A string field's value and where its bytes are in the request (the cache is per request). */
interface CachedString {
  start: number;
  end: number;
  text: string;
}

/**
 * Whether [aStart, aStart + n) and [bStart, bStart + n) of the request hold the same bytes: 4 at
 * a time through a DataView (JIT-compiled to plain loads), the rest one by one. From the front:
 * podflow's encoder writes the source address first, where flows differ most.
 */
function sameRun(view: DataView, buf: Uint8Array, aStart: number, bStart: number, n: number): boolean {
  let i = 0;
  for (; i + 4 <= n; i += 4) if (view.getUint32(aStart + i) !== view.getUint32(bStart + i)) return false;
  for (; i < n; i++) if (buf[aStart + i] !== buf[bStart + i]) return false;
  return true;
}

/** A constant's bytes, with a view for 4-byte compares. */
interface Constant {
  bytes: Uint8Array;
  view: DataView;
}

function constant(bytes: Uint8Array): Constant {
  return { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

/** Whether the request's [start, end) holds `c`'s bytes; from the end, where the value is. */
function equalBytes(state: DecodeState, start: number, end: number, c: Constant): boolean {
  const n = c.bytes.length;
  if (end - start !== n) return false;
  const view = state.view;
  let i = n - 4;
  for (; i >= 0; i -= 4) if (view.getUint32(start + i) !== c.view.getUint32(i)) return false;
  for (i += 3; i >= 0; i--) if (state.buf[start + i] !== c.bytes[i]) return false;
  return true;
}

/** The UTF-8 string at [start, end), from `cache[slot]` when it holds the same bytes. */
function cachedString(state: DecodeState, start: number, end: number, cache: Array<CachedString | undefined>, slot: number): string {
  const hit = cache[slot];
  const n = end - start;
  if (hit !== undefined && hit.end - hit.start === n && sameRun(state.view, state.buf, hit.start, start, n)) return hit.text;
  const text = n === 0 ? '' : utf8Slice.call(state.buf, start, end);
  if (slot < 64) {
    if (hit === undefined) cache[slot] = { start, end, text };
    else {
      hit.start = start;
      hit.end = end;
      hit.text = text;
    }
  }
  return text;
}

/** An AnyValue; string values through the value cache of the attribute's position. */
function anyValue(r: Reader, end: number, where: Where, state: DecodeState | undefined, slot: number): AttributeValue {
  let value: AttributeValue | undefined;
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 1 && wire === WIRE_LEN) {
      if (state === undefined) value = r.string();
      else {
        const strEnd = subEnd(r, end, where);
        value = cachedString(state, r.pos, strEnd, state.values, slot);
        r.pos = strEnd;
      }
    } else if (field === 2 && wire === WIRE_VARINT) value = r.bool();
    else if (field === 3 && wire === WIRE_VARINT) value = int64Value(r);
    else if (field === 4 && wire === WIRE_FIXED64) value = r.double();
    else if (field >= 5 && field <= 7) throw new OtlpInputError('not_a_flow', placeOf(where), `${field === 5 ? 'an array' : field === 6 ? 'a key-value list' : 'a bytes'} value is not a flow attribute (string, bool, int or double)`);
    else r.skipType(wire);
  }
  if (r.pos !== end) throw new OtlpInputError('malformed', placeOf(where), 'value runs past its KeyValue');
  // An unset AnyValue is an empty string, as an empty attribute value is written.
  return value ?? '';
}

/** One KeyValue into `out` (key, value); keys and string values through the state's caches when given. */
function keyValue(r: Reader, end: number, where: Where, state: DecodeState | undefined, slot: number, out: { key: string; value: AttributeValue }): void {
  let key = '';
  let value: AttributeValue = '';
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | WIRE_LEN)) {
      if (state === undefined) key = r.string();
      else {
        const keyEnd = subEnd(r, end, where);
        key = cachedString(state, r.pos, keyEnd, state.keys, slot);
        r.pos = keyEnd;
      }
    } else if (t === ((2 << 3) | WIRE_LEN)) {
      const valueEnd = subEnd(r, end, where);
      if (typeof where !== 'string') where.attribute = slot;
      value = anyValue(r, valueEnd, typeof where === 'string' ? `${where}.value` : where, state, slot);
    } else r.skipType(t & 7);
  }
  if (r.pos !== end) throw new OtlpInputError('malformed', placeOf(where), 'KeyValue runs past its message');
  out.key = key;
  out.value = value;
}

function resource(r: Reader, end: number, place: string): Attributes {
  const attributes: Attributes = {};
  const kv = { key: '', value: '' as AttributeValue };
  let i = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | WIRE_LEN)) {
      const p = `${place}.attributes[${i++}]`;
      keyValue(r, subEnd(r, end, p), p, undefined, 0, kv);
      setAttribute(attributes, kv.key, kv.value);
    } else r.skipType(t & 7);
  }
  return attributes;
}

/**
 * Attribute objects made by a function compiled per list of keys (model/attributes-literal.ts):
 * V8 gives them one shape, which a loop of `attributes[key] = value` does not (and which the
 * processors after the receiver read faster). Past MAX_SHAPES lists, built key by key.
 */
type Construct = AttributesLiteral<AttributeValue>;
const MAX_SHAPES = 256;
const shapes = new Map<string, Construct | null>();

function constructorOf(keys: readonly string[], n: number): Construct | null {
  const names = keys.slice(0, n);
  const id = names.join('\u0000');
  let construct = shapes.get(id);
  if (construct === undefined) {
    construct = shapes.size >= MAX_SHAPES ? null : compileAttributesLiteral(names.map((k, i) => [k, i] as const));
    shapes.set(id, construct);
  }
  return construct;
}

/**
 * The attributes of data points, decoded once per distinct encoding. podflow's encoder writes a
 * flow's attribute bytes identically into each of its points, the points of each metric in flow
 * order: a point's bytes are compared with the previous point's and with the next set in the
 * order the first metric had, before a lookup by their bytes as a string.
 */
interface AttributeSet extends PointAttributes {
  /** Where its bytes are in the request: one contiguous run of KeyValue fields (-1: several runs). */
  start: number;
  end: number;
  /** network.io.direction, when it was among the encoded attributes. */
  direction: string | undefined;
  /** Its place in DecodeState.order. */
  index: number;
}

/** Per ResourceMetrics: the attribute sets seen, in order; per metric: where the matching is. */
interface DecodeState {
  order: AttributeSet[];
  /** By the latin1 string of their bytes; built on first need. */
  byBytes: Map<string, AttributeSet> | undefined;
  /** Sums read in this ResourceMetrics: sets are new without a lookup only in the first. */
  sums: number;
  /** The set expected next in this metric (index into order) and the previous point's. */
  cursor: number;
  previous: AttributeSet | undefined;
  lo: number[];
  hi: number[];
  times: bigint[];
  /** The point being read, for errors: its Sum's path, its index, the attribute (-1: none). */
  sumPlace: string;
  point: number;
  attribute: number;
  /** The point's one attribute byte range (two elements, reused from point to point). */
  ranges: number[];
  /** The last key and string value seen at each attribute position (the sets of one sender repeat them). */
  keys: Array<CachedString | undefined>;
  values: Array<CachedString | undefined>;
  /** A set's keys and values while it is decoded, and the key list of the last two constructors. */
  setKeys: string[];
  setValues: AttributeValue[];
  kv: { key: string; value: AttributeValue };
  lastKeys: string[][];
  lastConstructs: Array<Construct | null>;
  /** The request's bytes, and a view of them for 4-byte compares. */
  buf: Uint8Array;
  view: DataView;
  /** The current point's place for FlowAssembler's errors. */
  where: { place(): string };
}

/** The KeyValue bodies podflow's encoder writes for network.io.direction: matched as bytes, not decoded. */
function directionKeyValue(value: string): Buffer {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | WIRE_LEN).string(NETWORK_IO_DIRECTION);
  w.uint32((2 << 3) | WIRE_LEN).fork().uint32((1 << 3) | WIRE_LEN).string(value).ldelim();
  return Buffer.from(w.finish());
}
const TRANSMIT_KV = constant(directionKeyValue(DIRECTION_TRANSMIT));
const RECEIVE_KV = constant(directionKeyValue(DIRECTION_RECEIVE));

function knownDirection(state: DecodeState, start: number, end: number): string | undefined {
  return equalBytes(state, start, end, TRANSMIT_KV) ? DIRECTION_TRANSMIT : equalBytes(state, start, end, RECEIVE_KV) ? DIRECTION_RECEIVE : undefined;
}

/** fixed64 as a BigInt; `slot` 0 (start) or 1 (time) remembers the last one, as points share them. */
function fixed64(r: Reader, state: DecodeState, slot: number): bigint {
  const lo = r.fixed32();
  const hi = r.fixed32();
  if (state.lo[slot] === lo && state.hi[slot] === hi) return state.times[slot]!;
  const v = hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  state.lo[slot] = lo;
  state.hi[slot] = hi;
  state.times[slot] = v;
  return v;
}

function sameBytes(state: DecodeState, set: AttributeSet | undefined, start: number, end: number): boolean {
  if (set === undefined) return false;
  const s = set.start;
  return s >= 0 && set.end - s === end - start && sameRun(state.view, state.buf, s, start, end - start);
}

function sameKeys(a: readonly string[], b: readonly string[], n: number): boolean {
  if (a.length !== n) return false;
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The attributes of `n` decoded keys and values, through the constructor of their key list. */
function attributesOf(state: DecodeState, n: number): Attributes {
  const keys = state.setKeys;
  const values = state.setValues;
  let construct: Construct | null | undefined;
  // Flows with and without an attribute (destination.original.address) alternate: the last two lists.
  for (let i = 0; i < 2; i++) {
    if (sameKeys(state.lastKeys[i]!, keys, n)) {
      construct = state.lastConstructs[i]!;
      break;
    }
  }
  if (construct === undefined) {
    construct = constructorOf(keys, n);
    state.lastKeys[1] = state.lastKeys[0]!;
    state.lastConstructs[1] = state.lastConstructs[0]!;
    state.lastKeys[0] = keys.slice(0, n);
    state.lastConstructs[0] = construct;
  }
  if (construct !== null) return construct(values);
  const attributes: Attributes = {};
  for (let i = 0; i < n; i++) setAttribute(attributes, keys[i]!, values[i]!);
  return attributes;
}

/** Decodes the KeyValue fields at `ranges` with the request's reader (its position is kept). */
function decodeSet(r: Reader, ranges: readonly number[], state: DecodeState): AttributeSet {
  let direction: string | undefined;
  let a = 0;
  let n = 0;
  const resume = r.pos;
  const kv = state.kv;
  for (let i = 0; i < ranges.length; i += 2) {
    const end = ranges[i + 1]!;
    r.pos = ranges[i]!;
    while (r.pos < end) {
      r.uint32();
      state.attribute = a;
      keyValue(r, subEnd(r, end, state), state, state, a++, kv);
      if (kv.key === NETWORK_IO_DIRECTION) direction = String(kv.value);
      else {
        state.setKeys[n] = kv.key;
        state.setValues[n++] = kv.value;
      }
    }
  }
  state.attribute = -1;
  r.pos = resume;
  const single = ranges.length === 2;
  const attributes = attributesOf(state, n);
  return { attributes, direction, used: false, flow: undefined, temporality: undefined, more: undefined, start: single ? ranges[0]! : -1, end: single ? ranges[1]! : -1, index: -1 };
}

/**
 * The runs' bytes as one string: each run is whole KeyValue fields (tag, length, body), so the
 * runs side by side are the point's attribute fields without the direction, however it split them.
 */
function bytesKey(buf: Uint8Array, ranges: readonly number[]): string {
  let key = '';
  for (let i = 0; i < ranges.length; i += 2) key += latin1Slice.call(buf, ranges[i]!, ranges[i + 1]!);
  return key;
}

/** The ranges of a point without attributes. */
const NO_RANGES: readonly number[] = Object.freeze([]);

/** Sets compared ahead of the cursor before a lookup by bytes (a failing compare stops within the source address). */
const LOOK_AHEAD = 8;

/** The attribute set of a point whose KeyValue fields are at `ranges`. */
function attributeSet(state: DecodeState, r: Reader, buf: Uint8Array, ranges: readonly number[]): AttributeSet {
  if (ranges.length === 2) {
    const start = ranges[0]!;
    const end = ranges[1]!;
    if (sameBytes(state, state.previous, start, end)) return state.previous!;
    // A metric of fewer flows (connections: only flows that opened one) skips sets: a few ahead.
    const order = state.order;
    const last = Math.min(order.length, state.cursor + LOOK_AHEAD);
    for (let i = state.cursor; i < last; i++) {
      if (sameBytes(state, order[i], start, end)) {
        state.cursor = i + 1;
        return order[i]!;
      }
    }
  }
  let byBytes = state.byBytes;
  if (byBytes === undefined) {
    byBytes = state.byBytes = new Map();
    for (const set of state.order) if (set.start >= 0) byBytes.set(latin1Slice.call(buf, set.start, set.end), set);
  }
  const key = bytesKey(buf, ranges);
  let set = byBytes.get(key);
  if (set === undefined) {
    set = decodeSet(r, ranges, state);
    byBytes.set(key, set);
    set.index = state.order.push(set) - 1;
  }
  // A metric of fewer flows (connections, cost) skips sets: expect the one after this next.
  state.cursor = set.index + 1;
  return set;
}

/**
 * A point past the last set known, in the first metric: a new set, appended without a lookup (a
 * repeat there has another time, so it is another flow anyway).
 */
function firstSight(state: DecodeState, r: Reader, buf: Uint8Array, ranges: readonly number[]): AttributeSet {
  if (ranges.length === 2 && sameBytes(state, state.previous, ranges[0]!, ranges[1]!)) return state.previous!;
  if (state.byBytes !== undefined || ranges.length !== 2) return attributeSet(state, r, buf, ranges);
  const set = decodeSet(r, ranges, state);
  set.index = state.order.push(set) - 1;
  state.cursor = state.order.length;
  return set;
}

function dataPoint(r: Reader, end: number, metric: FlowMetric, temporality: 'delta' | 'cumulative', out: FlowAssembler, state: DecodeState): void {
  const buf = r.buf;
  let start = 0n;
  let time = 0n;
  let value: number | undefined;
  let direction: string | undefined;
  // Byte ranges of the attribute fields but a known direction: usually one contiguous run
  // [runStart, runEnd), in an array of their own only when there are several.
  let runStart = -1;
  let runEnd = -1;
  let runs: number[] | undefined;
  while (r.pos < end) {
    const tagAt = r.pos;
    const t = r.uint32();
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 7) {
      expectWire(wire, WIRE_LEN, state, 'attributes');
      const kvEnd = subEnd(r, end, state);
      const known = knownDirection(state, r.pos, kvEnd);
      if (known !== undefined) direction = known;
      else if (runStart < 0) {
        runStart = tagAt;
        runEnd = kvEnd;
      } else if (runs === undefined && runEnd === tagAt) runEnd = kvEnd;
      else if (runs === undefined) runs = [runStart, runEnd, tagAt, kvEnd];
      else if (runs[runs.length - 1] === tagAt) runs[runs.length - 1] = kvEnd;
      else runs.push(tagAt, kvEnd);
      r.pos = kvEnd;
    } else if (field === 2) {
      expectWire(wire, WIRE_FIXED64, state, 'start_time_unix_nano');
      start = fixed64(r, state, 0);
    } else if (field === 3) {
      expectWire(wire, WIRE_FIXED64, state, 'time_unix_nano');
      time = fixed64(r, state, 1);
    } else if (field === 6) {
      expectWire(wire, WIRE_FIXED64, state, 'as_int');
      const lo = r.fixed32();
      const hi = r.fixed32() | 0;
      value = hi * TWO_32 + lo;
    } else if (field === 4) {
      expectWire(wire, WIRE_FIXED64, state, 'as_double');
      value = r.double();
    } else r.skipType(wire);
  }
  if (r.pos !== end) throw new OtlpInputError('malformed', placeOf(state), 'data point runs past its Sum');
  if (value === undefined) throw new OtlpInputError('not_a_flow', placeOf(state), 'data point has no value');
  let ranges: readonly number[];
  if (runs !== undefined) ranges = runs;
  else if (runStart < 0) ranges = NO_RANGES;
  else {
    const one = state.ranges;
    one[0] = runStart;
    one[1] = runEnd;
    ranges = one;
  }
  const set = state.sums === 1 && state.cursor >= state.order.length ? firstSight(state, r, buf, ranges) : attributeSet(state, r, buf, ranges);
  state.previous = set;
  out.point(metric, temporality, set, direction ?? set.direction, start, time, value, state.where);
}

function sum(r: Reader, end: number, place: string, metric: FlowMetric, name: string, out: FlowAssembler, state: DecodeState): void {
  const bodyStart = r.pos;
  let temporalityValue = 0;
  let monotonic = false;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((2 << 3) | WIRE_VARINT)) temporalityValue = r.int32();
    else if (t === ((3 << 3) | WIRE_VARINT)) monotonic = r.bool();
    else r.skipType(t & 7);
  }
  if (!monotonic) throw notAFlowMetric(place, name, 'non-monotonic sum');
  const temporality = temporalityOf(temporalityValue, `${place}.aggregation_temporality`);
  state.cursor = 0;
  state.previous = undefined;
  state.sums++;
  state.sumPlace = place;
  r.pos = bodyStart;
  let i = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | WIRE_LEN)) {
      state.point = i++;
      state.attribute = -1;
      dataPoint(r, subEnd(r, end, state), metric, temporality, out, state);
    } else r.skipType(t & 7);
  }
}

function metric(r: Reader, end: number, place: string, out: FlowAssembler, state: DecodeState): void {
  // The name may follow the data (any field order is valid protobuf): find it first.
  const bodyStart = r.pos;
  let name = '';
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | WIRE_LEN)) name = r.string();
    else r.skipType(t & 7);
  }
  const kind = flowMetricOf(name);
  if (kind === undefined) throw notAFlowMetric(place, name);
  r.pos = bodyStart;
  let sums = 0;
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    if (field === 7 && (t & 7) === WIRE_LEN) {
      sums++;
      sum(r, subEnd(r, end, place), `${place}.sum`, kind, name, out, state);
    } else if (field === 5 || (field >= 9 && field <= 11)) {
      throw notAFlowMetric(place, name, `${field === 5 ? 'gauge' : field === 9 ? 'histogram' : field === 10 ? 'exponential histogram' : 'summary'}`);
    } else r.skipType(t & 7);
  }
  if (sums === 0) throw notAFlowMetric(place, name, 'metric without a sum');
}

function scopeMetrics(r: Reader, end: number, place: string, out: FlowAssembler, state: DecodeState): void {
  let i = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((2 << 3) | WIRE_LEN)) {
      const p = `${place}.metrics[${i++}]`;
      metric(r, subEnd(r, end, p), p, out, state);
    } else r.skipType(t & 7);
  }
}

function resourceMetrics(r: Reader, end: number, place: string, state: DecodeState): ReceivedBatch[] {
  // The resource may follow its scope metrics on the wire: read it first.
  const bodyStart = r.pos;
  let attributes: Attributes = {};
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | WIRE_LEN)) attributes = resource(r, subEnd(r, end, place), `${place}.resource`);
    else r.skipType(t & 7);
  }
  const out = new FlowAssembler(attributes);
  state.order = [];
  state.byBytes = undefined;
  state.sums = 0;
  r.pos = bodyStart;
  let i = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((2 << 3) | WIRE_LEN)) {
      const p = `${place}.scopeMetrics[${i++}]`;
      scopeMetrics(r, subEnd(r, end, p), p, out, state);
    } else r.skipType(t & 7);
  }
  return out.batches();
}

/** The flows of a protobuf ExportMetricsServiceRequest; throws OtlpInputError naming the place. */
export function decodeProtoRequest(bytes: Uint8Array): ReceivedBatch[] {
  const r = protobuf.Reader.create(bytes);
  const state: DecodeState = {
    buf: bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    order: [], byBytes: undefined, sums: 0, cursor: 0, previous: undefined, lo: [-1, -1], hi: [-1, -1], times: [0n, 0n],
    sumPlace: '', point: 0, attribute: -1, ranges: [0, 0], keys: [], values: [], setKeys: [], setValues: [], kv: { key: '', value: '' }, lastKeys: [[], []], lastConstructs: [null, null],
    where: { place: () => placeOf(state) },
  };
  const out: ReceivedBatch[] = [];
  let i = 0;
  let place = 'ExportMetricsServiceRequest';
  try {
    while (r.pos < r.len) {
      const t = r.uint32();
      if (t === ((1 << 3) | WIRE_LEN)) {
        place = `resourceMetrics[${i++}]`;
        out.push(...resourceMetrics(r, subEnd(r, r.len, place), place, state));
      } else r.skipType(t & 7);
    }
  } catch (err) {
    if (err instanceof OtlpInputError) throw err;
    // protobufjs's reader throws a RangeError (index out of range) or Error (invalid wire type).
    throw new OtlpInputError('malformed', place, `not a valid protobuf ExportMetricsServiceRequest (${(err as Error).message})`);
  }
  return out;
}
