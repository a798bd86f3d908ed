import test from 'ava';
import fc from 'fast-check';
import { capturingContext, collector, testContext } from '../../../test/harness/context.ts';
import { NETWORK_FLOW_COST_CLASS, type Flow } from '../../model/index.ts';
import { netcostConfigSchema } from './config.ts';
import { NetcostProcessor } from './netcost.ts';
import { flowFrom, outside, pod } from './testdata/ends.ts';

const GIB = 2n ** 30n;
const ZEPTO_PER_NANO = 10n ** 12n;

async function run(config: Record<string, unknown>, flows: Flow[], ctx = testContext('netcost')) {
  const out = collector();
  const processor = new NetcostProcessor(ctx, netcostConfigSchema.parse(config), out);
  await processor.start();
  await processor.consume({ flows, temporality: 'delta' });
  await processor.shutdown();
  return { flows: out.batches.flatMap((b) => b.flows), ctx };
}

const AWS = { provider: 'aws', region: 'us-east-1', nat_gateway: ['52.0.0.0/16'], private_link: ['10.50.0.0/16'], vpc_peering: ['10.60.0.0/16', '10.70.0.9'], cluster_cidrs: ['10.0.0.0/16'] };

const a1 = pod('10.0.1.5', 'node-a', 'us-east-1a');
const a1b = pod('10.0.1.6', 'node-a', 'us-east-1a', 'us-east-1', 'api');
const a2 = pod('10.0.2.5', 'node-b', 'us-east-1a', 'us-east-1', 'db');
const b1 = pod('10.0.3.5', 'node-c', 'us-east-1b', 'us-east-1', 'db');
const west = pod('10.0.4.5', 'node-w', 'us-west-2a', 'us-west-2', 'replica');
const noZone = pod('10.0.5.5', 'node-z', undefined);

test('class rules: each case gets its class', async (t) => {
  const cases: Array<[string, Flow]> = [
    ['same_node', flowFrom(a1, a1b)],
    ['intra_zone', flowFrom(a1, a2)],
    ['inter_zone', flowFrom(a1, b1)],
    ['inter_region', flowFrom(a1, west)],
    ['internet_egress', flowFrom(a1, outside('142.250.1.1', 'public'))],
    ['internet_ingress', flowFrom(outside('81.2.69.160', 'public'), a1)],
    ['nat_gateway', flowFrom(a1, outside('52.0.3.4', 'public'))],
    ['private_link', flowFrom(a1, outside('10.50.0.8', 'private'))],
    ['vpc_peering', flowFrom(a1, outside('10.60.1.1', 'private'))],
    ['vpc_peering', flowFrom(a1, outside('10.70.0.9', 'private'))],
    ['unknown', flowFrom(a1, outside('10.70.0.10', 'private'))],
    ['unknown', flowFrom(a1, noZone)],
    ['unknown', flowFrom(noZone, b1)],
    ['same_node', flowFrom(pod('10.0.5.5', 'node-z', undefined), pod('10.0.5.6', 'node-z', undefined))],
    ['same_node', flowFrom(outside('127.0.0.1', 'private'), { address: '127.0.0.1', type: 'loopback' })],
  ];
  const { flows } = await run(AWS, cases.map(([, f]) => f));
  t.deepEqual(flows.map((f) => f.attributes[NETWORK_FLOW_COST_CLASS]), cases.map(([c]) => c));
});

test('without address types (no k8sattributes): cluster_cidrs and the address range decide', async (t) => {
  const bare = (src: string, dst: string): Flow => ({ ...flowFrom(a1, a2), attributes: { 'source.address': src, 'destination.address': dst } });
  const { flows } = await run(AWS, [bare('10.0.1.5', '142.250.1.1'), bare('142.250.1.1', '10.0.1.5'), bare('10.0.1.5', '10.0.2.5'), bare('192.168.1.1', '192.168.1.2')]);
  t.deepEqual(flows.map((f) => f.attributes[NETWORK_FLOW_COST_CLASS]), ['internet_egress', 'internet_ingress', 'unknown', 'unknown']);
});

test('prices: billed bytes × rate / GB exactly, per the provider\'s rule', async (t) => {
  const { flows } = await run(AWS, [
    flowFrom(a1, b1, 1_000, 3_000), // AWS cross-AZ: both directions, both sides
    flowFrom(a1, outside('142.250.1.1', 'public'), 5_000, 7_000), // egress: tx only
    flowFrom(outside('81.2.69.160', 'public'), a1, 5_000, 7_000), // ingress: the responses (rx) leave
    flowFrom(a1, a2, 10 ** 9, 10 ** 9), // same zone: free
    flowFrom(a1, noZone, 1_000, 3_000), // unknown: like inter_zone, never free
  ]);
  // Rounded half up to a zepto-USD, computed here as one big rational.
  const zepto = (billed: bigint, nanoPerGb: bigint) => (billed * nanoPerGb * ZEPTO_PER_NANO * 2n + GIB) / (2n * GIB);
  t.deepEqual(flows.map((f) => f.costZeptoUsd), [
    zepto(2n * (1_000n + 3_000n), 10_000_000n),
    zepto(5_000n, 90_000_000n),
    zepto(7_000n, 90_000_000n),
    0n,
    zepto(8_000n, 10_000_000n),
  ]);
});

