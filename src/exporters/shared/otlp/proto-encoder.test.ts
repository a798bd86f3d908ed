import test from 'ava';
import fc from 'fast-check';
import { decodeMetricsRequest, encodeMetricsRequest } from '../../../../test/harness/otlp-proto.ts';
import type { Attributes, Flow } from '../../../model/index.ts';
import { OtlpProtoEncoder } from './proto-encoder.ts';
import { arbitraryFlow } from './testdata/arbitrary-flows.ts';
import { referenceRequest } from './testdata/reference.ts';

const T0 = 1_760_000_000_123_456_789n;
const resource = { 'service.name': 'podflow', 'service.version': '0.1.0', 'k8s.node.name': 'node-a' };

function flow(attributes: Attributes, counters: Partial<Flow> = {}): Flow {
  return { startTimeUnixNano: T0, timeUnixNano: T0 + 5_000_000_000n, attributes, txBytes: 1_200, rxBytes: 3_400, txPackets: 10, rxPackets: 12, connections: 1, ...counters };
}

const agentFlow = {
  'source.address': '10.1.2.3',
  'destination.address': '10.96.0.10',
  'network.transport': 'udp',
  'network.type': 'ipv4',
  'destination.port': 53,
};

test('byte for byte the canonical encoding of the same message (protobufjs, official protos)', (t) => {
  const encoder = new OtlpProtoEncoder({ maxRequestBytes: 4 << 20, scopeVersion: '0.1.0' });
  const flows = [
    flow(agentFlow),
    flow({ ...agentFlow, 'source.address': '10.1.2.4' }, { rxBytes: 0, rxPackets: 0, connections: 0, costZeptoUsd: 1_234_567_890_123_456_789n }),
    flow({ ...agentFlow, 'source.address': '10.1.2.5' }, { costZeptoUsd: 0n }),
    flow({ ...agentFlow, 'source.address': '10.1.2.6' }, { costZeptoUsd: 3n * 10n ** 21n }),
    flow({ 'source.k8s.owner.name': 'wéb ✓ 🚀', 'network.flow.inter_zone': true, 'x.neg': -42, 'x.big': 2 ** 40, 'x.frac': 0.25, 'x.false': false, empty: '' }, { txBytes: 2 ** 52 + 1, timeUnixNano: T0 + 1n }),
  ];
  for (const temporality of ['delta', 'cumulative'] as const) {
    const got = encoder.encode(resource, temporality, flows);
    t.is(got.length, 1);
    t.deepEqual(got[0], encodeMetricsRequest(referenceRequest(resource, temporality, flows, '0.1.0')), temporality);
  }
});

test('flows that carried nothing give no request; zero counters give no point', (t) => {
  const encoder = new OtlpProtoEncoder({ maxRequestBytes: 4 << 20, scopeVersion: 'v' });
  t.deepEqual(encoder.encode(resource, 'delta', [flow(agentFlow, { txBytes: 0, rxBytes: 0, txPackets: 0, rxPackets: 0, connections: 0 })]), []);
  const [only] = encoder.encode(resource, 'delta', [flow(agentFlow, { rxBytes: 0, txPackets: 0, rxPackets: 0, connections: 0 })]);
  const decoded = decodeMetricsRequest(only!) as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string; sum: { dataPoints: unknown[] } }> }> }> };
  const metrics = decoded.resourceMetrics[0]!.scopeMetrics[0]!.metrics;
  t.deepEqual(metrics.map((m) => [m.name, m.sum.dataPoints.length]), [['network.flow.io', 1]]);
});

test('requests are cut before max_request_size; every point is in exactly one', (t) => {
  const encoder = new OtlpProtoEncoder({ maxRequestBytes: 8_192, scopeVersion: 'v' });
  // every third flow priced: the cost points count toward the limit too
  const flows = Array.from({ length: 300 }, (_, i) => flow({ ...agentFlow, 'source.address': `10.1.${i >> 8}.${i & 255}` }, { txBytes: i + 1, ...(i % 3 === 0 ? { costZeptoUsd: BigInt(i + 1) * 10n ** 15n } : {}) }));
  const requests = encoder.encode(resource, 'delta', flows);
  t.true(requests.length > 5, `${requests.length} requests`);
  for (const r of requests) t.true(r.length <= 8_192, `${r.length} bytes`);
  // Each request is the reference encoding of its share of the flows, in order.
  let next = 0;
  for (const r of requests) {
    const decoded = decodeMetricsRequest(r) as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string; sum: { dataPoints: unknown[] } }> }> }> };
    const count = decoded.resourceMetrics[0]!.scopeMetrics[0]!.metrics.find((m) => m.name === 'network.flow.connections')!.sum.dataPoints.length;
    t.deepEqual(r, encodeMetricsRequest(referenceRequest(resource, 'delta', flows.slice(next, next + count), 'v')));
    next += count;
  }
  t.is(next, flows.length);
  // A single flow larger than the limit is sent alone, not dropped.
  const huge = flow({ big: 'x'.repeat(20_000) });
  const alone = encoder.encode(resource, 'delta', [flow(agentFlow), huge, flow(agentFlow)]);
  t.is(alone.length, 3);
});

test('any attributes and counters: the same bytes as the reference (property)', (t) => {
  const encoder = new OtlpProtoEncoder({ maxRequestBytes: 1 << 30, scopeVersion: '1.2.3' });
  fc.assert(
    fc.property(fc.array(arbitraryFlow({ zeroCounters: true }), { maxLength: 6 }), fc.constantFrom('delta' as const, 'cumulative' as const), (flows, temporality) => {
      const got = encoder.encode(resource, temporality, flows);
      const expected = referenceRequest(resource, temporality, flows, '1.2.3') as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: unknown[] }> }> };
      if (expected.resourceMetrics[0]!.scopeMetrics[0]!.metrics.length === 0) return got.length === 0;
      return got.length === 1 && got[0]!.equals(encodeMetricsRequest(expected));
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('network.flow.cost: a double sum in USD, no direction, only for flows priced above zero', (t) => {
  const encoder = new OtlpProtoEncoder({ maxRequestBytes: 4 << 20, scopeVersion: 'v' });
  const flows = [
    flow({ 'source.k8s.owner.name': 'web' }, { costZeptoUsd: 1_500_000_000_000_000_000_000n }),
    flow({ 'source.k8s.owner.name': 'free' }, { costZeptoUsd: 0n }),
    flow({ 'source.k8s.owner.name': 'unpriced' }),
    flow({ 'source.k8s.owner.name': 'tiny' }, { costZeptoUsd: 7n }),
  ];
  const [only] = encoder.encode(resource, 'cumulative', flows);
  const decoded = decodeMetricsRequest(only!) as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string; unit: string; sum: { aggregationTemporality: number; isMonotonic: boolean; dataPoints: Array<{ asDouble?: number; asInt?: unknown; attributes: Array<{ key: string; value: { stringValue: string } }> }> } }> }> }> };
  const cost = decoded.resourceMetrics[0]!.scopeMetrics[0]!.metrics.find((m) => m.name === 'network.flow.cost')!;
  t.is(cost.unit, 'USD');
  t.like(cost.sum, { aggregationTemporality: 2, isMonotonic: true });
  t.deepEqual(cost.sum.dataPoints.map((p) => [p.attributes.map((a) => `${a.key}=${a.value.stringValue}`), p.asDouble, p.asInt]), [
    [['source.k8s.owner.name=web'], 1.5, undefined],
    [['source.k8s.owner.name=tiny'], 7e-21, undefined],
  ]);
});
