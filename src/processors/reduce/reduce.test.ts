import test from 'ava';
import { collector, testContext } from '../../../test/harness/context.ts';
import { ManualClock } from '../../../test/harness/manual-clock.ts';
import { setFlowAttribute, type Attributes, type Flow, type FlowBatch } from '../../model/index.ts';
import { DEFAULT_GROUP_BY, type ReduceConfig, reduceConfigSchema } from './config.ts';
import { reduceFactory } from './index.ts';
import { ReduceProcessor } from './reduce.ts';

const INTERVAL = 15_000;
/** 2026-01-01T00:00:00Z, a multiple of every interval used here. */
const T0 = 1_767_225_600_000;
const NS = 1_000_000n;

function flow(attributes: Attributes, txBytes = 100, extra: Partial<Flow> = {}): Flow {
  return {
    startTimeUnixNano: 0n, timeUnixNano: 0n, attributes,
    txBytes, rxBytes: txBytes * 2, txPackets: 1, rxPackets: 2, connections: 1, ...extra,
  };
}

const delta = (flows: Flow[]): FlowBatch => ({ flows, temporality: 'delta' });

function setup(config: Record<string, unknown> = {}, startMs = T0) {
  const ctx = testContext('reduce/test');
  const out = collector();
  const clock = new ManualClock(startMs);
  const parsed: ReduceConfig = reduceConfigSchema.parse(config);
  const reducer = new ReduceProcessor(ctx, parsed, out, clock);
  /** Flows of every batch emitted so far, one array per batch. */
  const emitted = () => out.batches.map((b) => b.flows);
  return { ctx, out, clock, reducer, emitted };
}

const web = { 'source.k8s.namespace.name': 'shop', 'source.k8s.owner.name': 'web', 'source.k8s.owner.type': 'Deployment' };
const db = { 'destination.k8s.namespace.name': 'shop', 'destination.k8s.owner.name': 'db', 'destination.k8s.owner.type': 'StatefulSet' };

test('defaults: parse({}) gives every documented default', (t) => {
  t.deepEqual(reduceConfigSchema.parse({}), {
    group_by: [...DEFAULT_GROUP_BY], unidentified_addresses: true, interval: 15_000, temporality: 'cumulative',
    idle_timeout: 300_000, public_addresses: { by_domain: true, ipv4_prefix: 32, ipv6_prefix: 128 }, cluster_cidrs: [], max_groups: 10_000,
  });
  t.deepEqual(reduceConfigSchema.parse({ interval: '1m', idle_timeout: '10m' }).interval, 60_000);
});

test('bad configs fail naming the key', (t) => {
  const issue = (input: unknown) => {
    const r = reduceConfigSchema.safeParse(input);
    t.false(r.success);
    return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };
  t.regex(issue({ interval: '1m', idle_timeout: '30s' }), /^idle_timeout: idle_timeout \(30000ms\) must be at least interval \(60000ms\)/);
  t.regex(issue({ cluster_cidrs: ['10.0.0.0/8', '10.0.0.0/40'] }), /^cluster_cidrs\.1: .*prefix longer/);
  t.regex(issue({ group_by: ['a', 'b', 'a'] }), /^group_by\.2: "a" is listed twice/);
  t.regex(issue({ temporality: 'gauge' }), /^temporality:/);
  t.regex(issue({ max_groups: 0 }), /^max_groups:/);
  t.regex(issue({ interval: 'soon' }), /^interval: "soon" is not a duration/);
  t.regex(issue({ group_public_ip: true }), /Unrecognized key: "group_public_ip"/);
  t.regex(issue({ public_addresses: { ipv4_prefix: 33 } }), /^public_addresses\.ipv4_prefix:/);
  t.regex(issue({ public_addresses: { ipv6_prefix: -1 } }), /^public_addresses\.ipv6_prefix:/);
  t.regex(issue({ public_addresses: { by_domains: true } }), /^public_addresses: Unrecognized key: "by_domains"/);
  // The key that folded public addresses into 0.0.0.0 says what replaced it.
  t.regex(issue({ group_public_ips: true }), /^group_public_ips: group_public_ips was replaced by public_addresses/);
});

