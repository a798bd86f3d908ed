import test from 'ava';
import { collector, testContext } from '../../../test/harness/context.ts';
import type { Attributes, Flow, FlowBatch } from '../../model/index.ts';
import { filterConfigSchema } from './config.ts';
import { FilterProcessor } from './filter.ts';
import { filterFactory } from './index.ts';

function flow(name: string, attributes: Attributes): Flow {
  return { startTimeUnixNano: 1n, timeUnixNano: 2n, attributes: { name, ...attributes }, txBytes: 1, rxBytes: 1, txPackets: 1, rxPackets: 1, connections: 0 };
}

const FLOWS: Flow[] = [
  flow('dns', { 'source.k8s.namespace.name': 'shop', 'destination.k8s.namespace.name': 'kube-system', 'destination.port': 53, 'network.transport': 'udp', 'destination.address': '10.96.0.10', 'destination.address.type': 'service' }),
  flow('coredns-up', { 'source.k8s.namespace.name': 'kube-system', 'destination.address': '8.8.8.8', 'destination.port': 53, 'destination.address.type': 'public' }),
  flow('stripe', { 'source.k8s.namespace.name': 'shop', 'source.k8s.pod.name': 'web-7d9f8', 'destination.address': '52.1.2.3', 'destination.domain': 'api.stripe.com', 'destination.port': 443, 'destination.address.type': 'public' }),
  flow('db', { 'source.k8s.namespace.name': 'shop', 'source.k8s.pod.name': 'debug-shell', 'destination.address': '10.12.0.7', 'destination.port': 5432, 'network.flow.inter_zone': true }),
  flow('v6', { 'source.address': 'fd00::5', 'destination.address': '2001:db8::1', 'destination.port': '443' }),
];

async function run(config: unknown, flows: Flow[] = FLOWS) {
  const ctx = testContext('filter/test');
  const out = collector();
  const filter = new FilterProcessor(ctx, filterConfigSchema.parse(config), out);
  await filter.consume({ flows, temporality: 'delta' });
  const names = out.batches.flatMap((b) => b.flows.map((f) => f.attributes['name']));
  return { names, dropped: ctx.dropped, batches: out.batches };
}

test('a processor (registered: src/components.test.ts), and {} keeps everything, passing the batch on as it is', async (t) => {
  t.is(filterFactory.kind, 'processor');
  t.deepEqual(filterConfigSchema.parse({}), { include: [], exclude: [] });
  const ctx = testContext('filter/test');
  const out = collector();
  const batch: FlowBatch = { flows: FLOWS, temporality: 'cumulative' };
  await new FilterProcessor(ctx, filterConfigSchema.parse({}), out).consume(batch);
  t.is(out.batches[0], batch);
  t.is(ctx.dropped, 0);
});

test('exclude by exact value (kube-system at either end)', async (t) => {
  const r = await run({ exclude: [{ key: 'source.k8s.namespace.name', value: 'kube-system' }, { key: 'destination.k8s.namespace.name', value: 'kube-system' }] });
  t.deepEqual(r.names, ['stripe', 'db', 'v6']);
  t.is(r.dropped, 2);
  t.is(r.batches[0]!.temporality, 'delta');
});

test('include: keep only flows leaving the cluster', async (t) => {
  const r = await run({ include: [{ key: 'destination.address.type', value: 'public' }] });
  t.deepEqual(r.names, ['coredns-up', 'stripe']);
  t.is(r.dropped, 3);
});

test('include then exclude', async (t) => {
  const r = await run({ include: [{ key: 'destination.address.type', value: 'public' }], exclude: [{ key: 'source.k8s.namespace.name', value: 'kube-system' }] });
  t.deepEqual(r.names, ['stripe']);
});

test('values: any of; numbers and strings compare by text', async (t) => {
  t.deepEqual((await run({ include: [{ key: 'destination.port', values: [443, 5432] }] })).names, ['stripe', 'db', 'v6']);
  t.deepEqual((await run({ include: [{ key: 'destination.port', value: '53' }] })).names, ['dns', 'coredns-up']);
  t.deepEqual((await run({ include: [{ key: 'network.flow.inter_zone', value: true }] })).names, ['db']);
});

test('regex: unanchored like the Collector; anchors when written', async (t) => {
  t.deepEqual((await run({ exclude: [{ key: 'source.k8s.pod.name', regex: '^debug-' }] })).names, ['dns', 'coredns-up', 'stripe', 'v6']);
  t.deepEqual((await run({ include: [{ key: 'destination.domain', regex: 'stripe' }] })).names, ['stripe']);
  t.deepEqual((await run({ include: [{ key: 'destination.port', regex: '^5' }] })).names, ['dns', 'coredns-up', 'db']);
});

