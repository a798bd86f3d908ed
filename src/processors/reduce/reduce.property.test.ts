// Property: the reducer neither loses nor invents a byte, nor a zepto-dollar. For random batches,
// random group_by, both temporalities, with and without overflow, the counters and costs summed
// over the output equal those summed over the input, exactly (costs well beyond 2^53).
import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import { collector, testContext } from '../../../test/harness/context.ts';
import { ManualClock } from '../../../test/harness/manual-clock.ts';
import { COUNTER_FIELDS, type Attributes, type CounterField, type Flow, type FlowBatch } from '../../model/index.ts';
import { reduceConfigSchema } from './config.ts';
import { ReduceProcessor } from './reduce.ts';

const INTERVAL = 10_000;
const T0 = 1_767_225_600_000;

// Few values per key, so groups collide; undefined means the attribute is absent.
const ATTRIBUTE_VALUES: Record<string, readonly (string | number | boolean | undefined)[]> = {
  'source.k8s.namespace.name': ['shop', 'kube-system', undefined],
  'source.k8s.owner.name': ['web', 'api', undefined],
  'source.address': ['10.0.0.1', '10.0.0.2', '100.64.0.1', '8.8.8.8'],
  'destination.k8s.namespace.name': ['shop', undefined],
  'destination.k8s.owner.name': ['db', 'cache', undefined],
  'destination.address': ['10.1.0.1', '192.168.1.1', '1.1.1.1', '2001:db8::1', '2606:4700::1111'],
  'destination.domain': ['example.com', undefined],
  'destination.port': [53, 443, 5432, '443'],
  'network.transport': ['tcp', 'udp'],
  'network.flow.inter_zone': [true, false, undefined],
};
const KEYS = Object.keys(ATTRIBUTE_VALUES);

const attributesArb: fc.Arbitrary<Attributes> = fc
  .tuple(...KEYS.map((k) => fc.constantFrom(...ATTRIBUTE_VALUES[k]!)))
  .map((values) => {
    const attributes: Attributes = {};
    values.forEach((v, i) => {
      if (v !== undefined) attributes[KEYS[i]!] = v;
    });
    return attributes;
  });

// Integers up to 2^40, so any sum of a few hundred stays exact in a double.
const counter = fc.integer({ min: 0, max: 2 ** 40 });
// A cost (netcost) or none: small ones (summed as doubles while below 2^53), ones near 2^53 (whose
// sums cross it), and up to 10^30 zepto-USD (a billion dollars).
const costArb = fc.option(fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 40n }), fc.bigInt({ min: 2n ** 52n, max: 2n ** 53n }), fc.bigInt({ min: 0n, max: 10n ** 30n })), { nil: undefined });
const flowArb: fc.Arbitrary<Flow> = fc.record({
  attributes: attributesArb,
  txBytes: counter, rxBytes: counter, txPackets: counter, rxPackets: counter, connections: fc.integer({ min: 0, max: 1000 }),
  cost: costArb,
}).map(({ cost, ...f }) => ({ ...f, startTimeUnixNano: 0n, timeUnixNano: 0n, ...(cost === undefined ? {} : { costZeptoUsd: cost }) }));

/** A batch, then how far the clock moves before the next one (0 to 3.5 intervals). */
const stepsArb = fc.array(fc.tuple(fc.array(flowArb, { maxLength: 30 }), fc.integer({ min: 0, max: 35_000 })), { minLength: 1, maxLength: 12 });

const configArb = fc.record({
  group_by: fc.shuffledSubarray(KEYS),
  unidentified_addresses: fc.boolean(),
  public_addresses: fc.record({ by_domain: fc.boolean(), ipv4_prefix: fc.constantFrom(32, 24, 0), ipv6_prefix: fc.constantFrom(128, 48, 0) }),
  idle_timeout: fc.constantFrom(INTERVAL, 2 * INTERVAL, 300_000),
});

function sums(flows: readonly Flow[]): Record<CounterField, number> & { costZeptoUsd: bigint; priced: boolean } {
  const total = { txBytes: 0, rxBytes: 0, txPackets: 0, rxPackets: 0, connections: 0, costZeptoUsd: 0n, priced: false };
  for (const f of flows) {
    for (const c of COUNTER_FIELDS) total[c] += f[c];
    if (f.costZeptoUsd !== undefined) {
      total.costZeptoUsd += f.costZeptoUsd;
      total.priced = true;
    }
  }
  return total;
}

async function run(config: Record<string, unknown>, steps: Array<[Flow[], number]>) {
  const out = collector();
  const clock = new ManualClock(T0 + 1_234);
  const reducer = new ReduceProcessor(testContext('reduce/prop'), reduceConfigSchema.parse({ interval: INTERVAL, ...config }), out, clock);
  await reducer.start();
  for (const [flows, advanceMs] of steps) {
    await reducer.consume({ flows, temporality: 'delta' });
    await clock.advance(advanceMs);
  }
  await reducer.shutdown();
  return out.batches;
}

/** For cumulative output, a series (attributes + start time) counts with its last value. */
function lastOfEachSeries(batches: readonly FlowBatch[]): Flow[] {
  const last = new Map<string, Flow>();
  for (const batch of batches) {
    for (const f of batch.flows) {
      const id = JSON.stringify(Object.entries(f.attributes).sort()) + '@' + f.startTimeUnixNano;
      last.set(id, f);
    }
  }
  return [...last.values()];
}