test('a processor factory with a schema that parses {} (registered: src/components.test.ts)', (t) => {
  t.is(reduceFactory.kind, 'processor');
  t.notThrows(() => reduceFactory.configSchema.parse({}));
});

test('intervals are aligned to wall-clock multiples of interval', async (t) => {
  const start = T0 + 7_250; // mid-interval
  const { clock, reducer, emitted } = setup({ temporality: 'delta' }, start);
  await reducer.start();
  t.is(clock.nextTimerAtMs, T0 + INTERVAL, 'first flush at the next multiple, not start + interval');
  await reducer.consume(delta([flow({ ...web, ...db })]));
  await clock.advanceTo(T0 + INTERVAL);
  t.is(emitted().length, 1);
  const [f] = emitted()[0]!;
  t.is(f!.startTimeUnixNano, BigInt(T0) * NS);
  t.is(f!.timeUnixNano, BigInt(T0 + INTERVAL) * NS);
  t.is(clock.nextTimerAtMs, T0 + 2 * INTERVAL);

  await reducer.consume(delta([flow({ ...web, ...db })]));
  await clock.advance(7_000);
  await reducer.shutdown();
  const last = emitted().at(-1)![0]!;
  t.is(last.startTimeUnixNano, BigInt(T0 + INTERVAL) * NS);
  t.is(last.timeUnixNano, BigInt(T0 + INTERVAL + 7_000) * NS, 'shutdown ends the interval now');
});

test('a late timer flushes at the latest boundary passed and re-arms aligned', async (t) => {
  const { clock, reducer, emitted } = setup({ temporality: 'delta' });
  await reducer.start();
  await reducer.consume(delta([flow({ ...web, ...db })]));
  // Move time past two boundaries without running timers, then let the overdue timer fire.
  const [id, timer] = [...clock.timers][0]!;
  clock.timers.delete(id);
  await clock.advanceTo(T0 + 2 * INTERVAL + 3_000);
  await timer.callback(); // fires 33s after it was set: the event loop was busy
  const [f] = emitted()[0]!;
  t.is(f!.startTimeUnixNano, BigInt(T0) * NS);
  t.is(f!.timeUnixNano, BigInt(T0 + 2 * INTERVAL) * NS);
  t.is(clock.nextTimerAtMs, T0 + 3 * INTERVAL);
  await reducer.shutdown();
});

test('a wall clock stepped back or forward keeps flushing every interval, never backwards in time', async (t) => {
  const { clock, reducer, emitted } = setup({ temporality: 'delta' });
  await reducer.start();
  await reducer.consume(delta([flow({ ...web, ...db }, 1)]));
  clock.stepWall(-3_600_000); // NTP steps the clock back an hour
  await clock.advance(INTERVAL); // the monotonic timer fires anyway
  t.is(emitted().length, 1, 'flushed on time despite the step');
  const [f] = emitted()[0]!;
  t.is(f!.timeUnixNano, BigInt(T0) * NS, 'the end is clamped to the interval start, not an hour back');
  t.is(clock.nextTimerAtMs, T0 - 3_600_000 + 2 * INTERVAL, 'the next flush is one interval later on the new clock, aligned');
  await reducer.consume(delta([flow({ ...web, ...db }, 2)]));
  await clock.advance(INTERVAL);
  await reducer.consume(delta([flow({ ...web, ...db }, 4)]));
  clock.stepWall(3_600_000 + 7_000); // and forward again, past the old time
  await clock.advance(INTERVAL);
  t.deepEqual(emitted().map((b) => b[0]!.txBytes), [1, 2, 4]);
  const times = emitted().map((b) => b[0]!.timeUnixNano);
  t.true(times[1]! >= times[0]! && times[2]! > times[1]!);
  t.is(times[2], BigInt(T0 + 3 * INTERVAL) * NS, 'aligned again after the forward step');
  await reducer.shutdown();
});

