import test from 'ava';
import fc from 'fast-check';
import { encodeMetricsRequest, decodeMetricsRequest, metricsRequestFromJson } from '../../../../test/harness/otlp-proto.ts';
import { zeptoUsdOfNumber, type Flow } from '../../../model/index.ts';
import { OtlpJsonEncoder } from './json-encoder.ts';
import { arbitraryFlow } from './testdata/arbitrary-flows.ts';
import { referenceRequest } from './testdata/reference.ts';

const T0 = 1_760_000_000_123_456_789n;
const resource = { 'service.name': 'podflow', 'k8s.node.name': 'node-a' };

test('the same message as the reference, read back through the official protos (property)', (t) => {
  const encoder = new OtlpJsonEncoder({ maxRequestBytes: 1 << 30, scopeVersion: '1.2.3' });
  fc.assert(
    fc.property(fc.array(arbitraryFlow({ zeroCounters: true }), { maxLength: 6 }), fc.constantFrom('delta' as const, 'cumulative' as const), (flows: Flow[], temporality) => {
      const got = encoder.encode(resource, temporality, flows);
      const expected = referenceRequest(resource, temporality, flows, '1.2.3') as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: unknown[] }> }> };
      if (expected.resourceMetrics[0]!.scopeMetrics[0]!.metrics.length === 0) return got.length === 0;
      t.is(got.length, 1);
      t.deepEqual(metricsRequestFromJson(JSON.parse(got[0]!.toString('utf8'))), decodeMetricsRequest(encodeMetricsRequest(expected)));
      return true;
    }),
    { numRuns: 200 },
  );
});

test('requests are cut before max_request_size, cost points counted', (t) => {
  const encoder = new OtlpJsonEncoder({ maxRequestBytes: 16_384, scopeVersion: 'v' });
  const flows = Array.from({ length: 200 }, (_, i): Flow => ({
    startTimeUnixNano: T0, timeUnixNano: T0 + 1n, attributes: { 'source.address': `10.0.0.${i}`, 'destination.port': 443 },
    txBytes: i + 1, rxBytes: 1, txPackets: 1, rxPackets: 1, connections: 1, ...(i % 2 === 0 ? { costZeptoUsd: BigInt(i + 1) * 10n ** 18n } : {}),
  }));
  const requests = encoder.encode(resource, 'delta', flows);
  t.true(requests.length > 3);
  let transmitted = 0;
  let costZeptoUsd = 0n;
  for (const r of requests) {
    t.true(r.length <= 16_384, `${r.length} bytes`);
    const body = JSON.parse(r.toString()) as { resourceMetrics: Array<{ scopeMetrics: Array<{ metrics: Array<{ name: string; unit: string; sum: { dataPoints: Array<{ asInt?: string; asDouble?: number; attributes: Array<{ key: string; value: { stringValue?: string } }> }> } }> }> }> };
    for (const p of body.resourceMetrics[0]!.scopeMetrics[0]!.metrics[0]!.sum.dataPoints) {
      if (p.attributes.at(-1)!.value.stringValue === 'transmit') transmitted += Number(p.asInt);
    }
    const cost = body.resourceMetrics[0]!.scopeMetrics[0]!.metrics.find((m) => m.name === 'network.flow.cost')!;
    t.is(cost.unit, 'USD');
    for (const p of cost.sum.dataPoints) {
      t.is(p.asInt, undefined);
      t.false(p.attributes.some((a) => a.key === 'network.io.direction'));
      costZeptoUsd += zeptoUsdOfNumber(p.asDouble!);
    }
  }
  t.is(transmitted, (200 * 201) / 2);
  t.is(costZeptoUsd, 10_000n * 10n ** 18n, 'the priced flows\' costs, 1 + 3 + … + 199 milli-USD');
});
