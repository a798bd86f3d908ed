// podflow's otlp exporter → podflow's otlp receiver, over real sockets: the receiver gives back
// the very flows the exporter was given (attributes, times, every counter), with the sender's
// resource, over OTLP/HTTP (protobuf, JSON; gzip, zstd, none) and OTLP/gRPC, whether the
// exporter sends deltas or cumulative sums.
import test from 'ava';
import type { Attributes, Flow } from '../../model/index.ts';
import { sendNow } from '../../../test/harness/exporter-queue.ts';
import { testContext } from '../../../test/harness/context.ts';
import { configSchema as exporterConfig } from '../../exporters/otlp/config.ts';
import { OtlpExporter } from '../../exporters/otlp/otlp-exporter.ts';
import { agentTicks, sorted, startReceiver } from './testdata/round-trip.ts';

const T0 = 1_764_000_000_000_000_000n;
const series: Attributes[] = [
  { 'source.address': '10.0.1.5', 'source.port': 43_210, 'destination.address': '10.96.0.10', 'destination.port': 53, 'network.transport': 'udp', 'network.type': 'ipv4' },
  { 'source.address': 'fd00::5', 'destination.address': 'fd00::9', 'destination.port': 443, 'network.transport': 'tcp', 'network.type': 'ipv6', 'network.flow.inter_zone': true, 'source.k8s.owner.name': 'wéb ✓' },
  { 'source.address': '10.0.1.6', 'destination.address': '1.1.1.1', 'destination.port': 443, 'network.transport': 'tcp', 'network.type': 'ipv4', 'x.frac': 0.5, 'x.neg': -3 },
];

const variants = [
  { name: 'http proto gzip', protocol: 'http', encoding: 'proto', compression: 'gzip' },
  { name: 'http proto zstd', protocol: 'http', encoding: 'proto', compression: 'zstd' },
  { name: 'http json none', protocol: 'http', encoding: 'json', compression: 'none' },
  { name: 'http json gzip', protocol: 'http', encoding: 'json', compression: 'gzip' },
  { name: 'grpc gzip', protocol: 'grpc', encoding: 'proto', compression: 'gzip' },
  { name: 'grpc none', protocol: 'grpc', encoding: 'proto', compression: 'none' },
] as const;

for (const v of variants) {
  for (const temporality of ['delta', 'cumulative'] as const) {
    test(`round trip, ${v.name}, ${temporality}: the same flows, exact, with the sender's resource`, async (t) => {
      const rx = await startReceiver();
      t.teardown(() => rx.stop());
      const endpoint = v.protocol === 'grpc' ? rx.grpcUrl : rx.httpUrl;
      const ctx = testContext('otlp', { 'k8s.node.name': 'node-a', 'k8s.cluster.name': 'kind' });
      const exporter = new OtlpExporter(ctx, exporterConfig.parse({ endpoint, protocol: v.protocol, encoding: v.encoding, compression: v.compression, temporality }));
      t.teardown(() => exporter.shutdown());
      // a series that appears only from the second tick on, and a tick with nothing new for one
      const ticks = agentTicks(T0, 3, series);
      ticks[0] = ticks[0]!.slice(0, 2);
      for (const flows of ticks) await sendNow(exporter, { temporality: 'delta', flows });

      t.is(rx.batches.length, 3);
      for (const [i, b] of rx.batches.entries()) {
        t.is(b.temporality, 'delta');
        t.deepEqual(b.resource, { 'service.name': 'podflow', 'service.version': '0.1.0', 'k8s.node.name': 'node-a', 'k8s.cluster.name': 'kind' });
        t.deepEqual(sorted(b.flows), sorted(ticks[i]!), `tick ${i}`);
      }
      const sentBytes = ticks.flat().reduce((n, f) => n + f.txBytes + f.rxBytes, 0);
      t.is(rx.batches.flatMap((b) => b.flows).reduce((n, f) => n + f.txBytes + f.rxBytes, 0), sentBytes);
    });
  }
}