test('delta: each interval reports what arrived in it; quiet groups are absent', async (t) => {
  const { clock, reducer, emitted } = setup({ temporality: 'delta' });
  await reducer.start();
  const other = { ...web, 'destination.k8s.namespace.name': 'shop', 'destination.k8s.owner.name': 'cache' };
  await reducer.consume(delta([flow({ ...web, ...db, 'source.address': '10.0.0.1' }, 100), flow({ ...web, ...db, 'source.address': '10.0.0.2' }, 50), flow(other, 7)]));
  await clock.advance(INTERVAL);
  await reducer.consume(delta([flow({ ...web, ...db }, 1)]));
  await clock.advance(INTERVAL);
  const [first, second] = emitted();
  t.is(first!.length, 2);
  const toDb = first!.find((f) => f.attributes['destination.k8s.owner.name'] === 'db')!;
  t.deepEqual(toDb.attributes, { ...web, ...db }, 'addresses of identified ends are not part of the group');
  t.deepEqual([toDb.txBytes, toDb.rxBytes, toDb.txPackets, toDb.rxPackets, toDb.connections], [150, 300, 2, 4, 2]);
  t.is(second!.length, 1);
  t.is(second![0]!.txBytes, 1);
  t.is(second![0]!.startTimeUnixNano, BigInt(T0 + INTERVAL) * NS);
  t.is(emitted().length, 2, 'an interval without traffic emits nothing');
  await reducer.shutdown();
});

test('cumulative: sums grow, start time is kept, idle groups are evicted after idle_timeout', async (t) => {
  const { clock, reducer, out } = setup({ temporality: 'cumulative', idle_timeout: '1m' });
  await reducer.start();
  const key = { ...web, ...db };
  await reducer.consume(delta([flow(key, 10)]));
  await clock.advance(INTERVAL); // flush 1
  await reducer.consume(delta([flow(key, 5)]));
  await clock.advance(INTERVAL); // flush 2
  await clock.advance(3 * INTERVAL); // flushes 3..5: idle 15s, 30s, 45s
  await clock.advance(INTERVAL); // flush 6: idle 60s = idle_timeout → evicted, nothing emitted
  t.true(out.batches.every((b) => b.temporality === 'cumulative'));
  t.deepEqual(out.batches.map((b) => b.flows[0]!.txBytes), [10, 15, 15, 15, 15]);
  t.true(out.batches.every((b) => b.flows[0]!.startTimeUnixNano === BigInt(T0) * NS));
  t.deepEqual(out.batches.map((b) => b.flows[0]!.timeUnixNano), [1, 2, 3, 4, 5].map((i) => BigInt(T0 + i * INTERVAL) * NS));
  // Traffic after eviction starts a new series: new start time, counting from zero.
  await reducer.consume(delta([flow(key, 3)]));
  await clock.advance(INTERVAL);
  const restarted = out.batches.at(-1)!.flows[0]!;
  t.is(restarted.txBytes, 3);
  t.is(restarted.startTimeUnixNano, BigInt(T0 + 6 * INTERVAL) * NS);
  t.is(out.batches.length, 6);
  await reducer.shutdown();
});

test('overflow at max_groups: new groups fold into one otel.metric.overflow group, counted', async (t) => {
  const { ctx, clock, reducer, emitted } = setup({ temporality: 'delta', max_groups: 3 });
  await reducer.start();
  const flows = [1, 2, 3, 4, 5, 1, 5].map((i) => flow({ ...web, 'destination.k8s.owner.name': `app${i}`, 'destination.k8s.namespace.name': 'x' }, i));
  await reducer.consume(delta(flows));
  await clock.advance(INTERVAL);
  const out = emitted()[0]!;
  t.is(out.length, 4);
  const overflow = out.find((f) => f.attributes['otel.metric.overflow'] === true)!;
  t.deepEqual(overflow.attributes, { 'otel.metric.overflow': true });
  t.is(overflow.txBytes, 4 + 5 + 5, 'app4, app5, app5');
  t.is(overflow.connections, 3);
  t.is(out.find((f) => f.attributes['destination.k8s.owner.name'] === 'app1')!.txBytes, 2);
  const metric = await ctx.metrics.getSingleMetricAsString('podflow_processor_reduce_overflow_flows_total');
  t.regex(metric, /podflow_processor_reduce_overflow_flows_total\{processor="reduce\/test"\} 3$/m);
  t.regex(await ctx.metrics.getSingleMetricAsString('podflow_processor_reduce_groups'), /\{processor="reduce\/test"\} 3$/m);
  // Next interval: the groups kept from the last one had no traffic yet and make room: no overflow.
  await reducer.consume(delta([flows[4]!]));
  await clock.advance(INTERVAL);
  t.deepEqual(emitted()[1]!.map((f) => f.attributes['destination.k8s.owner.name']), ['app5']);
  await reducer.shutdown();
});