for (const temporality of ['delta', 'cumulative'] as const) {
  for (const [label, maxGroups] of [['without overflow', 10_000], ['with overflow', 3]] as const) {
    test(`${temporality}, ${label}: output sums equal input sums`, async (t) => {
      let overflowSeen = false;
      await fc.assert(
        fc.asyncProperty(configArb, stepsArb, async (config, steps) => {
          const batches = await run({ ...config, temporality, max_groups: maxGroups }, steps);
          const input = sums(steps.flatMap(([flows]) => flows));
          const output = temporality === 'delta' ? sums(batches.flatMap((b) => b.flows)) : sums(lastOfEachSeries(batches));
          for (const b of batches) {
            if (b.temporality !== temporality) return false;
            const regular = b.flows.filter((f) => f.attributes['otel.metric.overflow'] === undefined);
            if (regular.length > maxGroups || b.flows.length - regular.length > 1) return false;
            if (regular.length < b.flows.length) overflowSeen = true;
          }
          assert.deepEqual(output, input);
          return true;
        }),
        { numRuns: 150 },
      );
      // (fc.assert throws with the shrunk counterexample when the property fails.)
      if (maxGroups < 10_000) t.true(overflowSeen, 'the overflow group was exercised');
      else t.false(overflowSeen);
    });
  }
}

test('delta without overflow: each group equals an independent grouping of the input', async (t) => {
  // Plain keys only (no addresses): the oracle groups by the JSON of the selected values.
  const plainKeys = KEYS.filter((k) => !k.endsWith('.address'));
  await fc.assert(
    fc.asyncProperty(fc.shuffledSubarray(plainKeys), fc.array(flowArb, { maxLength: 60 }), async (groupBy, flows) => {
      const batches = await run({ group_by: groupBy, unidentified_addresses: false, temporality: 'delta' }, [[flows, 0]]);
      const expected = new Map<string, number>();
      for (const f of flows) {
        const key = JSON.stringify(Object.fromEntries(groupBy.filter((k) => f.attributes[k] !== undefined).sort().map((k) => [k, f.attributes[k]])));
        expected.set(key, (expected.get(key) ?? 0) + f.txBytes);
      }
      const actual = new Map<string, number>();
      for (const f of batches.flatMap((b) => b.flows)) {
        actual.set(JSON.stringify(Object.fromEntries(Object.entries(f.attributes).sort())), f.txBytes);
      }
      assert.deepEqual(actual, expected);
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('delta: a group has a cost exactly when one of its flows had one, and it is their exact sum', async (t) => {
  const plainKeys = KEYS.filter((k) => !k.endsWith('.address'));
  await fc.assert(
    fc.asyncProperty(fc.shuffledSubarray(plainKeys), fc.array(flowArb, { maxLength: 60 }), async (groupBy, flows) => {
      const batches = await run({ group_by: groupBy, unidentified_addresses: false, temporality: 'delta' }, [[flows, 0]]);
      const expected = new Map<string, bigint | undefined>();
      for (const f of flows) {
        const key = JSON.stringify(Object.fromEntries(groupBy.filter((k) => f.attributes[k] !== undefined).sort().map((k) => [k, f.attributes[k]])));
        const prior = expected.get(key);
        expected.set(key, f.costZeptoUsd === undefined ? prior : (prior ?? 0n) + f.costZeptoUsd);
      }
      const actual = new Map<string, bigint | undefined>();
      for (const f of batches.flatMap((b) => b.flows)) {
        actual.set(JSON.stringify(Object.fromEntries(Object.entries(f.attributes).sort())), f.costZeptoUsd);
      }
      assert.deepEqual(actual, expected);
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('delta over many intervals (groups kept between them): each interval equals an independent grouping of its own flows, max_groups first come', async (t) => {
  // One batch per interval. The oracle: the interval's first max_groups distinct keys are its
  // groups, the rest is the overflow group, whatever groups earlier intervals had.
  const plainKeys = KEYS.filter((k) => !k.endsWith('.address'));
  const intervalsArb = fc.array(fc.array(flowArb, { maxLength: 25 }), { minLength: 2, maxLength: 8 });
  let overflowSeen = false;
  await fc.assert(
    fc.asyncProperty(fc.shuffledSubarray(plainKeys, { minLength: 1 }), fc.constantFrom(1, 2, 3, 10_000), intervalsArb, async (groupBy, maxGroups, intervals) => {
      const batches = await run({ group_by: groupBy, unidentified_addresses: false, temporality: 'delta', max_groups: maxGroups }, intervals.map((flows) => [flows, INTERVAL]));
      const keyOf = (a: Attributes) => JSON.stringify(Object.entries(a).sort());
      const expected = intervals.filter((flows) => flows.length > 0).map((flows) => {
        const groups = new Map<string, [number, bigint | undefined]>();
        for (const f of flows) {
          const picked: Attributes = {};
          for (const k of groupBy) if (f.attributes[k] !== undefined) picked[k] = f.attributes[k]!;
          let key = keyOf(picked);
          if (!groups.has(key) && [...groups.keys()].filter((k) => k !== 'overflow').length >= maxGroups) key = 'overflow';
          const [tx, cost] = groups.get(key) ?? [0, undefined];
          groups.set(key, [tx + f.txBytes, f.costZeptoUsd === undefined ? cost : (cost ?? 0n) + f.costZeptoUsd]);
        }
        return groups;
      });
      const actual = batches.map((b) => new Map(b.flows.map((f) => {
        if (f.attributes['otel.metric.overflow'] === true) overflowSeen = true;
        return [f.attributes['otel.metric.overflow'] === true ? 'overflow' : keyOf(f.attributes), [f.txBytes, f.costZeptoUsd]];
      })));
      assert.deepEqual(actual, expected);
    }),
    { numRuns: 200 },
  );
  t.true(overflowSeen, 'the overflow group was exercised');
});
