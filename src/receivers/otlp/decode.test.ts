// The decoders against the official protos: requests written by protobufjs from the
// opentelemetry-proto definitions (and their OTLP/JSON form) decode into the flows they carry.
import test from 'ava';
import fc from 'fast-check';
import { encodeMetricsRequest, ExportMetricsServiceRequest } from '../../../test/harness/otlp-proto.ts';
import type { Flow } from '../../model/index.ts';
import { arbitraryFlow } from '../../exporters/shared/otlp/testdata/arbitrary-flows.ts';
import { referenceRequest } from '../../exporters/shared/otlp/testdata/reference.ts';
import { decodeJsonRequest } from './decode-json.ts';
import { decodeProtoRequest } from './decode-proto.ts';
import { sorted } from './testdata/round-trip.ts';

const resource = { 'service.name': 'podflow', 'k8s.node.name': 'node-a', 'x.n': 7 };
// Distinct attribute sets: flows of one set and one interval are one flow on the wire.
const flowsArb = fc.uniqueArray(arbitraryFlow({ zeroCounters: false, excludeKeys: ['network.io.direction'], negativeZero: false }), { maxLength: 6, selector: (f) => JSON.stringify(Object.entries(f.attributes).sort()) });

test('protobuf: every flow back exactly, with the resource (property)', (t) => {
  fc.assert(
    fc.property(flowsArb, fc.constantFrom('delta' as const, 'cumulative' as const), (flows: Flow[], temporality) => {
      const bytes = encodeMetricsRequest(referenceRequest(resource, temporality, flows, 'v'));
      const got = decodeProtoRequest(bytes);
      if (flows.length === 0) return got.length === 0;
      t.is(got.length, 1);
      t.deepEqual(got[0]!.resource, resource);
      t.is(got[0]!.temporality, temporality);
      t.deepEqual(sorted(got[0]!.flows), sorted(flows));
      return true;
    }),
    { numRuns: 200 },
  );
});

test('OTLP/JSON: every flow back exactly (property)', (t) => {
  fc.assert(
    fc.property(flowsArb, (flows: Flow[]) => {
      const message = ExportMetricsServiceRequest.fromObject(referenceRequest(resource, 'delta', flows, 'v'));
      const json = JSON.stringify(ExportMetricsServiceRequest.toObject(message, { longs: String, enums: Number }));
      const got = decodeJsonRequest(json);
      if (flows.length === 0) return got.length === 0;
      t.deepEqual(sorted(got[0]!.flows), sorted(flows));
      return true;
    }),
    { numRuns: 200 },
  );
});

test('fields in any order: the resource after its metrics, a Sum\'s temporality before its points', (t) => {
  const flow: Flow = { startTimeUnixNano: 5n, timeUnixNano: 9n, attributes: { a: 'b' }, txBytes: 3, rxBytes: 0, txPackets: 0, rxPackets: 0, connections: 0 };
  const canonical = encodeMetricsRequest(referenceRequest({ r: 's' }, 'delta', [flow], 'v'));
  const decoded = decodeProtoRequest(canonical);
  // Re-encode ResourceMetrics with scope_metrics (2) before resource (1).
  const rm = ExportMetricsServiceRequest.decode(canonical) as unknown as { resourceMetrics: Array<{ resource: unknown; scopeMetrics: unknown[] }> };
  const Resource = ExportMetricsServiceRequest.lookupType('opentelemetry.proto.resource.v1.Resource');
  const ScopeMetrics = ExportMetricsServiceRequest.lookupType('opentelemetry.proto.metrics.v1.ScopeMetrics');
  const len = (n: number) => { const out: number[] = []; while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; } out.push(n); return Buffer.from(out); };
  const field = (tag: number, body: Uint8Array) => Buffer.concat([Buffer.from([tag]), len(body.length), body]);
  const inner = Buffer.concat([field(0x12, ScopeMetrics.encode(rm.resourceMetrics[0]!.scopeMetrics[0] as object).finish()), field(0x0a, Resource.encode(rm.resourceMetrics[0]!.resource as object).finish())]);
  t.deepEqual(decodeProtoRequest(field(0x0a, inner)), decoded);
  t.deepEqual(decoded[0]!.flows, [flow]);
});

test('points of a flow in any order across metrics still make one flow', (t) => {
  const at = (attributes: Flow['attributes'], tx: number, connections: number): Flow => ({ startTimeUnixNano: 5n, timeUnixNano: 9n, attributes, txBytes: tx, rxBytes: 0, txPackets: 1, rxPackets: 0, connections });
  const flows = [at({ a: '1' }, 10, 1), at({ a: '2' }, 20, 1), at({ a: '3' }, 30, 1)];
  const request = referenceRequest({}, 'delta', flows, 'v') as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ sum: { dataPoints: unknown[] } }> }> }> };
  // The packets and connections metrics list the flows backwards.
  for (const m of request.resourceMetrics[0]!.scopeMetrics[0]!.metrics.slice(1)) m.sum.dataPoints.reverse();
  const [got] = decodeProtoRequest(encodeMetricsRequest(request));
  t.deepEqual(sorted(got!.flows), sorted(flows));
});

