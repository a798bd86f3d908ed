// Flows → OTLP/JSON ExportMetricsServiceRequest bodies: the same message as the protobuf encoder
// writes (proto-encoder.ts), in the protobuf JSON mapping OTLP/JSON specifies: lowerCamelCase
// field names, 64-bit integers as decimal strings, enums as numbers, doubles as JSON numbers (the
// shortest text that reads back as the same double: network.flow.cost's `asDouble`). Each flow's
// attributes are written once as text and reused by each of its points.
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
import { copyBody, type BodyFinisher, type OtlpEncoder, type OtlpEncoderOptions } from './proto-encoder.ts';
import { utf8Length } from './wire.ts';

/** A double as ProtoJSON writes it: NaN and the infinities are strings. */
function jsonDouble(x: number): string {
  return Number.isFinite(x) ? String(x) : `"${x}"`;
}

function anyValueJson(value: AttributeValue): string {
  if (typeof value === 'string') return `{"stringValue":${JSON.stringify(value)}}`;
  if (typeof value === 'boolean') return `{"boolValue":${value}}`;
  return Number.isSafeInteger(value) ? `{"intValue":"${value}"}` : `{"doubleValue":${jsonDouble(value)}}`;
}

interface MetricPoints {
  head: string;
  points: string[];
}

export class OtlpJsonEncoder implements OtlpEncoder {
  readonly contentType = 'application/json';
  readonly #maxRequestBytes: number;
  readonly #scope: string;
  /** `{"key":"<key>","value":` per key. */
  readonly #keys = new Map<string, string>();
  readonly #transmit: string;
  readonly #receive: string;

  constructor(options: OtlpEncoderOptions) {
    this.#maxRequestBytes = options.maxRequestBytes;
    this.#scope = `{"name":${JSON.stringify(FLOW_METRICS_SCOPE)},"version":${JSON.stringify(options.scopeVersion)}}`;
    this.#transmit = this.#keyValue(NETWORK_IO_DIRECTION, DIRECTION_TRANSMIT);
    this.#receive = this.#keyValue(NETWORK_IO_DIRECTION, DIRECTION_RECEIVE);
  }

  encode(resource: Attributes, temporality: Temporality, flows: readonly Flow[], finish: BodyFinisher = copyBody): Buffer[] {
    const resourceJson = `{"attributes":[${this.#keyValues(resource)}]}`;
    const sumTail = `],"aggregationTemporality":${temporality === 'delta' ? 1 : 2},"isMonotonic":true}}`;
    const metric = (name: string, description: string, unit: string): MetricPoints => ({
      head: `{"name":${JSON.stringify(name)},"description":${JSON.stringify(description)},"unit":${JSON.stringify(unit)},"sum":{"dataPoints":[`,
      points: [],
    });
    const metrics = [
      metric(FLOW_BYTES_METRIC, FLOW_BYTES_DESCRIPTION, FLOW_BYTES_UNIT),
      metric(FLOW_PACKETS_METRIC, FLOW_PACKETS_DESCRIPTION, FLOW_PACKETS_UNIT),
      metric(FLOW_CONNECTIONS_METRIC, FLOW_CONNECTIONS_DESCRIPTION, FLOW_CONNECTIONS_UNIT),
      metric(FLOW_COST_METRIC, FLOW_COST_DESCRIPTION, FLOW_COST_UNIT),
    ];
    const overhead = resourceJson.length + this.#scope.length + metrics.reduce((n, m) => n + m.head.length + sumTail.length, 0) + 96;
    const requests: Buffer[] = [];
    const close = () => {
      const body = metrics.filter((m) => m.points.length > 0).map((m) => m.head + m.points.join(',') + sumTail).join(',');
      requests.push(finish(Buffer.from(`{"resourceMetrics":[{"resource":${resourceJson},"scopeMetrics":[{"scope":${this.#scope},"metrics":[${body}]}]}]}`, 'utf8')));
      for (const m of metrics) m.points.length = 0;
    };
    let bytes = overhead;
    let inRequest = 0;
    for (const flow of flows) {
      const attributes = this.#keyValues(flow.attributes);
      const times = `"startTimeUnixNano":"${flow.startTimeUnixNano}","timeUnixNano":"${flow.timeUnixNano}",`;
      const points: Array<[MetricPoints, string]> = [];
      const add = (m: MetricPoints, value: number, direction: string | undefined, asDouble = false) => {
        const v = !asDouble && value >= 0 && Number.isSafeInteger(value) ? `"asInt":"${value}"` : `"asDouble":${jsonDouble(value)}`;
        points.push([m, `{"attributes":[${direction ? (attributes ? `${attributes},${direction}` : direction) : attributes}],${times}${v}}`]);
      };
      if (flow.txBytes !== 0) add(metrics[0]!, flow.txBytes, this.#transmit);
      if (flow.rxBytes !== 0) add(metrics[0]!, flow.rxBytes, this.#receive);
      if (flow.txPackets !== 0) add(metrics[1]!, flow.txPackets, this.#transmit);
      if (flow.rxPackets !== 0) add(metrics[1]!, flow.rxPackets, this.#receive);
      if (flow.connections !== 0) add(metrics[2]!, flow.connections, undefined);
      // network.flow.cost (proto-encoder.ts): a double point, no direction, none for a zero cost
      if (flow.costZeptoUsd !== undefined && flow.costZeptoUsd !== 0n) add(metrics[3]!, usdNumber(flow.costZeptoUsd), undefined, true);
      if (points.length === 0) continue;
      const flowBytes = points.reduce((n, [, p]) => n + utf8Length(p) + 1, 0);
      if (inRequest > 0 && bytes + flowBytes > this.#maxRequestBytes) {
        close();
        bytes = overhead;
        inRequest = 0;
      }
      for (const [m, p] of points) m.points.push(p);
      bytes += flowBytes;
      inRequest++;
    }
    if (inRequest > 0) close();
    return requests;
  }

  #keyValue(key: string, value: AttributeValue): string {
    let head = this.#keys.get(key);
    if (head === undefined) {
      head = `{"key":${JSON.stringify(key)},"value":`;
      this.#keys.set(key, head);
    }
    return `${head}${anyValueJson(value)}}`;
  }

  #keyValues(attributes: Attributes): string {
    let out = '';
    for (const key in attributes) out += (out ? ',' : '') + this.#keyValue(key, attributes[key]!);
    return out;
  }
}
