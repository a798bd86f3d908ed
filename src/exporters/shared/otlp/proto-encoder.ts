// Flows → OTLP ExportMetricsServiceRequest protobuf bytes, written straight into byte buffers,
// as the COPY encoder does for PostgreSQL: no object per data point, attribute keys encoded once
// and kept, each flow's attributes encoded once and copied into each of its data points.
//
// Message layout (opentelemetry-proto, collector/metrics/v1 and metrics/v1; every field is
// written in field-number order, as protobufjs and the Go encoder write them, so the bytes are
// the canonical encoding of the same message):
//
//   ExportMetricsServiceRequest  1: ResourceMetrics (one per request)
//   ResourceMetrics              1: Resource { 1: KeyValue attributes }  2: ScopeMetrics
//   ScopeMetrics                 1: InstrumentationScope { 1: name  2: version }  2: Metric (1–4)
//   Metric                       1: name  2: description  3: unit  7: Sum
//   Sum                          1: NumberDataPoint (repeated)  2: aggregation_temporality (1 delta,
//                                2 cumulative)  3: is_monotonic = true
//   NumberDataPoint              2: start_time_unix_nano fixed64  3: time_unix_nano fixed64
//                                6: as_int sfixed64 (4: as_double double, IEEE 754 little-endian,
//                                for network.flow.cost and a counter that is not a whole number)
//                                7: KeyValue attributes (the flow's, then network.io.direction)
//   KeyValue                     1: key  2: AnyValue { 1: string | 2: bool | 3: int64 | 4: double }
//
// A flow gives up to six points: network.flow.io and network.flow.packets per direction that
// carried anything, network.flow.connections when connections were opened, and network.flow.cost
// (unit USD; 4: as_double = usdNumber(costZeptoUsd), the nearest double; no direction) when the
// netcost processor priced it above zero (a zero cost, like a zero count, is no point). The
// points of one metric are gathered in a buffer of their own; a request is closed when the next
// flow would take it past `maxRequestBytes` (a single larger flow is sent alone).
import { usdNumber, type Attributes, type AttributeValue, type Flow, type Temporality } from '../../../model/index.ts';
import {
  DIRECTION_RECEIVE,
  DIRECTION_TRANSMIT,
  FLOW_BYTES_DESCRIPTION,
  FLOW_BYTES_METRIC,
  FLOW_BYTES_UNIT,
  FLOW_CONNECTIONS_DESCRIPTION,
  FLOW_CONNECTIONS_METRIC,
  FLOW_CONNECTIONS_UNIT,
  FLOW_COST_DESCRIPTION,
  FLOW_COST_METRIC,
  FLOW_COST_UNIT,
  FLOW_METRICS_SCOPE,
  FLOW_PACKETS_DESCRIPTION,
  FLOW_PACKETS_METRIC,
  FLOW_PACKETS_UNIT,
  NETWORK_IO_DIRECTION,
} from '../../../model/flow-metrics.ts';
import { ByteSink, tag, utf8Length, varintSize, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT, writeUtf8 } from './wire.ts';

/**
 * What becomes of each encoded request body: it is only valid during the call (the encoder
 * reuses its memory), so the result is a compressed copy, or a plain copy (`copyBody`).
 */
export type BodyFinisher = (body: Buffer) => Buffer;

export const copyBody: BodyFinisher = (body) => Buffer.from(body);

/** What turns a batch's flows into request bodies (protobuf or OTLP/JSON). */
export interface OtlpEncoder {
  readonly contentType: string;
  /** The flows as requests of at most about `maxRequestBytes` each; none when no flow carried anything. */
  encode(resource: Attributes, temporality: Temporality, flows: readonly Flow[], finish?: BodyFinisher): Buffer[];
}

export interface OtlpEncoderOptions {
  /** A request is closed before it would grow past this (uncompressed). */
  maxRequestBytes: number;
  /** The instrumentation scope's version (podflow's). */
  scopeVersion: string;
}