for (const temporality of ['delta', 'cumulative'] as const) {
  test(`${temporality}: a group is emitted every interval with the same frozen attribute map, which no later interval or stage changes`, async (t) => {
    const { clock, reducer, emitted } = setup({ temporality });
    await reducer.start();
    const other = { ...web, 'destination.k8s.namespace.name': 'shop', 'destination.k8s.owner.name': 'cache' };
    await reducer.consume(delta([flow({ ...web, ...db }, 10), flow(other, 1)]));
    await clock.advance(INTERVAL);
    const first = emitted()[0]!.find((f) => f.attributes['destination.k8s.owner.name'] === 'db')!;
    const map = first.attributes;
    t.true(Object.isFrozen(map));
    t.throws(() => {
      (map as Record<string, unknown>)['network.flow.cost.class'] = 'intra_zone';
    }, { instanceOf: TypeError }, 'changing the shared map in place fails');
    // What a later stage does to add an attribute (netcost, dnsnames): the flow gets its own copy.
    setFlowAttribute(first, 'network.flow.cost.class', 'intra_zone');
    t.not(first.attributes, map);
    t.deepEqual(first.attributes, { ...web, ...db, 'network.flow.cost.class': 'intra_zone' });
    await reducer.consume(delta([flow({ ...web, ...db }, 5)]));
    await clock.advance(INTERVAL);
    const second = emitted()[1]!.find((f) => f.attributes['destination.k8s.owner.name'] === 'db')!;
    t.is(second.attributes, map, 'the group\'s map is emitted again, not made anew');
    t.deepEqual(second.attributes, { ...web, ...db }, 'unchanged by the later stage and by the next interval');
    t.is(second.txBytes, temporality === 'delta' ? 5 : 15);
    t.is(emitted()[1]!.length, temporality === 'delta' ? 1 : 2, 'delta: the quiet group is kept but not emitted');
    await reducer.shutdown();
  });
}

test('delta: groups kept from earlier intervals never take the room of this interval\'s groups (max_groups per interval)', async (t) => {
  const { clock, reducer, emitted } = setup({ temporality: 'delta', max_groups: 2 });
  await reducer.start();
  const to = (name: string, txBytes: number) => flow({ ...web, 'destination.k8s.namespace.name': 'x', 'destination.k8s.owner.name': name }, txBytes);
  const names = (i: number) => emitted()[i]!.map((f) => f.attributes['destination.k8s.owner.name'] ?? 'overflow').sort();
  await reducer.consume(delta([to('a', 1), to('b', 2)]));
  await clock.advance(INTERVAL);
  await reducer.consume(delta([to('c', 3), to('d', 4)]));
  await clock.advance(INTERVAL);
  await reducer.consume(delta([to('a', 5), to('c', 6), to('b', 7), to('a', 8)]));
  await clock.advance(INTERVAL);
  t.deepEqual(names(0), ['a', 'b']);
  t.deepEqual(names(1), ['c', 'd'], 'a and b (no traffic) made room for c and d');
  t.deepEqual(names(2), ['a', 'c', 'overflow'], 'c was kept, a joined it: b is the third group of the interval');
  const bytes = Object.fromEntries(emitted()[2]!.map((f) => [f.attributes['destination.k8s.owner.name'] ?? 'overflow', f.txBytes]));
  t.deepEqual(bytes, { a: 13, c: 6, overflow: 7 });
  await reducer.shutdown();
});

// Destinations without a Kubernetes identity: the address joins the group, public ones fold.
const classification: Array<[string, boolean]> = [
  ['100.64.0.1', false], ['10.12.0.7', false], ['172.16.4.2', false], ['192.168.1.10', false],
  ['169.254.169.254', false], ['fd00::1', false], ['2001:db8::1', false], ['8.8.8.8', true],
  ['2606:4700::1111', true], ['172.32.0.1', true],
];