test('custom: (tx + rx) × rate with a GB of 10^9 bytes, exact to the zepto-dollar', async (t) => {
  const { flows } = await run({ provider: 'custom', rates: { inter_zone: 0.0123, internet_egress: 0.05 } }, [
    flowFrom(a1, b1, 123_456_789, 1), flowFrom(a1, outside('142.250.1.1', 'public'), 10 ** 9, 10 ** 9), flowFrom(a1, noZone, 1, 2),
  ]);
  t.deepEqual(flows.map((f) => f.costZeptoUsd), [123_456_790n * 12_300_000n * 1000n, 2n * 10n ** 9n * 50_000_000n * 1000n, 3n * 12_300_000n * 1000n]);
  t.is(flows[1]!.costZeptoUsd, 10n ** 20n, '2 GB at $0.05 = $0.10');
});

test('a day of records sums to the day\'s billed bytes × rate within 1e-9 relative (and within half a zepto-dollar per record)', async (t) => {
  const bytes = fc.integer({ min: 0, max: 2 ** 34 });
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(bytes, bytes), { minLength: 1, maxLength: 400 }),
    fc.constantFrom(0.001, 0.01, 0.0123, 0.09, 0.045),
    async (pairs, rate) => {
      const { flows } = await run({ provider: 'aws', region: 'us-east-1', rates: { inter_zone: rate } }, pairs.map(([tx, rx]) => flowFrom(a1, b1, tx, rx)));
      const sum = flows.reduce((s, f) => s + f.costZeptoUsd!, 0n);
      const billed = pairs.reduce((s, [tx, rx]) => s + 2n * BigInt(tx + rx), 0n);
      const nano = BigInt(Math.round(rate * 1e9));
      // exact = billed × nano × 10^12 / 2^30; |sum − exact| ≤ records / 2 zepto-dollars.
      const exactTimesGib = billed * nano * ZEPTO_PER_NANO;
      const errorTimesGib = sum * GIB - exactTimesGib;
      const bound = BigInt(flows.length) * GIB / 2n;
      if (errorTimesGib > bound || -errorTimesGib > bound) return false;
      return exactTimesGib === 0n || Math.abs(Number(errorTimesGib) / Number(exactTimesGib)) <= 1e-9;
    },
  ), { numRuns: 100 });
  t.pass();
});

test('flows per class are counted; unknown ones are logged once', async (t) => {
  const ctx = capturingContext('netcost/a');
  await run(AWS, [flowFrom(a1, b1), flowFrom(a1, b1), flowFrom(a1, noZone), flowFrom(a1, a2)], ctx);
  const metric = await ctx.metrics.getSingleMetric('podflow_processor_netcost_flows_total')!.get();
  const byClass = Object.fromEntries(metric.values.filter((v) => v.value > 0).map((v) => [v.labels.class, v.value]));
  t.deepEqual(byClass, { inter_zone: 2, unknown: 1, intra_zone: 1 });
  t.is(ctx.logs.filter((l) => l.msg.includes('priced at the unknown rate')).length, 1);
});

test('every flow is priced to the nearest zepto-dollar (half up), on the double fast path and past 2^53 alike', async (t) => {
  const bytes = fc.oneof(fc.integer({ min: 0, max: 2 ** 20 }), fc.integer({ min: 0, max: 2 ** 46 }));
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(bytes, bytes), { minLength: 1, maxLength: 50 }),
    fc.constantFrom(0.000000001, 0.0035, 0.01, 0.045, 0.114, 2.5, 1234.123456789),
    fc.constantFrom('binary', 'decimal'),
    async (pairs, rate, gigabyte) => {
      const { flows } = await run({ provider: 'custom', rates: { inter_zone: rate }, gigabyte }, pairs.map(([tx, rx]) => flowFrom(a1, b1, tx, rx)));
      const gb = gigabyte === 'binary' ? GIB : 10n ** 9n;
      const nano = BigInt(Math.round(rate * 1e9));
      return flows.every((f, i) => {
        const numerator = BigInt(pairs[i]![0] + pairs[i]![1]) * nano * ZEPTO_PER_NANO;
        return f.costZeptoUsd === (2n * numerator + gb) / (2n * gb);
      });
    },
  ), { numRuns: 300 });
  t.pass();
});

test('a flow whose attribute map is frozen (reduce\'s shared group map) gets its class in a copy; the map is unchanged', async (t) => {
  const priced = flowFrom(a1, b1);
  const shared = Object.freeze({ ...priced.attributes });
  const { flows } = await run(AWS, [{ ...priced, attributes: shared }]);
  t.is(flows[0]!.attributes[NETWORK_FLOW_COST_CLASS], 'inter_zone');
  t.deepEqual(flows[0]!.attributes, { ...shared, [NETWORK_FLOW_COST_CLASS]: 'inter_zone' });
  t.false(NETWORK_FLOW_COST_CLASS in shared);
});