const T_FIELD1 = tag(1, WIRE_LEN); // resource_metrics, resource, attributes (Resource), scope, name, key, string_value, data_points
const T_FIELD2 = tag(2, WIRE_LEN); // scope_metrics, metrics, version, description, KeyValue.value
const T_UNIT = tag(3, WIRE_LEN);
const T_SUM = tag(7, WIRE_LEN);
const T_TEMPORALITY = tag(2, WIRE_VARINT);
const T_MONOTONIC = tag(3, WIRE_VARINT);
const T_POINT_START = tag(2, WIRE_FIXED64);
const T_POINT_TIME = tag(3, WIRE_FIXED64);
const T_POINT_AS_DOUBLE = tag(4, WIRE_FIXED64);
const T_POINT_AS_INT = tag(6, WIRE_FIXED64);
const T_POINT_ATTRIBUTE = tag(7, WIRE_LEN);
const T_ANY_STRING = tag(1, WIRE_LEN);
const T_ANY_BOOL = tag(2, WIRE_VARINT);
const T_ANY_INT = tag(3, WIRE_VARINT);
const T_ANY_DOUBLE = tag(4, WIRE_FIXED64);

/** Bytes of a fixed64 field (start, time, value): tag and eight bytes. */
const FIXED64_FIELD_BYTES = 9;
const TWO_32 = 4_294_967_296;