test('public destinations keep their address, typed public; private ranges keep their address untyped', async (t) => {
  const { clock, reducer, emitted } = setup({ temporality: 'delta' });
  await reducer.start();
  await reducer.consume(delta(classification.map(([address]) => flow({ ...web, 'destination.address': address }, 1))));
  await reducer.consume(delta([flow({ ...web, 'destination.address': '8.8.8.8' }, 2)]));
  await clock.advance(INTERVAL);
  const rows = emitted()[0]!.map((f) => [f.attributes['destination.address'], f.attributes['destination.address.type'], f.txBytes]);
  t.deepEqual(rows.sort(), classification.map(([address, isPublic]) => [address, isPublic ? 'public' : undefined, address === '8.8.8.8' ? 3 : 1]).sort());
  t.false(rows.some(([address]) => address === '0.0.0.0' || address === '::'), 'no made-up address');
  await reducer.shutdown();
});

test('public_addresses prefixes: public addresses of one /24 (IPv4) or /48 (IPv6) are one group, shown as the prefix', async (t) => {
  const { clock, reducer, emitted } = setup({ temporality: 'delta', public_addresses: { ipv4_prefix: 24, ipv6_prefix: 48 } });
  await reducer.start();
  await reducer.consume(delta([
    flow({ ...web, 'destination.address': '104.16.3.9' }, 1),
    flow({ ...web, 'destination.address': '104.16.3.200' }, 2),
    flow({ ...web, 'destination.address': '104.16.4.1' }, 4),
    flow({ ...web, 'destination.address': '2606:4700:10::6814:1f' }, 8),
    flow({ ...web, 'destination.address': '2606:4700:10:ffff::1' }, 16),
    flow({ ...web, 'destination.address': '::ffff:104.16.3.7' }, 32),
    flow({ ...web, 'destination.address': '10.1.2.3' }, 64),
  ]));
  await clock.advance(INTERVAL);
  const rows = emitted()[0]!.map((f) => [f.attributes['destination.address'], f.attributes['destination.address.type'], f.txBytes]);
  t.deepEqual(rows.sort(), [
    ['10.1.2.3', undefined, 64],
    ['104.16.3.0/24', 'public', 35],
    ['104.16.4.0/24', 'public', 4],
    ['2606:4700:10::/48', 'public', 24],
  ]);
  // Sources too: an outside client is shown by its prefix.
  await reducer.consume(delta([flow({ 'source.address': '198.50.1.77', ...db }, 1), flow({ 'source.address': '198.50.1.78', ...db }, 2)]));
  await reducer.shutdown();
  t.deepEqual(emitted()[1]!.map((f) => [f.attributes['source.address'], f.attributes['source.address.type'], f.txBytes]), [['198.50.1.0/24', 'public', 3]]);
});

test('public addresses: cluster_cidrs and a known address type are never public; a flow typed public is', async (t) => {
  const { clock, reducer, emitted } = setup({ temporality: 'delta', cluster_cidrs: ['34.118.224.0/20'], public_addresses: { ipv4_prefix: 16 } });
  await reducer.start();
  await reducer.consume(delta([
    flow({ ...web, 'destination.address': '34.118.230.5' }),
    flow({ ...web, 'destination.address': '35.1.1.1', 'destination.address.type': 'node' }),
    flow({ ...web, 'destination.address': '10.9.9.9', 'destination.address.type': 'public' }),
    flow({ ...web, 'destination.address': '35.1.2.2' }),
  ]));
  await clock.advance(INTERVAL);
  t.deepEqual(emitted()[0]!.map((f) => [f.attributes['destination.address'], f.attributes['destination.address.type']]).sort(), [
    ['10.9.0.0/16', 'public'], ['34.118.230.5', undefined], ['35.1.0.0/16', 'public'], ['35.1.1.1', 'node'],
  ]);
  await reducer.shutdown();
});