test('an attribute named __proto__ is an attribute like any other (protobuf and JSON)', (t) => {
  const attributes = JSON.parse('{"__proto__": "x", "constructor": 1, "source.address": "10.0.0.1"}') as Flow['attributes'];
  const flow: Flow = { startTimeUnixNano: 1n, timeUnixNano: 2n, attributes, txBytes: 3, rxBytes: 0, txPackets: 1, rxPackets: 0, connections: 0 };
  const request = referenceRequest({}, 'delta', [flow], 'v');
  const fromProto = decodeProtoRequest(encodeMetricsRequest(request));
  const json = JSON.stringify(ExportMetricsServiceRequest.toObject(ExportMetricsServiceRequest.fromObject(request), { longs: String, enums: Number }));
  for (const [got] of [fromProto, decodeJsonRequest(json)]) {
    t.deepEqual(Object.keys(got!.flows[0]!.attributes), ['__proto__', 'constructor', 'source.address']);
    t.is(Object.getPrototypeOf(got!.flows[0]!.attributes), Object.prototype);
    t.deepEqual(got!.flows[0]!.attributes, attributes);
  }
});

test('network.flow.cost joins the io points of its flow (same attributes and times); with a direction or below zero it is refused with its place', (t) => {
  const sum = (name: string, dataPoints: object[]) => ({ name, unit: name === 'network.flow.cost' ? 'USD' : 'By', sum: { aggregationTemporality: 1, isMonotonic: true, dataPoints } });
  const kv = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const request = (metrics: object[]) => encodeMetricsRequest({ resourceMetrics: [{ scopeMetrics: [{ metrics }] }] });
  const [batch] = decodeProtoRequest(request([
    sum('network.flow.io', [
      { asInt: '100', startTimeUnixNano: '1', timeUnixNano: '2', attributes: [kv('a', 'x'), kv('network.io.direction', 'transmit')] },
      { asInt: '7', startTimeUnixNano: '2', timeUnixNano: '3', attributes: [kv('a', 'x'), kv('network.io.direction', 'transmit')] },
    ]),
    sum('network.flow.cost', [
      { asDouble: 0.000019, startTimeUnixNano: '1', timeUnixNano: '2', attributes: [kv('a', 'x')] },
      { asDouble: 1e-21, startTimeUnixNano: '1', timeUnixNano: '2', attributes: [kv('a', 'x')] },
    ]),
  ]));
  t.deepEqual(batch!.flows.map((f) => [f.startTimeUnixNano, f.txBytes, f.costZeptoUsd]), [[1n, 100, 19_000_000_000_000_001n], [2n, 7, undefined]]);

  const directed = request([sum('network.flow.cost', [{ asDouble: 1, timeUnixNano: '2', attributes: [kv('network.io.direction', 'transmit')] }])]);
  t.throws(() => decodeProtoRequest(directed), { message: 'resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0]: network.flow.cost has no network.io.direction' });
  const negative = request([sum('network.flow.cost', [{ asDouble: -0.5, timeUnixNano: '2' }])]);
  t.throws(() => decodeProtoRequest(negative), { message: /dataPoints\[0\]: value -0\.5 is not a counter/ });
  const json = JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [sum('network.flow.cost', [{ asDouble: 2.5, timeUnixNano: '2', attributes: [kv('a', 'y')] }])] }] }] });
  t.deepEqual(decodeJsonRequest(json)[0]!.flows, [{ startTimeUnixNano: 0n, timeUnixNano: 2n, attributes: { a: 'y' }, txBytes: 0, rxBytes: 0, txPackets: 0, rxPackets: 0, connections: 0, costZeptoUsd: 2_500_000_000_000_000_000_000n }]);
});

test('many flows alike: values of one length, a connection every 12th flow, the direction amid the attributes, ints past 2^49 and below 0', (t) => {
  const flows: Flow[] = Array.from({ length: 60 }, (_, i) => ({
    startTimeUnixNano: 5n,
    timeUnixNano: 9n,
    attributes: {
      'source.address': `10.0.0.${100 + (i % 50)}`,
      'source.port': i % 2 ? 40_000 + i : -i - 1,
      'destination.address': `10.0.1.${100 + (i % 7)}`,
      ...(i % 3 === 0 ? { 'destination.original.address': '10.96.0.10' } : {}),
      'x.big': 2 ** 52 + i,
      'network.transport': i % 5 ? 'tcp' : 'udp',
    },
    txBytes: 10 + i, rxBytes: 20 + i, txPackets: 1, rxPackets: 2, connections: i % 12 === 0 ? 1 : 0,
  }));
  const request = referenceRequest({}, 'delta', flows, 'v') as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ sum: { dataPoints: Array<{ attributes: unknown[] }> } }> }> }> };
  // network.io.direction (written last) moved to the second place: each point's attributes in two runs
  for (const m of request.resourceMetrics[0]!.scopeMetrics[0]!.metrics.slice(0, 2)) {
    for (const p of m.sum.dataPoints) p.attributes.splice(1, 0, p.attributes.pop());
  }
  const [got] = decodeProtoRequest(encodeMetricsRequest(request));
  t.deepEqual(sorted(got!.flows), sorted(flows));
  t.deepEqual(got!.flows.map((f) => Object.keys(f.attributes)), flows.map((f) => Object.keys(f.attributes)), 'attributes in their order on the wire');
});