test('cidr on address keys, IPv4 and IPv6, one CIDR or a list', async (t) => {
  t.deepEqual((await run({ include: [{ key: 'destination.address', cidr: '10.0.0.0/8' }] })).names, ['dns', 'db']);
  t.deepEqual((await run({ include: [{ key: 'destination.address', cidr: ['10.96.0.0/12', '2001:db8::/32'] }] })).names, ['dns', 'v6']);
  t.deepEqual((await run({ exclude: [{ key: 'source.address', cidr: 'fc00::/7' }] })).names, ['dns', 'coredns-up', 'stripe', 'db']);
  // Not an address: no match, no crash.
  t.deepEqual((await run({ include: [{ key: 'destination.address', cidr: '0.0.0.0/0' }] }, [flow('bad', { 'destination.address': 'banana' })])).names, []);
});

test('exists: present or absent', async (t) => {
  t.deepEqual((await run({ include: [{ key: 'destination.domain', exists: true }] })).names, ['stripe']);
  t.deepEqual((await run({ exclude: [{ key: 'source.k8s.namespace.name', exists: false }] })).names, ['dns', 'coredns-up', 'stripe', 'db']);
});

test('all: every condition must match', async (t) => {
  const r = await run({ include: [{ all: [{ key: 'destination.address.type', value: 'public' }, { key: 'source.k8s.namespace.name', value: 'shop' }] }, { key: 'destination.port', value: 5432 }] });
  t.deepEqual(r.names, ['stripe', 'db']);
});

test('a batch with nothing left is not forwarded; drops are counted', async (t) => {
  const r = await run({ exclude: [{ key: 'name', regex: '.' }] });
  t.is(r.batches.length, 0);
  t.is(r.dropped, 5);
});

test('bad rules fail naming the place', (t) => {
  const issue = (input: unknown) => {
    const r = filterConfigSchema.safeParse(input);
    t.false(r.success);
    return r.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };
  t.regex(issue({ exclude: [{ key: 'a', value: 'x' }, { key: 'b' }] }), /^exclude\.1: rule on "b" needs one of value, values, regex, cidr, exists/);
  t.regex(issue({ include: [{ key: 'a', value: 'x', regex: 'y' }] }), /^include\.0: rule on "a" has value and regex; give exactly one/);
  t.regex(issue({ include: [{ value: 'x' }] }), /^include\.0: a rule needs "key"/);
  t.regex(issue({ include: [{ key: 'a', regex: '(' }] }), /^include\.0\.regex: not a valid regular expression/);
  t.regex(issue({ include: [{ key: 'source.k8s.namespace.name', cidr: '10.0.0.0/8' }] }), /^include\.0\.cidr: cidr applies to address keys/);
  t.regex(issue({ include: [{ key: 'destination.address', cidr: ['10.0.0.0/8', '10.0.0.0/99'] }] }), /^include\.0\.cidr\.1: .*prefix longer/);
  t.regex(issue({ include: [{ all: [{ key: 'a', value: 1 }, { key: 'b' }] }] }), /^include\.0\.all\.1: rule on "b" needs one of/);
  t.regex(issue({ include: [{ all: [{ key: 'a', value: 1 }], key: 'b' }] }), /^include\.0: a rule with "all" has no other keys \(found key\)/);
  t.regex(issue({ include: [{ key: 'a', vaule: 1 }] }), /Unrecognized key: "vaule"/);
  t.regex(issue({ drop: [] }), /Unrecognized key: "drop"/);
});

test('README: the example configs parse', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { parse } = await import('yaml');
  const readme = await readFile(new URL('./README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1]!) as Record<string, unknown>);
  t.true(filterConfigSchema.safeParse(blocks[0]).success);
  const processors = blocks[1]!['processors'] as Record<string, unknown>;
  t.is(Object.keys(processors).length, 2);
  for (const [id, config] of Object.entries(processors)) t.true(filterConfigSchema.safeParse(config).success, id);
  // filter/egress on the shared flows: public destinations, minus the cloud's own APIs.
  const egress = new FilterProcessor(testContext('filter/egress'), filterConfigSchema.parse(processors['filter/egress']), collector());
  t.deepEqual(FLOWS.filter((f) => egress.keeps(f)).map((f) => f.attributes['name']), ['coredns-up', 'stripe']);
  t.false(egress.keeps(flow('s3', { 'destination.address.type': 'public', 'destination.domain': 's3.eu-west-1.amazonaws.com' })));
});