test('a public destination whose domain is known is grouped by the domain, without an address; by_domain: false keeps addresses', async (t) => {
  const input = [
    flow({ ...web, 'destination.address': '52.1.1.1', 'destination.domain': 'api.stripe.com' }, 1),
    flow({ ...web, 'destination.address': '52.1.1.2', 'destination.domain': 'api.stripe.com' }, 2),
    flow({ ...web, 'destination.address': '140.82.1.1', 'destination.domain': 'github.com' }, 4),
    flow({ ...web, 'destination.address': '140.82.1.2' }, 8),
    flow({ ...web, 'destination.address': '10.0.0.9', 'destination.domain': 'db.internal' }, 16),
  ];
  const run = async (config: Record<string, unknown>) => {
    const { reducer, emitted } = setup({ temporality: 'delta', ...config });
    await reducer.start();
    await reducer.consume(delta(input));
    await reducer.shutdown();
    return emitted()[0]!.map((f) => [f.attributes['destination.address'], f.attributes['destination.domain'], f.attributes['destination.address.type'], f.txBytes]).sort();
  };
  const byDomain = [
    ['10.0.0.9', 'db.internal', undefined, 16], // not public: its address stays
    ['140.82.1.2', undefined, 'public', 8],
    [undefined, 'api.stripe.com', 'public', 3],
    [undefined, 'github.com', 'public', 4],
  ];
  for (const groupBy of [undefined, ['source.k8s.owner.name']]) {
    const rows = await run(groupBy ? { group_by: groupBy } : {});
    // Without destination.domain in group_by, a private address's domain is not part of its group.
    t.deepEqual(rows, groupBy ? byDomain.map((r) => (r[0] === '10.0.0.9' ? [r[0], undefined, r[2], r[3]] : r)).sort() : byDomain.sort(), `group_by ${JSON.stringify(groupBy)}`);
  }
  t.deepEqual(await run({ group_by: ['source.k8s.owner.name'], public_addresses: { by_domain: false } }), [
    ['10.0.0.9', undefined, undefined, 16], ['140.82.1.1', undefined, 'public', 4], ['140.82.1.2', undefined, 'public', 8], ['52.1.1.1', undefined, 'public', 1], ['52.1.1.2', undefined, 'public', 2],
  ]);
});

test('group_by listing the address type and the address: a public end is typed public even when the flow had no type', async (t) => {
  const { reducer, emitted } = setup({ temporality: 'delta', group_by: ['destination.address', 'destination.address.type'], unidentified_addresses: false });
  await reducer.start();
  await reducer.consume(delta([
    flow({ ...web, 'destination.address': '8.8.4.4' }, 1),
    flow({ ...web, 'destination.address': '10.0.0.1', 'destination.address.type': 'pod' }, 2),
    flow({ ...web, 'destination.address': '10.0.0.2' }, 4),
  ]));
  await reducer.shutdown();
  t.deepEqual(emitted()[0]!.map((f) => [f.attributes['destination.address'], f.attributes['destination.address.type'], f.txBytes]).sort(), [
    ['10.0.0.1', 'pod', 2], ['10.0.0.2', undefined, 4], ['8.8.4.4', 'public', 1],
  ]);
});

test('source addresses join the group only for sources without a Kubernetes identity', async (t) => {
  const { reducer, emitted } = setup({ temporality: 'delta' });
  await reducer.start();
  await reducer.consume(delta([
    flow({ 'source.address': '10.0.0.1', ...db }, 1),
    flow({ 'source.address': '10.0.0.2', ...db }, 2),
    flow({ 'source.address': '10.0.0.3', ...db, 'source.k8s.namespace.name': 'shop' }, 4),
    flow({ 'source.address': '203.0.114.9', ...db }, 8),
  ]));
  await reducer.shutdown();
  const rows = emitted()[0]!.map((f) => [f.attributes['source.address'] ?? f.attributes['source.k8s.namespace.name'], f.txBytes]);
  t.deepEqual(rows.sort(), [['10.0.0.1', 1], ['10.0.0.2', 2], ['203.0.114.9', 8], ['shop', 4]]);
});