test('a batch that came in over OTLP goes out again with its sender\'s resource (gateway → gateway)', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.stop());
  const exporter = new OtlpExporter(testContext('otlp', { 'k8s.node.name': 'gateway-0' }), exporterConfig.parse({ endpoint: rx.httpUrl, temporality: 'delta' }));
  t.teardown(() => exporter.shutdown());
  const [flows] = agentTicks(T0, 1, series);
  await sendNow(exporter, { temporality: 'delta', flows: flows!, resource: { 'k8s.node.name': 'node-b', 'service.name': 'podflow' } });
  t.deepEqual(rx.batches[0]!.resource, { 'k8s.node.name': 'node-b', 'service.name': 'podflow' });
});

test('cumulative input: a reset (the reducer re-created the group, or the sender restarted) counts whole, never negative', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.stop());
  const exporter = new OtlpExporter(testContext('otlp'), exporterConfig.parse({ endpoint: rx.httpUrl, temporality: 'cumulative' }));
  t.teardown(() => exporter.shutdown());
  const group = { 'source.k8s.owner.name': 'web', 'destination.k8s.owner.name': 'db' };
  const running = (start: bigint, end: bigint, tx: number) => ({ startTimeUnixNano: start, timeUnixNano: end, attributes: group, txBytes: tx, rxBytes: 0, txPackets: 1, rxPackets: 0, connections: 0 });
  await sendNow(exporter, { temporality: 'cumulative', flows: [running(T0, T0 + 10n, 100)] });
  await sendNow(exporter, { temporality: 'cumulative', flows: [running(T0, T0 + 20n, 250)] });
  await sendNow(exporter, { temporality: 'cumulative', flows: [running(T0 + 25n, T0 + 30n, 40)] });
  t.deepEqual(rx.batches.map((b) => b.flows.map((f) => [f.startTimeUnixNano - T0, f.timeUnixNano - T0, f.txBytes])), [
    [[0n, 10n, 100]],
    [[10n, 20n, 150]],
    [[25n, 30n, 40]],
  ]);
});

// Costs (netcost) within what a double carries exactly (15 significant digits, also as running
// sums); a flow priced at zero, like a zero counter, has no point and comes back unpriced.
const pricedSeries: Attributes[] = [...series, { 'source.address': '10.0.1.7', 'destination.address': '10.0.2.8', 'destination.port': 80, 'network.flow.cost.class': 'same_node' }];
const costOf = (s: number, tick: number): bigint | undefined => [BigInt(tick + 1) * 1_234_567_000_000n, undefined, BigInt(tick + 1) * 12_500_000_000_000_000_000_000n, 0n][s];

for (const v of variants.filter((x) => x.name !== 'http json gzip' && x.name !== 'grpc none')) {
  for (const temporality of ['delta', 'cumulative'] as const) {
    test(`round trip with costs, ${v.name}, ${temporality}: priced flows keep their exact cost, unpriced ones none`, async (t) => {
      const rx = await startReceiver();
      t.teardown(() => rx.stop());
      const exporter = new OtlpExporter(testContext('otlp'), exporterConfig.parse({ endpoint: v.protocol === 'grpc' ? rx.grpcUrl : rx.httpUrl, protocol: v.protocol, encoding: v.encoding, compression: v.compression, temporality }));
      t.teardown(() => exporter.shutdown());
      const ticks = agentTicks(T0, 3, pricedSeries).map((flows, i) => flows.map((f, s) => {
        const cost = costOf(s, i);
        return cost === undefined ? f : { ...f, costZeptoUsd: cost };
      }));
      for (const flows of ticks) await sendNow(exporter, { temporality: 'delta', flows });

      const unpriced = (f: Flow): Flow => {
        const { costZeptoUsd: _zero, ...rest } = f;
        return rest;
      };
      t.is(rx.batches.length, 3);
      for (const [i, b] of rx.batches.entries()) {
        t.deepEqual(sorted(b.flows), sorted(ticks[i]!.map((f) => (f.costZeptoUsd === 0n ? unpriced(f) : f))), `tick ${i}`);
      }
      const received = rx.batches.flatMap((b) => b.flows);
      t.is(received.reduce((n, f) => n + (f.costZeptoUsd ?? 0n), 0n), 6n * (1_234_567_000_000n + 12_500_000_000_000_000_000_000n), 'the total, to the zepto-dollar');
      t.is(received.filter((f) => f.costZeptoUsd !== undefined).length, 6);
      t.is(await rx.refused({ reason: 'not_a_flow' }), 0, 'network.flow.cost is a flow metric');
    });
  }
}
