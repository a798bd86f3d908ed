// The reference for podflow's OTLP encoders: the same flows as a plain ExportMetricsServiceRequest
// object, written the obvious way (one object per point), for protobufjs to encode with the
// official definitions (test/harness/otlp-proto.ts) and for decoded requests to be compared with.
import { usdText, type Attributes, type AttributeValue, type Flow, type Temporality } from '../../../../model/index.ts';
import * as names from '../../../../model/flow-metrics.ts';

function anyValue(v: AttributeValue): object {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isSafeInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

export function keyValues(attributes: Attributes): object[] {
  return Object.entries(attributes).map(([key, value]) => ({ key, value: anyValue(value) }));
}

function point(flow: Flow, value: number, direction?: string, asDouble = false): object {
  const attributes = direction ? { ...flow.attributes, [names.NETWORK_IO_DIRECTION]: direction } : flow.attributes;
  return {
    startTimeUnixNano: flow.startTimeUnixNano.toString(),
    timeUnixNano: flow.timeUnixNano.toString(),
    ...(!asDouble && Number.isSafeInteger(value) && value >= 0 ? { asInt: String(value) } : { asDouble: value }),
    attributes: keyValues(attributes),
  };
}

/** One request carrying every point of `flows`, metrics in podflow's order, empty ones left out. */
export function referenceRequest(resource: Attributes, temporality: Temporality, flows: readonly Flow[], scopeVersion: string): object {
  const io: object[] = [];
  const packets: object[] = [];
  const connections: object[] = [];
  const cost: object[] = [];
  for (const f of flows) {
    if (f.txBytes) io.push(point(f, f.txBytes, names.DIRECTION_TRANSMIT));
    if (f.rxBytes) io.push(point(f, f.rxBytes, names.DIRECTION_RECEIVE));
    if (f.txPackets) packets.push(point(f, f.txPackets, names.DIRECTION_TRANSMIT));
    if (f.rxPackets) packets.push(point(f, f.rxPackets, names.DIRECTION_RECEIVE));
    if (f.connections) connections.push(point(f, f.connections));
    // the nearest double to the exact decimal, a point only for a cost above zero
    if (f.costZeptoUsd) cost.push(point(f, Number(usdText(f.costZeptoUsd)), undefined, true));
  }
  const sum = (dataPoints: object[]) => ({ dataPoints, aggregationTemporality: temporality === 'delta' ? 1 : 2, isMonotonic: true });
  const metrics = [
    [names.FLOW_BYTES_METRIC, names.FLOW_BYTES_DESCRIPTION, names.FLOW_BYTES_UNIT, io],
    [names.FLOW_PACKETS_METRIC, names.FLOW_PACKETS_DESCRIPTION, names.FLOW_PACKETS_UNIT, packets],
    [names.FLOW_CONNECTIONS_METRIC, names.FLOW_CONNECTIONS_DESCRIPTION, names.FLOW_CONNECTIONS_UNIT, connections],
    [names.FLOW_COST_METRIC, names.FLOW_COST_DESCRIPTION, names.FLOW_COST_UNIT, cost],
  ] as const;
  return {
    resourceMetrics: [
      {
        resource: { attributes: keyValues(resource) },
        scopeMetrics: [
          {
            scope: { name: names.FLOW_METRICS_SCOPE, version: scopeVersion },
            metrics: metrics.filter(([, , , points]) => points.length > 0).map(([name, description, unit, points]) => ({ name, description, unit, sum: sum(points) })),
          },
        ],
      },
    ],
  };
}