test('values keep their types: port 80 and "80", true and "true" are different groups', async (t) => {
  const { reducer, emitted } = setup({ temporality: 'delta', group_by: ['destination.port', 'network.flow.inter_zone'], unidentified_addresses: false });
  await reducer.start();
  await reducer.consume(delta([
    flow({ 'destination.port': 80 }), flow({ 'destination.port': '80' }), flow({ 'destination.port': 80 }),
    flow({ 'network.flow.inter_zone': true }), flow({ 'network.flow.inter_zone': 'true' }), flow({}),
  ]));
  await reducer.shutdown();
  const rows = emitted()[0]!.map((f) => JSON.stringify(f.attributes) + f.connections);
  t.deepEqual(rows.sort(), ['{"destination.port":"80"}1', '{"destination.port":80}2', '{"network.flow.inter_zone":"true"}1', '{"network.flow.inter_zone":true}1', '{}1']);
});

test('shutdown flushes the pending interval to next and stops the timer', async (t) => {
  const { clock, reducer, out } = setup({ temporality: 'cumulative' }, T0 + 4_000);
  await reducer.start();
  await reducer.consume(delta([flow({ ...web, ...db }, 42)]));
  await clock.advance(1_000);
  await reducer.shutdown();
  t.is(out.batches.length, 1);
  t.is(out.batches[0]!.flows[0]!.txBytes, 42);
  t.is(out.batches[0]!.flows[0]!.timeUnixNano, BigInt(T0 + 5_000) * NS);
  t.is(clock.timers.size, 0);
});

test('cumulative input is passed on unchanged, with one warning', async (t) => {
  const { ctx, reducer, out } = setup();
  const warnings: unknown[] = [];
  ctx.logger.warn = ((o: unknown) => void warnings.push(o)) as typeof ctx.logger.warn;
  const batch: FlowBatch = { flows: [flow(web)], temporality: 'cumulative' };
  await reducer.consume(batch);
  await reducer.consume(batch);
  t.is(out.batches[0], batch);
  t.is(warnings.length, 1);
});

test('README: the example configs parse and the default group_by list is the real one', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { parse } = await import('yaml');
  const readme = await readFile(new URL('./README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1]!) as unknown);
  t.deepEqual(blocks[0], [...DEFAULT_GROUP_BY]);
  const processors = (blocks[1] as { processors: Record<string, unknown> }).processors;
  t.is(Object.keys(processors).length, 3);
  for (const [id, config] of Object.entries(processors)) t.true(reduceConfigSchema.safeParse(config).success, id);
});

test('two reducers on one registry share the metric, one label each', async (t) => {
  const ctx = testContext('reduce/a');
  const other = { ...testContext('reduce/b'), metrics: ctx.metrics };
  const clock = new ManualClock(T0);
  const config = reduceConfigSchema.parse({ max_groups: 1, temporality: 'delta' });
  const a = new ReduceProcessor(ctx, config, collector(), clock);
  const b = new ReduceProcessor(other, config, collector(), clock);
  await a.consume(delta([flow({ 'destination.port': 1 }), flow({ 'destination.port': 2 })]));
  await b.consume(delta([flow({ 'destination.port': 1 }), flow({ 'destination.port': 2 }), flow({ 'destination.port': 3 })]));
  const text = await ctx.metrics.getSingleMetricAsString('podflow_processor_reduce_overflow_flows_total');
  t.regex(text, /\{processor="reduce\/a"\} 1$/m);
  t.regex(text, /\{processor="reduce\/b"\} 2$/m);
  await a.shutdown();
  await b.shutdown();
});

test('thousands of groups in one batch (the table grows mid-batch): every sum exact', async (t) => {
  const { reducer, emitted } = setup({ temporality: 'delta', group_by: ['destination.port'], unidentified_addresses: false, max_groups: 5000 });
  const flows = [];
  for (let round = 1; round <= 2; round++) for (let port = 0; port < 4500; port++) flows.push(flow({ 'destination.port': port }, port * round));
  await reducer.consume(delta(flows));
  await reducer.shutdown();
  const out = emitted()[0]!;
  t.is(out.length, 4500);
  t.true(out.every((f) => f.txBytes === (f.attributes['destination.port'] as number) * 3 && f.connections === 2));
});
