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
import { DIRECTION_RECEIVE, DIRECTION_TRANSMIT, NETWORK_IO_DIRECTION } from '../../model/flow-metrics.ts';
import { FlowAssembler, flowMetricOf, notAFlowMetric, OtlpInputError, setAttribute, temporalityOf, type FlowMetric, type PointAttributes, type ReceivedBatch } from './flow-assembler.ts';

const TWO_32 = 4_294_967_296;
const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;

type Reader = protobuf.Reader;

/** The end of a length-delimited field that starts at the reader's position, checked against `limit`. */
function subEnd(r: Reader, limit: number, place: string): number {
  const end = r.uint32() + r.pos;
  if (end > limit) throw new OtlpInputError('malformed', place, `length runs past the end of its message (${end} > ${limit})`);
  return end;
}

function expectWire(wireType: number, want: number, place: string, field: string): void {
  if (wireType !== want) throw new OtlpInputError('malformed', place, `${field} has wire type ${wireType}, expected ${want}`);
}

function int64Value(r: Reader): number {
  const v = r.int64();
  return typeof v === 'number' ? v : Number(BigInt.asIntN(64, (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0)));
}

function anyValue(r: Reader, end: number, place: string): AttributeValue {
  let value: AttributeValue | undefined;
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 1 && wire === WIRE_LEN) value = r.string();
    else if (field === 2 && wire === WIRE_VARINT) value = r.bool();
    else if (field === 3 && wire === WIRE_VARINT) value = int64Value(r);
    else if (field === 4 && wire === WIRE_FIXED64) value = r.double();
    else if (field >= 5 && field <= 7) throw new OtlpInputError('not_a_flow', place, `${field === 5 ? 'an array' : field === 6 ? 'a key-value list' : 'a bytes'} value is not a flow attribute (string, bool, int or double)`);
    else r.skipType(wire);
  }
  if (r.pos !== end) throw new OtlpInputError('malformed', place, 'value runs past its KeyValue');
  // An unset AnyValue is an empty string, as an empty attribute value is written.
  return value ?? '';
}

/** One KeyValue: [key, value]. */
function keyValue(r: Reader, end: number, place: string): [string, AttributeValue] {
  let key = '';
  let value: AttributeValue = '';
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | WIRE_LEN)) key = r.string();
    else if (t === ((2 << 3) | WIRE_LEN)) value = anyValue(r, subEnd(r, end, place), `${place}.value`);
    else r.skipType(t & 7);
  }
  if (r.pos !== end) throw new OtlpInputError('malformed', place, 'KeyValue runs past its message');
  return [key, value];
}

function resource(r: Reader, end: number, place: string): Attributes {
  const attributes: Attributes = {};
  let i = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | WIRE_LEN)) {
      const [k, v] = keyValue(r, subEnd(r, end, place), `${place}.attributes[${i++}]`);
      setAttribute(attributes, k, v);
    } else r.skipType(t & 7);
  }
  return attributes;
}

/**
 * The attributes of data points, decoded once per distinct encoding. podflow's encoder writes a
 * flow's attribute bytes identically into each of its points, the points of each metric in flow
 * order: a point's bytes are compared (no allocation) with the previous point's and with the
 * next set in the order the first metric had, before a lookup by their bytes as a string.
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
}

/** The KeyValue bodies podflow's encoder writes for network.io.direction: matched as bytes, not decoded. */
function directionKeyValue(value: string): Buffer {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | WIRE_LEN).string(NETWORK_IO_DIRECTION);
  w.uint32((2 << 3) | WIRE_LEN).fork().uint32((1 << 3) | WIRE_LEN).string(value).ldelim();
  return Buffer.from(w.finish());
}
const TRANSMIT_KV = directionKeyValue(DIRECTION_TRANSMIT);
const RECEIVE_KV = directionKeyValue(DIRECTION_RECEIVE);

function equalAt(buf: Uint8Array, start: number, end: number, bytes: Buffer): boolean {
  if (end - start !== bytes.length) return false;
  // From the end: the value differs first ("transmit"/"receive"), other keys differ anywhere.
  for (let i = bytes.length - 1; i >= 0; i--) if (buf[start + i] !== bytes[i]) return false;
  return true;
}

