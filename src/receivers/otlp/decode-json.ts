// An OTLP/JSON ExportMetricsServiceRequest → flows: the protobuf JSON mapping OTLP/JSON specifies
// (lowerCamelCase names, 64-bit integers as decimal strings or numbers, enums as numbers or their
// names), walked into the FlowAssembler with the same checks as the protobuf decoder.
import type { Attributes, AttributeValue } from '../../model/index.ts';
import { NETWORK_IO_DIRECTION } from '../../model/flow-metrics.ts';
import { seriesKeyOf } from '../../model/temporality.ts';
import { FlowAssembler, flowMetricOf, notAFlowMetric, OtlpInputError, setAttribute, temporalityOf, type PointAttributes, type ReceivedBatch } from './flow-assembler.ts';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown, place: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new OtlpInputError('malformed', place, 'must be an array');
  return v;
}

function object(v: unknown, place: string): Json {
  if (!isObject(v)) throw new OtlpInputError('malformed', place, 'must be an object');
  return v;
}

function uint64(v: unknown, place: string): bigint {
  if (v === undefined || v === null) return 0n;
  if ((typeof v === 'string' && /^\d+$/.test(v)) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) return BigInt(v);
  throw new OtlpInputError('malformed', place, `${JSON.stringify(v)} is not an unsigned 64-bit integer`);
}

function int64(v: unknown, place: string): number {
  if ((typeof v === 'string' && /^-?\d+$/.test(v)) || (typeof v === 'number' && Number.isInteger(v))) return Number(v);
  throw new OtlpInputError('malformed', place, `${JSON.stringify(v)} is not a 64-bit integer`);
}

function double(v: unknown, place: string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v);
  throw new OtlpInputError('malformed', place, `${JSON.stringify(v)} is not a number`);
}

function anyValue(v: unknown, place: string): AttributeValue {
  const o = object(v ?? {}, place);
  if (o.stringValue !== undefined) {
    if (typeof o.stringValue !== 'string') throw new OtlpInputError('malformed', place, 'stringValue must be a string');
    return o.stringValue;
  }
  if (o.boolValue !== undefined) {
    if (typeof o.boolValue !== 'boolean') throw new OtlpInputError('malformed', place, 'boolValue must be true or false');
    return o.boolValue;
  }
  if (o.intValue !== undefined) return int64(o.intValue, `${place}.intValue`);
  if (o.doubleValue !== undefined) return double(o.doubleValue, `${place}.doubleValue`);
  if (o.arrayValue !== undefined || o.kvlistValue !== undefined || o.bytesValue !== undefined) {
    throw new OtlpInputError('not_a_flow', place, 'an array, key-value list or bytes value is not a flow attribute (string, bool, int or double)');
  }
  return '';
}

function keyValue(v: unknown, place: string): [string, AttributeValue] {
  const o = object(v, place);
  if (typeof o.key !== 'string') throw new OtlpInputError('malformed', place, 'key must be a string');
  return [o.key, anyValue(o.value, `${place}.value`)];
}

const TEMPORALITY_NAMES: Record<string, number> = { AGGREGATION_TEMPORALITY_DELTA: 1, AGGREGATION_TEMPORALITY_CUMULATIVE: 2 };

function metric(v: unknown, place: string, out: FlowAssembler, sets: Map<string, PointAttributes>): void {
  const m = object(v, place);
  const name = typeof m.name === 'string' ? m.name : '';
  const kind = flowMetricOf(name);
  if (kind === undefined) throw notAFlowMetric(place, name);
  if (!isObject(m.sum)) throw notAFlowMetric(place, name, m.gauge ? 'gauge' : m.histogram ? 'histogram' : m.summary ? 'summary' : 'metric without a sum');
  const sum = m.sum;
  if (sum.isMonotonic !== true) throw notAFlowMetric(`${place}.sum`, name, 'non-monotonic sum');
  const rawTemporality = sum.aggregationTemporality;
  const temporalityValue = typeof rawTemporality === 'string' ? (TEMPORALITY_NAMES[rawTemporality] ?? 0) : Number(rawTemporality ?? 0);
  const temporality = temporalityOf(temporalityValue, `${place}.sum.aggregationTemporality`);
  list(sum.dataPoints, `${place}.sum.dataPoints`).forEach((raw, i) => {
    const p = `${place}.sum.dataPoints[${i}]`;
    const dp = object(raw, p);
    const attributes: Attributes = {};
    let direction: string | undefined;
    list(dp.attributes, `${p}.attributes`).forEach((kv, a) => {
      const [k, value] = keyValue(kv, `${p}.attributes[${a}]`);
      if (k === NETWORK_IO_DIRECTION) direction = String(value);
      else setAttribute(attributes, k, value);
    });
    let value: number;
    if (dp.asInt !== undefined) value = int64(dp.asInt, `${p}.asInt`);
    else if (dp.asDouble !== undefined) value = double(dp.asDouble, `${p}.asDouble`);
    else throw new OtlpInputError('not_a_flow', p, 'data point has no value');
    const identity = seriesKeyOf(attributes);
    let set = sets.get(identity);
    if (set === undefined) sets.set(identity, (set = { attributes, used: false, flow: undefined, temporality: undefined, more: undefined }));
    out.point(kind, temporality, set, direction, uint64(dp.startTimeUnixNano, `${p}.startTimeUnixNano`), uint64(dp.timeUnixNano, `${p}.timeUnixNano`), value, p);
  });
}

/** The flows of an OTLP/JSON ExportMetricsServiceRequest body; throws OtlpInputError naming the place. */
export function decodeJsonRequest(text: string): ReceivedBatch[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new OtlpInputError('malformed', 'body', `not JSON (${(err as Error).message})`);
  }
  const request = object(body, 'ExportMetricsServiceRequest');
  const out: ReceivedBatch[] = [];
  list(request.resourceMetrics, 'resourceMetrics').forEach((raw, r) => {
    const place = `resourceMetrics[${r}]`;
    const rm = object(raw, place);
    const attributes: Attributes = {};
    if (rm.resource !== undefined) {
      list(object(rm.resource, `${place}.resource`).attributes, `${place}.resource.attributes`).forEach((kv, i) => {
        const [k, v] = keyValue(kv, `${place}.resource.attributes[${i}]`);
        setAttribute(attributes, k, v);
      });
    }
    const assembler = new FlowAssembler(attributes);
    const sets = new Map<string, PointAttributes>();
    list(rm.scopeMetrics, `${place}.scopeMetrics`).forEach((sm, s) => {
      const sp = `${place}.scopeMetrics[${s}]`;
      list(object(sm, sp).metrics, `${sp}.metrics`).forEach((m, i) => metric(m, `${sp}.metrics[${i}]`, assembler, sets));
    });
    out.push(...assembler.batches());
  });
  return out;
}
