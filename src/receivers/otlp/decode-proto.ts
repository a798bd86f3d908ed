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
//                                4: as_double double  6: as_int sfixed64  7: KeyValue attributes (repeated)
//   KeyValue                     1: key string  2: AnyValue { 1: string  2: bool  3: int64  4: double
//                                                               5: array  6: kvlist  7: bytes }
//
// A Sum's temporality and monotonicity may follow its points on the wire, so points are read
// after the Sum's own fields (its body is scanned twice).
import protobuf from 'protobufjs';
import type { Attributes, AttributeValue } from '../../model/index.ts';
import { NETWORK_IO_DIRECTION } from '../../model/flow-metrics.ts';
import { FlowAssembler, flowMetricOf, notAFlowMetric, OtlpInputError, temporalityOf, type FlowMetric, type ReceivedBatch } from './flow-assembler.ts';

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
      attributes[k] = v;
    } else r.skipType(t & 7);
  }
  return attributes;
}

/** fixed64 as a BigInt. */
function fixed64(r: Reader): bigint {
  const lo = r.fixed32();
  const hi = r.fixed32();
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

function dataPoint(r: Reader, end: number, place: string, metric: FlowMetric, temporality: 'delta' | 'cumulative', out: FlowAssembler): void {
  let start = 0n;
  let time = 0n;
  let value: number | undefined;
  const attributes: Attributes = {};
  let identity = '';
  let direction: string | undefined;
  let a = 0;
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    const wire = t & 7;
    if (field === 7) {
      expectWire(wire, WIRE_LEN, place, 'attributes');
      const [k, v] = keyValue(r, subEnd(r, end, place), `${place}.attributes[${a++}]`);
      if (k === NETWORK_IO_DIRECTION) direction = String(v);
      else {
        attributes[k] = v;
        identity += `${k}\x00${typeof v === 'string' ? 's' : typeof v === 'number' ? 'n' : 'b'}${String(v)}\x01`;
      }
    } else if (field === 2) {
      expectWire(wire, WIRE_FIXED64, place, 'start_time_unix_nano');
      start = fixed64(r);
    } else if (field === 3) {
      expectWire(wire, WIRE_FIXED64, place, 'time_unix_nano');
      time = fixed64(r);
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
  out.point(metric, temporality, attributes, identity, direction, start, time, value, place);
}

function sum(r: Reader, end: number, place: string, metric: FlowMetric, name: string, out: FlowAssembler): void {
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
  r.pos = bodyStart;
  let i = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | WIRE_LEN)) {
      const p = `${place}.dataPoints[${i++}]`;
      dataPoint(r, subEnd(r, end, p), p, metric, temporality, out);
    } else r.skipType(t & 7);
  }
}

function metric(r: Reader, end: number, place: string, out: FlowAssembler): void {
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
      sum(r, subEnd(r, end, place), `${place}.sum`, kind, name, out);
    } else if (field === 5 || (field >= 9 && field <= 11)) {
      throw notAFlowMetric(place, name, `${field === 5 ? 'gauge' : field === 9 ? 'histogram' : field === 10 ? 'exponential histogram' : 'summary'}`);
    } else r.skipType(t & 7);
  }
  if (sums === 0) throw notAFlowMetric(place, name, 'metric without a sum');
}

function scopeMetrics(r: Reader, end: number, place: string, out: FlowAssembler): void {
  let i = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((2 << 3) | WIRE_LEN)) {
      const p = `${place}.metrics[${i++}]`;
      metric(r, subEnd(r, end, p), p, out);
    } else r.skipType(t & 7);
  }
}

function resourceMetrics(r: Reader, end: number, place: string): ReceivedBatch[] {
  // The resource may follow its scope metrics on the wire: read it first.
  const bodyStart = r.pos;
  let attributes: Attributes = {};
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((1 << 3) | WIRE_LEN)) attributes = resource(r, subEnd(r, end, place), `${place}.resource`);
    else r.skipType(t & 7);
  }
  const out = new FlowAssembler(attributes);
  r.pos = bodyStart;
  let i = 0;
  while (r.pos < end) {
    const t = r.uint32();
    if (t === ((2 << 3) | WIRE_LEN)) {
      const p = `${place}.scopeMetrics[${i++}]`;
      scopeMetrics(r, subEnd(r, end, p), p, out);
    } else r.skipType(t & 7);
  }
  return out.batches();
}

/** The flows of a protobuf ExportMetricsServiceRequest; throws OtlpInputError naming the place. */
export function decodeProtoRequest(bytes: Uint8Array): ReceivedBatch[] {
  const r = protobuf.Reader.create(bytes);
  const out: ReceivedBatch[] = [];
  let i = 0;
  let place = 'ExportMetricsServiceRequest';
  try {
    while (r.pos < r.len) {
      const t = r.uint32();
      if (t === ((1 << 3) | WIRE_LEN)) {
        place = `resourceMetrics[${i++}]`;
        out.push(...resourceMetrics(r, subEnd(r, r.len, place), place));
      } else r.skipType(t & 7);
    }
  } catch (err) {
    if (err instanceof OtlpInputError) throw err;
    // protobufjs's reader throws a RangeError (index out of range) or Error (invalid wire type).
    throw new OtlpInputError('malformed', place, `not a valid protobuf ExportMetricsServiceRequest (${(err as Error).message})`);
  }
  return out;
}