/** Bytes of an int64 varint. */
function int64Size(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** A length-delimited field: tag, length, bytes. */
function lenField(fieldTag: number, body: Buffer): Buffer {
  const sink = new ByteSink(body.length + 6);
  sink.byte(fieldTag);
  sink.varint(body.length);
  sink.bytes(body);
  return sink.take();
}

function stringField(fieldTag: number, s: string): Buffer {
  return lenField(fieldTag, Buffer.from(s, 'utf8'));
}

/** Name, description and unit of a metric: the part before its Sum. */
function metricHeader(name: string, description: string, unit: string): Buffer {
  return Buffer.concat([stringField(T_FIELD1, name), stringField(T_FIELD2, description), stringField(T_UNIT, unit)]);
}

/** Writes KeyValue fields (attributes) with the key fields kept per key. */
class KeyValueWriter {
  readonly #keys = new Map<string, Buffer>();

  /** `fieldTag` is the attributes field of the enclosing message (7 for a point, 1 for a Resource). */
  write(sink: ByteSink, fieldTag: number, key: string, value: AttributeValue): void {
    let keyField = this.#keys.get(key);
    if (keyField === undefined) {
      keyField = stringField(T_FIELD1, key);
      this.#keys.set(key, keyField);
    }
    let anyLen: number;
    let strLen = 0;
    let asInt = false;
    if (typeof value === 'string') {
      strLen = utf8Length(value);
      anyLen = 1 + varintSize(strLen) + strLen;
    } else if (typeof value === 'number') {
      asInt = Number.isSafeInteger(value);
      anyLen = asInt ? 1 + int64Size(value) : 9;
    } else {
      anyLen = 2;
    }
    const kvLen = keyField.length + 1 + varintSize(anyLen) + anyLen;
    sink.ensure(kvLen + 6);
    sink.byte(fieldTag);
    sink.varint(kvLen);
    sink.bytes(keyField);
    sink.byte(T_FIELD2);
    sink.varint(anyLen);
    if (typeof value === 'string') {
      sink.byte(T_ANY_STRING);
      sink.varint(strLen);
      writeUtf8(sink, value, strLen);
    } else if (typeof value === 'number') {
      if (asInt) {
        sink.byte(T_ANY_INT);
        sink.int64(value);
      } else {
        sink.byte(T_ANY_DOUBLE);
        sink.double(value);
      }
    } else {
      sink.byte(T_ANY_BOOL);
      sink.byte(value ? 1 : 0);
    }
  }
}

/** One metric's data points in the request being built. */
interface MetricPoints {
  header: Buffer;
  points: ByteSink;
}

export class OtlpProtoEncoder implements OtlpEncoder {
  readonly contentType = 'application/x-protobuf';
  readonly #maxRequestBytes: number;
  readonly #scope: Buffer;
  readonly #kv = new KeyValueWriter();
  readonly #attributes = new ByteSink();
  /** The request being finished; reused, so a body is valid until the next one. */
  readonly #out = new ByteSink(1 << 20);
  readonly #bytes: MetricPoints;
  readonly #packets: MetricPoints;
  readonly #connections: MetricPoints;
  readonly #cost: MetricPoints;
  readonly #transmit: Buffer;
  readonly #receive: Buffer;
  // The timestamps of the last flow, as 32-bit halves: a batch's flows share them.
  #start = -1n;
  #startLo = 0;
  #startHi = 0;
  #time = -1n;
  #timeLo = 0;
  #timeHi = 0;
  /** Bytes of a point besides its attributes (a zero time is left out, as proto3 leaves defaults out). */
  #pointFixedBytes = 0;

  constructor(options: OtlpEncoderOptions) {
    this.#maxRequestBytes = options.maxRequestBytes;
    this.#scope = Buffer.concat([stringField(T_FIELD1, FLOW_METRICS_SCOPE), stringField(T_FIELD2, options.scopeVersion)]);
    this.#bytes = { header: metricHeader(FLOW_BYTES_METRIC, FLOW_BYTES_DESCRIPTION, FLOW_BYTES_UNIT), points: new ByteSink() };
    this.#packets = { header: metricHeader(FLOW_PACKETS_METRIC, FLOW_PACKETS_DESCRIPTION, FLOW_PACKETS_UNIT), points: new ByteSink() };
    this.#connections = { header: metricHeader(FLOW_CONNECTIONS_METRIC, FLOW_CONNECTIONS_DESCRIPTION, FLOW_CONNECTIONS_UNIT), points: new ByteSink() };
    this.#cost = { header: metricHeader(FLOW_COST_METRIC, FLOW_COST_DESCRIPTION, FLOW_COST_UNIT), points: new ByteSink() };
    const direction = (value: string) => {
      const sink = new ByteSink(64);
      this.#kv.write(sink, T_POINT_ATTRIBUTE, NETWORK_IO_DIRECTION, value);
      return sink.take();
    };
    this.#transmit = direction(DIRECTION_TRANSMIT);
    this.#receive = direction(DIRECTION_RECEIVE);
  }

  encode(resource: Attributes, temporality: Temporality, flows: readonly Flow[], finish: BodyFinisher = copyBody): Buffer[] {
    const resourceSink = new ByteSink(1024);
    for (const key in resource) this.#kv.write(resourceSink, T_FIELD1, key, resource[key]!);
    const resourceBody = resourceSink.take();
    const temporalityValue = temporality === 'delta' ? 1 : 2;
    // Everything of a request but its points, with room for the length varints.
    const overhead = resourceBody.length + this.#scope.length + this.#bytes.header.length + this.#packets.header.length + this.#connections.header.length + this.#cost.header.length + 64;
    const metrics = [this.#bytes, this.#packets, this.#connections, this.#cost];
    for (const m of metrics) m.points.pos = 0;
    const requests: Buffer[] = [];
    let inRequest = 0;
    for (const flow of flows) {
      this.#encodeAttributes(flow.attributes);
      const before0 = this.#bytes.points.pos;
      const before1 = this.#packets.points.pos;
      const before2 = this.#connections.points.pos;
      const before3 = this.#cost.points.pos;
      if (!this.#writePoints(flow)) continue;
      if (inRequest > 0 && this.#bytes.points.pos + this.#packets.points.pos + this.#connections.points.pos + this.#cost.points.pos + overhead > this.#maxRequestBytes) {
        this.#bytes.points.pos = before0;
        this.#packets.points.pos = before1;
        this.#connections.points.pos = before2;
        this.#cost.points.pos = before3;
        requests.push(finish(this.#request(resourceBody, temporalityValue, metrics)));
        for (const m of metrics) m.points.pos = 0;
        this.#writePoints(flow);
        inRequest = 0;
      }
      inRequest++;
    }
    if (inRequest > 0) requests.push(finish(this.#request(resourceBody, temporalityValue, metrics)));
    return requests;
  }

  #encodeAttributes(attributes: Attributes): void {
    const sink = this.#attributes;
    sink.pos = 0;
    for (const key in attributes) this.#kv.write(sink, T_POINT_ATTRIBUTE, key, attributes[key]!);
  }

  /** The flow's points (its attributes already encoded); false when it carried nothing. */
  #writePoints(flow: Flow): boolean {
    if (flow.startTimeUnixNano !== this.#start) {
      this.#start = flow.startTimeUnixNano;
      this.#startLo = Number(this.#start & 0xffffffffn);
      this.#startHi = Number((this.#start >> 32n) & 0xffffffffn);
    }
    if (flow.timeUnixNano !== this.#time) {
      this.#time = flow.timeUnixNano;
      this.#timeLo = Number(this.#time & 0xffffffffn);
      this.#timeHi = Number((this.#time >> 32n) & 0xffffffffn);
    }
    this.#pointFixedBytes = FIXED64_FIELD_BYTES * (1 + (this.#start === 0n ? 0 : 1) + (this.#time === 0n ? 0 : 1));
    let wrote = false;
    if (flow.txBytes !== 0) wrote = this.#point(this.#bytes.points, flow.txBytes, this.#transmit);
    if (flow.rxBytes !== 0) wrote = this.#point(this.#bytes.points, flow.rxBytes, this.#receive);
    if (flow.txPackets !== 0) wrote = this.#point(this.#packets.points, flow.txPackets, this.#transmit);
    if (flow.rxPackets !== 0) wrote = this.#point(this.#packets.points, flow.rxPackets, this.#receive);
    if (flow.connections !== 0) wrote = this.#point(this.#connections.points, flow.connections, undefined);
    const cost = flow.costZeptoUsd;
    if (cost !== undefined && cost !== 0n) wrote = this.#point(this.#cost.points, usdNumber(cost), undefined, true);
    return wrote;
  }

  /** One point; `asDouble` for a double metric (network.flow.cost), else as_int when it is a whole number ≥ 0. */
  #point(sink: ByteSink, value: number, direction: Buffer | undefined, asDouble = false): true {
    const attributes = this.#attributes;
    const bodyLen = this.#pointFixedBytes + attributes.pos + (direction ? direction.length : 0);
    sink.ensure(bodyLen + 6);
    sink.byte(T_FIELD1);
    sink.varint(bodyLen);
    if (this.#start !== 0n) {
      sink.byte(T_POINT_START);
      sink.fixed64(this.#startLo, this.#startHi);
    }
    if (this.#time !== 0n) {
      sink.byte(T_POINT_TIME);
      sink.fixed64(this.#timeLo, this.#timeHi);
    }
    if (!asDouble && value >= 0 && Number.isSafeInteger(value)) {
      const lo = value % TWO_32;
      sink.byte(T_POINT_AS_INT);
      sink.fixed64(lo, (value - lo) / TWO_32);
    } else {
      sink.byte(T_POINT_AS_DOUBLE);
      sink.double(value);
    }
    sink.bytes(attributes.view());
    if (direction) sink.bytes(direction);
    return true;
  }

  /** One request of the points gathered so far. */
  #request(resourceBody: Buffer, temporality: number, metrics: readonly MetricPoints[]): Buffer {
    let scopeMetricsLen = 1 + varintSize(this.#scope.length) + this.#scope.length;
    const sumLens: number[] = [];
    const metricLens: number[] = [];
    for (const m of metrics) {
      if (m.points.pos === 0) {
        sumLens.push(0);
        metricLens.push(0);
        continue;
      }
      const sumLen = m.points.pos + 4;
      const metricLen = m.header.length + 1 + varintSize(sumLen) + sumLen;
      sumLens.push(sumLen);
      metricLens.push(metricLen);
      scopeMetricsLen += 1 + varintSize(metricLen) + metricLen;
    }
    const resourceMetricsLen = 1 + varintSize(resourceBody.length) + resourceBody.length + 1 + varintSize(scopeMetricsLen) + scopeMetricsLen;
    const out = this.#out;
    out.pos = 0;
    out.ensure(1 + varintSize(resourceMetricsLen) + resourceMetricsLen);
    out.byte(T_FIELD1);
    out.varint(resourceMetricsLen);
    out.byte(T_FIELD1);
    out.varint(resourceBody.length);
    out.bytes(resourceBody);
    out.byte(T_FIELD2);
    out.varint(scopeMetricsLen);
    out.byte(T_FIELD1);
    out.varint(this.#scope.length);
    out.bytes(this.#scope);
    metrics.forEach((m, i) => {
      if (m.points.pos === 0) return;
      out.byte(T_FIELD2);
      out.varint(metricLens[i]!);
      out.bytes(m.header);
      out.byte(T_SUM);
      out.varint(sumLens[i]!);
      out.bytes(m.points.view());
      out.byte(T_TEMPORALITY);
      out.byte(temporality);
      out.byte(T_MONOTONIC);
      out.byte(1);
    });
    return out.buf.subarray(0, out.pos);
  }
}