function knownDirection(buf: Uint8Array, start: number, end: number): string | undefined {
  return equalAt(buf, start, end, TRANSMIT_KV) ? DIRECTION_TRANSMIT : equalAt(buf, start, end, RECEIVE_KV) ? DIRECTION_RECEIVE : undefined;
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

function latin1(buf: Uint8Array, start: number, end: number): string {
  return Buffer.prototype.latin1Slice.call(buf, start, end) as string;
}

function sameBytes(buf: Buffer, set: AttributeSet | undefined, start: number, end: number): boolean {
  return set !== undefined && set.start >= 0 && set.end - set.start === end - start && buf.compare(buf, set.start, set.end, start, end) === 0;
}

/** Decodes the KeyValue fields at `ranges` with the request's reader (its position is kept). */
function decodeSet(r: Reader, ranges: number[], place: string): AttributeSet {
  const attributes: Attributes = {};
  let direction: string | undefined;
  let a = 0;
  const resume = r.pos;
  for (let i = 0; i < ranges.length; i += 2) {
    const end = ranges[i + 1]!;
    r.pos = ranges[i]!;
    while (r.pos < end) {
      r.uint32();
      const [k, v] = keyValue(r, subEnd(r, end, place), `${place}.attributes[${a++}]`);
      if (k === NETWORK_IO_DIRECTION) direction = String(v);
      else setAttribute(attributes, k, v);
    }
  }
  r.pos = resume;
  const single = ranges.length === 2;
  return { attributes, direction, used: false, flows: [], start: single ? ranges[0]! : -1, end: single ? ranges[1]! : -1, index: -1 };
}

function bytesKey(buf: Uint8Array, ranges: number[]): string {
  let key = '';
  for (let i = 0; i < ranges.length; i += 2) key += (i ? '\x00' : '') + latin1(buf, ranges[i]!, ranges[i + 1]!);
  return key;
}

/** The attribute set of a point whose KeyValue fields are at `ranges`. */
function attributeSet(state: DecodeState, r: Reader, buf: Buffer, ranges: number[], place: string): AttributeSet {
  if (ranges.length === 2) {
    const [start, end] = ranges as [number, number];
    if (sameBytes(buf, state.previous, start, end)) return state.previous!;
    const expected = state.order[state.cursor];
    if (sameBytes(buf, expected, start, end)) {
      state.cursor++;
      return expected!;
    }
  }
  let byBytes = state.byBytes;
  if (byBytes === undefined) {
    byBytes = state.byBytes = new Map();
    for (const set of state.order) if (set.start >= 0) byBytes.set(latin1(buf, set.start, set.end), set);
  }
  const key = bytesKey(buf, ranges);
  let set = byBytes.get(key);
  if (set === undefined) {
    set = decodeSet(r, ranges, place);
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
function firstSight(state: DecodeState, r: Reader, buf: Buffer, ranges: number[], place: string): AttributeSet {
  if (ranges.length === 2 && sameBytes(buf, state.previous, ranges[0]!, ranges[1]!)) return state.previous!;
  if (state.byBytes !== undefined || ranges.length !== 2) return attributeSet(state, r, buf, ranges, place);
  const set = decodeSet(r, ranges, place);
  set.index = state.order.push(set) - 1;
  state.cursor = state.order.length;
  return set;
}

function dataPoint(r: Reader, end: number, place: string, metric: FlowMetric, temporality: 'delta' | 'cumulative', out: FlowAssembler, state: DecodeState): void {
  const buf = r.buf;
  let start = 0n;
  let time = 0n;
  let value: number | undefined;
  let direction: string | undefined;
  // Byte ranges of the attribute fields but a known direction: usually one contiguous run.
  const ranges: number[] = [];
  while (r.pos < end) {
    const tagAt = r.pos;
    const t = r.uint32();
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 7) {
      expectWire(wire, WIRE_LEN, place, 'attributes');
      const kvEnd = subEnd(r, end, place);
      const known = knownDirection(buf, r.pos, kvEnd);
      if (known !== undefined) direction = known;
      else if (ranges.length > 0 && ranges[ranges.length - 1] === tagAt) ranges[ranges.length - 1] = kvEnd;
      else ranges.push(tagAt, kvEnd);
      r.pos = kvEnd;
    } else if (field === 2) {
      expectWire(wire, WIRE_FIXED64, place, 'start_time_unix_nano');
      start = fixed64(r, state, 0);
    } else if (field === 3) {
      expectWire(wire, WIRE_FIXED64, place, 'time_unix_nano');
      time = fixed64(r, state, 1);
    } else if (field === 6) {
      expectWire(wire, WIRE_FIXED64, place, 'as_int');
      const lo = r.fixed32();
      const hi = r.fixed32() | 0;
      value = hi * TWO_32 + lo;
    } else if (field === 4) {
      expectWire(wire, WIRE_FIXED64, place, 'as_double');
      value = r.double();
    } else r.skipType(wire);
  }
  if (r.pos !== end) throw new OtlpInputError('malformed', place, 'data point runs past its Sum');
  if (value === undefined) throw new OtlpInputError('not_a_flow', place, 'data point has no value');
  const set = state.sums === 1 && state.cursor >= state.order.length ? firstSight(state, r, buf as Buffer, ranges, place) : attributeSet(state, r, buf as Buffer, ranges, place);
  state.previous = set;
  out.point(metric, temporality, set, direction ?? set.direction, start, time, value, place);
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
  r.pos = bodyStart;
  let i = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | WIRE_LEN)) {
      const p = `${place}.dataPoints[${i++}]`;
      dataPoint(r, subEnd(r, end, p), p, metric, temporality, out, state);
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
  const state: DecodeState = { order: [], byBytes: undefined, sums: 0, cursor: 0, previous: undefined, lo: [-1, -1], hi: [-1, -1], times: [0n, 0n] };
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
